"""The run store: every finished run in one SQLite file (stdlib sqlite3), committed as soon as it ends.

A run is found again by its config key (task, schedule config, optimizer and its options, epochs, batch size,
seed, plateau, and FORMAT_VERSION), so re-running a comparison reuses what is stored instead of training again.
History is kept as JSON (columns + rows), the per-step arrays as float64 bytes.

The file holds three tables: `lrlab_meta` (the marker: name "schema", value SCHEMA_VERSION), `runs` (one row per
finished run; `key` is unique: it is set on the run `find` returns for a config, and NULL on runs whose schedule
has no config and on runs replaced by a later save of the same config, which keep their row), and `claims` (the
runs being trained now: key, owner token, host, pid, claimed_at, heartbeat). A file with other tables is not a run
store and is never altered. A store of phase 1 (a `runs` table with today's columns and no marker) is upgraded
when opened for writing: the marker and `claims` are added, and older duplicates of a key lose their key.

Claims keep two processes from training the same run: a claim is an INSERT on the claims table's primary key, so
only one process gets it (plain SQL, the same on PostgreSQL). The others wait, and reuse the run once it is
stored; they take the claim over when its owner is gone (a pid no longer alive on this host, or a heartbeat older
than `stale_after_s`). Saving the run and releasing its claim are one transaction.

Every failure of the database (a read-only file or directory, a lock held longer than the timeout, a malformed
file, a database of another program) is a one-line ValueError naming the file; a store opened for writing is
checked when it opens (pages, marker, and a write that is rolled back), before anything is trained.

All SQL of lrlab lives in this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import _check
from .run import Run

DEFAULT_DB = Path("lrlab-runs") / "runs.db"
FORMAT_VERSION = 3  # bump when the trainer changes what a config produces; old runs then train again
# 2: a diverged run reports NaN metrics (1 evaluated the NaN model and stored made-up accuracies)
# 3: a loss past 1e6 x the first epoch's is divergence (lrlab.lab.train.DIVERGED_FACTOR); plateau names its monitor
SCHEMA_VERSION = 2  # the layout of the file; 1 was phase 1's (a runs table alone, no marker)

_KEY_FIELDS = ("task", "schedule_config", "optimizer", "optimizer_kwargs", "epochs", "batch_size", "seed", "plateau")
_MAX_ID = 2**63 - 1  # the largest SQLite integer

_RUN_COLUMNS = ("id", "key", "created", "task", "label", "schedule", "seed", "status", "wall_s", "config", "metrics",
                "history", "step_lr", "step_loss")
_RUNS_TABLE = """
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
)"""
_META_TABLE = "CREATE TABLE lrlab_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
_CLAIMS_TABLE = """
CREATE TABLE claims (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed_at REAL NOT NULL,
    heartbeat REAL NOT NULL
)"""
_KEY_INDEX = "CREATE UNIQUE INDEX runs_key ON runs (key)"  # NULLs are distinct (SQLite and PostgreSQL alike)
_MARK = "INSERT INTO lrlab_meta (name, value) VALUES ('schema', ?)"

# primary SQLite result codes (sqlite3.Error.sqlite_errorcode & 0xFF)
_PERM, _BUSY, _LOCKED, _READONLY, _CORRUPT, _CANTOPEN, _NOTADB = 3, 5, 6, 8, 11, 14, 26


def config_key(config: dict[str, Any]) -> str | None:
    """The identity of a run's config: equal keys train the same thing. None when the schedule has no config."""
    if config.get("schedule_config") is None:
        return None
    picked = {name: config.get(name) for name in _KEY_FIELDS}
    if config.get("task_identity"):  # only where a task has one, so the keys of every other run stay as they were
        picked["task_identity"] = config["task_identity"]
    picked["format"] = FORMAT_VERSION
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {value!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def _alive(pid: int) -> bool:
    """Whether process `pid` of this host is running (a zombie, killed but not yet reaped, is not)."""
    if os.name == "nt":  # os.kill would terminate it: rely on the heartbeat there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] not in (["Z"], ["X"])


class Store:
    """Runs in an SQLite file; `save` commits at once. Usable as a context manager.

    readonly=True opens without writing anything (listing and showing runs; a read-only file works); otherwise the
    file is created or upgraded and must be writable. timeout: seconds to wait for a lock another process holds.
    heartbeat_s / stale_after_s: how often a claim's owner says it is alive, and after how long without a beat a
    claim of another host is taken over. poll_s: how often a process waiting for a claimed run looks again.
    Every database failure is a one-line ValueError naming the file.
    """

    def __init__(
        self,
        path: str | Path = DEFAULT_DB,
        *,
        readonly: bool = False,
        timeout: float = 30.0,
        heartbeat_s: float = 5.0,
        stale_after_s: float = 60.0,
        poll_s: float = 0.2,
    ) -> None:
        self.path = Path(path)
        self.readonly = _check.boolean("Store", "readonly", readonly)
        self.timeout = _check.rate("Store", "timeout", timeout)
        self.heartbeat_s = _check.positive("Store", "heartbeat_s", heartbeat_s)
        self.stale_after_s = _check.positive("Store", "stale_after_s", stale_after_s)
        self.poll_s = _check.positive("Store", "poll_s", poll_s)
        self._empty = False
        if self.path.is_dir():
            raise ValueError(f"db must be a file, got the directory {str(self.path)!r}")
        if readonly and not self.path.exists():
            raise ValueError(f"no run store at {str(self.path)!r}")
        try:
            if readonly:
                self._conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True,
                                             timeout=self.timeout, isolation_level=None)
            else:
                for folder in (self.path.parent, *self.path.parent.parents):
                    if folder.exists() and not folder.is_dir():
                        raise ValueError(f"the run store {str(self.path)!r}: {str(folder)!r} is a file, not a folder")
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = self._connect()
        except (sqlite3.Error, OSError) as exc:
            raise self._error(exc) from exc
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode: transactions are begun and ended here, explicitly."""
        return sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- errors and transactions ------------------------------------------------------------------
    def _error(self, exc: BaseException) -> ValueError:
        """One line naming the file for a failure of the database or the file system."""
        where = str(self.path)
        text = " ".join(str(exc).split()) or type(exc).__name__
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code in (_BUSY, _LOCKED):
            return ValueError(f"the run store {where!r} is locked: another process holds it "
                              f"(waited {self.timeout:g} s)")
        if code in (_CORRUPT, _NOTADB):
            return ValueError(f"{where!r} is not a valid lrlab run store: {text}")
        if code in (_READONLY, _CANTOPEN, _PERM) or isinstance(exc, PermissionError):
            return ValueError(f"cannot write the run store {where!r}: {text} (is the file or its directory "
                              "read-only?)")
        return ValueError(f"the run store {where!r}: {text}")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn sqlite3.Error and OSError into the one-line ValueError of `_error`."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise self._error(exc) from exc

    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection | None = None, *, commit: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: the lock is taken first); COMMIT at the end, or ROLLBACK when
        commit is False or the block raises (KeyboardInterrupt included)."""
        conn = self._conn if conn is None else conn
        with self._guard():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                if conn.in_transaction:  # the block may have ended it itself
                    conn.execute("COMMIT" if commit else "ROLLBACK")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    # -- opening ----------------------------------------------------------------------------------
    def _open(self) -> None:
        """Recognise the file, check its pages, and (for writing) create, upgrade or probe it in one transaction."""
        with self._guard():
            state = self._inspect()  # a database of another program fails here, before anything is locked
            row = self._conn.execute("PRAGMA quick_check(1)").fetchone()
            if row is None or row[0] != "ok":
                found = " ".join(str(row[0]).replace("*** in database main ***", "").split()) if row else "?"
                raise ValueError(f"{str(self.path)!r} is not a valid lrlab run store: {found}")
        if self.readonly:
            self._empty = state == "new"
            return
        # Again under the write lock: another process may have created or upgraded the file meanwhile.
        with self._write(commit=False) as conn:
            state = self._inspect()
            if state == "new":
                for sql in (_META_TABLE, _RUNS_TABLE, _KEY_INDEX, _CLAIMS_TABLE):
                    conn.execute(sql)
                conn.execute(_MARK, (str(SCHEMA_VERSION),))
            elif state == "phase1":
                conn.execute(_META_TABLE)
                conn.execute(_MARK, (str(SCHEMA_VERSION),))
                conn.execute(_CLAIMS_TABLE)
                # phase 1 stored a --fresh rerun beside the old run; the latest is the one find() returned
                conn.execute("UPDATE runs SET key = NULL WHERE key IS NOT NULL AND id NOT IN "
                             "(SELECT MAX(id) FROM runs WHERE key IS NOT NULL GROUP BY key)")
                conn.execute("DROP INDEX IF EXISTS runs_key")
                conn.execute(_KEY_INDEX)
            else:  # the write probe: a row that is rolled back (a read-only file or directory fails here)
                conn.execute("INSERT INTO lrlab_meta (name, value) VALUES ('write probe', '')")
            if state != "current":
                conn.execute("COMMIT")

    def _inspect(self) -> str:
        """"new" (no tables), "phase1" (phase 1's runs table, no marker) or "current"; ValueError otherwise."""
        where = str(self.path)
        rows = self._conn.execute("SELECT type, name FROM sqlite_master").fetchall()
        if not rows:
            return "new"
        tables = sorted(name for kind, name in rows if kind == "table" and not name.startswith("sqlite_"))
        if "lrlab_meta" in tables:
            try:
                row = self._conn.execute("SELECT value FROM lrlab_meta WHERE name = 'schema'").fetchone()
            except sqlite3.OperationalError:
                row = None
            version = str(row[0]) if row is not None else ""
            if not version.isdigit():
                raise ValueError(f"{where!r} is not an lrlab run store: its lrlab_meta table has no schema version; "
                                 "it was left unchanged")
            if int(version) > SCHEMA_VERSION:
                raise ValueError(f"the run store {where!r} has schema {version}, newer than this lrlab's "
                                 f"{SCHEMA_VERSION}: upgrade lrlab")
            missing = [t for t in ("runs", "claims") if t not in tables]
            if missing or self._columns("runs")[: len(_RUN_COLUMNS)] != _RUN_COLUMNS:
                raise ValueError(f"{where!r} is not a valid lrlab run store: "
                                 + (f"the table {missing[0]} is missing" if missing else "its runs table differs"))
            return "current"
        if tables == ["runs"] and self._columns("runs") == _RUN_COLUMNS:
            return "phase1"
        raise ValueError(f"{where!r} is not an lrlab run store (it holds the tables {', '.join(tables)}"
                         + (" with other columns" if tables == ["runs"] else "") + "); it was left unchanged")

    def _columns(self, table: str) -> tuple[str, ...]:
        return tuple(row[1] for row in self._conn.execute(f"PRAGMA table_info({table})"))

    # -- writing ----------------------------------------------------------------------------------
    def save(self, run: Run, *, _claim: tuple[str, str] | None = None) -> int:
        """Write a finished run (committed before returning) and set its id.

        The run becomes the one `find` returns for its config: a run stored before with the same config keeps its
        row and loses its key (a --fresh rerun)."""
        self._writable()
        history = run.history
        hist = {"columns": [str(c) for c in history.columns], "data": history.astype(object).values.tolist()}
        created = run.created or time.strftime("%Y-%m-%d %H:%M:%S")
        key = config_key(run.config)
        with self._write() as conn:
            if key is not None:
                conn.execute("UPDATE runs SET key = NULL WHERE key = ?", (key,))
            cur = conn.execute(
                "INSERT INTO runs (key, created, task, label, schedule, seed, status, wall_s, config, metrics, history,"
                " step_lr, step_loss) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    created,
                    run.task,
                    run.label,
                    str(run.config.get("schedule")),
                    run.seed,
                    run.status,
                    float(run.wall_s),
                    _dumps(run.config),
                    _dumps(run.metrics),
                    _dumps(hist),
                    np.ascontiguousarray(run.step_lr, dtype="<f8").tobytes(),
                    np.ascontiguousarray(run.step_loss, dtype="<f8").tobytes(),
                ),
            )
            if _claim is not None:
                conn.execute("DELETE FROM claims WHERE key = ? AND token = ?", _claim)
        run.id = int(cur.lastrowid)
        run.created = created
        return run.id

    def claim(self, config: dict[str, Any], *, fresh: bool = False,
              on_wait: Callable[[str], Any] | None = None) -> Claim:
        """The stored run of `config`, or the right to train it: use the result in a with-block.

        `claim.run` is the stored run to reuse (never when fresh); else this process holds the claim until the
        block ends (released on success, failure and KeyboardInterrupt), trains, and stores the run with
        `claim.save(run)`. While another live process holds the claim, this waits, calling
        on_wait("waiting for pid P on HOST") once, and then reuses its run, or trains itself if that process
        stored none. A claim whose owner is gone (pid not alive on this host, or no heartbeat for stale_after_s)
        is taken over. A config without a key (a schedule without a config) cannot be claimed: the Claim is
        empty and save stores the run as usual."""
        self._writable()
        key = config_key(config)
        if key is None:
            return Claim(self, None, None, None)
        host, pid = socket.gethostname(), os.getpid()
        announced = False
        while True:
            token = uuid.uuid4().hex
            with self._write() as conn:
                if not fresh:
                    row = conn.execute("SELECT * FROM runs WHERE key = ?", (key,)).fetchone()
                    if row is not None:
                        return Claim(self, None, None, self._run(row))
                now = time.time()
                insert = ("INSERT INTO claims (key, token, host, pid, claimed_at, heartbeat) VALUES (?, ?, ?, ?, ?, ?)",
                          (key, token, host, pid, now, now))
                try:
                    conn.execute(*insert)
                    return Claim(self, key, token, None)
                except sqlite3.IntegrityError:
                    pass  # held: by whom?
                owner = conn.execute("SELECT token, host, pid, heartbeat FROM claims WHERE key = ?", (key,)).fetchone()
                if owner is not None and self._stale(owner[1], owner[2], owner[3], now):
                    conn.execute("DELETE FROM claims WHERE key = ? AND token = ?", (key, owner[0]))
                    conn.execute(*insert)
                    return Claim(self, key, token, None)
            if owner is not None and on_wait is not None and not announced:
                on_wait(f"waiting for pid {owner[2]} on {owner[1]}")
                announced = True
            time.sleep(self.poll_s)

    def _stale(self, host: str, pid: int, heartbeat: float, now: float) -> bool:
        """Whether a claim's owner is gone: its pid is not alive on this host, or its heartbeat is too old."""
        if host == socket.gethostname() and not _alive(int(pid)):
            return True
        return now - float(heartbeat) > self.stale_after_s

    def claims(self) -> list[dict[str, Any]]:
        """The runs being trained now: key, host, pid, claimed_at, heartbeat (oldest first)."""
        if self._empty:
            return []
        with self._guard():
            rows = self._conn.execute(
                "SELECT key, host, pid, claimed_at, heartbeat FROM claims ORDER BY claimed_at").fetchall()
        return [dict(zip(("key", "host", "pid", "claimed_at", "heartbeat"), row)) for row in rows]

    def _writable(self) -> None:
        if self.readonly:
            raise ValueError(f"the run store {str(self.path)!r} was opened read-only")

    # -- reading ----------------------------------------------------------------------------------
    def find(self, config: dict[str, Any]) -> Run | None:
        """The stored run with this config's key, or None."""
        key = config_key(config)
        if key is None or self._empty:
            return None
        with self._guard():
            row = self._conn.execute("SELECT * FROM runs WHERE key = ? ORDER BY id DESC LIMIT 1", (key,)).fetchone()
            return None if row is None else self._run(row)

    def get(self, run_id: int) -> Run:
        """The run stored under `run_id`; ValueError if there is none."""
        rid = _check.whole(f"run store {str(self.path)!r}", "run id", run_id, 0, _MAX_ID)
        row = None
        if not self._empty:
            with self._guard():
                row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise ValueError(f"no run with id {rid} in {str(self.path)!r}")
        with self._guard():
            return self._run(row)

    def summaries(self, task: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """One dict per stored run, newest first: id, created, task, schedule, seed, status, wall_s, metrics."""
        limit = _check.whole(f"run store {str(self.path)!r}", "limit", limit, 0, _MAX_ID, optional=True)
        if self._empty:
            return []
        sql = "SELECT id, created, task, label, schedule, seed, status, wall_s, config, metrics FROM runs"
        args: list[Any] = []
        if task is not None:
            sql += " WHERE task = ?"
            args.append(task)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        out = []
        with self._guard():
            rows = self._conn.execute(sql, args).fetchall()
        for rid, created, task_name, label, schedule, seed, status, wall, config, metrics in rows:
            cfg = json.loads(config)
            out.append({
                "id": rid, "created": created, "task": task_name, "schedule": label, "spec": schedule,
                "optimizer": cfg.get("optimizer"), "epochs": cfg.get("epochs"), "batch_size": cfg.get("batch_size"),
                "seed": seed, "status": status, "wall_s": wall, "metrics": json.loads(metrics),
            })
        return out

    def __len__(self) -> int:
        if self._empty:
            return 0
        with self._guard():
            return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def _run(self, row: tuple[Any, ...]) -> Run:
        import pandas as pd

        rec = dict(zip(_RUN_COLUMNS, row))
        hist = json.loads(rec["history"])
        history = pd.DataFrame(hist["data"], columns=hist["columns"])
        for col in history.columns:
            history[col] = pd.to_numeric(history[col])
        return Run(
            config=json.loads(rec["config"]),
            history=history,
            step_lr=np.frombuffer(rec["step_lr"], dtype="<f8").astype(np.float64),
            step_loss=np.frombuffer(rec["step_loss"], dtype="<f8").astype(np.float64),
            metrics=json.loads(rec["metrics"]),
            wall_s=float(rec["wall_s"]),
            status=rec["status"],
            model=None,
            id=int(rec["id"]),
            created=rec["created"],
        )


class Claim:
    """What `Store.claim` returns: a stored run to reuse (`run`), or this process's claim on a run to train.

    As a context manager it beats the claim's heartbeat from a thread while the block runs, and releases the
    claim when the block ends, however it ends (a release that fails while an exception is on its way is dropped:
    the claim is then taken over, its owner being gone)."""

    def __init__(self, store: Store, key: str | None, token: str | None, run: Run | None) -> None:
        self.store, self.key, self.token, self.run = store, key, token, run
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds a claim (False for a reused run and for a config without a key)."""
        return self.token is not None

    def save(self, run: Run) -> int:
        """Store the trained run and release the claim, in one transaction."""
        claim = (self.key, self.token) if self.held else None
        return self.store.save(run, _claim=claim)  # type: ignore[arg-type]

    def __enter__(self) -> Claim:
        if self.held:
            self._beater = threading.Thread(target=self._beat, name="lrlab-claim-heartbeat", daemon=True)
            self._beater.start()
        return self

    def _beat(self) -> None:
        conn = self.store._connect()
        try:
            while not self._stop.wait(self.store.heartbeat_s):
                with contextlib.suppress(sqlite3.Error):  # a missed beat: the next one tries again
                    conn.execute("UPDATE claims SET heartbeat = ? WHERE key = ? AND token = ?",
                                 (time.time(), self.key, self.token))
        finally:
            conn.close()

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self._beater is not None:
            self._stop.set()
            self._beater.join()
            self._beater = None
        if not self.held:
            return
        try:
            with self.store._write() as conn:
                conn.execute("DELETE FROM claims WHERE key = ? AND token = ?", (self.key, self.token))
        except ValueError:
            if exc_type is None:
                raise
