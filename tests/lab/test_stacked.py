"""The stacked engine against the real sequential trainer, member by member: float64 histories, per-step rates and
losses, final metrics and status equal to 1e-9 relative on every built-in task (mixed schedules, plateau members,
several seeds, a diverging member), per-member optimizer options, data per member, fallbacks and bad options."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from lrlab.lab.engines.stacked import execute_stack, stacks, unstackable  # noqa: E402
from lrlab.lab.engines.train import execute  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.tasks.task import Data, Split, Task  # noqa: E402

RTOL = 1e-9


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= RTOL * max(abs(a), abs(b))


WILD = 1e-3
"""After a member's rate jumps to 1e12 (the diverging member), rounding differences of 1e-16 between the stacked and
the sequential kernels are multiplied by the rate: those few steps (and the diverged epoch's figures) agree to ~1e-6
relative, and are checked at WILD; everything before the jump at RTOL."""


def assert_same_run(seq, st) -> None:
    """The stacked member `st` equals the sequential run `seq` of the same plan."""
    who = f"{seq.label} seed {seq.seed}"
    assert st.config == seq.config, who
    assert st.status == seq.status, who
    np.testing.assert_array_equal(st.step_lr, seq.step_lr, err_msg=who)  # the very rates the optimizer used
    calm = seq.step_lr < 1e6
    np.testing.assert_allclose(st.step_loss[calm], seq.step_loss[calm], rtol=RTOL, atol=0, err_msg=who)
    np.testing.assert_allclose(st.step_loss, seq.step_loss, rtol=WILD, atol=0, err_msg=who)
    assert list(st.history.columns) == list(seq.history.columns), who
    assert len(st.history) == len(seq.history), who
    a, b = st.history.to_numpy(float), seq.history.to_numpy(float)
    last = len(b) - 1 if seq.status == "diverged" else len(b)
    np.testing.assert_allclose(a[:last], b[:last], rtol=RTOL, atol=0, err_msg=who)
    np.testing.assert_allclose(a[last:], b[last:], rtol=WILD, atol=0, err_msg=who)
    assert st.metrics.keys() == seq.metrics.keys(), who
    for key, value in seq.metrics.items():
        assert _close(st.metrics[key], value), (who, key, st.metrics[key], value)
    if seq.status == "ok":  # the member's own model: the trained weights, usable on its own
        for (name, p), q in zip(seq.model.named_parameters(), st.model.parameters()):
            np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=RTOL, atol=1e-12, err_msg=name)


def _plans(task, entries, seeds, epochs, **options):
    out = []
    for seed in seeds:
        for entry in entries:
            schedule, plateau = entry if isinstance(entry, tuple) else (entry, None)
            opts = RunOptions(epochs=epochs, seed=seed, plateau=plateau, **options)
            out.append(plan(task, schedule, opts, dtype="float64"))
    return out


def _check_all(plans):
    stacked = execute_stack(plans)
    assert len(stacked) == len(plans)
    for p, st in zip(plans, stacked):
        assert_same_run(execute(p), st)
    return stacked


PLATEAU = "factor=0.5, patience=0, threshold=0.9"  # reduces often: each reduction must fall on the sequential epoch


def blowup(step: int) -> str:
    """A rate that jumps to 1e12 at `step` (after the first epoch, which sets the divergence limit)."""
    return f"piecewise([{step}], [0.05, 1e12])"


@pytest.mark.parametrize(
    ("task", "entries", "epochs", "options"),
    [
        ("line", ["constant(0.01)", "cosine(0.03)", ("constant(0.02)", PLATEAU), "constant(0.5)"], 6, {}),
        ("or3", ["constant(0.5)", "one_cycle(2.0)", ("constant(1.0)", PLATEAU), blowup(6)], 8, {}),
        ("quantiles", ["constant(0.01)", "cosine(0.02)", ("constant(0.05)", PLATEAU), blowup(14)], 3,
         {"optimizer": "sgd"}),
        ("digits", ["constant(0.05)", "step_decay(0.1, drop=0.5, step_size=40)", ("constant(0.05)", PLATEAU),
                    blowup(38)], 3, {"optimizer_kwargs": {"momentum": 0.9}}),
        ("mnist1d", ["constant(0.01)", "cosine(0.02)", ("constant(0.01)", PLATEAU), blowup(34)], 3, {}),
        ("mnist1d_cnn", ["constant(0.01)", ("cosine(0.02)", PLATEAU), blowup(34)], 3, {}),
    ],
)
def test_every_member_equals_its_sequential_run(task, entries, epochs, options):
    runs = _check_all(_plans(task, entries, (0, 1), epochs, **options))
    assert any(r.status == "diverged" for r in runs), "the set needs a diverging member"
    assert any(r.status == "ok" for r in runs)
    reduced = [r for r in runs if r.config["plateau"]
               and any(lr < r.schedule(t) * 0.99 for t, lr in enumerate(r.step_lr))]
    assert reduced, "the set needs a plateau member that reduces its rate"
    if task != "line":  # (line's points and weight do not depend on the seed)
        assert not np.array_equal(runs[0].step_loss, runs[len(entries)].step_loss)  # seeds differ


@pytest.mark.parametrize(
    ("optimizer", "members"),
    [
        ("sgd", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, {"momentum": 0.5, "dampening": 0.1},
                 {"weight_decay": 1e-3}]),
        ("adam", [{}, {"betas": (0.8, 0.99)}, {"weight_decay": 1e-3}, {"amsgrad": True}]),
        ("adamw", [{}, {"weight_decay": 0.1}, {"betas": (0.5, 0.9), "eps": 1e-6}]),
    ],
)
def test_members_differ_in_optimizer_options(optimizer, members):
    plans = [plan("quantiles", f"cosine({0.01 * (i + 1)})",
                  RunOptions(optimizer=optimizer, epochs=2, seed=i, optimizer_kwargs=kw), dtype="float64")
             for i, kw in enumerate(members)]
    _check_all(plans)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_big_models_keep_a_tensor_per_parameter(monkeypatch, optimizer):
    import lrlab.lab.engines.stacked as stacked_module

    monkeypatch.setattr(stacked_module, "FLAT_ELEMENTS", 0)  # as a model past the flat tensor's size would
    plans = _plans("digits", ["constant(0.05)", ("constant(0.05)", PLATEAU), blowup(38)], (0, 1), 3,
                   optimizer=optimizer, optimizer_kwargs={"weight_decay": 1e-3} if optimizer == "sgd" else {})
    stack = stacked_module._Stack(plans, "cpu")
    assert stack.flat is None and len(stack.leaves) == 4
    _check_all(plans)


def test_plain_sgd_folds_the_first_weight_gradient_into_its_update(monkeypatch):
    import lrlab.lab.engines.stacked as stacked_module

    monkeypatch.setattr(stacked_module, "FLAT_ELEMENTS", 0)  # the fold needs the weight in a tensor of its own
    folded = []
    real = stacked_module._Stack._folded_step
    monkeypatch.setattr(stacked_module._Stack, "_folded_step", lambda *a: folded.append(1) or real(*a))
    plans = _plans("digits", ["constant(0.05)", ("cosine(0.1)", PLATEAU), blowup(38)], (0, 1), 3, optimizer="sgd")
    plans.append(plan("digits", "constant(0.05)", RunOptions(epochs=2, seed=2, optimizer="sgd"), dtype="float64"))
    assert stacked_module._Stack(plans, "cpu").fold == (0, 1)
    runs = _check_all(plans)  # folded until a member diverges or ends (some inactive then: the general update)
    assert folded and any(r.status == "diverged" for r in runs)


def test_evaluation_in_several_passes_and_members_of_different_epochs(monkeypatch):
    import lrlab.lab.engines.stacked as stacked_module

    monkeypatch.setattr(stacked_module, "EVAL_CHUNK", 150)  # 50 rows a pass: every split in several, one short
    plans = [plan("quantiles", f"cosine({0.01 * (e + 1)})", RunOptions(epochs=e, seed=e), dtype="float64")
             for e in (1, 3, 2)]
    _check_all(plans)  # the final figures after the last epoch (cached) and those of members done earlier alike


def test_members_differ_in_epochs_and_float32_stays_close():
    plans = [plan("quantiles", "constant(0.01)", RunOptions(epochs=e, seed=e)) for e in (1, 3, 2)]
    stacked = execute_stack(plans)
    assert [len(r.history) for r in stacked] == [1, 3, 2]
    assert [r.metrics["steps"] for r in stacked] == [12, 36, 24]
    for p, st in zip(plans, stacked):  # float32: rounding differs, the runs agree closely
        seq = execute(p)
        np.testing.assert_array_equal(st.step_lr, seq.step_lr)
        np.testing.assert_allclose(st.history["val_loss"], seq.history["val_loss"], rtol=1e-4)


def _seeded_load(seed: int) -> Data:
    rng = np.random.default_rng(seed)  # data per seed: members cannot share it
    x = rng.normal(size=(90, 3))
    y = (x.sum(axis=1, keepdims=True) > 0).astype(np.float64)
    return Data(Split(x[:50], y[:50]), Split(x[50:70], y[50:70]), Split(x[70:], y[70:]))


def _tanh_model(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()


def _bn_model(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1)).double()


class _Residual(torch.nn.Module):  # not a Sequential: the vmap path
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)

    def forward(self, x):
        return self.b(x + torch.sin(self.a(x)))


def _residual_model(seed: int):
    torch.manual_seed(seed)
    return _Residual().double()


def _tied(seed: int):  # one layer applied twice (named_children lists it once)
    torch.manual_seed(seed)
    layer = torch.nn.Linear(3, 3)
    return torch.nn.Sequential(layer, torch.nn.Tanh(), layer, torch.nn.Linear(3, 1)).double()


@pytest.mark.parametrize("model", [_tanh_model, _residual_model])
@pytest.mark.parametrize("batch_size", [16, None])
def test_data_per_member_and_any_model(model, batch_size):
    task = Task(name="seeded", description="data per seed", loss="bce", load=_seeded_load, model=model,
                epochs=3, batch_size=batch_size, dtype="float64")
    plans = []
    for seed in (0, 1, 2):
        plans.append(plan(task, "cosine(0.5)", RunOptions(seed=seed), data=task.load(seed)))
    assert not np.array_equal(plans[0].data.train.x, plans[1].data.train.x)
    _check_all(plans)


def _forwards(model_fn, sample, k=3, n=7):
    """The batched forward of k members against each member's own forward, shared input and input per member."""
    from lrlab.lab.engines.stacked import _Batched

    models = [model_fn(seed) for seed in range(k)]
    names = [name for name, _ in models[0].named_parameters()]
    batched = _Batched.of(models[0], names, sample)
    if batched is None:
        return None
    params = [torch.stack([dict(m.named_parameters())[name].detach() for m in models]) for name in names]
    x = torch.randn(n, *sample, dtype=torch.float64)
    own = torch.randn(k, n, *sample, dtype=torch.float64)
    with torch.no_grad():
        for i, m in enumerate(models):
            np.testing.assert_allclose(batched(params, x, True)[i].numpy(), m(x).numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(batched(params, own, False)[i].numpy(), m(own[i]).numpy(), rtol=1e-12,
                                       atol=1e-14)
    return batched


def _seq(*layers):
    def make(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(*[layer() for layer in layers]).double()
    return make


nn = torch.nn


@pytest.mark.parametrize(
    ("model", "sample"),
    [
        (_seq(lambda: nn.Linear(5, 4), nn.GELU, lambda: nn.Linear(4, 2, bias=False)), (5,)),
        (lambda seed: _seq(lambda: nn.Linear(5, 3))(seed)[0], (5,)),  # one layer, not in a Sequential
        (lambda seed: _seq(lambda: nn.Conv1d(2, 3, 3, stride=2))(seed)[0], (2, 9)),
        (_seq(lambda: nn.Unflatten(1, (2, 9)), lambda: nn.Conv1d(2, 3, 4), nn.Tanh, nn.Flatten,
              lambda: nn.Linear(18, 2)), (18,)),
        (_seq(lambda: nn.Conv1d(2, 4, 3, stride=3, padding=2, bias=False), nn.ReLU,
              lambda: nn.Conv1d(4, 3, 1), lambda: nn.Flatten(1, 2)), (2, 11)),
        (_seq(lambda: nn.Conv1d(1, 2, 5, stride=2, padding=1), lambda: nn.Unflatten(2, (3, 3)), nn.Flatten,
              lambda: nn.Linear(18, 1)), (1, 20)),
    ],
)
def test_batched_layers_equal_each_members_own_forward(model, sample):
    assert _forwards(model, sample) is not None


@pytest.mark.parametrize(
    ("model", "sample"),
    [
        (_seq(lambda: nn.Conv1d(2, 2, 3, dilation=2)), (2, 9)),
        (_seq(lambda: nn.Conv1d(2, 2, 3, groups=2)), (2, 9)),
        (_seq(lambda: nn.Conv1d(2, 2, 3, padding="same")), (2, 9)),
        (_seq(lambda: nn.Conv1d(2, 2, 3, padding=1, padding_mode="circular")), (2, 9)),
        (_seq(lambda: nn.Conv1d(2, 2, 3), lambda: nn.MaxPool1d(2)), (2, 9)),
        (_seq(lambda: nn.Linear(9, 2)), (2, 9)),  # a Linear over the last of several dimensions
        (_seq(lambda: nn.Conv1d(2, 2, 3)), (18,)),  # a convolution of a flat input
        (_seq(lambda: nn.Flatten(0)), (4,)),
        (_tied, (3,)),  # one weight in two layers
        (_seq(lambda: nn.Unflatten(0, (1, 1))), (4,)),
        (_seq(lambda: nn.Unflatten(-3, (1, 1))), (4, 2)),
    ],
)
def test_other_layers_are_not_batched(model, sample):
    assert _forwards(model, sample) is None


def test_convolution_windows_backward():
    from lrlab.lab.engines.stacked import _windows

    h = torch.randn(2, 3, 11, 4, dtype=torch.float64, requires_grad=True)
    for k, stride in ((3, 2), (1, 1), (5, 3), (11, 1)):
        assert torch.autograd.gradcheck(lambda t, k=k, stride=stride: _windows(t, k, stride), (h,))
        rows = _windows(h, k, stride).detach().view(2, 3, -1, k, 4)
        for j in range(rows.shape[2]):
            np.testing.assert_array_equal(rows[:, :, j].numpy(), h[:, :, j * stride : j * stride + k].detach())


class _Attention(torch.nn.Module):  # vmap has no batching rule for the CPU's attention kernel
    def __init__(self) -> None:
        super().__init__()
        self.q = torch.nn.Linear(3, 4)

    def forward(self, x):
        h = self.q(x).view(-1, 1, 2, 2)
        return torch.nn.functional.scaled_dot_product_attention(h, h, h, is_causal=True).flatten(1)[:, :1]


def _attention_model(seed: int):
    torch.manual_seed(seed)
    return _Attention().double()


class _Branching(torch.nn.Module):  # data-dependent control flow: vmap cannot run it
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(3, 1)

    def forward(self, x):
        out = self.a(x)
        return out if bool(out.sum() > 0) else -out


def _branching_model(seed: int):
    torch.manual_seed(seed)
    return _Branching().double()


def test_auto_stacks_on_a_cpu_unless_vmap_would_run_members_one_by_one():
    from lrlab.lab.engines.stacked import why_sequential

    def task_of(model):
        return Task(name="m", description="", loss="bce", load=_seeded_load, model=model, dtype="float64")

    for p in (plan(task_of(_tanh_model), "0.1", RunOptions()), plan("mnist1d_cnn", "0.1", RunOptions()),
              plan("line", "0.1", RunOptions()), plan(task_of(_residual_model), "0.1", RunOptions())):
        assert why_sequential(p, "auto", "cpu") is None, p.task.name  # batched layers, or vmap with every batching rule
    bn = plan(task_of(_bn_model), "0.1", RunOptions())
    assert "cannot be stacked: it has buffers" in why_sequential(bn, "auto", "cpu")
    why = why_sequential(plan(task_of(_attention_model), "0.1", RunOptions()), "auto", "cpu")
    assert "no batching rule for aten::_scaled_dot_product" in why and "engine 'stacked'" in why
    why = why_sequential(plan(task_of(_branching_model), "0.1", RunOptions()), "auto", "cpu")
    assert why.startswith("they cannot be stacked: torch.func.vmap cannot run it (RuntimeError") and "\n" not in why


def test_compare_stacked_falls_back_for_a_model_vmap_cannot_run(capsys):
    from lrlab.lab.studies.compare import compare

    task = Task(name="branching", description="", loss="bce", load=_seeded_load, model=_branching_model, epochs=2,
                batch_size=16, dtype="float64")
    c = compare(task, ["0.1", "0.2"], db=None, progress=False, engine="stacked")
    assert [r.status for r in c.runs] == ["ok", "ok"]
    err = capsys.readouterr().err
    assert "cannot be stacked: torch.func.vmap cannot run it" in err and len(err.strip().splitlines()) == 1


def test_a_model_with_running_statistics_is_not_stacked():
    assert unstackable(_bn_model(0)) is not None and "buffers" in unstackable(_bn_model(0))
    assert unstackable(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))) is not None
    assert unstackable(_tanh_model(0)) is None
    assert "tied weights" in unstackable(_tied(0))
    task = Task(name="bn", description="", loss="bce", load=_seeded_load, model=_bn_model, dtype="float64")
    with pytest.raises(ValueError, match="cannot be stacked"):
        execute_stack([plan(task, "0.1", RunOptions(epochs=1))])


def test_stacks_group_by_kind_and_chunk():
    plans = [plan("or3", "0.1", RunOptions(epochs=1, seed=s)) for s in range(5)]
    plans.append(plan("or3", "0.1", RunOptions(epochs=1, optimizer="adam")))
    assert stacks(plans, max_stack=2) == [[0, 1], [2, 3], [4], [5]]
    assert stacks(plans) == [[0, 1, 2, 3, 4], [5]]  # automatic: or3 members are tiny
    with pytest.raises(ValueError, match="share"):
        execute_stack(plans)


def test_device_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    p = plan("or3", "0.1", RunOptions(epochs=1))
    with pytest.raises(ValueError, match="device"):
        execute_stack([p], device="cuda")
    with pytest.raises(ValueError, match="device"):
        execute(p, device="cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        execute(p, device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_every_member_equals_its_sequential_run():
    plans = _plans("quantiles", ["constant(0.01)", ("constant(0.05)", PLATEAU), "constant(1e6)"], (0, 1), 2,
                   optimizer="sgd")
    stacked = execute_stack(plans, device="cuda")
    for p, st in zip(plans, stacked):
        seq = execute(p, device="cuda")
        assert st.status == seq.status
        np.testing.assert_array_equal(st.step_lr, seq.step_lr)
        np.testing.assert_allclose(st.history.to_numpy(float), seq.history.to_numpy(float), rtol=RTOL)


# -- compare -----------------------------------------------------------------------------------
def test_compare_engines_give_the_same_runs_and_share_the_store(tmp_path):
    from lrlab.lab.store import Store
    from lrlab.lab.studies.compare import compare

    specs = ["constant(0.05)", "cosine(0.1)@plateau(factor=0.5, patience=0, threshold=0.9)", blowup(14)]
    common = dict(seeds=2, epochs=3, optimizer="sgd", dtype="float64", progress=False)
    seq = compare("quantiles", specs, engine="sequential", db=None, **common)
    db = str(tmp_path / "runs.db")
    st = compare("quantiles", specs, engine="stacked", db=db, **common)
    assert [r.label for r in st.runs] == [r.label for r in seq.runs]
    assert [r.seed for r in st.runs] == [0, 0, 0, 1, 1, 1]
    for a, b in zip(seq.runs, st.runs):
        assert_same_run(a, b)
    assert st.leaderboard["diverged"].tolist() == seq.leaderboard["diverged"].tolist() == [0, 0, 2]
    # the stacked runs are the same records in the store: a sequential comparison reuses them all
    again = compare("quantiles", specs, engine="sequential", db=db, **common)
    assert all(r.model is None and r.id is not None for r in again.runs)
    with Store(db) as store:
        assert len(store.summaries()) == 6
    for a, b in zip(st.runs, again.runs):
        assert b.status == a.status
        np.testing.assert_array_equal(b.step_lr, a.step_lr)


def test_compare_auto_falls_back_for_a_model_that_cannot_be_stacked(capsys):
    from lrlab.lab.studies.compare import compare

    task = Task(name="bn", description="", loss="bce", load=_seeded_load, model=_bn_model, epochs=2,
                batch_size=16, dtype="float64")
    c = compare(task, ["0.1", "0.2"], db=None, progress=False)
    assert [r.status for r in c.runs] == ["ok", "ok"]
    err = capsys.readouterr().err
    assert "cannot be stacked" in err and "buffers" in err and len(err.strip().splitlines()) == 1


@pytest.mark.filterwarnings("ignore:There is a performance drop")  # torch's, when the stack is forced
def test_compare_auto_times_a_model_vmap_would_loop_over_members_and_trains_it_the_faster_way(capsys, monkeypatch):
    import importlib

    compare_module = importlib.import_module("lrlab.lab.studies.compare")  # (lrlab.lab.compare is the function)
    stacked_module = importlib.import_module("lrlab.lab.engines.stacked")  # the stacked engine imports it to train
    auto_module = importlib.import_module("lrlab.lab.engines.auto")
    monkeypatch.setattr(auto_module, "_KNOWN", {})
    monkeypatch.setattr(auto_module, "_SAID", set())
    timed = []
    monkeypatch.setattr(auto_module, "measure", lambda plans, device: timed.append(len(plans)) or (1.0, 0.01))
    task = Task(name="attention", description="", loss="bce", load=_seeded_load, model=_attention_model, epochs=2,
                batch_size=16, dtype="float64")
    stacked = []
    real = stacked_module.execute_stack
    monkeypatch.setattr(stacked_module, "execute_stack", lambda plans, **kw: stacked.append(len(plans))
                        or real(plans, **kw))
    auto = compare_module.compare(task, ["0.1", "0.2"], seeds=2, db=None, progress=False)
    err = capsys.readouterr().err
    assert stacked == [] and timed == [4] and "for 4 runs: sequential (engine auto" in err  # as timed
    assert len(err.strip().splitlines()) == 1
    forced = compare_module.compare(task, ["0.1", "0.2"], seeds=2, db=None, progress=False, engine="stacked")
    assert stacked == [4] and capsys.readouterr().err == ""
    for a, b in zip(auto.runs, forced.runs):
        assert_same_run(a, b)


def test_compare_auto_falls_back_for_an_optimizer_option_the_stacked_engine_lacks(capsys):
    from lrlab.lab.studies.compare import compare

    c = compare("or3", ["0.5", "1.0"], epochs=2, db=None, progress=False, maximize=False)
    assert [r.status for r in c.runs] == ["ok", "ok"] and c.runs[0].config["optimizer_kwargs"] == {"maximize": False}
    assert "has no option 'maximize'" in capsys.readouterr().err


def test_compare_shows_one_bar_per_stack():
    from lrlab.lab.studies.compare import compare

    events = []

    class Bars:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def bar(self, label, seed, epochs):
            raise AssertionError("no per-run bar when stacking")

        def stack(self, label, members, epochs):
            events.append(("stack", label, members, epochs))

            class Bar:
                def update(self, epoch, done, diverged, best):
                    events.append((epoch, done, diverged))

                def done(self, status):
                    events.append(status)

            return Bar()

    compare("or3", ["0.5", "1.0", "piecewise([3], [0.5, 1e12])"], seeds=[0, 1], epochs=5, db=None,
            progress=Bars(), max_stack=4, device="cpu")  # (the jump: the 5th update, in epoch 5)
    assert events[0] == ("stack", "or3", 4, 5)
    assert events[1:6] == [(1, 0, 0), (2, 0, 0), (3, 0, 0), (4, 0, 0), (5, 4, 1)]
    assert events[6] == "4/4 done, 1 diverged" and events[7] == ("stack", "or3", 2, 5)
    assert events[-1] == "2/2 done, 1 diverged"


def test_compare_engine_options_are_checked():
    from lrlab.lab.studies.compare import compare

    with pytest.raises(ValueError, match="engine must be one of"):
        compare("or3", ["0.5"], engine="fast", db=None, progress=False)
    with pytest.raises(ValueError, match="callback"):
        compare("or3", ["0.5"], engine="stacked", callback=print, db=None, progress=False)
    with pytest.raises(ValueError, match="max_stack"):
        compare("or3", ["0.5"], max_stack=0, db=None, progress=False)
    with pytest.raises(ValueError, match="dtype must be one of"):
        compare("or3", ["0.5"], dtype="float16", db=None, progress=False)
