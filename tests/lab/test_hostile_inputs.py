"""Hostile inputs to the library (issue 27, "Medium"): each ends in a one-line ValueError that names the parameter
and the value, or in a documented behaviour (a rate past the float range diverges its run), never a traceback of
another kind. The command-line side of the same cases: tests/test_cli_hostile.py."""

from __future__ import annotations

import dataclasses
import math
import sqlite3

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("optuna")

from tiny_task import TINY, _load  # noqa: E402

from lrlab.lab import forecast as F  # noqa: E402
from lrlab.lab.options import RunOptions, check_optimizer_option  # noqa: E402
from lrlab.lab.store import Store  # noqa: E402
from lrlab.lab.studies.compare import compare, entry_optimizer  # noqa: E402
from lrlab.lab.studies.find import find_lr  # noqa: E402
from lrlab.lab.studies.space import Space  # noqa: E402
from lrlab.lab.studies.tune import MAX_ASK, tune  # noqa: E402
from lrlab.lab.tasks import tinylm  # noqa: E402
from lrlab.lab.tasks.task import Data, Split, get_task  # noqa: E402
from lrlab.schedules import parse  # noqa: E402
from lrlab.schedules.spec import MAX_DEPTH  # noqa: E402

BIG = "1" + "0" * 400  # 10**400: no float holds it
HUGE = "1" + "0" * 5000  # past Python's digit limit for int(str)


def _one_line(exc: pytest.ExceptionInfo, *parts: str) -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 400, text
    for part in parts:
        assert part in text, text
    return text


# -- the space grammar and the spec parser ------------------------------------------------------------
@pytest.mark.parametrize(("text", "parts"), [
    (f"step_decay(0.1, 0.5, step_size=int(1, {BIG}))", ["takes two finite numbers"]),
    (f"constant(0.1) * int(1, {BIG})", ["takes two finite numbers"]),
    (f"step_decay(0.1, 0.5, step_size=logint(1, {HUGE}))", ["takes two finite numbers"]),
    (f"constant(0.1) * int(1, {2**60})", ["takes whole numbers in [-2**53, 2**53]", str(2**60)]),
    (f"constant(uniform(-{BIG}, 1))", ["takes two finite numbers"]),
    ("constant(" + "(" * 3000 + "0.1" + ")" * 3000 + ")", ["levels of nesting"]),
    ("warmup(" * 400 + "constant(loguniform(0.1, 1))" + ", steps=1)" * 400, ["levels of nesting"]),
    ("cosine(loguniform(0.1, 1), decay_steps=" + "[" * 2000 + "1" + "]" * 2000 + ")", ["levels of nesting"]),
    ("warmup(cosine(0.1), steps=int(" * 200, ["space:"]),
    (f"constant(loguniform(0.1, 1)) * {BIG} * 0.5", ["is not a schedule", "must be a finite number"]),
])
def test_a_hostile_space_is_one_line(text, parts):
    with pytest.raises(ValueError) as info:
        Space(text)
    _one_line(info, "space", *parts)


def test_a_space_nested_within_the_limit_still_reads():
    depth = MAX_DEPTH // 2 - 2  # a call level counts twice (the call and its argument)
    space = Space("warmup(" * depth + "constant(loguniform(0.1, 1))" + ", steps=1)" * depth)
    assert len(space.branches[0].dists) == 1
    assert Space("constant(" + "(" * 90 + "loguniform(0.1, 1)" + ")" * 90 + ")").param_names


@pytest.mark.parametrize("text", [
    "(" * 3000 + "0.1" + ")" * 3000,
    "warmup(" * 400 + "constant(0.1)" + ", steps=1)" * 400,
    "cosine(0.1, decay_steps=" + "[" * 2000 + "1" + "]" * 2000 + ")",
    f"constant({BIG})",
    f"step_decay(0.1, 0.5, step_size={BIG})",
    f"constant({HUGE})",
    f"constant({BIG} * 0.5)",  # a huge int times a float: past the float range (was an OverflowError)
    f"{BIG} * 0.5",
    f"0.5 * {BIG}",
    f"cosine(0.1, decay_steps=100) * ({BIG} * 0.5)",
])
def test_a_hostile_spec_is_a_value_error(text):
    with pytest.raises(ValueError) as info:  # the parser's message: a first line, then the spec under a caret
        parse(text)
    first = str(info.value).splitlines()[0]
    assert len(first) < 300 and ("nesting" in first or "must be" in first), first


# -- tune: what one worker asks at once ---------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "parts"), [
    ({"trials": 10**6, "batch": 10**6}, ["batch must be a whole number in [1, 1024]", "1000000"]),
    ({"batch": MAX_ASK + 1}, ["batch must be", str(MAX_ASK + 1)]),
    ({"batch": 64, "forecast": 100}, ["batch x forecast", "must be at most 1024", "64 x forecast 100"]),
    ({"confirm": -1}, ["confirm must be a whole number >= 0, got -1"]),
    ({"optimizer": "sgd_sf", "momentum": 1e400}, ["optimizer option momentum must be in [0, 1], got inf"]),
])
def test_tune_refuses_before_creating_anything(kwargs, parts, tmp_path):
    storage = tmp_path / "t.db"
    with pytest.raises(ValueError) as info:
        tune("or3", "constant(loguniform(0.05, 1))", storage=storage, progress=False, **kwargs)
    _one_line(info, *parts)
    assert not storage.exists()


def test_tune_searches_with_a_schedule_free_optimizer(tmp_path):
    result = tune("or3", "constant(loguniform(0.05, 1))", trials=2, epochs=1, batch=2, confirm=0, optimizer="sgd_sf",
                  storage=tmp_path / "t.db", progress=False)
    assert len(result.trials) == 2 and set(result.trials["state"]) <= {"COMPLETE", "PRUNED"}


# -- forecast: the horizon ------------------------------------------------------------------------------
def _law(name: str = "multi_power") -> F.Forecast:
    params = ({"L0": 2.0, "A": 0.3, "alpha": 0.5, "B": 1.0, "C": 1.0, "beta": 0.5, "gamma": 0.5}
              if name == "multi_power" else {"L0": 2.0, "A": 0.3, "alpha": 0.5, "C": 0.02})
    return F.Forecast(name, params, scale=1.0, curves=[], bins=8, per_bin=2, skip=0.1, cost=0.0)


@pytest.mark.parametrize("steps", [10**8, F.MAX_HORIZON + 1, 2**53, 1, 2.5, math.inf, "100"])
def test_a_horizon_past_the_limit_is_refused_before_any_allocation(steps):
    for call in (lambda: F.bind("cosine(0.1)", steps), lambda: _law().predict("cosine(0.1)", steps),
                 lambda: F.optimise(_law(), steps, maxiter=1)):
        with pytest.raises(ValueError) as info:
            call()
        _one_line(info, "steps must be a whole number in [2, 50000]")


def test_the_curve_in_blocks_equals_the_law():
    lrs = parse("cosine(0.1, decay_steps=3000)")(np.arange(3000))
    got = _law().curve(lrs)
    want = F.multi_power(lrs, 2.0, 0.3, 0.5, 1.0, 1.0, 0.5, 0.5)
    assert got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=0)
    steps = np.array([1, 7, 2999, 3000])
    assert np.allclose(_law().curve(lrs, at=steps), want[steps - 1], rtol=1e-12, atol=0)


def test_a_long_forecast_stays_within_memory(monkeypatch):
    """At the longest horizon the blocks never hold more than _CELLS terms (the whole curve would be 20 GB)."""
    from lrlab.lab.studies import forecast_laws  # where law_terms finds the multi-power law's terms

    seen = []
    terms = forecast_laws.multi_power_terms

    def spy(lrs, at=None, terms_=None):
        out = terms(lrs, at, terms_)
        seen.append(out["s_k"].size)
        return out

    monkeypatch.setattr(forecast_laws, "multi_power_terms", spy)
    monkeypatch.setattr(F, "_CELLS", 2**16)  # smaller blocks, same rule: a quick test
    lrs = parse("cosine(0.1, decay_steps=2000)")(np.arange(2000))
    _law().curve(lrs)
    assert len(seen) > 1 and max(seen) <= 2**16 and sum(seen) == 2000 * np.count_nonzero(np.diff(lrs))


# -- the run store: malformed rows ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    db = tmp_path_factory.mktemp("store") / "runs.db"
    compare(TINY, ["constant(0.1)", "cosine(0.1)"], epochs=1, db=db, progress=False)
    return db


@pytest.mark.parametrize(("column", "value", "part"), [
    ("config", "[1, 2]", "its config is not a JSON object"),
    ("config", "7", "its config is not a JSON object"),
    ("config", "not json", "its config is not a JSON object"),
    ("metrics", "[]", "its metrics is not a JSON object"),
    ("history", "[1]", "its history is not a JSON object"),
    ("history", '{"data": [[1, 2]], "columns": ["epoch"]}', "its history cannot be read"),
    ("history", '{"columns": ["epoch"]}', "its history cannot be read"),
])
def test_a_malformed_row_is_one_line(stored, tmp_path, column, value, part):
    db = tmp_path / "bad.db"
    db.write_bytes(stored.read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE lrlab_runs SET {column} = ? WHERE id = 1", (value,))
    with Store(db, readonly=True) as store:
        assert store.get(2).label == "cosine(0.1)"  # the others read as before
        with pytest.raises(ValueError) as info:
            store.get(1)
        _one_line(info, "run 1 in", "is malformed", part)
        if column != "history":  # the listing does not read histories
            with pytest.raises(ValueError) as info:
                store.summaries()
            _one_line(info, "run 1 in", "is malformed", part)


# -- rates past the float range: the run diverges ----------------------------------------------------------
@pytest.mark.parametrize("engine", ["sequential", "stacked"])
@pytest.mark.parametrize(("optimizer", "spec", "dtype"), [
    ("sgd", "constant(1e300)", "float32"),
    ("adam", "constant(1e300)", "float32"),
    ("adam", "constant(1e300)", "float64"),
    ("sgd_sf", "constant(1e300)", "float64"),
    ("adamw_sf", "constant(1e300)", "float32"),
    ("sgd", "constant(3.5e38)", "float32"),
    ("adam", "constant(3.5e38)", "float32"),
    ("adamw_sf", "constant(3.5e38)", "float32"),
])
def test_a_rate_past_the_float_range_diverges_its_run(engine, optimizer, spec, dtype):
    comparison = compare("or3", [spec, "constant(0.1)"], optimizer=optimizer, epochs=2, dtype=dtype, engine=engine,
                         db=None, progress=False)
    label = repr(parse(spec))  # a run's label is its spec, canonical: constant(1e+300)
    status = {r.label: r.status for r in comparison.runs}
    assert status == {label: "diverged", "constant(0.1)": "ok"}
    diverged = next(r for r in comparison.runs if r.label == label)
    assert diverged.step_lr[0] == float(spec[9:-1]) and all(math.isnan(v) for k, v in diverged.metrics.items()
                                                            if k.startswith("test_"))
    board = comparison.leaderboard
    assert list(board["schedule"])[-1] == label and int(board["diverged"].iloc[-1]) == 1  # ranked last


# -- optimizer options -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "part"), [
    ("betas", (0.9,), "betas must be two numbers in [0, 1)"),
    ("betas", (0.9, 1.5), "betas must be two numbers in [0, 1)"),
    ("betas", "oops", "betas must be two numbers"),
    ("momentum", math.inf, "momentum must be in [0, 1], got inf"),
    ("momentum", -0.1, "momentum must be in [0, 1]"),
    ("dampening", math.nan, "dampening must be in [0, 1]"),
    ("weight_decay", -1, "weight_decay must be a finite number >= 0, got -1"),
    ("eps", math.inf, "eps must be a finite number >= 0"),
    ("warmup_steps", -1, "warmup_steps must be a whole number in [0, 2**53], got -1"),
    ("warmup_steps", 2.5, "warmup_steps must be a whole number"),
    ("nesterov", 1, "nesterov must be True or False, got 1"),
    ("something", math.inf, "something must be a finite number, True/False/None, a string or a list"),
    ("something", [1, math.nan], "something must be a finite number"),
    ("something", {"a": 1}, "something must be a finite number"),
    ("something", 1j, "something must be a finite number"),
])
def test_a_bad_optimizer_option_is_one_line(key, value, part):
    for call in (lambda: check_optimizer_option(key, value),
                 lambda: RunOptions(optimizer="adamw_sf", optimizer_kwargs={key: value})):
        with pytest.raises(ValueError) as info:
            call()
        _one_line(info, f"optimizer option {part}")


def test_good_optimizer_options_pass_unchanged():
    kwargs = {"betas": (0.9, 0.99), "momentum": 0, "weight_decay": 0.01, "warmup_steps": 60, "nesterov": True,
              "foreach": None, "decoupled": "x"}
    assert dict(RunOptions(optimizer_kwargs=kwargs).optimizer_kwargs) == {**kwargs, "betas": [0.9, 0.99]}


def test_an_entrys_optimizer_options_are_checked():
    with pytest.raises(ValueError) as info:
        entry_optimizer("constant(0.003)@adamw_sf(warmup_steps=-1)")
    _one_line(info, "warmup_steps must be a whole number in [0, 2**53], got -1")
    assert entry_optimizer("constant(0.003)@adamw_sf(warmup_steps=0)")[1] == ("adamw_sf", {"warmup_steps": 0})


# -- tinylm's text ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [123, b"some.txt", 1.5, ["a.txt"], object()])
def test_tinylm_text_that_is_not_a_path_is_one_line(text):
    with pytest.raises(ValueError) as info:
        get_task("tinylm", text=text)
    _one_line(info, "tinylm: text must be the path of a text file")


def test_tinylm_text_past_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:  # sparse: no disk used
        fh.truncate(tinylm.MAX_TEXT_BYTES + 1)
    with pytest.raises(ValueError) as info:
        get_task("tinylm", text=big)
    _one_line(info, f"is {tinylm.MAX_TEXT_BYTES + 1} bytes, more than the {tinylm.MAX_TEXT_BYTES}")
    reads = []
    monkeypatch.setattr(tinylm.Path, "read_bytes", lambda self: reads.append(self))  # never the whole file at once
    small = tmp_path / "small.txt"
    small.write_bytes(bytes(range(256)) * 40)
    task = get_task("tinylm", text=small)
    assert not reads and task.identity["corpus_bytes"] == 10240


def test_tinylm_text_windows_are_the_texts(tmp_path):
    """Reading part by part and widening only the kept windows changes no byte: every window is one of its part's
    windows at stride `context`, x its first 64 bytes and y the next byte at each position."""
    raw = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    path = tmp_path / "t.txt"
    path.write_bytes(raw)
    task = get_task("tinylm", text=path, train_windows=50, eval_windows=20)
    data = task.load(0)
    cut1, cut2 = int(len(raw) * 0.8), int(len(raw) * 0.9)
    assert data.train.x.dtype == data.train.y.dtype == np.int64 and (len(data.train), len(data.val)) == (50, 20)
    for split, part in ((data.train, raw[:cut1]), (data.val, raw[cut1:cut2]), (data.test, raw[cut2:])):
        windows = {part[i:i + 65] for i in range(0, len(part) - 64, 64)}
        for x, y in zip(split.x, split.y):
            assert bytes(x.astype(np.uint8).tolist()) + bytes([int(y[-1])]) in windows
            assert np.array_equal(x[1:], y[:-1])
    import hashlib

    assert task.identity["corpus_sha256"] == hashlib.sha256(raw).hexdigest()


# -- the range test ------------------------------------------------------------------------------------------
def _nan_load(seed: int) -> Data:
    d = _load(seed)
    x = np.full_like(d.train.x, np.nan)
    return Data(Split(x, d.train.y), d.val, d.test)


@pytest.mark.parametrize(("seeds", "engine"), [(1, "auto"), (2, "sequential"), (2, "stacked")])
def test_find_lr_on_a_loss_never_finite_is_one_line(seeds, engine):
    # a loss NaN from the first update comes from NaN inputs (or outputs): the lab's check of the task refuses it
    # in one line before any seed trains (lrlab.lab.tasks.task_check); the range test's own "never finite" line is
    # the adapters' (test_torch_find_lr_on_a_nan_loss_is_one_line below)
    task = dataclasses.replace(TINY, name="nan", load=_nan_load)
    with pytest.raises(ValueError) as info:
        find_lr(task, seeds=seeds, steps=10, engine=engine)
    _one_line(info, "task 'nan': x of the train split holds NaN or inf")


def _model_and_data():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    x = torch.linspace(-1, 1, 16).reshape(8, 2)
    return model, [(x, x.sum(1, keepdim=True))]


@pytest.mark.parametrize(("loss_fn", "part"), [
    (lambda out, y: (out - y) ** 2, "got a tensor of shape (8, 1)"),
    (lambda out, y: ((out - y) ** 2).mean(0).expand(3), "got a tensor of shape (3,)"),
    (lambda out, y: 1.5, "got 1.5"),
    (lambda out, y: None, "got None"),
])
def test_torch_find_lr_with_a_loss_that_is_not_one_number_is_one_line(loss_fn, part):
    from lrlab.torch import find_lr as torch_find_lr

    model, data = _model_and_data()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError) as info:
        torch_find_lr(model, opt, loss_fn, data, steps=10)
    _one_line(info, "find_lr: loss_fn must return the loss as one number", part)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # restored


def test_torch_find_lr_stops_where_the_rate_passes_the_float_range():
    """A loss without gradient keeps the weights and the loss finite: only the rate can stop the test, at the
    first update whose rate float32 cannot hold (torch refuses that step)."""
    from lrlab.torch import find_lr as torch_find_lr

    model, data = _model_and_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rt = torch_find_lr(model, opt, lambda out, y: (out * 0).sum() + 1.0, data, start_lr=1e-3, end_lr=1e300,
                       steps=50, diverge=None)
    big = float(torch.finfo(torch.float32).max)
    assert rt.stopped == "not finite" and rt.lrs[-1] > big >= rt.lrs[-2] and np.isfinite(rt.losses).all()


def test_torch_find_lr_on_a_nan_loss_is_one_line():
    from lrlab.torch import find_lr as torch_find_lr

    model, data = _model_and_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError) as info:
        torch_find_lr(model, opt, lambda out, y: (out * math.nan).mean(), data, steps=10)
    _one_line(info, "the loss was never finite: nan at the first update, rate 1e-07")
