"""The lab refuses a task its loop cannot train, before any run trains (lrlab.lab.tasks.task_check): a model that is
not a torch module, outputs that do not fit the loss (probabilities under a logits loss, a wrong width), integer inputs,
a model that fails on the first batch; with real Keras and transformers models. The built-in tasks pass, and the
probe changes no result: compare's numbers are bit for bit those of the code before the check existed."""

from __future__ import annotations

import dataclasses
import os
import random
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from lrlab.lab import compare, cooldowns, find_lr, get_task, task_names, train, tune  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.tasks.task import Data, Split, Task  # noqa: E402
from lrlab.lab.tasks.task_check import check_task  # noqa: E402

nn = torch.nn


def _blobs(seed: int) -> Data:
    """Two features, four classes (0..3): ce targets (n,)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2)).astype(np.float32)
    y = ((x[:, 0] > 0) * 2 + (x[:, 1] > 0)).astype(np.int64)
    return Data(Split(x[:80], y[:80]), Split(x[80:100], y[80:100]), Split(x[100:], y[100:]))


def _binary(seed: int) -> Data:
    """Two features, a 0/1 target (n, 1) for bce."""
    d = _blobs(seed)
    return Data(*(Split(s.x, (s.y % 2).astype(np.float32).reshape(-1, 1)) for s in (d.train, d.val, d.test)))


def _task(model, loss: str = "ce", load=_blobs, name: str = "mine", **kwargs) -> Task:
    return Task(name=name, description="a user's task", loss=loss, load=load, model=model, epochs=2, batch_size=16,
                **kwargs)


def _refused(task: Task, *fragments: str) -> str:
    """check_task's message for a task it refuses: one line naming the task, holding every fragment."""
    with pytest.raises(ValueError) as info:
        check_task(task, task.load(0))
    message = str(info.value)
    assert message.startswith(f"task {task.name!r}: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- the built-in tasks pass, and keep their numbers ---------------------------------------------------------------
BUILTIN = [name for name in task_names() if not name.startswith("mnist") or name.startswith("mnist1d")]


@pytest.mark.parametrize("name", BUILTIN)
def test_the_built_in_tasks_pass(name: str) -> None:
    task = get_task(name)
    check_task(task, task.load(0))
    if task.dtype == "float32":
        check_task(task, task.load(0), "float64")


# The check probes the model before the first run trains (a forward pass on a batch): it must leave every generator
# as it found it, so a compare's results are bit for bit those of the same compare without the check. (Recorded
# float.hex constants differ between CPUs (AMD EPYC, Intel Xeon): the reference is computed here, check switched off.)
CASES = [("or3", "sequential"), ("or3", "stacked"), ("quantiles", "sequential"), ("quantiles", "stacked")]
OPTIONS = {"or3": {"epochs": 60}, "quantiles": {"epochs": 2}}


def _figures(name: str, engine: str) -> list[tuple[str, str]]:
    """Each run's final training loss and sum of per-step losses (float.hex) of a compare on a new task object."""
    c = compare(get_task(name), ["constant(0.5)", "cosine(0.2)"], seeds=2, db=None, progress=False, engine=engine,
                device="cpu", **OPTIONS[name])
    return [(float(r.metrics["loss"]).hex(), float(r.step_loss.sum()).hex()) for r in c.runs]


@pytest.mark.parametrize(("name", "engine"), CASES)
def test_built_in_results_are_bit_for_bit_those_without_the_check(name: str, engine: str, monkeypatch) -> None:
    import lrlab.lab.plan as plan_module

    probes = []
    with monkeypatch.context() as m:
        m.setattr(plan_module, "check_task", lambda *args, **kwargs: probes.append(args))
        before = _figures(name, engine)  # the check switched off
    assert probes  # plan() asks the check (else this test compares a compare with itself)
    task = get_task(name)  # a new task object: the check runs in this compare, before its first run trains
    c = compare(task, ["constant(0.5)", "cosine(0.2)"], seeds=2, db=None, progress=False, engine=engine,
                device="cpu", **OPTIONS[name])
    got = [(float(r.metrics["loss"]).hex(), float(r.step_loss.sum()).hex()) for r in c.runs]
    assert got == before
    again = compare(task, ["constant(0.5)", "cosine(0.2)"], seeds=2, db=None, progress=False, engine=engine,
                    device="cpu", **OPTIONS[name])  # the task passed already: no probe before these runs
    assert [(float(r.metrics["loss"]).hex(), float(r.step_loss.sum()).hex()) for r in again.runs] == got


def test_the_probe_leaves_every_generator_as_it_was() -> None:
    """A model drawing from Python's, numpy's and torch's global generators: after the check they are where they
    were, so a run planned right after it trains exactly as a run planned without it."""
    def model(seed: int):
        layer = nn.Linear(2, 4)  # torch's global generator, unseeded
        with torch.no_grad():
            layer.weight.add_(torch.as_tensor(np.random.normal(size=(4, 2)), dtype=torch.float32))
            layer.bias.fill_(random.random())
        return layer

    task = _task(model)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    check_task(task, task.load(0))
    assert random.getstate() == states[0] and (np.random.get_state()[1] == states[1]).all()
    assert torch.equal(torch.get_rng_state(), states[2])

    fresh = _task(model)
    np.random.seed(5), random.seed(6)
    first = train(fresh, "0.1")  # checked inside plan, just before training
    np.random.seed(5), random.seed(6)
    second = train(fresh, "0.1")  # passed already: not checked again
    assert first.metrics == second.metrics and np.array_equal(first.step_loss, second.step_loss)


def test_a_task_is_checked_once_per_object_and_dtype() -> None:
    built = []

    def model(seed: int):
        built.append(seed)
        return nn.Linear(2, 4)

    task = _task(model)
    for seed in (0, 1, 2):
        plan(task, "0.1", RunOptions(seed=seed))
    assert len(built) == 1
    plan(task, "0.1", dtype="float64")
    assert len(built) == 2
    plan(dataclasses.replace(task), "0.1")  # an equal task, another object
    assert len(built) == 3


# -- what is refused ------------------------------------------------------------------------------------------------
def test_a_model_that_is_not_a_torch_module_is_refused() -> None:
    _refused(_task(lambda seed: (lambda x: x @ np.ones((2, 4)))), "model(seed) must return a torch.nn.Module",
             "got function")
    _refused(_task(lambda seed: np.ones((2, 4))), "got numpy.ndarray")
    _refused(_task(lambda seed: None), "got None")
    _refused(_task(lambda seed: nn.ReLU()), "the model has no trainable parameters")


def test_a_sigmoid_or_softmax_under_a_logits_loss_is_refused() -> None:
    sigmoid = _task(lambda seed: nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), "bce", _binary)
    _refused(sigmoid, "loss 'bce' takes logits", "the outputs of a sigmoid", "remove the final sigmoid")
    softmax = _task(lambda seed: nn.Sequential(nn.Linear(2, 4), nn.Softmax(dim=1)))
    _refused(softmax, "loss 'ce' takes logits", "the outputs of a softmax", "remove the final softmax")
    flattened = _task(lambda seed: nn.Sequential(nn.Linear(2, 1), nn.Sigmoid(), nn.Flatten(0)), "bce", _binary)
    _refused(flattened, "the outputs of a sigmoid")  # seen through a reshape

    class HandSoftmax(nn.Module):  # no softmax node: the outputs themselves say it
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 4)

        def forward(self, x):
            e = self.fc(x).exp()
            return e / e.sum(1, keepdim=True)

    _refused(_task(lambda seed: HandSoftmax()), "outputs in [0, 1] that sum to 1 for every sample")


def test_what_only_looks_like_probabilities_passes() -> None:
    log_softmax = _task(lambda seed: nn.Sequential(nn.Linear(2, 4), nn.LogSoftmax(dim=1)))
    check_task(log_softmax, log_softmax.load(0))  # cross-entropy of log-probabilities is that of the logits
    regression = _task(lambda seed: nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), "mse", _binary)
    check_task(regression, regression.load(0))

    def small(seed: int):  # logits that all lie in [0, 1] on 0/1 inputs, as a fresh or3 model's can
        layer = nn.Linear(2, 1)
        with torch.no_grad():
            layer.weight.fill_(0.3), layer.bias.fill_(0.1)
        return layer

    def zero_one(seed: int) -> Data:
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 5, dtype=np.float32)
        s = Split(x, x[:, :1] * x[:, 1:])
        return Data(s, s, s)

    task = _task(small, "bce", zero_one)
    check_task(task, task.load(0))


def test_outputs_of_the_wrong_shape_are_refused() -> None:
    _refused(_task(lambda seed: nn.Linear(2, 3)), "loss 'ce' needs class logits of shape (n, classes) with "
             "classes > the largest label (3), got outputs of shape (16, 3)")
    _refused(_task(lambda seed: nn.Linear(2, 1), "ce"), "got outputs of shape (16, 1)")
    _refused(_task(lambda seed: nn.Linear(2, 2), "bce", _binary), "loss 'bce' needs as many outputs per sample as "
             "targets (1: y of shape (16, 1)), got outputs of shape (16, 2)")
    _refused(_task(lambda seed: nn.Sequential(nn.Linear(2, 4), nn.Flatten(0)), "mse", _binary),
             "one row of outputs per sample, got outputs of shape (64,) for a batch of 16")


def test_data_the_loop_cannot_feed_is_refused() -> None:
    def integer_x(seed: int) -> Data:
        d = _blobs(seed)
        return Data(*(Split((s.x * 10).astype(np.int64), s.y) for s in (d.train, d.val, d.test)))

    _refused(_task(lambda seed: nn.Linear(2, 4), load=integer_x), "x of the train split holds integers (int64)",
             "give float inputs")

    def column_y(seed: int) -> Data:
        d = _blobs(seed)
        return Data(*(Split(s.x, s.y.reshape(-1, 1)) for s in (d.train, d.val, d.test)))

    _refused(_task(lambda seed: nn.Linear(2, 4), load=column_y), "loss 'ce' needs y of shape (n,) class ids, "
             "y of the train split has shape (80, 1)")

    def counts(seed: int) -> Data:
        d = _blobs(seed)
        return Data(*(Split(s.x, s.y.astype(np.float32).reshape(-1, 1)) for s in (d.train, d.val, d.test)))

    _refused(_task(lambda seed: nn.Linear(2, 1), "bce", counts), "loss 'bce' needs targets in [0, 1]",
             "values in [0, 3]")


def _tokens(seed: int) -> Data:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 32, size=(40, 8))
    s = Split(x, np.roll(x, -1, axis=1))
    return Data(s, s, s)


def test_token_ids_to_a_float_model_are_refused() -> None:
    message = _refused(_task(lambda seed: nn.Linear(8, 32), "lm", _tokens),
                       "the model fails on the first batch (x int64 (16, 8)): RuntimeError:")
    assert "Long" in message and "nn.Embedding" in message, message
    def float_tokens(seed: int) -> Data:
        s = _tokens(seed).train
        s = Split(s.x.astype(np.float32), s.y)
        return Data(s, s, s)

    floats = _task(lambda seed: nn.Linear(8, 32), "lm", float_tokens)
    _refused(floats, "loss 'lm' feeds token ids, so x of the train split must hold integers, got dtype float32")


def test_a_model_that_fails_is_refused_with_the_last_line_of_its_error() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 4)

        def forward(self, x):
            raise RuntimeError("while computing the forward pass\nsomething went wrong here")

    message = _refused(_task(lambda seed: Broken()), "the model fails on the first batch (x float32 (16, 2)): "
                       "RuntimeError: something went wrong here")
    assert "while computing" not in message

    def cannot_build(seed: int):
        raise KeyError("no such layer")

    _refused(_task(cannot_build), "model(0) fails: KeyError: 'no such layer'")

    class Detached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 4)

        def forward(self, x):
            return torch.as_tensor(self.fc(x).detach().numpy())

    _refused(_task(lambda seed: Detached()), "outputs carry no gradient")

    class NotANumber(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 4)

        def forward(self, x):
            return self.fc(x) * float("nan")

    _refused(_task(lambda seed: NotANumber()), "NaN or inf outputs on the first batch")


def test_the_studies_refuse_before_any_run_trains(tmp_path) -> None:
    task = _task(lambda seed: nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), "bce", _binary, name="sigmoid-out")
    steps = []
    match = re.escape("task 'sigmoid-out': loss 'bce' takes logits")
    with pytest.raises(ValueError, match=match):
        train(task, "0.1", callback=lambda *a: steps.append(a))
    with pytest.raises(ValueError, match=match):
        compare(task, ["0.1", "cosine(0.2)"], seeds=2, db=tmp_path / "runs.db", progress=False,
                callback=lambda *a: steps.append(a))
    with pytest.raises(ValueError, match=match):
        find_lr(task, seeds=2, steps=10)
    with pytest.raises(ValueError, match=match):
        cooldowns(task, "wsd(0.1)", steps=20, db=None, progress=False)
    with pytest.raises(ValueError, match=match):  # before the study: not as the failure of every trial
        tune(task, trials=2, storage=tmp_path / "tune.db", progress=False)
    assert steps == [] and not (tmp_path / "runs.db").exists() and not (tmp_path / "tune.db").exists()


# -- real frameworks -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on {keras.backend.backend()} here, not torch")
    return keras


def test_a_keras_model_is_a_torch_module_and_is_checked_as_one(keras) -> None:
    def model(activation: str | None, units: int = 4):
        def build(seed: int):
            keras.utils.set_random_seed(seed)  # reseeds Python, numpy and torch: the probe restores them
            return keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                                     keras.layers.Dense(units, activation=activation)])
        return build

    assert isinstance(model(None)(0), nn.Module)  # under KERAS_BACKEND=torch
    _refused(_task(model("softmax"), name="keras-softmax"), "loss 'ce' takes logits", "the outputs of a softmax")
    _refused(_task(model("sigmoid", 1), "bce", _binary, name="keras-sigmoid"), "the outputs of a sigmoid")
    _refused(_task(model(None, 3), name="keras-narrow"), "got outputs of shape (16, 3)")
    logits = _task(model(None), name="keras-logits")
    run = train(logits, "0.1")  # passes the check, and the loop trains it
    assert run.status == "ok" and run.history["loss"].iloc[-1] < run.history["loss"].iloc[0]


def test_a_transformers_model_is_refused_until_it_returns_its_logits() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=32, n_positions=8, n_embd=16, n_layer=1, n_head=2,
                                     bos_token_id=None, eos_token_id=None)

    def raw(seed: int):
        torch.manual_seed(seed)
        return transformers.GPT2LMHeadModel(config)

    class Logits(nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x).logits

    _refused(_task(raw, "lm", _tokens, name="gpt2"), "the model must return a tensor of outputs",
             "has .logits: wrap the model in a module whose forward returns model(x).logits")
    wrapped = _task(lambda seed: Logits(raw(seed)), "lm", _tokens, name="gpt2-logits")
    check_task(wrapped, wrapped.load(0))
