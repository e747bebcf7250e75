"""What people see in a terminal: the leaderboard at 80/100/120 columns (piped, COLUMNS honoured; the schedule
never cut, it folds; the less important columns go first), one precision per column, the failed runs' flags, and a
reader that leaves the pipe early (`lrlab list | head -2`) ending the command quietly."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("rich")

import lrlab as lrlab_package
from lrlab.cli import main

LRLAB = [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())"]
LONG = "one_cycle(0.04453790251105512, pct_start=0.44132071)"
SPECS = ["cosine(0.01)", LONG, "wsd(0.05)@plateau(factor=0.5, patience=3)"]


def lrlab(*args, columns=None, db):
    """The command piped (stdout not a terminal), COLUMNS set or not."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(Path(lrlab_package.__file__).resolve().parents[1])
    if columns is not None:
        env["COLUMNS"] = str(columns)
    out = subprocess.run([*LRLAB, *args, "--db", str(db)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def table_rows(text):
    """The leaderboard's body rows: a list of cell lists, a folded row's lines joined cell by cell."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0]:
            rows.append(cells)
        else:  # a folded line: its cells continue the row above
            rows[-1] = [f"{a} {b}".strip() if b else a for a, b in zip(rows[-1], cells)]
    return rows


def header(text):
    line = next(line for line in text.splitlines() if line.startswith("┃"))
    return [c.strip() for c in line.strip("┃").split("┃")]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("display") / "runs.db"
    lrlab("compare", "line", *SPECS, "--epochs", "5", "--seeds", "2", db=path)  # trains once; the rest reuse
    return path


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_the_leaderboard_fits_columns_and_never_cuts_a_schedule(db, columns):
    text = lrlab("compare", "line", *SPECS, "--epochs", "5", "--seeds", "2", columns=columns, db=db)
    table = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= columns for line in table), max(map(len, table))
    # the prose under it too (the caption, "the seeds gave the same ...", the ties): folded, not past the edge; a
    # flag ("no progress: SPEC: ...") stays one line, a record to grep, and so does a path (the store's, to copy)
    wide = [line for line in text.splitlines()
            if len(line) > columns and not line.startswith("no progress:") and str(db) not in line]
    assert wide == [], wide
    assert "…" not in text  # nothing ellipsized
    rows = table_rows(text)
    # the folded schedule reads back whole (a fold may break at a space: compare without spaces)
    assert sorted(r[1].replace(" ", "") for r in rows) == sorted(s.replace(" ", "") for s in SPECS)
    names = header(text)
    assert names[:3] == ["#", "schedule", "val_loss"] and names[-1] == "status"
    # one precision per column: every figure of a column has the same decimals, its ± too
    for i, name in enumerate(names):
        if name in ("val_loss", "test_loss"):
            places = {len(part.split(".")[1]) for r in rows for part in r[i].split(" ± ") if "." in part}
            assert len(places) == 1, (name, [r[i] for r in rows])


def test_columns_go_least_important_first_and_a_wide_terminal_shows_them_all(db):
    narrow = header(lrlab("compare", "line", *SPECS, "--epochs", "5", "--seeds", "2", columns=80, db=db))
    wide = header(lrlab("compare", "line", *SPECS, "--epochs", "5", "--seeds", "2", columns=250, db=db))
    assert {"wall_s", "test_loss", "best_val_loss", "epochs_to_target", "reached"} <= set(wide)
    assert "wall_s" not in narrow and set(narrow) < set(wide)
    assert [n for n in wide if n in narrow] == narrow  # same order


def test_the_captions_say_what_epochs_to_target_and_wall_s_are(db):
    text = " ".join(lrlab("compare", "line", *SPECS, "--epochs", "5", "--seeds", "2", columns=250, db=db).split())
    assert "mean over the seeds that reached it (reached)" in text
    assert "wall_s: training seconds per run, mean over seeds (runs trained as one stack share its time" in text


def test_a_run_that_learned_nothing_is_flagged_in_one_line(db):
    text = lrlab("compare", "line", *SPECS, "--epochs", "5", "--seeds", "2", columns=120, db=db)
    rows = table_rows(text)
    assert rows[-1][1].replace(" ", "") == "wsd(0.05)@plateau(factor=0.5,patience=3)"
    assert rows[-1][-1] == "2/2 no progress" and rows[0][-1] == "ok"
    flagged = [line for line in text.splitlines() if line.startswith("no progress:")]
    assert len(flagged) == 1 and re.search(r"2 of 2 runs ended no better than before training \(val_loss \S+ >= "
                                           r"\S+\); ranked below the runs that learned", flagged[0])


class _Gone(io.TextIOBase):
    """A stdout whose reader left: every write is a broken pipe."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def writable(self):
        return True


@pytest.mark.parametrize("argv", [["list"], ["plot", "cosine(0.1)"]])
def test_a_reader_that_leaves_ends_the_command_quietly(monkeypatch, capsys, argv):
    monkeypatch.setattr(sys, "stdout", _Gone())
    assert main(argv) == 0
    assert capsys.readouterr().err == ""


def test_list_piped_into_head_prints_no_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(lrlab_package.__file__).resolve().parents[1])}
    code = f"{sys.executable} -c 'import sys; from lrlab.cli import main; sys.exit(main())' list | head -2"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", code], capture_output=True, text=True, timeout=120,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == "" and len(out.stdout.splitlines()) == 2


@pytest.mark.parametrize("columns", [80, 120])
def test_the_runs_listing_fits_and_never_cuts_a_schedule(db, columns):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(PYTHONPATH=str(Path(lrlab_package.__file__).resolve().parents[1]), COLUMNS=str(columns))
    out = subprocess.run([*LRLAB, "runs", "--db", str(db)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    table = [line for line in out.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= columns for line in table)
    rows = table_rows(out.stdout)
    names = header(out.stdout)
    at = names.index("schedule")
    assert {r[at].replace(" ", "") for r in rows} == {s.replace(" ", "") for s in SPECS}
