"""Issue 27 (trust, round two), the command's side: a store that is not a regular file (a FIFO hung `lrlab runs`)
and every bad --db or --storage is one line and exit 2, never a traceback or a wait (the FIFO cases run in a
subprocess with a timeout, so a hang fails); a planted checkpoint never runs; nothing lrlab prints or writes holds
a database password."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("optuna")
pytest.importorskip("rich")

import lrlab as lrlab_package  # noqa: E402
from lrlab.cli import main  # noqa: E402

LRLAB = [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())"]
SECRET = "Sup3rS3cretPw"
TUNE = ["tune", "or3", "--space", "constant(loguniform(0.1, 1))", "--trials", "1", "--epochs", "1", "--batch", "1",
        "--confirm", "0", "--no-progress"]


def _subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command in a subprocess; a hang past 120 s raises TimeoutExpired (the test fails, it does not hang)."""
    env = {**os.environ, "PYTHONPATH": str(Path(lrlab_package.__file__).resolve().parents[1])}
    return subprocess.run([*LRLAB, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def _refused(code: int, err: str, command: str) -> str:
    """Exit 2 with exactly one error line and no traceback; that line."""
    errors = [line for line in err.splitlines() if line.startswith(f"lrlab {command}: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


# -- a store that is not a regular file ---------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["runs", "--db", "FIFO"],
    ["runs", "show", "1", "--db", "FIFO"],
    ["compare", "or3", "0.5", "--epochs", "1", "--no-progress", "--db", "FIFO"],
    ["forecast", "or3", "--fit", "1", "2", "--predict", "cosine(0.5)", "--db", "FIFO"],
    ["forecast", "or3", "--fit", "cosine(0.5)", "0.5", "--predict", "wsd(0.5)", "--db", "FIFO"],
    ["cooldowns", "or3", "wsd(0.5)", "--steps", "16", "--db", "FIFO"],
    [*TUNE, "--storage", "FIFO"],
], ids=lambda a: " ".join(a[:3]))
def test_a_fifo_is_refused_in_one_line_never_waited_on(tmp_path, args):
    os.mkfifo(tmp_path / "FIFO")
    out = _subprocess(*args, cwd=tmp_path)
    line = _refused(out.returncode, out.stderr, args[0])
    assert "'FIFO' is not a regular file (a FIFO)" in line


@pytest.mark.parametrize("db, message", [
    ("", "db must be an SQLite file path or a database URL, got ''"),
    ("postgresql://", "must name its host"),
    ("runs\x01.db", "control characters"),
    ("runs\x1b[31m.db", "control characters"),
    ("/dev/null", "not a regular file (a character device)"),
    ("/dev/zero", "not a regular file (a character device)"),
], ids=repr)
@pytest.mark.parametrize("command", [
    ["compare", "or3", "0.5", "--epochs", "1", "--no-progress"],
    ["runs"],
    ["runs", "show", "1"],
    ["cooldowns", "or3", "wsd(0.5)", "--steps", "16", "--no-progress"],
    ["forecast", "or3", "--fit", "0.5", "cosine(0.5)", "--predict", "wsd(0.5)", "--no-progress"],
], ids=lambda c: " ".join(c[:2]))
def test_bad_dbs_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, command, db, message):
    monkeypatch.chdir(tmp_path)
    code = main([*command, "--db", db])
    printed = capsys.readouterr()
    assert message in _refused(code, printed.err, command[0])
    assert not any(tmp_path.iterdir())  # nothing created, nothing trained


# -- tune's storage ----------------------------------------------------------------------------------
def _hostile_storages(tmp: Path) -> dict[str, str]:
    (tmp / "random.db").write_bytes(os.urandom(8192))
    (tmp / "text.db").write_text("a text file, not a database\n" * 20)
    return {
        "mysql without a driver": "mysql://u@localhost/db",
        "in /proc": "sqlite:////proc/x",
        "in memory": "sqlite:///:memory:",
        "sqlite://": "sqlite://",
        "http": "http://example.com/x",
        "/dev/null": "/dev/null",
        "/dev/zero": "/dev/zero",
        "random bytes": str(tmp / "random.db"),
        "text": str(tmp / "text.db"),
        "a directory": str(tmp),
        "control characters": "t\x07.db",
        "no host": "postgresql://",
    }


@pytest.mark.parametrize("case", ["mysql without a driver", "in /proc", "in memory", "sqlite://", "http",
                                  "/dev/null", "/dev/zero", "random bytes", "text", "a directory",
                                  "control characters", "no host"])
def test_every_bad_storage_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, case):
    monkeypatch.chdir(tmp_path)
    storage = _hostile_storages(tmp_path)[case]
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code = main([*TUNE, "--storage", storage])
    _refused(code, capsys.readouterr().err, "tune")
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # left unchanged


def test_an_unreachable_server_is_one_line_without_its_password(pg_url, capsys):
    from sqlalchemy.engine import make_url

    base = make_url(pg_url).set(password=SECRET)
    for url in (base.set(port=1), base.set(database=f"lrlab_missing_{uuid.uuid4().hex[:8]}"),
                base.set(username=f"lrlab_missing_{uuid.uuid4().hex[:8]}")):
        text = url.render_as_string(hide_password=False)
        code = main([*TUNE, "--storage", text])
        printed = capsys.readouterr()
        assert "cannot reach the run store" in _refused(code, printed.err, "tune")
        assert SECRET not in printed.out + printed.err


# -- checkpoints given to cooldowns ------------------------------------------------------------------
class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _plant_evil(path: Path, marker: Path) -> None:
    torch.save({"evil": Evil(marker)}, path)


def _wrong_shape(path: Path, marker: Path) -> None:
    from lrlab.lab.engines import checkpoint

    state = checkpoint.load(path)
    name = next(iter(state["model"]))
    state["model"][name] = torch.zeros(3, 3, 3, dtype=state["model"][name].dtype)
    checkpoint.save(state, path)


@pytest.mark.parametrize("plant, message", [
    (_plant_evil, "not a checkpoint"),
    (lambda path, marker: path.write_bytes(b""), "not a checkpoint"),
    (lambda path, marker: path.write_text("not a checkpoint at all\n"), "not a checkpoint"),
    (_wrong_shape, "has shape (3, 3, 3)"),
], ids=["a pickle that runs code", "0 bytes", "text", "a wrong-shaped weight"])
def test_cooldowns_refuses_a_bad_trunk_checkpoint_in_one_line(tmp_path, capsys, plant, message):
    args = ["cooldowns", "or3", "wsd(0.5)", "--steps", "40", "--checkpoints", str(tmp_path / "ck"), "--no-progress",
            "--no-cosine"]
    assert main([*args, "--db", str(tmp_path / "a.db")]) == 0
    marker = tmp_path / "MARKER"
    last = max((tmp_path / "ck").glob("trunk-*-step32.pt"))
    plant(last, marker)
    capsys.readouterr()
    code = main([*args, "--db", str(tmp_path / "b.db")])  # another store: the trunk resumes from its files
    assert message in _refused(code, capsys.readouterr().err, "cooldowns")
    assert not marker.exists()


# -- passwords ---------------------------------------------------------------------------------------
def _secret_url(pg_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(pg_url).set(password=SECRET).render_as_string(hide_password=False)  # trust: any password


def _no_secret(printed, folder: Path | None = None) -> None:
    assert SECRET not in printed.out and SECRET not in printed.err
    for path in (folder.rglob("*") if folder else []):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_tune_and_compare_reports_hold_no_password(pg_url, tmp_path, capsys):
    url = _secret_url(pg_url)
    code = main(["tune", "or3", "--space", "constant(loguniform(0.1, 1))", "--trials", "2", "--epochs", "2",
                 "--batch", "2", "--confirm", "1", "--seeds", "1", "--storage", url, "--out", str(tmp_path / "t"),
                 "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert (tmp_path / "t" / "report.html").is_file() and ":***@" in (tmp_path / "t" / "report.html").read_text()
    _no_secret(printed, tmp_path / "t")
    for db in (["--db", url], [f"--db={url}"]):
        code = main(["compare", "or3", "0.5", "--epochs", "1", "--no-progress", *db, "--out", str(tmp_path / "c")])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        assert ":***@" in (tmp_path / "c" / "report.html").read_text()
        _no_secret(printed, tmp_path / "c")


def test_forecast_runs_and_tunes_messages_hold_no_password(pg_url, tmp_path, capsys):
    url = _secret_url(pg_url)
    code = main(["forecast", "or3", "--fit", "constant(0.5)", "cosine(0.5)", "--predict", "wsd(0.5)", "--steps",
                 "16", "--db", url, "--out", str(tmp_path / "f"), "--no-progress"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "reused from postgresql://" in printed.err and ":***@" in printed.err
    _no_secret(printed, tmp_path / "f")
    for args in (["runs", "--db", url], ["runs", "show", "1", "--db", url], ["runs", "show", "99", "--db", url],
                 ["forecast", "or3", "--fit", "1", "99", "--predict", "wsd(0.5)", "--db", url]):
        main(args)
        _no_secret(capsys.readouterr())
    assert main([*TUNE, "--storage", url, "--study", "s"]) == 0
    code = main([*TUNE, "--storage", url, "--study", "s", "--epochs", "2"])  # other settings: refused
    printed = capsys.readouterr()
    assert "was started with other settings" in _refused(code, printed.err, "tune")
    _no_secret(printed)
