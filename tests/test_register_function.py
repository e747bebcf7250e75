"""Named functions run only when registered (issue 9): a spec, a config, a torch checkpoint or a .keras file that
names `os:_exit` gives a ValueError and the process goes on; a registered function round-trips through repr,
config, a torch checkpoint and a .keras file."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import lrlab
from lrlab.schedules.host import registered_function

ATTACKS = ["os:_exit", "sys:exit", "os:umask", "builtins:input", "posix:_exit", "os:abort"]
SRC = str(Path(lrlab.__file__).resolve().parents[1])


@lrlab.register_function
def halving(step: int) -> float:
    """0.1 halved every 10 steps."""
    return 0.1 * 0.5 ** (step // 10)


@lrlab.register_function(name="team.schedules:warm")
def warm(step: int) -> float:
    return min(0.1, 0.01 * (step + 1))


def tenth(step: int) -> float:
    return 0.1


# -- registration -------------------------------------------------------------------------------------------
def test_register_function_forms():
    assert halving(25) == 0.025  # the decorator hands the function back
    assert registered_function("test_register_function:halving") is halving
    assert registered_function("team.schedules:warm") is warm
    assert lrlab.register_function(tenth, name="tenth") is tenth
    assert lrlab.custom("tenth")(7) == 0.1 and repr(lrlab.custom(tenth)) == 'custom("tenth")'
    assert lrlab.register_function(name="tenth2")(tenth) is tenth


@pytest.mark.parametrize(
    ("fn", "name", "what"),
    [
        (3, None, "fn"),
        ("os:_exit", None, "fn"),
        (lrlab.cosine(0.1, 10), None, "fn"),
        (dict, None, "fn"),
        (tenth, "", "name"),
        (tenth, 'a"b', "name"),
        (tenth, 5, "name"),
    ],
)
def test_register_function_refuses_what_it_cannot_name(fn, name, what):
    with pytest.raises(ValueError, match=f"register_function: {what} must be"):
        lrlab.register_function(fn, name=name)


# -- the attacks --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ATTACKS)
def test_a_spec_or_config_cannot_name_an_unregistered_function(name):
    for make in (
        lambda: lrlab.parse(f"custom('{name}')"),
        lambda: lrlab.parse(f'warmup(custom("{name}"), 5)'),
        lambda: lrlab.from_config({"kind": "custom", "fn": name}),
        lambda: lrlab.from_config(json.dumps({"kind": "per_epoch", "schedule": {"kind": "custom", "fn": name},
                                              "steps_per_epoch": 3})),
        lambda: lrlab.custom(name),
    ):
        with pytest.raises(ValueError) as info:
            make()
        message = str(info.value)
        assert name in message and "not a registered function" in message and "lrlab.register_function" in message
    assert os.getpid() > 0  # still here


def test_cli_plot_with_a_named_exit_fails_with_status_2(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lrlab", "plot", "custom('os:_exit')", "-o", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC, "KERAS_BACKEND": "torch"},
        timeout=120,
    )
    assert out.returncode == 2, (out.returncode, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert "os:_exit" in lines[0] and "register_function" in lines[0]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "x.png").exists()


def torch_state(schedule):
    torch = pytest.importorskip("torch")
    from lrlab.torch import Scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = Scheduler(opt, schedule)
    for _ in range(12):
        opt.step()
        sched.step()
    return opt, sched


def test_torch_checkpoint_naming_os_exit_is_a_value_error():
    torch = pytest.importorskip("torch")
    from lrlab.torch import Scheduler

    opt, sched = torch_state(lrlab.custom(halving))
    state = sched.state_dict()
    state["schedule"] = {"kind": "custom", "fn": "os:_exit"}
    state["schedule_repr"] = "custom(\"os:_exit\")"
    buf = io.BytesIO()
    torch.save(state, buf)
    loaded = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    with pytest.raises(ValueError, match=r"os:_exit.*not a registered function"):
        Scheduler.from_state_dict(opt, loaded)
    with pytest.raises(ValueError):
        Scheduler(opt, lrlab.custom(halving)).load_state_dict(loaded)


def test_registered_function_round_trips_through_repr_config_and_torch_checkpoint():
    torch = pytest.importorskip("torch")
    from lrlab.torch import Scheduler

    s = lrlab.warmup(lrlab.custom(halving), 3) * 0.5
    assert repr(s) == 'warmup(custom("test_register_function:halving"), steps=3) * 0.5'
    assert lrlab.parse(repr(s)) == s == lrlab.from_config(json.loads(json.dumps(s.to_config())))
    assert lrlab.custom("team.schedules:warm") == lrlab.custom(warm)
    assert lrlab.custom(warm).to_config() == {"kind": "custom", "fn": "team.schedules:warm"}
    opt, sched = torch_state(s)
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    loaded = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    again = Scheduler.from_state_dict(opt, loaded)
    assert again.schedule == s and again.get_last_lr() == sched.get_last_lr() == [s(12)]


def test_unregistered_function_works_in_process_but_cannot_be_saved():
    def local(step):
        return 0.2

    s = lrlab.custom(local)
    assert s(3) == 0.2 and s.fn is local
    assert repr(s).startswith("custom(<function ") and "local" in repr(s)
    with pytest.raises(ValueError, match=r"not registered.*lrlab\.register_function"):
        s.to_config()


# -- .keras files -------------------------------------------------------------------------------------------
def keras_model(schedule):
    keras = pytest.importorskip("keras")
    from lrlab.keras import Schedule

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=Schedule(schedule)), loss="binary_crossentropy")
    x = np.array([[0, 0, 0], [1, 0, 1], [0, 1, 0], [1, 1, 1]] * 2, dtype="float32")
    model.fit(x, x.max(axis=1, keepdims=True), batch_size=4, epochs=2, verbose=0)
    return model


def rewrite_keras_file(path: Path, out: Path, old: str, new: str) -> None:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            dst.writestr(item, data)


def test_keras_file_naming_os_exit_is_a_value_error(tmp_path):
    keras = pytest.importorskip("keras")
    model = keras_model(lrlab.custom(halving))
    model.save(tmp_path / "good.keras")
    rewrite_keras_file(tmp_path / "good.keras", tmp_path / "bad.keras", "test_register_function:halving", "os:_exit")
    with pytest.raises(ValueError, match="os:_exit"):
        model = keras.models.load_model(tmp_path / "bad.keras")
        float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))  # the rate is read: would call os._exit


def test_registered_function_round_trips_through_a_keras_file(tmp_path):
    keras = pytest.importorskip("keras")
    s = lrlab.custom(halving)
    model = keras_model(s)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.optimizer._learning_rate.schedule == s
    assert float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate)) == pytest.approx(s(4))
