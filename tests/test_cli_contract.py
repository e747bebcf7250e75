"""The command's error contract: any string given to an option ends in exit 0 or 2 with at most one error line,
never a traceback; output paths that cannot be written fail before any work; `--version`; the argv given to
`main` is the one recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrlab as lrlab_package
from lrlab.cli import main

pytest.importorskip("torch")
pytest.importorskip("pandas")
pytest.importorskip("rich")

LRLAB = [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())"]
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NASTY = st.sampled_from([
    "", " ", "0", "-1", "1", "3.0", "1e3", "nan", "inf", "-inf", "1e999", "99999999999999999999999", "9" * 5000,
    "full", "(0.9, 0.99)", "[1, 2]", "True", "None", "__import__('os')", "0x10", "1_000", "١٢", "\x00", "'x'",
])
VALUES = st.one_of(NASTY, st.text(max_size=24), st.integers().map(str), st.floats().map(repr))


def lrlab(*args, cwd=None):
    """The command in a subprocess, importing the lrlab under test (a relative PYTHONPATH breaks with cwd)."""
    env = {**os.environ, "PYTHONPATH": str(Path(lrlab_package.__file__).resolve().parents[1])}
    return subprocess.run([*LRLAB, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def _exit(argv):
    """main(argv)'s status: 0 or 2 (argparse's own errors exit 2 too); any other exception fails the test."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _one_error_line(err: str) -> None:
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) <= 1 and "Traceback" not in err, err


@pytest.fixture
def no_training():
    """compare() and torch's thread setting replaced: the options are read and checked for real, nothing trains."""
    calls = []

    def fake_compare(task, specs, **kwargs):
        calls.append(kwargs)
        return SimpleNamespace(runs=[])

    with mock.patch("lrlab.lab.studies.compare.compare", fake_compare), \
            mock.patch("lrlab.cli.lab.print_leaderboard", lambda c: None), \
            mock.patch("torch.set_num_threads", lambda n: None):
        yield calls


@pytest.mark.parametrize("option", ["--epochs", "--seeds", "--batch-size", "--target", "--threads", "--plateau",
                                    "--momentum", "--weight-decay"])
@SETTINGS
@given(value=VALUES)
def test_compare_options_never_raise(option, value, no_training, tmp_path, capsys):
    code = _exit(["compare", "line", "0.1", f"{option}={value}", "--db", str(tmp_path / "r.db"), "--no-progress"])
    assert code in (0, 2)
    _one_error_line(capsys.readouterr().err)


@SETTINGS
@given(key=st.one_of(st.sampled_from(["betas", "eps", "amsgrad", "lr", "momentum"]), st.text(max_size=8)),
       value=VALUES)
def test_opt_never_raises(key, value, no_training, tmp_path, capsys):
    code = _exit(["compare", "line", "0.1", "--optimizer", "adam", f"--opt={key}={value}",
                  "--db", str(tmp_path / "r.db"), "--no-progress"])
    assert code in (0, 2)
    _one_error_line(capsys.readouterr().err)


@SETTINGS
@given(steps=VALUES)
def test_plot_steps_never_raise(steps, capsys):
    assert _exit(["plot", "cosine(0.1)", f"--steps={steps}"]) in (0, 2)
    _one_error_line(capsys.readouterr().err)


@SETTINGS
@given(run_id=VALUES, limit=VALUES)
def test_runs_options_never_raise(run_id, limit, tmp_path, capsys):
    db = str(tmp_path / "none.db")
    assert _exit(["runs", "show", f"--db={db}", "--", run_id]) in (0, 2)
    _one_error_line(capsys.readouterr().err)
    assert _exit(["runs", f"--db={db}", f"--limit={limit}"]) in (0, 2)
    _one_error_line(capsys.readouterr().err)


@SETTINGS
@given(epochs=VALUES, fps=VALUES)
def test_animate_options_never_raise(epochs, fps, tmp_path, capsys):
    # a spec that does not parse ends every call before training, after the options are read
    assert _exit(["animate", "line", "nonsense(", f"--epochs={epochs}", f"--fps={fps}",
                  "-o", str(tmp_path / "a.gif")]) == 2
    _one_error_line(capsys.readouterr().err)


@pytest.fixture
def no_finding():
    """lab.find.find_lr and torch's thread setting replaced: the options are read and checked, nothing trains."""
    from lrlab import rangetest as rt

    calls = []

    def fake_find_lr(task, **kwargs):
        calls.append(kwargs)
        tracker = rt.Tracker()
        for loss in (2.0, 1.9, 1.5, 1.4, 9.0):
            tracker.add(loss)
        run = rt.RangeTest.from_tracker([1e-3, 1e-2, 1e-1, 1.0, 10.0], tracker, rt.Settings(), seed=0)
        return rt.FindResult([run], label=task.name)

    with mock.patch("lrlab.lab.studies.find.find_lr", fake_find_lr), \
            mock.patch("torch.set_num_threads", lambda n: None):
        yield calls


@pytest.mark.parametrize("option", ["--start", "--end", "--steps", "--seeds", "--threads", "--batch-size",
                                    "--optimizer"])
@SETTINGS
@given(value=VALUES)
def test_find_options_never_raise(option, value, no_finding, capsys):
    assert _exit(["find", "line", f"{option}={value}"]) in (0, 2)
    _one_error_line(capsys.readouterr().err)


def test_values_reach_find_checked(no_finding, capsys):
    assert main(["find", "line", "--start", " 1e-5 ", "--end", "1", "--steps", "40", "--seeds", "2", "--linear",
                 "--batch-size", "full", "--optimizer", "adam"]) == 0
    (kwargs,) = no_finding
    assert kwargs["start_lr"] == 1e-5 and kwargs["end_lr"] == 1.0 and kwargs["steps"] == 40
    assert kwargs["seeds"] == 2 and kwargs["mode"] == "linear" and kwargs["batch_size"] is None
    assert kwargs["optimizer"] == "adam"


def test_values_reach_compare_checked(no_training, tmp_path, capsys):
    assert main(["compare", "line", "0.1", "--epochs", " 7 ", "--seeds", "2", "--batch-size", "full",
                 "--target", "3.5", "--opt", "nesterov=False", "--db", str(tmp_path / "r.db"), "--no-progress"]) == 0
    (kwargs,) = no_training
    assert kwargs["epochs"] == 7 and kwargs["seeds"] == 2 and kwargs["batch_size"] is None
    assert kwargs["target"] == 3.5 and kwargs["nesterov"] is False
    assert "training 2 runs of line…" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["runs", "show", "99999999999999999999999"], "ID must be a whole number in [0, 9223372036854775807]"),
    (["compare", "line", "0.1", "--opt", "betas=oops"], "--opt betas: cannot read 'oops'"),
    (["compare", "line", "0.1", "--target", "nan"], "--target must be a finite number"),
    (["compare", "line", "0.1", "--threads", "0"], "--threads must be a whole number"),
    (["compare", "line", "0.1", "--epochs", "9" * 5000], "--epochs must be a whole number"),
    (["plot", "cosine(0.1)", "--steps", "1e3"], "--steps must be a whole number"),
    (["animate", "line", "0.1", "--fps", "0"], "--fps must be a finite number > 0"),
    (["find", "line", "--start", "1", "--end", "0.5"], "--start must be < --end, got --start=1.0, --end=0.5"),
    (["find", "line", "--steps", "1"], "--steps must be a whole number in [2, 2**53], got 1"),
    (["find", "line", "--start", "0"], "--start must be a finite number > 0, got 0.0"),
    (["find", "line", "--seeds", "0"], "--seeds must be a whole number"),
])
def test_bad_numbers_are_one_line(args, message, tmp_path):
    out = lrlab(*args, *(["--db", str(tmp_path / "r.db")] if args[0] not in ("plot", "animate", "find") else []),
                cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lrlab {args[0]}: error: ") and message in lines[0], out.stderr
    assert len(lines[0]) < 300  # a 5000-digit value is shown shortened


@pytest.mark.parametrize("args", [
    ["plot", "cosine(0.1)", "-o", "afile/x.png"],
    ["animate", "line", "0.1", "-o", "afile/x.gif"],
    ["demo", "decay-formulas", "--out", "afile"],
    ["compare", "line", "0.1", "--out", "afile", "--db", "runs.db"],
    ["compare", "line", "0.1", "--db", "afile/runs.db"],
    ["compare", "line", "0.1", "--out", "/proc/lrlab-out", "--db", "runs.db"],  # refuses writes, even to root
    ["plot", "cosine(0.1)", "-o", "/proc/lrlab.png"],
    ["find", "line", "-o", "afile/find.png"],
    ["find", "line", "-o", "/proc/find.png"],
])
def test_unwritable_outputs_fail_first_with_one_line(args, tmp_path):
    (tmp_path / "afile").write_text("a file, not a folder")
    out = lrlab(*args, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lrlab {args[0]}: error: "), out.stderr
    said = lines[0]
    assert ("afile" in said and "not a folder" in said) or "cannot create a file in '/proc'" in said, said
    assert out.stdout == ""  # before any work: no preview, no training, nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_version():
    from lrlab import __version__

    out = lrlab("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"lrlab {__version__}"
