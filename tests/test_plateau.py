"""Plateau against the real ReduceLROnPlateau of PyTorch and Keras 3 (torch backend), epoch by epoch."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

import lrlab
from lrlab.plateau import Plateau

torch = pytest.importorskip("torch")


# -- metric sequences ------------------------------------------------------------------------------
def _sequences(rng: np.random.Generator, n: int, *, inf_sign: float, length: int = 60) -> list[list[float]]:
    """Random walks, rounded walks (exact ties: plateaus) and walks with infinities sprinkled in."""
    out = []
    for i in range(n):
        kind = i % 4
        walk = 1.0 + np.cumsum(rng.normal(-0.01, 0.05, length))
        if kind == 1:
            walk = np.round(walk, 1)  # long flat stretches with exact ties
        elif kind == 2:
            walk = np.repeat(np.round(walk[: length // 4], 2), 4)
        values = [float(v) for v in walk]
        if kind == 3:
            for j in rng.choice(np.arange(1, length), size=5, replace=False):
                values[int(j)] = inf_sign * math.inf
        out.append(values)
    return out


def _torch_settings(rng: np.random.Generator) -> dict:
    mode = str(rng.choice(["min", "max"]))
    threshold_mode = str(rng.choice(["rel", "abs"]))
    return dict(
        factor=float(rng.choice([0.1, 0.5, 0.2, 0.9])),
        patience=int(rng.choice([0, 1, 2, 3, 5])),
        mode=mode,
        threshold=float(rng.choice([0.0, 1e-4, 0.01, 0.05])),
        threshold_mode=threshold_mode,
        cooldown=int(rng.choice([0, 1, 3])),
        min_lr=float(rng.choice([0.0, 1e-4, 3e-3])),
        eps=float(rng.choice([1e-8, 0.0, 1e-3])),
    )


# -- PyTorch -----------------------------------------------------------------------------------------
def test_torch_convention_matches_reduce_lr_on_plateau_every_epoch() -> None:
    rng = np.random.default_rng(0)
    compared = reductions = 0
    for case in range(240):
        settings = _torch_settings(rng)
        lr0 = float(rng.choice([0.1, 1.0, 1e-6, 3e-7]))
        if settings["min_lr"] > lr0:  # a rate below min_lr: lrlab raises it, torch leaves it (documented)
            settings["min_lr"] = lr0 / 4
        sign = 1.0 if settings["mode"] == "min" else -1.0
        seq = [sign * v for v in _sequences(rng, 4, inf_sign=1.0)[case % 4]]
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)
        ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **settings)
        mine = Plateau(**settings)
        for value in seq:
            reduced = mine.step(value)
            ref.step(value)
            assert opt.param_groups[0]["lr"] == mine.effective(lr0), (case, settings, lr0)
            assert mine.num_bad_epochs == ref.num_bad_epochs
            assert mine.cooldown_counter == ref.cooldown_counter
            assert ref.best == (ref.mode_worse if mine.best is None else mine.best)
            reductions += reduced
            compared += 1
    assert compared == 240 * 60 and reductions > 500


def test_torch_eps_stops_the_rate_like_torch() -> None:
    """Torch skips a reduction smaller than eps; the rate then stays put for good."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-5)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0)
    mine = Plateau(factor=0.1, patience=0)
    rates = []
    for _ in range(10):
        mine.step(1.0)
        ref.step(1.0)
        rates.append(mine.effective(1e-5))
        assert opt.param_groups[0]["lr"] == rates[-1]
    assert mine.reductions == 9  # the first epoch sets the best
    assert rates[-1] == rates[3] == pytest.approx(1e-8)  # 1e-5 -> 1e-6 -> 1e-7 -> 1e-8, then 9e-9 < eps
    assert mine.scale == pytest.approx(1e-9)


def test_infinities_count_as_no_improvement() -> None:
    p = Plateau(patience=1, convention="torch")
    assert [p.step(v) for v in (1.0, math.inf, math.inf, 0.5, -math.inf, -math.inf)] == [
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    assert p.best == 0.5
    # torch takes -inf as the best in "min" mode and then never improves again; lrlab does not
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1)
    ref.step(-math.inf)
    assert ref.best == -math.inf
    q = Plateau(patience=2, mode="max", convention="keras")
    assert [q.step(v) for v in (math.inf, math.inf, 2.0)] == [False, True, False]
    assert q.best == 2.0


def test_nan_is_rejected_and_state_unchanged() -> None:
    for convention in ("torch", "keras"):
        p = Plateau(patience=0, convention=convention)
        p.step(1.0)
        before = p.state_dict()
        with pytest.raises(ValueError, match="NaN"):
            p.step(float("nan"))
        with pytest.raises(ValueError, match="NaN"):
            p.step(torch.tensor(float("nan")))
        assert p.state_dict() == before
    # both libraries would have counted it as a bad epoch and reduced
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    ref.step(1.0)
    ref.step(float("nan"))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


def test_metric_types() -> None:
    p = Plateau(patience=0)
    assert p.step(torch.tensor(2.0)) is False
    assert p.step(np.float32(3.0)) is True
    for bad in ("1.0", None, [1.0], True, torch.ones(2)):
        with pytest.raises(ValueError, match="metric"):
            p.step(bad)


# -- Keras -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras_model():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("these tests run Keras on the torch backend")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    return keras, model


def test_keras_convention_matches_keras_callback_every_epoch(keras_model) -> None:
    keras, model = keras_model
    rng = np.random.default_rng(1)
    compared = reductions = 0
    for case in range(60):
        mode = str(rng.choice(["min", "max"]))
        settings = dict(
            factor=float(rng.choice([0.1, 0.5, 0.2])),
            patience=int(rng.choice([0, 1, 2, 3, 5])),
            cooldown=int(rng.choice([0, 1, 3])),
            min_lr=float(rng.choice([0.0, 0.0, 1e-4, 3e-3])),
        )
        min_delta = float(rng.choice([0.0, 1e-4, 0.01, 0.05]))
        sign = 1.0 if mode == "min" else -1.0
        seq = [sign * v for v in _sequences(rng, 4, inf_sign=1.0)[case % 4]]
        lr0 = float(rng.choice([0.1, 0.5]))
        model.optimizer.learning_rate = lr0
        ref = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode=mode, min_delta=min_delta, **settings)
        ref.set_model(model)
        ref.on_train_begin()
        mine = Plateau(mode=mode, threshold=min_delta, convention="keras", **settings)
        floored = False
        for epoch, value in enumerate(seq):
            reduced = mine.step(value)
            ref.on_epoch_end(epoch, {"val_loss": value})
            got = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            want = mine.effective(lr0)
            assert got == pytest.approx(want, rel=2e-6, abs=1e-37), (case, settings, epoch)
            if not floored:  # keras stops counting reductions once the rate is at min_lr; see plateau.py
                assert (mine.num_bad_epochs, mine.cooldown_counter) == (ref.wait, ref.cooldown_counter)
            floored = floored or got <= np.float32(settings["min_lr"])
            reductions += reduced
            compared += 1
    assert compared == 60 * 60 and reductions > 100


def test_keras_compares_in_float32_like_keras(keras_model) -> None:
    keras, model = keras_model
    seq = [1.0, 1.0 - 1e-9, 1.0 - 2e-9, 1.0 - 3e-9]  # improvements in float64, ties in float32
    model.optimizer.learning_rate = 0.1
    ref = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=3, min_delta=0.0)
    ref.set_model(model)
    ref.on_train_begin()
    mine = Plateau(patience=3, threshold=0.0, convention="keras")
    for epoch, value in enumerate(seq):
        ref.on_epoch_end(epoch, {"val_loss": value})
        mine.step(value)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)
    assert mine.effective(0.1) == pytest.approx(0.01)


def test_keras_counts_patience_bad_epochs_torch_patience_plus_one() -> None:
    seq = [1.0, 1.0, 1.0, 1.0]
    k, t = Plateau(patience=2, convention="keras"), Plateau(patience=2, convention="torch")
    assert [k.step(v) for v in seq] == [False, False, True, False]
    assert [t.step(v) for v in seq] == [False, False, False, True]


# -- behaviour on a schedule, state, validation ------------------------------------------------------
def test_effective_on_a_schedule_and_arrays() -> None:
    s = lrlab.parse("cosine(0.1, decay_steps=100)")
    p = Plateau(factor=0.5, patience=0, min_lr=1e-3)
    p.step(1.0)
    p.step(2.0)
    assert p.scale == 0.5
    assert p.effective(s(0)) == 0.05
    assert p.effective(s(100)) == 1e-3  # floored at min_lr
    steps = np.arange(101)
    rates = p.effective(s(steps))
    assert rates.dtype == np.float64
    assert list(rates) == [p.effective(s(int(t))) for t in steps]
    p.step(3.0)
    p.step(4.0)
    assert np.array_equal(p.effective(np.array([0.1, 1e-9])), [p.effective(0.1), p.effective(1e-9)])
    with pytest.raises(ValueError, match="lr"):
        p.effective(-1.0)


@pytest.mark.parametrize("convention", ["torch", "keras"])
def test_state_dict_resumes_exactly(convention: str) -> None:
    rng = np.random.default_rng(2)
    seq = _sequences(rng, 1, inf_sign=1.0, length=80)[0]
    settings = dict(factor=0.5, patience=2, cooldown=1, min_lr=1e-4, convention=convention)
    whole = Plateau(**settings)
    full = [(whole.step(v), whole.effective(0.1)) for v in seq]
    first = Plateau(**settings)
    head = [(first.step(v), first.effective(0.1)) for v in seq[:37]]
    state = json.loads(json.dumps(first.state_dict()))  # plain data
    second = Plateau(**settings)
    second.load_state_dict(state)
    tail = [(second.step(v), second.effective(0.1)) for v in seq[37:]]
    assert head + tail == full
    assert Plateau.from_state_dict(state).state_dict() == state
    assert whole.state_dict() == second.state_dict()


def test_load_state_with_other_settings_is_an_error() -> None:
    state = Plateau(factor=0.5).state_dict()
    with pytest.raises(ValueError, match=r"factor=0\.5"):
        Plateau(factor=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="'reductions'"):
        Plateau().load_state_dict({k: v for k, v in Plateau().state_dict().items() if k != "reductions"})
    bad = {**Plateau().state_dict(), "num_bad_epochs": -1}
    with pytest.raises(ValueError, match="num_bad_epochs"):
        Plateau().load_state_dict(bad)


def test_reset_keeps_scale() -> None:
    p = Plateau(patience=0)
    p.step(1.0)
    p.step(1.0)
    p.reset()
    assert (p.scale, p.best, p.num_bad_epochs, p.cooldown_counter) == (pytest.approx(0.1), None, 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"factor": 1.0}, "factor"),
        ({"factor": -0.1}, "factor"),
        ({"factor": "0.1"}, "factor"),
        ({"patience": -1}, "patience"),
        ({"patience": 1.5}, "patience"),
        ({"mode": "auto"}, "mode"),
        ({"threshold": -1e-4}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"threshold": math.nan}, "threshold"),
        ({"threshold_mode": "relative"}, "threshold_mode"),
        ({"threshold_mode": "rel", "convention": "keras"}, "threshold_mode"),
        ({"cooldown": -2}, "cooldown"),
        ({"min_lr": -1.0}, "min_lr"),
        ({"min_lr": math.inf}, "min_lr"),
        ({"eps": -1e-8}, "eps"),
        ({"convention": "tf"}, "convention"),
    ],
)
def test_bad_parameters_name_parameter_and_value(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name) as info:
        Plateau(**kwargs)
    assert repr(kwargs[name]) in str(info.value)


def test_exported_and_defaults() -> None:
    assert lrlab.Plateau is Plateau
    p = Plateau()
    assert (p.factor, p.patience, p.mode, p.threshold, p.threshold_mode, p.cooldown, p.min_lr, p.eps) == (
        0.1,
        10,
        "min",
        1e-4,
        "rel",
        0,
        0.0,
        1e-8,
    )
    assert Plateau(convention="keras").threshold_mode == "abs"
    assert Plateau(threshold=2.0, mode="max").threshold == 2.0


def test_rate_below_min_lr_is_raised_to_min_lr() -> None:
    """Documented difference: the libraries leave a rate that starts below min_lr alone; lrlab floors it."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=1e-3)
    mine = Plateau(patience=0, min_lr=1e-3)
    for value in (1.0, 1.0):
        ref.step(value)
        mine.step(value)
    assert opt.param_groups[0]["lr"] == 1e-4
    assert mine.effective(1e-4) == 1e-3


def test_import_lrlab_and_plateau_without_any_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'keras', 'jax', 'optax', 'tensorflow'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import lrlab\n"
        "p = lrlab.Plateau(patience=0)\n"
        "p.step(1.0); p.step(2.0)\n"
        "print(p.effective(0.1))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) == pytest.approx(0.01)


# -- options: text, dicts, the spec, the monitor ---------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["factor=0.5, patience=10", "plateau(factor=0.5, min_lr=1e-05)", "plateau", "convention='keras', cooldown=2",
     "monitor='val_accuracy', mode='max', factor=0.123456789", "threshold=2.0, threshold_mode='abs'"],
)
def test_parse_and_spec_read_each_other_back(text: str) -> None:
    p = Plateau.parse(text)
    again = Plateau.parse(p.spec())
    assert again.settings() == p.settings()
    assert p.spec().startswith("plateau(") and "convention='torch'" not in p.spec()


def test_spec_shows_what_differs_from_the_defaults() -> None:
    assert Plateau().spec() == "plateau()"
    assert Plateau(factor=0.5, patience=3).spec() == "plateau(factor=0.5, patience=3)"
    assert Plateau(factor=0.5, patience=10).spec() == "plateau(factor=0.5)"  # 10 is the default
    assert Plateau(min_lr=1e-5, monitor="loss").spec() == "plateau(min_lr=1e-05, monitor='loss')"


def test_from_options() -> None:
    assert Plateau.from_options(None) is None and Plateau.from_options(False) is None
    assert Plateau.from_options("factor=0.5").factor == 0.5
    assert Plateau.from_options({"factor": 0.5, "patience": 3}).settings() == Plateau(factor=0.5, patience=3).settings()
    used = Plateau(patience=0)
    used.step(1.0)
    used.step(2.0)
    fresh = Plateau.from_options(used)
    assert fresh is not used and fresh.settings() == used.settings() and (fresh.scale, fresh.epochs) == (1.0, 0)
    with pytest.raises(ValueError, match="unknown option 'patiense'"):
        Plateau.from_options({"patiense": 3})
    with pytest.raises(ValueError, match=r"plateau \{'factor': '0.5'\}: factor must be in \[0, 1\), got '0.5'"):
        Plateau.from_options({"factor": "0.5"})
    with pytest.raises(ValueError, match="plateau must be a Plateau, a dict or options text"):
        Plateau.from_options(0.5)


@pytest.mark.parametrize(("monitor", "mode"), [("val_loss", "max"), ("loss", "max"), ("val_accuracy", "min"),
                                               ("accuracy", "min")])
def test_a_mode_that_does_not_fit_the_monitor_is_refused(monitor: str, mode: str) -> None:
    with pytest.raises(ValueError, match=f"mode='{mode}' does not fit monitor='{monitor}'"):
        Plateau(monitor=monitor, mode=mode)


def test_monitor() -> None:
    assert Plateau().monitor is None and Plateau(monitor="val_accuracy", mode="max").monitor == "val_accuracy"
    assert Plateau(monitor="val_f1", mode="max").mode == "max" and Plateau(monitor="val_f1").mode == "min"
    for bad in ("", "val loss", 3):
        with pytest.raises(ValueError, match="monitor"):
            Plateau(monitor=bad)
    state = Plateau(monitor="val_accuracy", mode="max").state_dict()
    assert Plateau.from_state_dict(state).monitor == "val_accuracy"
    old = {k: v for k, v in Plateau().state_dict().items() if k != "monitor"}  # saved before plateaus had one
    Plateau().load_state_dict(old)
    with pytest.raises(ValueError, match="monitor='val_accuracy'"):
        Plateau(mode="max").load_state_dict(state)
