"""The lab's trainer: the first seed reproduced to 1e-9, a hand-written torch loop matched step for step,
lengths stretched to the run, the plateau fed the val loss, determinism, divergence, bad options."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

import lrlab  # noqa: E402
from lrlab.lab.engines.train import train  # noqa: E402
from lrlab.lab.options import TASK_DEFAULT, RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.tasks.task import Data, Split, Task  # noqa: E402
from lrlab.plateau import Plateau  # noqa: E402

train_module = importlib.import_module("lrlab.lab.engines.train")  # the module (lrlab.lab.train is the function)


def _blobs_load(seed: int) -> Data:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(260, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return Data(Split(x[:160], y[:160]), Split(x[160:210], y[160:210]), Split(x[210:], y[210:]))


def _blobs_model(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


BLOBS = Task(name="blobs", description="test task", loss="ce", load=_blobs_load, model=_blobs_model,
             epochs=6, batch_size=32, lr=0.1)


# -- the first seed -----------------------------------------------------------------------------
# What the first seed (a one-weight line fit, y ~ a * x, full batch, float64) printed: (i, error, gradiente, a)
# every 10 updates, for a constant rate 0.025 over 50 updates, and for its decayed rates over 20 updates.
SEED_CONSTANT = [
    (10, 3.5332415076132806, 4.434751401390874, 1.945937013155588),
    (20, 3.463169558318404, 0.11728176690111386, 1.990209371273261),
    (30, 3.46312055035669, 0.0031016423701155796, 1.9913802013638249),
    (40, 3.463120516080773, 8.202626584997337e-05, 1.991411165223878),
    (50, 3.4631205160568, 2.1692727570984022e-06, 1.9914119840964342),
]
SEED_DECAYED = [
    (10, 3.46312053385814, 0.010202610187635781, 1.9914349189821918),
    (20, 3.4631205160568017, 2.662718301434571e-06, 1.9914120289624948),
]


def _line_run(schedule, epochs):
    weights, grads = [], []

    def record(step, model, loss, lr):
        weights.append(model.weight.item())
        grads.append(model.weight.grad.item())

    run = train("line", schedule, epochs=epochs, callback=record)
    return run, weights, grads


@pytest.mark.parametrize(
    ("expected", "schedule", "epochs"),
    [
        (SEED_CONSTANT, "constant(0.025)", 50),
        (SEED_CONSTANT[:2], "constant(0.025)", 20),
        (SEED_DECAYED, lrlab.piecewise([4, 9, 14], [0.025, 0.0125, 0.025 / 3, 0.00625]), 20),
    ],
)
def test_line_reproduces_the_first_seed(expected, schedule, epochs):
    assert len(expected) == epochs // 10
    run, weights, grads = _line_run(schedule, epochs)
    assert run.status == "ok" and run.config["batch_size"] is None and run.config["dtype"] == "float64"
    for i, error, slope_grad, a in expected:
        # error: loss after update i = the loss the next update starts from = val loss of epoch i (val = train)
        after = run.step_loss[i] if i < epochs else run.metrics["loss"]
        assert after == pytest.approx(error, abs=1e-9, rel=0)
        assert run.history["val_loss"].iloc[i - 1] == pytest.approx(error, abs=1e-9, rel=0)
        assert grads[i - 1] == pytest.approx(slope_grad, abs=1e-9, rel=0)  # gradient used by update i
        assert weights[i - 1] == pytest.approx(a, abs=1e-9, rel=0)  # the weight after update i
    assert np.array_equal(run.step_lr, np.asarray(lrlab.parse(schedule)(np.arange(epochs))))


# -- the loop against a hand-written one -------------------------------------------------------
def _hand_loop(task, schedule, epochs, bs, seed, opt_cls, **kw):
    data = task.load(seed)
    x, y = torch.as_tensor(data.train.x), torch.as_tensor(data.train.y)
    torch.manual_seed(seed)
    model = task.model(seed)
    opt = opt_cls(model.parameters(), lr=1.0, **kw)
    gen = torch.Generator().manual_seed(seed)
    losses, step = [], 0
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            for g in opt.param_groups:
                g["lr"] = schedule(step)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
    return np.array(losses), model


@pytest.mark.parametrize(
    ("optimizer", "opt_cls", "kwargs"),
    [("sgd", "SGD", {"momentum": 0.9, "nesterov": True}), ("adam", "Adam", {}), ("adamw", "AdamW",
                                                                                 {"weight_decay": 0.05})],
)
def test_matches_a_hand_written_loop(optimizer, opt_cls, kwargs):
    schedule = lrlab.parse("cosine(0.05, decay_steps=20, alpha=0.1)")
    run = train(BLOBS, schedule, optimizer=optimizer, seed=3, **kwargs)
    expected, model = _hand_loop(BLOBS, schedule, 6, 32, 3, getattr(torch.optim, opt_cls), **kwargs)
    assert len(run.step_loss) == 6 * 5 == len(run.step_lr)
    np.testing.assert_allclose(run.step_loss, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(run.step_lr, schedule(np.arange(30)), rtol=0, atol=0)
    for p, q in zip(run.model.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert run.config["optimizer"] == optimizer and run.config["optimizer_kwargs"] == kwargs


def test_history_metrics_and_callbacks():
    steps, epochs = [], []

    class Progress:
        def update(self, epoch, loss, lr):
            epochs.append((epoch, loss, lr))

    run = train(BLOBS, "step_decay(0.2, 0.5, 10)", callback=lambda s, m, loss, lr: steps.append((s, loss, lr)),
                progress=Progress())
    h = run.history
    assert list(h.columns) == ["epoch", "step", "lr", "loss", "val_loss", "val_accuracy"]
    assert h["epoch"].tolist() == [1, 2, 3, 4, 5, 6] and h["step"].tolist() == [5, 10, 15, 20, 25, 30]
    assert [s for s, _, _ in steps] == list(range(1, 31))
    np.testing.assert_array_equal([loss for _, loss, _ in steps], run.step_loss)
    np.testing.assert_array_equal([lr for _, _, lr in steps], run.step_lr)
    assert h["lr"].tolist() == run.step_lr[::5].tolist()  # the rate of each epoch's first update
    np.testing.assert_allclose(h["loss"], run.step_loss.reshape(6, 5).mean(axis=1), rtol=1e-12)
    assert [e for e, _, _ in epochs] == [1, 2, 3, 4, 5, 6]
    # final metrics: evaluated on each split after training, consistent with the last epoch's val figures
    m = run.metrics
    assert set(m) >= {"loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"}
    assert m["val_loss"] == pytest.approx(h["val_loss"].iloc[-1]) and m["val_accuracy"] == h["val_accuracy"].iloc[-1]
    data = BLOBS.load(0)
    with torch.no_grad():
        logits = run.model(torch.as_tensor(data.test.x))
    assert m["test_accuracy"] == pytest.approx(float((logits.argmax(1).numpy() == data.test.y).mean()))
    assert m["test_loss"] == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, torch.as_tensor(data.test.y))), rel=1e-6)
    assert run.status == "ok" and run.wall_s > 0 and m["epochs_done"] == 6 and m["steps"] == 30


def test_left_out_lengths_stretch_to_the_run_and_set_ones_stay():
    run = train(BLOBS, "cosine(0.05)", epochs=4)  # 160 samples / 32 = 5 steps per epoch
    assert run.config["schedule"] == "cosine(0.05, decay_steps=20)"
    np.testing.assert_array_equal(run.step_lr, lrlab.cosine(0.05, 20)(np.arange(20)))
    run = train(BLOBS, "one_cycle(0.1)", epochs=2, batch_size=None)  # full batch: 1 step per epoch
    assert run.config["schedule"] == "one_cycle(0.1, total_steps=2)"
    run = train(BLOBS, "cosine(0.05, decay_steps=7)", epochs=4)
    assert run.config["schedule"] == "cosine(0.05, decay_steps=7)"
    np.testing.assert_array_equal(run.step_lr, lrlab.cosine(0.05, 7)(np.arange(20)))
    # the last partial batch counts as a step: 160 / 50 -> 4 steps per epoch
    assert train(BLOBS, "polynomial(0.1)", epochs=2, batch_size=50).config["schedule"].startswith(
        "polynomial(0.1, decay_steps=8")


def test_plateau_is_fed_the_val_loss_once_per_epoch():
    kwargs = {"factor": 0.5, "patience": 1, "threshold": 0.5}
    run = train(BLOBS, "constant(0.3)", epochs=12, plateau="factor=0.5, patience=1, threshold=0.5")
    # replay: a fresh Plateau fed the history's val losses gives the rate of every next epoch
    p = Plateau(**kwargs)
    rates = [p.effective(0.3)]
    for v in run.history["val_loss"].tolist()[:-1]:
        p.step(v)
        rates.append(p.effective(0.3))
    np.testing.assert_allclose(run.history["lr"], rates, rtol=1e-15)
    assert min(rates) < 0.3, "the test needs a run whose plateau reduces the rate"
    assert run.config["plateau"] == Plateau(**kwargs, monitor="val_loss").settings()  # what it watched
    same = train(BLOBS, "constant(0.3)", epochs=12, plateau=Plateau(**kwargs))
    np.testing.assert_array_equal(same.step_lr, run.step_lr)
    assert same.config == run.config
    assert train(BLOBS, "constant(0.3)", epochs=12, plateau=kwargs).config == run.config


def test_deterministic_for_a_seed():
    a = train(BLOBS, "constant(0.1)", seed=5)
    b = train(BLOBS, "constant(0.1)", seed=5)
    c = train(BLOBS, "constant(0.1)", seed=6)
    np.testing.assert_array_equal(a.step_loss, b.step_loss)
    assert a.metrics == b.metrics
    assert not np.array_equal(a.step_loss, c.step_loss)


def test_full_batch_does_not_shuffle():
    run = train(BLOBS, "constant(0.1)", batch_size=None, epochs=3)
    assert len(run.step_loss) == 3
    full = train(BLOBS, "constant(0.1)", batch_size=10_000, epochs=3)  # bigger than the data: full batch
    np.testing.assert_array_equal(full.step_loss, run.step_loss)
    assert full.config["batch_size"] is None


def test_divergence_ends_the_run_early():
    run = train(BLOBS, "constant(1e8)", epochs=6)
    assert run.status == "diverged"
    assert len(run.history) < 6 and len(run.step_loss) == 5 * len(run.history)
    assert not np.isfinite(run.step_loss).all() or not math.isfinite(run.history["val_loss"].iloc[-1])
    assert run.metrics["epochs_done"] == len(run.history) and run.metrics["steps"] == len(run.step_loss)


def test_a_diverged_run_reports_no_made_up_figures():
    """A NaN model classifies everything as class 0, which scores ~half right: those figures must be NaN."""
    run = train(BLOBS, "constant(1e8)", epochs=6)
    assert run.status == "diverged"
    figures = ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")
    assert set(figures) <= set(run.metrics)
    assert all(math.isnan(run.metrics[k]) for k in figures), run.metrics
    assert math.isnan(run.history["val_accuracy"].iloc[-1])  # the epoch it diverged in: no accuracy either
    # a run that diverges later keeps its real history up to the divergence
    late = train(BLOBS, "piecewise([10], [0.1, 1e8])", epochs=6)  # 5 steps per epoch: blows up in epoch 3
    assert late.status == "diverged" and len(late.history) == 3
    assert np.isfinite(late.history[["loss", "val_loss", "val_accuracy"]].iloc[:2].to_numpy()).all()
    assert np.isfinite(late.step_loss[:10]).all()
    assert math.isnan(late.metrics["test_accuracy"]) and math.isnan(late.history["val_accuracy"].iloc[-1])


def test_diverged_run_with_plateau_does_not_feed_nan(monkeypatch):
    fed: list[float] = []
    real_step = Plateau.step

    def spy(self, metric):
        fed.append(metric)
        return real_step(self, metric)

    monkeypatch.setattr(Plateau, "step", spy)
    run = train(BLOBS, "piecewise([10], [0.1, 1e8])", epochs=6, plateau="patience=0")
    assert run.status == "diverged" and len(run.history) == 3
    assert fed == run.history["val_loss"].tolist()[:2]  # the two finite epochs, not the diverged one
    assert all(math.isfinite(v) for v in fed)


def test_task_by_name_and_defaults():
    run = train("or3", "0.5", epochs=3)
    assert run.config["task"] == "or3" and run.config["optimizer"] == "sgd" and run.config["batch_size"] is None
    assert run.config["schedule"] == "constant(0.5)" and "accuracy" in run.metrics


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"lr": 0.1}, "lr is not allowed"),
        ({"epochs": 0}, "epochs must be"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"seed": 1.5}, "seed must be"),
        ({"momentun": 0.9}, "optimizer sgd"),
        ({"plateau": "factor=0.5,patiense=3"}, "unknown option 'patiense'"),
        ({"plateau": "factor=2"}, "factor"),
    ],
)
def test_bad_options_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train(BLOBS, "constant(0.1)", **kwargs)


def test_bad_task_and_spec():
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        train("nope", "constant(0.1)")
    with pytest.raises(ValueError):
        plan(BLOBS, "cosine(")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("factor=0.5,patience=10,min_lr=1e-5", {"factor": 0.5, "patience": 10, "min_lr": 1e-5}),
        ("plateau(factor=0.5, mode='max')", {"factor": 0.5, "mode": "max"}),
        ("plateau(factor=0.5, patience=10)", {"factor": 0.5, "patience": 10}),
        ("plateau", {}),
        ("plateau()", {}),
        ("convention='keras'", {"convention": "keras"}),
        ('threshold_mode="abs", patience=10.0', {"threshold_mode": "abs", "patience": 10}),
        ("  factor = 0.5 ,  cooldown = 2  ", {"factor": 0.5, "cooldown": 2}),
    ],
)
def test_parse_plateau(text, expected):
    got = Plateau.parse(text)
    assert got.settings() == Plateau(**expected).settings()
    assert all(type(getattr(got, k)) is type(v) for k, v in expected.items())  # 10 is an int, 0.5 a float
    assert Plateau.parse(got.spec()).settings() == got.settings()  # the spec reads back


@pytest.mark.parametrize("text", ["factor", "factor=x", "patience=1.5", "mode=up", "mode='up'", "factor=0.5,factor=0.2",
                                  "plateau[factor=1]", "min_lr=-1", "eps=nan", "factor='0.5'", "factor=True",
                                  "factor=None", "factor=[0.5]", "mode=1", "cosine(factor=0.5)"])
def test_parse_plateau_rejects(text):
    with pytest.raises(ValueError, match="plateau"):
        Plateau.parse(text)


def test_parse_plateau_reads_the_spec_grammar():
    """Quoted strings may hold commas; a syntax error points at its column with a caret."""
    with pytest.raises(ValueError, match="mode must be one of 'min', 'max', got 'max, min'"):
        Plateau.parse("factor=0.5, mode='max, min'")
    with pytest.raises(ValueError, match="column 12") as err:
        Plateau.parse("factor=0.5 patience=2")
    lines = str(err.value).splitlines()
    assert lines[0].startswith("plateau: ") and lines[-1].strip() == "^"
    assert lines[-1].index("^") - lines[-2].index("f") == 11  # under the 'p' of patience
    with pytest.raises(ValueError, match="quoted"):
        Plateau.parse("mode=max")


# -- the plateau's monitor ------------------------------------------------------------------------
def test_a_mode_that_does_not_fit_the_default_monitor_is_refused_before_training():
    """The --help example of old: mode='max' on the val loss lowered the rate from 0.01 to 1e-8 in 20 epochs."""
    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    with pytest.raises(ValueError, match="mode='max' does not fit monitor='val_loss'") as err:
        train(BLOBS, "constant(0.3)", plateau="mode='max', patience=2", callback=no_training)
    assert "val_loss is watched by default, pass monitor='val_accuracy'" in str(err.value)
    with pytest.raises(ValueError, match="mode='min' does not fit monitor='val_accuracy'"):
        train(BLOBS, "constant(0.3)", plateau="monitor='val_accuracy'", callback=no_training)
    with pytest.raises(ValueError, match=r"monitor must be a column of task 'blobs'.s history \(loss, val_loss, "
                       r"val_accuracy\), got 'accuracy'"):
        train(BLOBS, "constant(0.3)", plateau="monitor='accuracy', mode='max'", callback=no_training)


@pytest.mark.parametrize("monitor", ["val_accuracy", "loss"])
def test_the_plateau_is_fed_its_monitor(monitor):
    mode = "max" if monitor == "val_accuracy" else "min"
    kwargs = {"factor": 0.5, "patience": 1, "threshold": 0.5, "mode": mode, "monitor": monitor}
    run = train(BLOBS, "constant(0.3)", epochs=8, plateau=kwargs)
    p = Plateau(**kwargs)
    rates = [p.effective(0.3)]
    for v in run.history[monitor].tolist()[:-1]:
        p.step(v)
        rates.append(p.effective(0.3))
    np.testing.assert_allclose(run.history["lr"], rates, rtol=1e-15)
    assert min(rates) < 0.3, "the test needs a run whose plateau reduces the rate"
    assert run.config["plateau"]["monitor"] == monitor
    assert run.label == "constant(0.3)@" + Plateau(**kwargs).spec() and f"monitor={monitor!r})" in run.label


def test_without_a_validation_split_the_plateau_watches_the_training_loss():
    def load(seed):
        d = _blobs_load(seed)
        return Data(d.train, Split(d.val.x[:0], d.val.y[:0]), d.test)

    task = Task(name="noval", description="", loss="ce", load=load, model=_blobs_model, epochs=4)
    run = train(task, "constant(0.3)", plateau="patience=0")
    assert list(run.history.columns) == ["epoch", "step", "lr", "loss"]
    assert run.config["plateau"]["monitor"] == "loss"
    with pytest.raises(ValueError, match=r"history \(loss\), got 'val_loss'"):
        train(task, "constant(0.3)", plateau="monitor='val_loss'")


# -- divergence beyond any reasonable scale -------------------------------------------------------
def test_a_loss_a_million_times_the_first_is_divergence(monkeypatch):
    """float64 `line` at rate 0.1 grows ~34x an epoch: it passes 1e6 x its first loss long before it overflows."""
    run = train("line", "0.1", epochs=20)
    h = run.history
    limit = train_module.DIVERGED_FACTOR * h["loss"].iloc[0]
    assert run.status == "diverged" and len(h) < 20
    assert h["val_loss"].iloc[-1] > limit and (h[["loss", "val_loss"]].iloc[:-1] <= limit).all().all()
    assert all(math.isnan(run.metrics[k]) for k in ("loss", "val_loss", "test_loss"))
    assert run.metrics["epochs_done"] == len(h) and np.isfinite(run.step_loss).all()  # finite, but too far
    monkeypatch.setattr(train_module, "DIVERGED_FACTOR", math.inf)  # without the rule: a figure of 1e20 and "ok"
    unruled = train("line", "0.1", epochs=20)
    assert unruled.status == "ok" and unruled.metrics["test_loss"] > 1e20


# -- the options value ----------------------------------------------------------------------------
def test_run_options_is_one_frozen_value_resolved_against_the_task():
    import dataclasses

    opts = RunOptions()
    assert opts.batch_size is TASK_DEFAULT and repr(TASK_DEFAULT) == "TASK_DEFAULT"
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.epochs = 3
    p = plan(BLOBS, "0.1", RunOptions(epochs=2.0, optimizer="Adam"))
    assert (p.config["epochs"], p.config["batch_size"], p.config["optimizer"]) == (2, 32, "adam")
    assert p.options.epochs == 2 and p.options.batch_size == 32
    assert plan(BLOBS, "0.1", RunOptions(batch_size=None)).config["batch_size"] is None
    assert train(BLOBS, "0.1", epochs=1, batch_size=TASK_DEFAULT).config == train(BLOBS, "0.1", epochs=1).config
    with pytest.raises(ValueError, match=r"batch_size must be a whole number >= 1, None \(full batch\) or TASK_DEF"):
        RunOptions(batch_size=...)
    assert opts.replace(seed=3).seed == 3 and opts.seed == 0
