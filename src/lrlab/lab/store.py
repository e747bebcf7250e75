"""The run store: every finished run in SQLAlchemy tables, committed as soon as it ends; an SQLite file by default,
a PostgreSQL database (or another SQLAlchemy URL) for many machines.

A run is found again by its config key (task, schedule config, optimizer and its options, epochs, batch size,
seed, plateau, and FORMAT_VERSION), so re-running a comparison reuses what is stored instead of training again.
History is kept as JSON (columns + rows), the per-step arrays as float64 bytes.

`db` is an SQLAlchemy URL (`sqlite:///path.db`, `postgresql://user@host:port/name`) or a plain path, which means
an SQLite file; `database_url` is the one place that turns it into a URL (Optuna is given the same one, so a study
and the runs share one database). Only SQLite and PostgreSQL (psycopg 3) are tested; other SQLAlchemy dialects
may work.

lrlab's tables: `lrlab_meta` (the marker: name "schema", value SCHEMA_VERSION; and `note`s), `lrlab_runs` (one row per
finished run; `key` is unique: it is set on the run `find` returns for a config, and NULL on runs whose schedule
has no config and on runs replaced by a later save of the same config, which keep their row), and `lrlab_claims`
(the runs being trained now: key, owner token, host, pid, claimed_at, heartbeat). The database may also hold an
Optuna study's tables (OPTUNA_TABLES); one with any other table is not a run store and is never altered. Older
stores are upgraded when opened for writing (read-only, they are read as they are): schema 2 (`runs`, `claims`
and the marker) has its tables renamed; phase 1 (a `runs` table alone, no marker) gets the marker and the claims
table, and older duplicates of a key lose their key.

Claims keep two processes from training the same run: a claim is an INSERT on the claims table's primary key, so
only one process gets it (an IntegrityError tells the others). The others wait, and reuse the run once it is
stored; they take the claim over when its owner is gone (a pid no longer alive on this host, or a heartbeat older
than `stale_after_s`). Saving the run and releasing its claim are one transaction. On SQLite a write transaction
takes the file's write lock first (BEGIN IMMEDIATE); on PostgreSQL row locks and the key's unique index do it.

Every failure of the database (a read-only file, directory or user, a lock held longer than the timeout, a
malformed file, a database of another program, a server that cannot be reached, a bad URL, a path that is not a
regular file) is a one-line ValueError naming the store (a URL's password hidden: `display_name`); a store opened
for writing is checked when it opens (pages, marker, and a write that is rolled back), before anything is trained.
How a db becomes a URL, how it is shown and how its failures are worded live in lrlab.lab._database (re-exported
here: `database_url`, `display_name`, `sqlite_path`, `guard`).

All SQL of lrlab lives in the run store's modules: this one (the API), lrlab.lab.store_schema (tables, statements,
engines, opening and upgrading, a run's row) and lrlab.lab.store_claims (taking a claim, Claim).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from .. import _check
from .._paths import DEFAULT_DB
from ._database import _failure, _secrets
from ._database import database_url as database_url  # re-exported: the store's public names
from ._database import display_name as display_name
from ._database import guard as guard
from ._database import sqlite_path as sqlite_path
from .run import Run
from .store_claims import Claim as Claim  # re-exported with the schema's public names: importable from here
from .store_claims import _take
from .store_schema import (
    _CLAIM_LISTING,
    _CURRENT,
    _META,
    _PHASE1,
    _SCHEMA2,
    _dumps,
    _json_default,
    _object,
    _prepare,
    _recognise,
    _run,
    _server_engine,
    _sqlite_engine,
)
from .store_schema import OPTUNA_TABLES as OPTUNA_TABLES
from .store_schema import SCHEMA_VERSION as SCHEMA_VERSION

FORMAT_VERSION = 4  # bump when the trainer changes what a config produces; old runs then train again
# 2: a diverged run reports NaN metrics (1 evaluated the NaN model and stored made-up accuracies)
# 3: a loss past 1e6 x the first epoch's is divergence (lrlab.lab.engines.train.DIVERGED_FACTOR); plateau names its
# monitor
# 4: divergence is measured against the loss before training and the best so far (train.loss_limit); runs record
# their figures before training (start_*, chance_val_accuracy) for the no-progress flag

_KEY_FIELDS = ("task", "schedule_config", "optimizer", "optimizer_kwargs", "epochs", "batch_size", "seed", "plateau",
               "steps")
_MAX_ID = 2**63 - 1  # the largest SQLite integer


def config_key(config: dict[str, Any]) -> str | None:
    """The identity of a run's config: equal keys train the same thing; None when the schedule has no config.

    The key is the SHA-256 of the JSON of task, schedule_config, optimizer, optimizer_kwargs, epochs, batch_size,
    seed, plateau, steps (and task_identity where the task has one) plus FORMAT_VERSION, so a trainer change that
    bumps FORMAT_VERSION makes old runs train again. Other config fields (label, dtype, branch) are not part of it.

    Args:
        config: a Run's config dict.

    Examples:
        >>> from lrlab.lab.store import config_key
        >>> config = {"task": "or3", "schedule_config": {"kind": "constant", "lr": 0.5}, "seed": 0, "epochs": 2}
        >>> key = config_key(config)
        >>> len(key), key == config_key({**config, "label": "another label"}), key == config_key({**config, "seed": 1})
        (64, True, False)
        >>> config_key({"task": "or3", "schedule_config": None}) is None
        True
    """
    if config.get("schedule_config") is None:
        return None
    picked = {name: config.get(name) for name in _KEY_FIELDS}
    if config.get("task_identity"):  # only where a task has one, so the keys of every other run stay as they were
        picked["task_identity"] = config["task_identity"]
    picked["format"] = FORMAT_VERSION
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


class Store:
    """Runs in an SQLite file or a database server; `save` commits at once. Usable as a context manager.

    Opened for writing, the tables are created or upgraded and a write is probed (then rolled back), so a store that
    cannot be written fails before anything trains. Every database failure is a one-line ValueError naming the store
    (`name`: the path as given, or the URL with its password hidden); `path` is the SQLite file (None for a server),
    `url` the URL the engine uses.

    Args:
        db: an SQLAlchemy URL (`sqlite:///path.db`, `postgresql://user@host:port/name`) or a plain path (an SQLite
            file, its folder created if needed).
        readonly: open without writing anything (listing and showing runs; a read-only file works, opened read-only;
            on PostgreSQL its transactions are read-only); ValueError when there is no SQLite file.
        timeout: seconds to wait for a lock another process holds (SQLite's busy timeout; PostgreSQL's lock_timeout,
            and its connect timeout, at least 2 s).
        heartbeat_s: how often (seconds) a claim's owner says it is alive.
        stale_after_s: after how many seconds without a heartbeat a claim of another host is taken over.
        poll_s: how often (seconds) a process waiting for a claimed run looks again.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.studies.compare import compare
        >>> from lrlab.lab.store import Store
        >>> run = compare("or3", ["constant(0.5)"], epochs=1, db=None, progress=False).runs[0]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with Store(Path(folder) / "runs.db") as store:
        ...         run_id = store.save(run)
        ...         print(run_id, len(store), store.find(run.config).label)
        1 1 constant(0.5)

        A PostgreSQL database shared by many machines (not run here):

            Store("postgresql://postgres@127.0.0.1:5432/runs")
    """

    def __init__(
        self,
        db: str | Path = DEFAULT_DB,
        *,
        readonly: bool = False,
        timeout: float = 30.0,
        heartbeat_s: float = 5.0,
        stale_after_s: float = 60.0,
        poll_s: float = 0.2,
    ) -> None:
        self.readonly = _check.boolean("Store", "readonly", readonly)
        self.timeout = _check.rate("Store", "timeout", timeout)
        self.heartbeat_s = _check.positive("Store", "heartbeat_s", heartbeat_s)
        self.stale_after_s = _check.positive("Store", "stale_after_s", stale_after_s)
        self.poll_s = _check.positive("Store", "poll_s", poll_s)
        self._empty = False
        self._sql = _CURRENT
        self.url = database_url(db)
        url = sa.engine.make_url(self.url)
        self.name = display_name(db)
        self._secrets = _secrets(url)
        self.path: Path | None = None
        if url.get_backend_name() == "sqlite":
            if url.database in (None, "", ":memory:") or str(url.database).startswith("file:"):
                raise ValueError(f"the run store {self.name!r}: give an SQLite file (sqlite:///path.db), not an "
                                 "in-memory database")
            self.path = Path(url.database)
        if self.path is not None:
            self._engine = _sqlite_engine(url, self.path, self.name, timeout=self.timeout, readonly=self.readonly,
                                          error=self._error)
        else:
            self._engine = _server_engine(url, self.name, timeout=self.timeout, readonly=self.readonly)
        try:
            self._open()
        except BaseException:
            self._engine.dispose()
            raise

    def close(self) -> None:
        """Release the store's connections (the engine's pool); the context manager calls it on exit.

        The store is not usable afterwards; closing twice is harmless.

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.store import Store
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     store = Store(Path(folder) / "runs.db")
            ...     print(len(store))
            ...     store.close()
            0
        """
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- errors and transactions ------------------------------------------------------------------
    def _error(self, exc: BaseException) -> ValueError:
        """One line naming the store for a failure of the database, the server or the file system."""
        return _failure(self.name, exc, secrets=self._secrets, timeout=self.timeout, server=self.path is None)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn the errors of SQLAlchemy, the driver and the file system into the one-line ValueError of `_error`."""
        try:
            yield
        except (sa.exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
            raise self._error(exc) from exc

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = False, commit: bool = True) -> Iterator[sa.engine.Connection]:
        """A transaction on a connection of the engine's pool: a write one takes SQLite's write lock first (BEGIN
        IMMEDIATE). COMMIT at the end, or ROLLBACK when commit is False or the block raises (KeyboardInterrupt
        included)."""
        with self._guard(), self._engine.connect() as conn:
            if write:
                conn.execution_options(lrlab_write=True)
            trans = conn.begin()
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sa.exc.SQLAlchemyError, sqlite3.Error):
                    trans.rollback()
                raise
            if trans.is_active:  # the block may have ended it itself
                if commit:
                    trans.commit()
                else:
                    trans.rollback()

    # -- opening ----------------------------------------------------------------------------------
    def _open(self) -> None:
        """Recognise the tables, check an SQLite file's pages, and (for writing) create, upgrade or probe the store
        in one transaction (lrlab.lab.store_schema)."""
        with self._transaction() as conn:
            state = _recognise(conn, self.name, sqlite=self.path is not None)
        if self.readonly:
            self._empty = state == "new"
            if state in ("phase1", "schema2"):  # read as it is
                self._sql = _SCHEMA2 if state == "schema2" else _PHASE1
            return
        with self._transaction(write=True, commit=False) as conn:
            _prepare(conn, self.name)

    # -- writing ----------------------------------------------------------------------------------
    def save(self, run: Run, *, _claim: tuple[str, str] | None = None) -> int:
        """Write a finished run (committed before returning) and set its `id` and `created`; returns the id.

        The run becomes the one `find` returns for its config: a run stored before with the same config keeps its row
        and loses its key (a fresh rerun). A run whose schedule has no config is stored without a key (never found).

        Args:
            run: the finished Run.
            _claim: internal (`Claim.save`): the (key, token) of a claim released in the same transaction.

        Raises:
            ValueError: a store opened read-only, or a database failure (one line).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.studies.compare import compare
            >>> from lrlab.lab.store import Store
            >>> run = compare("or3", ["constant(0.5)"], epochs=1, db=None, progress=False).runs[0]
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     first, second = store.save(run), store.save(run)  # the second replaces the first for find
            ...     print(first, second, len(store), store.find(run.config).id)
            1 2 2 2
        """
        self._writable()
        history = run.history
        hist = {"columns": [str(c) for c in history.columns], "data": history.astype(object).values.tolist()}
        if run.error is not None:  # a failed training function's last line (kept beside the history)
            hist["error"] = str(run.error)
        created = run.created or time.strftime("%Y-%m-%d %H:%M:%S")
        key = config_key(run.config)
        q = self._sql
        row = {
            "key": key, "created": created, "task": run.task, "label": run.label,
            "schedule": str(run.config.get("schedule")), "seed": run.seed, "status": run.status,
            "wall_s": float(run.wall_s), "config": _dumps(run.config), "metrics": _dumps(run.metrics),
            "history": _dumps(hist),
            "step_lr": np.ascontiguousarray(run.step_lr, dtype="<f8").tobytes(),
            "step_loss": np.ascontiguousarray(run.step_loss, dtype="<f8").tobytes(),
        }
        with self._transaction(write=True) as conn:
            if key is not None:
                conn.execute(q.unkey, {"_key": key})
            rid = conn.execute(q.insert, row).scalar_one()
            if _claim is not None:
                conn.execute(q.release, {"_key": _claim[0], "_token": _claim[1]})
        run.id = int(rid)
        run.created = created
        return run.id

    def claim(self, config: dict[str, Any], *, fresh: bool = False,
              on_wait: Callable[[str], Any] | None = None) -> Claim:
        """The stored run of `config`, or the right to train it, waiting while another process trains it: use the
        result in a with-block.

        `claim.run` is the stored run to reuse (never when fresh); else this process holds the claim until the block
        ends (released on success, failure and KeyboardInterrupt), trains, and stores the run with `claim.save(run)`.
        While another live process holds the claim, this waits, calling on_wait("waiting for pid P on HOST") once, and
        then reuses its run, or trains itself if that process stored none. Studies that have other runs to train
        use `try_claim` instead, which never waits (lrlab.lab.work). A claim whose owner is gone (pid not alive on
        this host, or no heartbeat for stale_after_s) is taken over. A config without a key (a schedule without a
        config) cannot be claimed: the Claim is empty and save stores the run as usual.

        Args:
            config: the config of the run to train (Plan.config / Run.config).
            fresh: claim it even when a stored run matches (train again).
            on_wait: called once with a message when another process holds the claim (None: nothing).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.studies.compare import compare
            >>> from lrlab.lab.store import Store
            >>> run = compare("or3", ["constant(0.5)"], epochs=1, db=None, progress=False).runs[0]
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     with store.claim(run.config) as claim:
            ...         print(claim.held, claim.run)
            ...         run_id = claim.save(run)  # the trained run; the claim is released with it
            ...     with store.claim(run.config) as again:
            ...         print(again.held, again.run.id)
            True None
            False 1
        """
        announced = False
        while True:
            claim = self.try_claim(config, fresh=fresh)
            if claim.busy is None:
                return claim
            if on_wait is not None and not announced:
                on_wait(f"waiting for {claim.busy}")
                announced = True
            time.sleep(self.poll_s)

    def try_claim(self, config: dict[str, Any], *, fresh: bool = False, retry_failed_before: int | None = None,
                  stale_upto: int | None = None) -> Claim:
        """The stored run of `config`, the right to train it, or word that a live process trains it now; never waits.

        The Claim has `run` (a stored run to reuse), or `held` (this process now holds the claim: train, then
        `claim.save(run)` inside its with-block), or `busy` ("pid P on HOST": another live process holds it; ask
        again later). A claim whose owner is gone is taken over. This is the one rule by which processes share runs:
        a process never waits on a claim while it holds others it has not trained, so two studies never wait on
        each other in a cycle (lrlab.lab.work).

        Args:
            config: the run's config.
            fresh: claim it even when a stored run matches (train again).
            retry_failed_before: a stored run that failed (a training function that raised) with an id at most this
                is not reused but trained again (a study retries the failures of earlier studies, not its own).
            stale_upto: no stored run with an id at most this is reused (a fresh study: what was stored before it
                trains again, what its own processes and workers store meanwhile is reused).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.store import Store
            >>> config = {"task": "or3", "schedule_config": {"kind": "constant", "lr": 0.5}, "seed": 0}
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     with Store(Path(folder) / "runs.db") as mine, Store(Path(folder) / "runs.db") as other:
            ...         with mine.try_claim(config) as claim:
            ...             print(claim.held, other.try_claim(config).busy is not None)
            True True
        """
        self._writable()
        key = config_key(config)
        if key is None:
            return Claim(self, None, None, None)
        return _take(self, key, fresh=fresh, retry_failed_before=retry_failed_before, stale_upto=stale_upto)

    def last_id(self) -> int:
        """The id of the newest stored run (0 for an empty store): a study's mark of what was stored before it.

        A study retries the failed runs stored up to its mark and reuses the ones stored after it (its own).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.store import Store
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     print(store.last_id())
            0
        """
        if self._empty:
            return 0
        with self._transaction() as conn:
            return int(conn.execute(sa.select(sa.func.max(self._sql.runs.c.id))).scalar() or 0)

    def note(self, name: str, value: str | None = None) -> str | None:
        """A text lrlab keeps beside the runs (a row of lrlab_meta, as the schema marker): read, or written when a
        value is given. Engine "auto" keeps its timings in notes, so later studies and other machines reuse them.

        Args:
            name: the note's name (not "schema").
            value: the text to keep under it (None: only read it).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.store import Store
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     print(store.note("colour"), store.note("colour", "blue"), store.note("colour"))
            None blue blue
        """
        if value is None:
            if self._empty or self._sql is not _CURRENT:
                return None
            with self._transaction() as conn:
                return conn.execute(sa.select(_META.c.value).where(_META.c.name == name)).scalar()
        if name == "schema":
            raise ValueError("Store.note: 'schema' is the store's marker, not a note")
        self._writable()
        with self._transaction(write=True) as conn:  # SQLite: under the write lock; PostgreSQL: an upsert
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
                conn.execute(insert(_META).values(name=name, value=value).on_conflict_do_update(
                    index_elements=[_META.c.name], set_={"value": value}))
            elif not conn.execute(_META.update().where(_META.c.name == name).values(value=value)).rowcount:
                conn.execute(_META.insert().values(name=name, value=value))
        return value

    def claims(self) -> list[dict[str, Any]]:
        """The runs being trained now: one dict per claim with key, host, pid, claimed_at, heartbeat (oldest first).

        claimed_at and heartbeat are Unix times in seconds. An empty list for a store without claims (or a phase-1
        store read as it is).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.store import Store
            >>> config = {"task": "or3", "schedule_config": {"kind": "constant", "lr": 0.5}, "seed": 0}
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     with store.claim(config):
            ...         print([sorted(c) for c in store.claims()])
            ...     print(store.claims())
            [['claimed_at', 'heartbeat', 'host', 'key', 'pid']]
            []
        """
        if self._empty or self._sql.claims is None:
            return []
        with self._transaction() as conn:
            rows = conn.execute(self._sql.listing).all()
        return [dict(zip(_CLAIM_LISTING, row)) for row in rows]

    def _beat(self, key: str, token: str) -> None:
        """A claim's owner is alive (the heartbeat thread's call: a connection of its own from the pool)."""
        with self._transaction(write=True) as conn:
            conn.execute(self._sql.beat, {"_key": key, "_token": token, "_beat": time.time()})

    def _release(self, key: str, token: str) -> None:
        with self._transaction(write=True) as conn:
            conn.execute(self._sql.release, {"_key": key, "_token": token})

    def _writable(self) -> None:
        if self.readonly:
            raise ValueError(f"the run store {self.name!r} was opened read-only")

    # -- reading ----------------------------------------------------------------------------------
    def find(self, config: dict[str, Any]) -> Run | None:
        """The stored run with this config's key (the latest saved), or None.

        This is how a comparison reuses a run instead of training it again; a config without a key finds nothing.

        Args:
            config: a run's config (see `config_key` for the fields that count).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.studies.compare import compare
            >>> from lrlab.lab.store import Store
            >>> run = compare("or3", ["constant(0.5)"], epochs=1, db=None, progress=False).runs[0]
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     print(store.find(run.config))
            ...     run_id = store.save(run)
            ...     found = store.find(run.config)
            ...     print(found.id, found.label, found.model)
            None
            1 constant(0.5) None
        """
        key = config_key(config)
        if key is None or self._empty:
            return None
        with self._transaction() as conn:
            row = conn.execute(self._sql.find, {"_key": key}).first()
            return None if row is None else _run(self.name, row)

    def get(self, run_id: int) -> Run:
        """The run stored under `run_id`, with its config, history, per-step arrays and metrics (no model).

        Ids are the ones `save` returned and `lrlab runs` lists.

        Args:
            run_id: the run's id (a whole number >= 0).

        Raises:
            ValueError: no run with that id (or an id that is not a whole number).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.studies.compare import compare
            >>> from lrlab.lab.store import Store
            >>> run = compare("or3", ["constant(0.5)"], epochs=2, db=None, progress=False).runs[0]
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     stored = store.get(store.save(run))
            ...     print(stored.label, stored.history["epoch"].tolist(), stored.step_lr.tolist())
            ...     store.get(7)
            Traceback (most recent call last):
            ...
            ValueError: no run with id 7 in '...runs.db'
        """
        rid = _check.whole(f"run store {self.name!r}", "run id", run_id, 0, _MAX_ID)
        row = None
        if not self._empty:
            with self._transaction() as conn:
                row = conn.execute(self._sql.get, {"_id": rid}).first()
        if row is None:
            raise ValueError(f"no run with id {rid} in {self.name!r}")
        with self._guard():
            return _run(self.name, row)

    def summaries(self, task: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """One dict per stored run, newest first: what `lrlab runs` lists.

        Each dict has id, created, task, schedule (the label), spec (the schedule used), optimizer, epochs, batch_size,
        seed, status, wall_s and metrics; the history and per-step arrays are not read.

        Args:
            task: only this task's runs (None: all).
            limit: at most this many (None: all).

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.studies.compare import compare
            >>> from lrlab.lab.store import Store
            >>> runs = compare("or3", ["constant(0.5)", "cosine(0.5)"], epochs=1, db=None, progress=False).runs
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     for run in runs:
            ...         _ = store.save(run)
            ...     print([(s["id"], s["schedule"], s["epochs"]) for s in store.summaries(task="or3", limit=5)])
            [(2, 'cosine(0.5)', 1), (1, 'constant(0.5)', 1)]
        """
        limit = _check.whole(f"run store {self.name!r}", "limit", limit, 0, _MAX_ID, optional=True)
        if self._empty:
            return []
        runs = self._sql.runs
        names = ("id", "created", "task", "label", "schedule", "seed", "status", "wall_s", "config", "metrics")
        query = sa.select(*(runs.c[n] for n in names)).order_by(runs.c.id.desc())
        if task is not None:
            query = query.where(runs.c.task == task)
        if limit is not None:
            query = query.limit(limit)
        with self._transaction() as conn:
            rows = conn.execute(query).all()
        out = []
        for rid, created, task_name, label, schedule, seed, status, wall, config, metrics in rows:
            cfg = _object(self.name, rid, "config", config)
            out.append({
                "id": rid, "created": created, "task": task_name, "schedule": label, "spec": schedule,
                "optimizer": cfg.get("optimizer"), "epochs": cfg.get("epochs"), "batch_size": cfg.get("batch_size"),
                "seed": seed, "status": status, "wall_s": wall, "metrics": _object(self.name, rid, "metrics", metrics),
            })
        return out

    def __len__(self) -> int:
        if self._empty:
            return 0
        with self._transaction() as conn:
            return int(conn.execute(self._sql.count).scalar_one())
