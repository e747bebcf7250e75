"""Hostile command lines (issue 27, "Medium"): every case ends in exit 0 or in exit 2 with one `error:` line, never
a traceback; Ctrl-C with `tune --workers 2` keeps the finished trials, fails the running ones and exits 130 with one
line; and random option values of tune, forecast, cooldowns and find never give a traceback (hypothesis, with the
training replaced: the options are read and checked for real). The library side: tests/lab/test_hostile_inputs.py."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lrlab as lrlab_package
from lrlab.cli import main

torch = pytest.importorskip("torch")
pytest.importorskip("optuna")
pytest.importorskip("pandas")
pytest.importorskip("rich")

BIG = "1" + "0" * 400
FUZZ = settings(max_examples=12, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
NASTY = st.sampled_from([
    "", " ", "0", "-1", "1", "2", "3.0", "1e3", "1e6", "1000000", "nan", "inf", "-inf", "1e999", "9" * 5000,
    "99999999999999999999999", "full", "(0.9, 0.99)", "(0.9,)", "[1, 2]", "True", "None", "0x10", "1_000", "١٢",
    "\x00", "'x'", "cpu", "cuda", "float32", "stacked", "adam", "sgd_sf", "tpe", "none", "0.5,1.0", "1.0,0.5",
    "constant(1e300)", "wsd(0.1)", "int(1, " + BIG + ")", "(" * 500, "cosine(loguniform(1e-3, 1))", "[" * 2000,
])
VALUES = st.one_of(NASTY, st.text(max_size=24), st.integers().map(str), st.floats().map(repr))


class _Reached(Exception):
    """Raised by the stand-in of the library call: every option was read and checked, and the work would start."""


def _exit(argv: list[str]) -> int:
    """main(argv)'s status: 0 when the command reached the library (or finished), 2 on bad input; any other
    exception (a traceback) fails the test."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code
    except _Reached:
        return 0


def _one_error_line(err: str, command: str | None = None, *parts: str) -> str:
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) <= 1 and "Traceback" not in err, err
    if command is not None:
        assert len(errors) == 1 and errors[0].startswith(f"lrlab {command}: error: "), err
        assert len(errors[0]) < 400, errors[0]
        for part in parts:
            assert part in errors[0], errors[0]
        return errors[0]
    return errors[0] if errors else ""


def _reach(*_args, **_kwargs):
    raise _Reached


@pytest.fixture
def no_work():
    """tune, compare, cooldowns, find_lr and forecast's fit replaced by _Reached; torch's thread count left
    alone."""
    with mock.patch("lrlab.lab.studies.tune.tune", _reach), mock.patch("lrlab.lab.studies.compare.compare", _reach), \
            mock.patch("lrlab.lab.studies.cooldowns.cooldowns", _reach), \
            mock.patch("lrlab.lab.studies.find.find_lr", _reach), \
            mock.patch("lrlab.cli.forecast._forecast", _reach), mock.patch("torch.set_num_threads", lambda n: None):
        yield


# -- tune: spaces, counts, optimizers ------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "parts"), [
    (["--space", f"step_decay(0.1, 0.5, step_size=int(1, {BIG}))"], ["takes two finite numbers"]),
    (["--space", "constant(" + "(" * 3000 + "0.1" + ")" * 3000 + ")"], ["levels of nesting"]),
    (["--space", "warmup(" * 400 + "constant(loguniform(0.1, 1))" + ", steps=1)" * 400], ["levels of nesting"]),
    (["--space", "cosine(loguniform(0.1, 1), decay_steps=" + "[" * 2000 + "1" + "]" * 2000 + ")"],
     ["levels of nesting"]),
    (["--confirm", "-1"], ["--confirm must be a whole number in [0, 2**53], got -1"]),
    (["--confirm=-1"], ["--confirm must be a whole number"]),
    (["--trials", "1000000", "--batch", "1000000"], ["--batch must be a whole number in [1, 1024], got 1000000"]),
    (["--trials", "1e6", "--batch", "1e6"], ["--trials must be a whole number"]),
    (["--batch", "64", "--forecast", "100"], ["--batch x --forecast", "at most 1024, got 64 x 100 = 6400"]),
    (["--optimizer", "sgd_sf", "--epochs", "0"], ["--epochs must be a whole number"]),
    (["--optimizer", "sgd_sf2"], ["--optimizer must be one of sgd, adam, adamw, sgd_sf, adamw_sf"]),
])
def test_tune_refuses_in_one_line_before_creating_anything(tmp_path, capsys, args, parts):
    storage = tmp_path / "t.db"
    assert _exit(["tune", "or3", *args, "--storage", str(storage), "--no-progress"]) == 2
    _one_error_line(capsys.readouterr().err, "tune", *parts)
    assert not storage.exists()


def test_tune_with_a_schedule_free_optimizer_runs(tmp_path, capsys):
    code = main(["tune", "or3", "--optimizer", "sgd_sf", "--space", "constant(loguniform(0.05, 1))", "--trials", "2",
                 "--epochs", "1", "--batch", "2", "--no-confirm", "--storage", str(tmp_path / "t.db"),
                 "--no-progress", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err and "best spec (not confirmed):\nconstant(" in out
    assert (tmp_path / "out" / "trials.csv").is_file()  # --out with --no-confirm makes its folder too


# -- forecast: the horizon; the store's malformed rows ---------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from lrlab.lab.studies.compare import compare

    db = tmp_path_factory.mktemp("store") / "runs.db"
    compare("or3", ["constant(0.1)", "cosine(0.1)", "wsd(0.1)"], steps=30, batch_size=8, db=db, progress=False)
    return db


@pytest.mark.parametrize("steps", ["100000000", "50001", str(2**53)])
def test_forecast_refuses_a_horizon_past_the_limit_before_any_work(store, capsys, steps):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert _exit(["forecast", "or3", "--fit", "1", "2", "3", "--steps", steps, "--predict", "cosine(0.1)",
                  "--db", str(store)]) == 2
    _one_error_line(capsys.readouterr().err, "forecast", f"--steps must be a whole number in [2, 50000], got {steps}")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing large allocated


def test_forecast_from_run_ids_within_the_limit_works(store, capsys):
    assert _exit(["forecast", "or3", "--fit", "1", "2", "3", "--steps", "2000", "--predict", "cosine(0.1)",
                  "--db", str(store)]) == 0
    out, err = capsys.readouterr()
    assert "fitted on 3 runs" in out and "│ cosine(0.1) │" in out and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["runs", "show", "1"],
    ["runs"],
    ["forecast", "or3", "--fit", "1", "2", "--predict", "cosine(0.1)"],
])
def test_a_store_row_whose_config_is_a_list_is_one_line(store, tmp_path, capsys, argv):
    db = tmp_path / "bad.db"
    db.write_bytes(store.read_bytes())
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE lrlab_runs SET config = '[1, 2]' WHERE id = 1")
    assert _exit([*argv, "--db", str(db)]) == 2
    _one_error_line(capsys.readouterr().err, argv[0], "run 1 in", "is malformed: its config is not a JSON object")
    assert _exit(["runs", "show", "2", "--db", str(db)]) == 0  # the other rows read as before


# -- rates past the float range: diverged runs, stored, ranked last ----------------------------------------------
@pytest.mark.parametrize("engine", ["sequential", "stacked"])
@pytest.mark.parametrize(("spec", "options"), [
    ("constant(1e300)", ["--optimizer", "adam"]),
    ("constant(1e300)", ["--optimizer", "sgd_sf"]),
    ("constant(1e300)", ["--optimizer", "adamw_sf"]),
    ("constant(3.5e38)", ["--dtype", "float32"]),
    ("constant(3.5e38)", ["--dtype", "float32", "--optimizer", "adamw_sf"]),
])
def test_compare_with_a_rate_past_the_float_range_ranks_it_diverged(tmp_path, capsys, engine, spec, options):
    from lrlab.lab.store import Store
    from lrlab.schedules import parse

    db = tmp_path / "r.db"
    assert _exit(["compare", "or3", spec, "constant(0.1)", "--epochs", "2", "--engine", engine, *options,
                  "--db", str(db), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    label = repr(parse(spec))
    rows = [line for line in out.splitlines() if line.startswith("│") and (label in line or "constant(0.1)" in line)]
    assert len(rows) == 2 and "constant(0.1)" in rows[0] and label in rows[1]
    assert rows[1].rstrip(" │").endswith("1/1 diverged")  # the status column
    with Store(db, readonly=True) as store:
        assert {(r["schedule"], r["status"]) for r in store.summaries()} == {(label, "diverged"),
                                                                              ("constant(0.1)", "ok")}


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
def test_cooldowns_with_a_peak_of_1e300_diverge(tmp_path, capsys, engine):
    from lrlab.lab.store import Store

    db = tmp_path / "r.db"
    assert _exit(["cooldowns", "or3", "wsd(1e300)", "--steps", "40", "--engine", engine, "--db", str(db),
                  "--no-progress"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    with Store(db, readonly=True) as store:
        statuses = {r["schedule"].split("(")[0]: r["status"] for r in store.summaries()}
    assert statuses.get("cosine") == "diverged"


@pytest.mark.parametrize(("argv", "parts"), [
    (["compare", "or3", "constant(0.1)", "--optimizer", "adam", "--opt", "betas=(0.9,)"],
     ["optimizer option betas must be two numbers in [0, 1)", "got (0.9,)"]),
    (["compare", "or3", "constant(0.1)", "--opt", "momentum=1e400"], ["optimizer option momentum must be in [0, 1]"]),
    (["compare", "or3", "constant(0.1)@adamw_sf(warmup_steps=-1)"],
     ["optimizer option warmup_steps must be a whole number in [0, 2**53], got -1"]),
    (["compare", "or3", "constant(0.1)", "--optimizer", "adamw_sf", "--opt", "warmup_steps=-1"],
     ["warmup_steps must be a whole number"]),
    (["cooldowns", "or3", "wsd(0.1)", "--opt", "momentum=1e400"], ["optimizer option momentum must be in [0, 1]"]),
])
def test_bad_optimizer_options_are_one_line(tmp_path, capsys, argv, parts):
    assert _exit([*argv, "--db", str(tmp_path / "r.db"), "--no-progress"]) == 2
    _one_error_line(capsys.readouterr().err, argv[0], *parts)


# -- find and tinylm's text ------------------------------------------------------------------------------------
def test_find_on_a_loss_never_finite_is_one_line(capsys):
    from lrlab.lab.tasks.task import Data, Split, get_task

    task = get_task("or3")

    def load(seed):
        d = task.load(seed)
        return Data(Split(np.full_like(d.train.x, np.nan), d.train.y), d.val, d.test)

    nan_task = dataclasses.replace(task, load=load)
    with mock.patch("lrlab.lab.tasks.task.get_task", lambda name, **kw: nan_task):
        assert _exit(["find", "or3", "--steps", "10", "--seeds", "2"]) == 2
    out, err = capsys.readouterr()
    _one_error_line(err, "find", "x of the train split holds NaN or inf")  # the task check, before any seed
    assert "ready specs" not in out


def test_a_text_past_the_limit_is_one_line(tmp_path, capsys):
    from lrlab.lab.tasks.tinylm import MAX_TEXT_BYTES

    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(MAX_TEXT_BYTES + 1)  # sparse: no disk used
    for argv in (["compare", "tinylm", "constant(0.01)", "--db", str(tmp_path / "r.db")], ["find", "tinylm"]):
        assert _exit([*argv, "--text", str(big)]) == 2
        _one_error_line(capsys.readouterr().err, argv[0], f"is {MAX_TEXT_BYTES + 1} bytes, more than the")
    assert _exit(["find", "tinylm", "--text", str(tmp_path)]) == 2
    _one_error_line(capsys.readouterr().err, "find", "is not a file")


# -- Ctrl-C with tune --workers 2 -------------------------------------------------------------------------------
def _states(db: Path) -> dict[int, str]:
    try:
        with sqlite3.connect(db, timeout=2) as conn:
            return dict(conn.execute("SELECT number, state FROM trials").fetchall())
    except sqlite3.Error:  # not created yet
        return {}


@pytest.mark.parametrize("target", ["group", "parent"])
def test_ctrl_c_with_two_workers_keeps_finished_trials_and_fails_running_ones(tmp_path, target):
    """SIGINT to the process group (a terminal's Ctrl-C), or to the parent alone: exit 130, one line, no trial left
    RUNNING (the running ones FAIL), the finished ones kept."""
    db = tmp_path / "t.db"
    env = {**os.environ, "PYTHONPATH": str(Path(lrlab_package.__file__).resolve().parents[1])}
    # SIGINT as a terminal leaves it (KeyboardInterrupt): a test run started in the background (`make test &`, nohup)
    # hands its processes SIGINT ignored, and this one would inherit that
    start = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "from lrlab.cli import main; sys.exit(main())")
    cmd = [sys.executable, "-c", start, "tune", "or3",
           "--space", "constant(loguniform(0.01, 0.5))", "--workers", "2", "--trials", "500", "--batch", "1",
           "--epochs", "600", "--pruner", "none", "--storage", str(db), "--no-progress", "--no-confirm"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            states = _states(db)
            done = [n for n, s in states.items() if s == "COMPLETE"]
            running = [n for n, s in states.items() if s == "RUNNING"]
            if done and running:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"no trial finished and one running within 300 s (exit {proc.poll()}): {states}")
            time.sleep(0.1)
        if target == "group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    after = _states(db)
    assert all(after[n] == "COMPLETE" for n in done), after  # kept
    assert "RUNNING" not in after.values() and all(after[n] in ("COMPLETE", "FAIL") for n in running), after
    assert "FAIL" in after.values(), after
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("lrlab tune: interrupted:"), err
    assert len([line for line in err.splitlines() if line.strip()]) == 2, err  # "tuning or3: ..." and that line


# -- random option values: never a traceback ----------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--space", "--trials", "--epochs", "--workers", "--batch", "--confirm", "--seeds",
                                    "--seed", "--forecast", "--threads", "--sampler", "--pruner", "--device",
                                    "--batch-size", "--optimizer", "--study"])
@FUZZ
@given(value=VALUES)
@example(value=f"int(1, {BIG})")  # besides the random draws, the values of issue 27 every time
@example(value="constant(" + "(" * 3000 + "0.1" + ")" * 3000 + ")")
@example(value="1000000")
@example(value="-1")
def test_tune_options_never_raise(option, value, no_work, tmp_path, capsys):
    code = _exit(["tune", "or3", f"{option}={value}", "--storage", str(tmp_path / "t.db"), "--no-progress"])
    assert code in (0, 2)
    _one_error_line(capsys.readouterr().err)


@FUZZ
@given(trials=VALUES, batch=VALUES, forecast=VALUES, confirm=VALUES)
def test_tune_counts_together_never_raise(trials, batch, forecast, confirm, no_work, tmp_path, capsys):
    code = _exit(["tune", "or3", f"--trials={trials}", f"--batch={batch}", f"--forecast={forecast}",
                  f"--confirm={confirm}", "--storage", str(tmp_path / "t.db"), "--no-progress"])
    assert code in (0, 2)
    _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("option", ["--steps", "--epochs", "--seeds", "--law", "--threads", "--fit", "--predict"])
@FUZZ
@given(value=VALUES)
def test_forecast_options_never_raise(option, value, no_work, store, capsys):
    argv = ["forecast", "or3", "--fit", "constant(0.1)", "--predict", "cosine(0.1)", f"{option}={value}"]
    assert _exit([*argv, "--db", str(store)]) in (0, 2)
    _one_error_line(capsys.readouterr().err)


@FUZZ
@given(steps=VALUES, ids=st.lists(st.sampled_from(["1", "2", "3", "0", "99", "1,2", ",", "-1", BIG]), min_size=1,
                                  max_size=4))
def test_forecast_from_run_ids_never_raises(steps, ids, no_work, store, capsys):
    assert _exit(["forecast", "or3", "--fit", *ids, "--predict", "cosine(0.1)", f"--steps={steps}",
                  "--db", str(store)]) in (0, 2)
    _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("option", ["--at", "--fraction", "--steps", "--seeds", "--metric", "--optimizer", "--opt",
                                    "--momentum", "--batch-size", "--engine", "--device", "--dtype", "--max-stack",
                                    "--threads", "SPEC"])
@FUZZ
@given(value=VALUES)
def test_cooldowns_options_never_raise(option, value, no_work, tmp_path, capsys):
    head = ["cooldowns", "--db", str(tmp_path / "r.db"), "--no-progress"]
    if option == "SPEC":
        argv = [*head, "or3", "--", value]
    else:
        argv = [*head, f"--opt=momentum={value}" if option == "--opt" else f"{option}={value}", "or3", "wsd(0.1)"]
    assert _exit(argv) in (0, 2)
    _one_error_line(capsys.readouterr().err)


@FUZZ
@given(start=VALUES, end=VALUES, steps=VALUES, seeds=VALUES)
def test_find_options_together_never_raise(start, end, steps, seeds, no_work, capsys):
    assert _exit(["find", "or3", f"--start={start}", f"--end={end}", f"--steps={steps}", f"--seeds={seeds}"]) in (0, 2)
    _one_error_line(capsys.readouterr().err)


@FUZZ
@given(text=VALUES)
def test_find_text_never_raises(text, no_work, capsys):
    assert _exit(["find", "tinylm", f"--text={text}"]) in (0, 2)
    _one_error_line(capsys.readouterr().err)
