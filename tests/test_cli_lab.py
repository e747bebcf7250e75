"""`lrlab compare` and `lrlab runs`: a real comparison in a subprocess (progress bars, leaderboard, files),
the store listed and shown, and bad input answered with one line and a non-zero exit, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytest.importorskip("rich")

import lrlab as lrlab_package  # noqa: E402
from lrlab.cli import main  # noqa: E402

LRLAB = [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())"]


def lrlab(*args, cwd=None):
    """The command in a subprocess, importing the lrlab under test (a relative PYTHONPATH breaks with cwd)."""
    # a wide table, whatever the caller's terminal: tests/test_cli_display.py checks the narrow ones
    env = {**os.environ, "PYTHONPATH": str(Path(lrlab_package.__file__).resolve().parents[1]), "COLUMNS": "160"}
    return subprocess.run([*LRLAB, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One real `lrlab compare` on the first seed's line task: constant vs the seed's decayed rates."""
    tmp = tmp_path_factory.mktemp("cli")
    out = lrlab("compare", "line", "0.025", "piecewise([4, 9, 14], [0.025, 0.0125, 0.008333333333333333, 0.00625])",
                "constant(0.02)@plateau(factor=0.5,patience=2)", "--epochs", "20", "--seeds", "2",
                "--db", str(tmp / "runs.db"), "--out", str(tmp / "out"), "--threads", "1")
    return tmp, out


def test_compare_prints_bars_and_a_leaderboard_and_writes_files(compared):
    tmp, out = compared
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    for label in ("constant(0.025)", "piecewise([4, 9, 14]", "constant(0.02)@plateau(factor=0.5, patience=2)"):
        assert label in out.stdout  # the leaderboard
    # the six runs trained as one stack (--engine auto): one bar with epochs, members done, best loss
    assert "line: stack of 6" in out.stderr and "20/20" in out.stderr and "6/6 done, 0 diverged" in out.stderr
    assert "best 3.463" in out.stderr and "seed 1" not in out.stderr
    assert out.stderr.startswith("training 6 runs of line…\n")  # at once, before torch loads
    assert "best_val_loss" in out.stdout and "epochs_to_target" in out.stdout
    # ranked by the final validation figure, the test figure beside it, and the caption says so
    assert " ".join(out.stdout.split()).count("ranked by the final val_loss (mean over seeds, lower is better); "
                                              "test_loss is shown beside it, not used to rank") == 1
    assert "6 runs (6 trained, 0 reused)" in out.stdout
    runs = pd.read_csv(tmp / "out" / "runs.csv")
    assert len(runs) == 6 and set(runs["status"]) == {"ok"}
    assert {"schedule", "seed", "final_loss", "test_loss", "wall_s", "status"} <= set(runs.columns)
    # the first seed's printed error after 20 decayed updates
    piece = runs[runs["schedule"].str.startswith("piecewise")]
    assert piece["final_loss"].tolist() == pytest.approx([3.4631205160568017] * 2, abs=1e-9)
    history = pd.read_csv(tmp / "out" / "history.csv")
    assert len(history) == 6 * 20 and {"schedule", "seed", "epoch", "lr", "loss", "val_loss"} <= set(history.columns)
    html = (tmp / "out" / "report.html").read_text()
    assert "<html" in html.lower() and "constant(0.025)" in html
    assert "ranked by the final val_loss" in html
    assert "<h1>lrlab report: line</h1>" in html and "data:image/png;base64," in html  # lrlab.viz's report


def test_sequential_engine_shows_a_bar_per_run_and_dtype_is_kept(tmp_path):
    out = lrlab("compare", "or3", "0.5", "cosine(1.0)", "--epochs", "3", "--seeds", "2", "--engine", "sequential",
                "--device", "cpu", "--dtype", "float64", "--db", str(tmp_path / "runs.db"), "--out",
                str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    for label in ("constant(0.5)", "cosine(1.0)"):
        assert label in out.stderr  # a progress bar per run
    assert out.stderr.count("seed 1") == 2 and "3/3" in out.stderr and "loss" in out.stderr and "lr" in out.stderr
    assert "stack of" not in out.stderr
    assert "4 runs (4 trained, 0 reused)" in out.stdout
    from lrlab.lab.store import Store

    with Store(str(tmp_path / "runs.db")) as store:
        assert {store.get(s["id"]).config["dtype"] for s in store.summaries()} == {"float64"}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--engine", "fast", "--engine must be one of"), ("--device", "tpu", "--device must be one of"),
     ("--dtype", "float16", "--dtype must be one of"), ("--max-stack", "0", "--max-stack must be")],
)
def test_engine_options_are_checked(tmp_path, capsys, option, value, message):
    assert main(["compare", "or3", "0.5", option, value, "--db", str(tmp_path / "r.db")]) != 0
    assert message in capsys.readouterr().err


def test_rerun_reuses_and_runs_lists_and_shows(compared, capsys):
    tmp, _ = compared
    db = str(tmp / "runs.db")
    stale = tmp / "again" / "report.html"
    stale.parent.mkdir()
    stale.write_text("<html>an older comparison</html>")
    argv = ["compare", "line", "0.025", "--epochs", "20", "--seeds", "2", "--db", db, "--no-progress",
            "--out", str(stale.parent)]
    assert main(argv) == 0
    assert "2 runs (0 trained, 2 reused)" in capsys.readouterr().out
    # the report is fresh and records the argv main() was given, not the test runner's sys.argv
    html = stale.read_text()
    assert "older comparison" not in html and "lrlab compare line 0.025 --epochs 20 --seeds 2" in html
    assert main(["runs", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert "6 runs in" in listing and listing.count("line") >= 6 and "constant(0.025)" in listing
    assert main(["runs", "--db", db, "--task", "or3"]) == 0
    assert "no runs stored" in capsys.readouterr().out
    assert main(["runs", "show", "2", "--db", db]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("run 2 (") and '"task": "line"' in shown and "test_loss" in shown
    assert "20 epochs, 20 steps" in shown and "val_loss" in shown
    assert main(["runs", "show", "99", "--db", db]) == 2
    assert "no run with id 99" in capsys.readouterr().err


def test_runs_without_a_store(tmp_path, capsys):
    assert main(["runs", "--db", str(tmp_path / "none.db")]) == 0
    assert "no runs stored" in capsys.readouterr().out
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "nope", "0.1"], "unknown task 'nope'"),
        (["compare", "line", "cosine(0.1"], "cannot read schedule spec"),
        (["compare", "line", "0.1", "--plateau", "factor=0.5,patiense=3"], "unknown option 'patiense'"),
        (["compare", "line", "0.1@plateau(factor=7)"], "factor"),
        (["compare", "line", "0.1", "--plateau", "factor=0.5 patience=2"], "plateau: cannot read"),
        (["compare", "line", "0.1@plateau(mode=max)"], "strings are quoted"),
        (["compare", "line", "0.1", "--epochs", "ten"], "--epochs must be a whole number"),
        (["compare", "line", "0.1", "--optimizer", "rmsprop"], "--optimizer must be one of"),
        (["compare", "line", "0.1", "--opt", "momentun=0.9"], "momentun"),
        (["compare", "line", "0.1", "--seeds", "0"], "--seeds must be a whole number in [1, 10000], got 0"),
        (["runs", "show", "x"], "ID must be a whole number"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    out = lrlab(*args, "--db", str(tmp_path / "runs.db"), cwd=tmp_path)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    if lines[0].startswith("training "):  # options torch checks (--opt) fail after the line said it started
        lines = lines[1:]
    assert lines[0].startswith(f"lrlab {args[0]}: error: ") and message in lines[0], out.stderr
    # one line; a spec that does not parse adds the spec and a caret under the place (the parser's message)
    assert len(lines) == 1 or (len(lines) == 3 and lines[2].strip() == "^"), out.stderr


def test_register_imports_no_framework():
    code = ("import sys; from lrlab.cli import build_parser; build_parser(); "
            "bad = [m for m in ('torch', 'pandas', 'rich') if m in sys.modules]; assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_write_removes_a_stale_report(tmp_path):
    from lrlab.lab.studies.compare import compare

    c = compare("line", ["0.025"], epochs=2, db=None, progress=False)
    (tmp_path / "report.html").write_text("<html>an older comparison</html>")
    with pytest.warns(UserWarning, match="removed .*report.html"):
        paths = c.write(tmp_path)
    assert not (tmp_path / "report.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_a_diverged_run_gets_its_report(tmp_path):
    """The issue's command: the leaderboard printed, then matplotlib overflowed and report.html never came."""
    out = lrlab("compare", "line", "0.01", "1e10", "--out", "X", "--db", "runs.db", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    html = (tmp_path / "X" / "report.html").read_text()
    assert '<tr class="diverged">' in html and "data:image/png;base64," in html
    assert "epochs_to_target: the first epoch whose val_loss is ≤" in html
