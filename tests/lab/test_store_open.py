"""The run store fails before any work, with one line naming the store: a read-only file or directory, a lock held
longer than the timeout, a malformed file, a database of another program (left unchanged: an SQLite file byte for
byte), a newer store, a server that cannot be reached or a bad URL (the password never shown), a run id past
SQLite's integers. Stores of phase 1 (no marker, duplicate keys) and schema 2 (unprefixed tables) open read-only as
they are and are upgraded when opened for writing."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from store_sql import sql, tables  # noqa: E402
from tiny_task import TINY  # noqa: E402

from lrlab.cli import main  # noqa: E402
from lrlab.lab.engines.train import train  # noqa: E402
from lrlab.lab.store import SCHEMA_VERSION, Store, config_key, database_url, sqlite_path  # noqa: E402
from lrlab.lab.studies.compare import compare  # noqa: E402

LRLAB = [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())"]



# phase 1's store, as lrlab 0.x wrote it (no marker, a plain index on key)
PHASE1_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT,
    created TEXT NOT NULL,
    task TEXT NOT NULL,
    label TEXT NOT NULL,
    schedule TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    wall_s REAL NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    history TEXT NOT NULL,
    step_lr BLOB NOT NULL,
    step_loss BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_key ON runs (key);
"""


class Trained:
    """A compare() callback that counts training steps: nothing may train when the store fails at open."""

    def __init__(self) -> None:
        self.steps = 0

    def __call__(self, step, model, loss, lr) -> None:
        self.steps += 1


def _one_line_error(out: subprocess.CompletedProcess, command: str, *needles: str) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lrlab {command}: error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def lrlab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*LRLAB, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def _store_with_a_run(db: Path) -> int:
    with Store(db) as store:
        return store.save(train(TINY, "constant(0.1)"))


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file or directory read-only for this process, for real: chmod, or `chattr +i` as root (root writes
    through chmod). Skips where neither works; checks that writing there fails before the test relies on it."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)

        def undo() -> None:
            path.chmod(mode)
    else:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("running as root, where chmod does not stop writes, and `chattr +i` is not available here")

        def undo() -> None:
            subprocess.run([chattr, "-i", str(path)], check=True)
    try:
        try:
            if path.is_dir():
                (path / "write-check").touch()
                (path / "write-check").unlink()
            else:
                with path.open("r+b"):
                    pass
        except OSError:
            pass  # read-only indeed
        else:
            pytest.skip(f"cannot make {path} read-only for this process")
        yield
    finally:
        undo()


# -- read-only ---------------------------------------------------------------------------------
def test_read_only_db_fails_at_open_before_training(tmp_path):
    db = tmp_path / "runs.db"
    _store_with_a_run(db)
    before = db.read_bytes()
    trained = Trained()
    with read_only(db):
        with pytest.raises(ValueError, match="cannot write the run store") as err:
            compare(TINY, ["constant(0.2)"], db=db, progress=False, callback=trained)
        assert str(db) in str(err.value) and "read-only" in str(err.value)
        assert trained.steps == 0  # failed at open: nothing trained, so nothing lost
        out = lrlab("compare", "or3", "0.1", "--epochs", "2", "--db", str(db), "--no-progress")
        _one_line_error(out, "compare", "cannot write the run store", str(db))
        listing = lrlab("runs", "--db", str(db))  # reading needs no write: a read-only store lists
        assert listing.returncode == 0 and "1 runs in" in listing.stdout, listing.stderr
        shown = lrlab("runs", "show", "1", "--db", str(db))
        assert shown.returncode == 0 and shown.stdout.startswith("run 1 ("), shown.stderr
    assert db.read_bytes() == before


def test_read_only_directory_fails_at_open_before_training(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    db = folder / "runs.db"
    _store_with_a_run(db)
    trained = Trained()
    with read_only(folder):
        # the file is writable, its directory is not: SQLite cannot write its journal there
        with pytest.raises(ValueError, match="cannot write the run store") as err:
            compare(TINY, ["constant(0.2)"], db=db, progress=False, callback=trained)
        assert str(db) in str(err.value)
        with pytest.raises(ValueError, match="cannot write the run store"):
            Store(folder / "new.db")
        assert trained.steps == 0
        out = lrlab("compare", "or3", "0.1", "--epochs", "2", "--db", str(folder / "other.db"), "--no-progress")
        _one_line_error(out, "compare", "cannot write the run store", str(folder / "other.db"))
    assert sorted(p.name for p in folder.iterdir()) == ["runs.db"]
    with Store(db) as store:
        assert len(store) == 1


# -- locks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("lock", ["EXCLUSIVE", "IMMEDIATE"])
def test_a_lock_held_past_the_timeout_is_one_line(tmp_path, lock):
    db = tmp_path / "runs.db"
    _store_with_a_run(db)
    holder = sqlite3.connect(str(db), isolation_level=None)
    holder.execute(f"BEGIN {lock}")  # another writer holds the file
    try:
        with pytest.raises(ValueError, match="is locked: another process holds it") as err:
            Store(db, timeout=0.2)
        assert str(db) in str(err.value) and "\n" not in str(err.value)
        if lock == "IMMEDIATE":  # a writer in progress lets readers read
            with Store(db, readonly=True, timeout=0.2) as store:
                assert len(store) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_lock_taken_after_open_fails_save_with_one_line(tmp_path):
    db = tmp_path / "runs.db"
    run = train(TINY, "constant(0.1)")
    with Store(db, timeout=0.2) as store:
        holder = sqlite3.connect(str(db), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(ValueError, match="is locked: another process holds it"):
                store.save(run)
            with pytest.raises(ValueError, match="is locked"):
                store.summaries()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert store.save(run) == 1 and len(store) == 1  # the failed transaction left nothing behind


# -- malformed files ---------------------------------------------------------------------------
def _corrupt_runs_page(db: Path) -> None:
    """Overwrite the page of the runs table (after the valid first page) with garbage."""
    with sqlite3.connect(str(db)) as conn:
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'lrlab_runs'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    assert page > 1
    data = bytearray(db.read_bytes())
    data[(page - 1) * size : page * size] = bytes(range(256)) * (size // 256)
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["later page", "first page", "text"])
def test_a_malformed_file_is_not_a_valid_store(tmp_path, damage):
    db = tmp_path / "runs.db"
    if damage == "text":
        db.write_text("id,loss\n1,0.5\n" * 100)
    else:
        _store_with_a_run(db)
        if damage == "later page":
            _corrupt_runs_page(db)
        else:  # a valid 100-byte header, then garbage
            data = bytearray(db.read_bytes())
            data[100:4096] = b"\xa5" * 3996
            db.write_bytes(bytes(data))
    before = db.read_bytes()
    trained = Trained()
    with pytest.raises(ValueError, match="is not a valid lrlab run store") as err:
        compare(TINY, ["constant(0.2)"], db=db, progress=False, callback=trained)
    assert str(db) in str(err.value) and trained.steps == 0
    with pytest.raises(ValueError, match="is not a valid lrlab run store"):
        Store(db, readonly=True)
    for args, command in ((["runs"], "runs"), (["runs", "show", "1"], "runs"),
                          (["compare", "or3", "0.1", "--epochs", "2", "--no-progress"], "compare")):
        _one_line_error(lrlab(*args, "--db", str(db)), command, "is not a valid lrlab run store", str(db))
    assert db.read_bytes() == before


# -- databases of other programs ---------------------------------------------------------------
PHASE1_COLUMNS = ("id INTEGER PRIMARY KEY, key TEXT, created TEXT, task TEXT, label TEXT, schedule TEXT, seed INTEGER, "
                  "status TEXT, wall_s REAL, config TEXT, metrics TEXT, history TEXT, step_lr TEXT, step_loss TEXT")
FOREIGN = {  # portable SQL: SQLite and PostgreSQL
    "users": ["CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO users VALUES (1, 'ada')"],
    "own runs": ["CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT, score REAL)",
                 "INSERT INTO runs (id, name) VALUES (1, 'x')"],
    "runs and more": [f"CREATE TABLE runs ({PHASE1_COLUMNS})", "CREATE TABLE users (id INTEGER PRIMARY KEY)"],
    "lrlab and more": ["CREATE TABLE users (id INTEGER PRIMARY KEY)"],  # in a run store made first
}


def _contents(db) -> tuple:
    """What a database holds: an SQLite file's bytes; a server's tables and their rows."""
    if isinstance(db, Path):
        return (db.read_bytes(),)
    return tuple((t, sql(db, f"SELECT * FROM {t}")) for t in tables(db))


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_database_of_another_program_is_left_unchanged(db, kind, capsys):
    if kind == "lrlab and more":
        Store(db).close()
    for statement in FOREIGN[kind]:
        sql(db, statement)
    before = _contents(db)
    name = str(db)
    trained = Trained()
    for readonly in (False, True):
        with pytest.raises(ValueError, match="is not an lrlab run store") as err:
            Store(db, readonly=readonly)
        message = str(err.value)
        assert name in message and "left unchanged" in message and "\n" not in message
        assert ("tables runs with other columns" if kind == "own runs" else "users") in message  # says which
    with pytest.raises(ValueError, match="is not an lrlab run store"):
        compare(TINY, ["constant(0.2)"], db=db, progress=False, callback=trained)
    assert trained.steps == 0
    for args in (["runs"], ["compare", "or3", "0.1", "--epochs", "2", "--no-progress"]):  # in this process: quicker
        assert main([*args, "--db", name]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"lrlab {args[0]}: error: "), err
        assert "is not an lrlab run store" in err and name in err
    assert _contents(db) == before  # no table, no index, no marker added
    if isinstance(db, Path):
        assert sorted(p.name for p in db.parent.iterdir()) == ["runs.db"]


def test_a_store_of_a_newer_lrlab_is_refused(db):
    Store(db).close()
    sql(db, "UPDATE lrlab_meta SET value = :v WHERE name = 'schema'", v=str(SCHEMA_VERSION + 1))
    for readonly in (False, True):
        with pytest.raises(ValueError, match=f"has schema {SCHEMA_VERSION + 1}, newer than"):
            Store(db, readonly=readonly)


# -- phase 1 stores ----------------------------------------------------------------------------
def _phase1_store(db: Path, tmp_path: Path) -> list[tuple]:
    """A phase-1 store holding three runs, the first config stored twice (a --fresh rerun of phase 1)."""
    runs = [train(TINY, spec, seed=0) for spec in ("constant(0.1)", "constant(0.2)", "constant(0.1)")]
    runs[2].metrics["test_loss"] = 123.0  # tell the rerun apart
    scratch = tmp_path / "scratch.db"
    with Store(scratch) as store:
        for run in runs:
            store.save(run)
    with sqlite3.connect(str(scratch)) as conn:
        rows = conn.execute("SELECT * FROM lrlab_runs ORDER BY id").fetchall()
    conn.close()
    keys = [config_key(r.config) for r in runs]
    assert keys[0] == keys[2] != keys[1]
    with sqlite3.connect(str(db)) as conn:
        conn.executescript(PHASE1_SCHEMA)
        for i, (row, key) in enumerate(zip(rows, keys)):
            conn.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (i + 1, key, *row[2:]))
    conn.close()
    return rows


def test_a_phase1_store_opens_and_is_upgraded(tmp_path):
    db = tmp_path / "runs.db"
    _phase1_store(db, tmp_path)
    before = db.read_bytes()
    with Store(db, readonly=True) as store:  # reading a phase-1 store changes nothing
        assert len(store) == 3 and store.get(3).metrics["test_loss"] == 123.0
    assert db.read_bytes() == before
    with Store(db) as store:
        assert len(store) == 3  # nothing dropped
        again = store.find(store.get(1).config)
        assert again is not None and again.id == 3  # the latest of the duplicates, as phase 1's find returned
    with sqlite3.connect(str(db)) as conn:
        assert conn.execute("SELECT value FROM lrlab_meta WHERE name = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
        keys = [k for (k,) in conn.execute("SELECT key FROM lrlab_runs ORDER BY id")]
        assert keys[0] is None and keys[1] is not None and keys[2] is not None
        with pytest.raises(sqlite3.IntegrityError):  # a key is stored once from now on
            conn.execute("UPDATE lrlab_runs SET key = ? WHERE id = 1", (keys[2],))
        assert [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")] == [
            "lrlab_claims", "lrlab_meta", "lrlab_runs", "sqlite_sequence"]
    conn.close()
    trained = Trained()
    done = compare(TINY, ["constant(0.1)", "constant(0.2)"], db=db, progress=False, callback=trained)
    assert trained.steps == 0 and [r.id for r in done.runs] == [3, 2]
    with Store(db) as store:  # opening an upgraded store again changes nothing
        assert len(store) == 3


# schema 2's store, as lrlab wrote it before the tables had a prefix (the DDL of that store.py)
SCHEMA2 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT,
    created TEXT NOT NULL,
    task TEXT NOT NULL,
    label TEXT NOT NULL,
    schedule TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    wall_s REAL NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    history TEXT NOT NULL,
    step_lr BLOB NOT NULL,
    step_loss BLOB NOT NULL
);
CREATE UNIQUE INDEX runs_key ON runs (key);
CREATE TABLE lrlab_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO lrlab_meta (name, value) VALUES ('schema', '2');
CREATE TABLE claims (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed_at REAL NOT NULL,
    heartbeat REAL NOT NULL
);
"""


def test_a_schema2_store_opens_and_is_upgraded(tmp_path):
    db = tmp_path / "runs.db"
    rows = _phase1_store(tmp_path / "phase1.db", tmp_path)  # three runs; ids 1 and 3 share a config
    with sqlite3.connect(str(db)) as conn:
        conn.executescript(SCHEMA2)
        conn.execute("INSERT INTO runs VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (1, *rows[0][2:]))
        for row in rows[1:]:
            conn.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        conn.execute("INSERT INTO claims VALUES ('k', 't', 'elsewhere', 1, 2.0, 3.0)")  # a run in training
    conn.close()
    before = db.read_bytes()
    with Store(db, readonly=True) as store:  # read as it is, unchanged
        assert len(store) == 3 and store.find(store.get(1).config).id == 3
        assert [(c["key"], c["host"]) for c in store.claims()] == [("k", "elsewhere")]
    assert db.read_bytes() == before
    with Store(db) as store:
        assert len(store) == 3 and store.find(store.get(1).config).id == 3
        assert [(c["key"], c["pid"], c["heartbeat"]) for c in store.claims()] == [("k", 1, 3.0)]  # kept
        assert store.save(train(TINY, "constant(0.3)")) == 4  # ids go on
    with sqlite3.connect(str(db)) as conn:
        assert conn.execute("SELECT value FROM lrlab_meta WHERE name = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
        assert [n for (n,) in conn.execute("SELECT name FROM sqlite_master ORDER BY name")] == [
            "lrlab_claims", "lrlab_meta", "lrlab_runs", "lrlab_runs_key", "sqlite_autoindex_lrlab_claims_1",
            "sqlite_autoindex_lrlab_meta_1", "sqlite_sequence"]
        with pytest.raises(sqlite3.IntegrityError):  # the key's unique index came along
            conn.execute("UPDATE lrlab_runs SET key = (SELECT key FROM lrlab_runs WHERE id = 3) WHERE id = 1")
    conn.close()


# -- database servers and URLs -----------------------------------------------------------------
def test_database_url():
    assert database_url(Path("a/runs.db")) == f"sqlite:///{Path.cwd() / 'a' / 'runs.db'}"
    assert database_url("runs.db") == f"sqlite:///{Path.cwd() / 'runs.db'}"
    assert database_url("/tmp/x.db") == "sqlite:////tmp/x.db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert database_url("postgresql://ada:pw@db.lan:5433/lab") == "postgresql+psycopg://ada:pw@db.lan:5433/lab"
    assert database_url("postgresql+psycopg://ada@db.lan/lab") == "postgresql+psycopg://ada@db.lan/lab"
    assert sqlite_path("sqlite:////tmp/x.db") == Path("/tmp/x.db") and sqlite_path("postgresql://h/lab") is None


@pytest.mark.parametrize("db, needle", [
    ("postgresql://ada:s3cret@127.0.0.1:1/lab", "cannot reach the run store 'postgresql://ada:***@127.0.0.1:1/lab'"),
    ("postgresql://ada:s3cret@host:port/lab", "not a database URL SQLAlchemy can read"),
    ("nosuch://ada:s3cret@host/lab", "cannot use this database URL"),
    ("sqlite://", "not an in-memory database"),
])
def test_a_bad_or_unreachable_database_is_one_line_without_its_password(db, needle, capsys):
    for readonly in (False, True):
        with pytest.raises(ValueError) as err:
            Store(db, readonly=readonly, timeout=0.5)
        message = str(err.value)
        assert needle in message and "\n" not in message and "s3cret" not in message, message
    assert main(["runs", "--db", db]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "s3cret" not in err


def test_a_lock_held_past_the_timeout_on_postgresql_is_one_line(pg_url):
    run = train(TINY, "constant(0.1)")
    with Store(pg_url, timeout=0.2) as store:
        engine = sa.create_engine(database_url(pg_url))
        try:
            with engine.begin() as holder:  # another process holds the table
                holder.execute(sa.text("LOCK TABLE lrlab_runs IN ACCESS EXCLUSIVE MODE"))
                for act in (lambda: store.save(run), store.summaries):
                    with pytest.raises(ValueError, match="is locked: another process holds it") as err:
                        act()
                    assert pg_url in str(err.value) and "\n" not in str(err.value)
        finally:
            engine.dispose()
        assert store.save(run) == 1 and len(store) == 1  # the failed transaction left nothing behind


def test_a_database_user_who_may_only_read_fails_at_open_and_reads(pg_url):
    _store_with_a_run(pg_url)
    role = f"lrlab_reader_{uuid.uuid4().hex[:8]}"
    sql(pg_url, f"CREATE ROLE {role} LOGIN")
    try:
        sql(pg_url, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        reader = sa.engine.make_url(pg_url).set(username=role).render_as_string(hide_password=False)
        trained = Trained()
        with pytest.raises(ValueError, match="cannot write the run store") as err:
            compare(TINY, ["constant(0.2)"], db=reader, progress=False, callback=trained)
        assert reader in str(err.value) and "permission denied" in str(err.value) and trained.steps == 0
        with Store(reader, readonly=True) as store:  # reading needs no more
            assert len(store) == 1 and store.get(1).label == "constant(0.1)"
    finally:
        sql(pg_url, f"DROP OWNED BY {role}")
        sql(pg_url, f"DROP ROLE {role}")


def test_lrlab_runs_lists_a_postgresql_store(pg_url):
    _store_with_a_run(pg_url)
    listing = lrlab("runs", "--db", pg_url)
    assert listing.returncode == 0 and f"1 runs in {pg_url}" in " ".join(listing.stdout.split()), listing.stderr
    assert "constant(0.1)" in listing.stdout
    shown = lrlab("runs", "show", "1", "--db", pg_url)
    assert shown.returncode == 0 and shown.stdout.startswith("run 1 ("), shown.stderr


# -- run ids -----------------------------------------------------------------------------------
def test_a_run_id_past_sqlite_integers_is_one_line(tmp_path, capsys):
    db = tmp_path / "runs.db"
    _store_with_a_run(db)
    huge = "99999999999999999999999"
    with Store(db) as store:
        with pytest.raises(ValueError, match=f"run id must be a whole number .* got {huge}"):
            store.get(int(huge))
        with pytest.raises(ValueError, match="limit must be"):
            store.summaries(limit=int(huge))
    assert main(["runs", "show", huge, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and huge in err and "ID must be a whole number" in err
    assert main(["runs", "show", str(2**63 - 1), "--db", str(db)]) == 2
    assert f"no run with id {2**63 - 1}" in capsys.readouterr().err
