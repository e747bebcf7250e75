"""The run store's database under its API: the tables (SQLAlchemy Core), their statements and a run's row, the
layouts of schemas 1 to 3, the engines, and a store recognised, created or upgraded; moved out of lrlab.lab.store.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from .. import _check
from ._database import _file_kind
from .run import Run

SCHEMA_VERSION = 3  # the layout of the tables
# 1: phase 1's (a runs table alone, no marker); 2: runs + claims + lrlab_meta; 3: lrlab_ prefixes (beside Optuna)

_RUN_COLUMNS = ("id", "key", "created", "task", "label", "schedule", "seed", "status", "wall_s", "config", "metrics",
                "history", "step_lr", "step_loss")
_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's autoincrement needs INTEGER PRIMARY KEY

# The tables an Optuna study keeps in its storage (optuna.storages._rdb.models, and alembic's version table):
# a database holding them besides lrlab's is a run store (tests/lab/test_store_optuna.py checks the list).
OPTUNA_TABLES = frozenset({
    "alembic_version", "studies", "study_directions", "study_system_attributes", "study_user_attributes",
    "trial_heartbeats", "trial_intermediate_values", "trial_params", "trial_system_attributes",
    "trial_user_attributes", "trial_values", "trials", "version_info",
})


def _tables(prefix: str) -> tuple[sa.Table, sa.Table]:
    """The runs and claims tables, named with `prefix` ("lrlab_" today; "" in the stores of schema 1 and 2)."""
    meta = sa.MetaData()
    runs = sa.Table(
        f"{prefix}runs", meta,
        sa.Column("id", _BIG, primary_key=True, autoincrement=True),
        sa.Column("key", sa.Text),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("schedule", sa.Text, nullable=False),
        sa.Column("seed", _BIG, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("wall_s", sa.Float, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("history", sa.Text, nullable=False),
        sa.Column("step_lr", sa.LargeBinary, nullable=False),
        sa.Column("step_loss", sa.LargeBinary, nullable=False),
        sa.Index(f"{prefix}runs_key", "key", unique=True),  # NULLs are distinct (SQLite and PostgreSQL alike)
        sqlite_autoincrement=True,  # an id is never given twice, even after its run is deleted
    )
    claims = sa.Table(
        f"{prefix}claims", meta,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", _BIG, nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False),
    )
    return runs, claims


class _Sql:
    """The statements on one layout's tables, built once (SQLAlchemy caches their compiled form): a run store spends
    its time in the database and in decoding runs, not in building SQL."""

    def __init__(self, runs: sa.Table, claims: sa.Table | None) -> None:
        key, token = sa.bindparam("_key"), sa.bindparam("_token")
        self.runs, self.claims = runs, claims
        self.find = sa.select(runs).where(runs.c.key == key).order_by(runs.c.id.desc()).limit(1)
        self.get = sa.select(runs).where(runs.c.id == sa.bindparam("_id"))
        self.count = sa.select(sa.func.count()).select_from(runs)
        self.unkey = runs.update().where(runs.c.key == key).values(key=None)
        self.insert = runs.insert().returning(runs.c.id)
        if claims is not None:
            mine = sa.and_(claims.c.key == key, claims.c.token == token)
            self.claim = claims.insert()
            self.owner = sa.select(claims.c.token, claims.c.host, claims.c.pid, claims.c.heartbeat).where(
                claims.c.key == key)
            self.release = claims.delete().where(mine)
            self.beat = claims.update().where(mine).values(heartbeat=sa.bindparam("_beat"))
            self.listing = sa.select(*(claims.c[n] for n in _CLAIM_LISTING)).order_by(claims.c.claimed_at)


_CLAIM_LISTING = ("key", "host", "pid", "claimed_at", "heartbeat")
_RUNS, _CLAIMS = _tables("lrlab_")
_OLD_RUNS, _OLD_CLAIMS = _tables("")  # schema 1 and 2, read as they are when opened read-only
_CURRENT, _PHASE1, _SCHEMA2 = _Sql(_RUNS, _CLAIMS), _Sql(_OLD_RUNS, None), _Sql(_OLD_RUNS, _OLD_CLAIMS)
_META = sa.Table("lrlab_meta", sa.MetaData(), sa.Column("name", sa.Text, primary_key=True),
                 sa.Column("value", sa.Text, nullable=False))
_LAYOUTS = {3: {"lrlab_meta", "lrlab_runs", "lrlab_claims"}, 2: {"lrlab_meta", "runs", "claims"}}
_OPEN_LOCK = 0x6C726C6162  # PostgreSQL: the advisory lock under which a store is created or upgraded ("lrlab")


# -- engines --------------------------------------------------------------------------------------------------
def _server_engine(url: sa.engine.URL, name: str, *, timeout: float, readonly: bool) -> sa.engine.Engine:
    """PostgreSQL waits `timeout` for a lock (lock_timeout) and for the server (connect_timeout, at least 2 s);
    a read-only store's transactions are read-only. Other dialects are given the URL as it is."""
    args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        options = f"-c lock_timeout={max(1, round(timeout * 1000))}"  # 0 would mean: wait for ever
        if readonly:
            options += " -c default_transaction_read_only=on"
        args = {"connect_timeout": max(2, math.ceil(timeout)), "options": options}
    try:
        return sa.create_engine(url, connect_args=args, pool_pre_ping=True)
    except (sa.exc.SQLAlchemyError, ValueError, ImportError) as exc:  # no such dialect or driver
        raise ValueError(f"the run store {name!r}: cannot use this database URL "
                         f"({' '.join(str(exc).split())})") from None


def _sqlite_engine(url: sa.engine.URL, path: Path, name: str, *, timeout: float, readonly: bool,
                   error: Callable[[BaseException], ValueError]) -> sa.engine.Engine:
    """pysqlite's own BEGIN is off (isolation_level=None): a write transaction begins with BEGIN IMMEDIATE
    (SQLAlchemy's recipe), taking the write lock first; a read, with a plain BEGIN. A read-only store opens the
    file read-only (`?mode=ro`). `error` words a failure to make the file's folder (the Store's `_error`)."""
    if path.is_dir():
        raise ValueError(f"db must be a file, got the directory {name!r}")
    with contextlib.suppress(OSError):  # a FIFO would hang SQLite's open, a device read or write for ever
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"the run store {name!r} is not a regular file (a {_file_kind(mode)}); give "
                             "an SQLite file or a database URL")
    if readonly:
        if not path.exists():
            raise ValueError(f"no run store at {name!r}")
        target, uri = path.resolve().as_uri() + "?mode=ro", True
    else:
        for folder in (path.parent, *path.parent.parents):
            if folder.exists() and not folder.is_dir():
                raise ValueError(f"the run store {name!r}: {str(folder)!r} is a file, not a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error(exc) from exc
        target, uri = str(path), False

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(target, uri=uri, timeout=timeout, isolation_level=None, check_same_thread=False)

    engine = sa.create_engine(url, creator=connect, poolclass=sa.pool.QueuePool)

    @sa.event.listens_for(engine, "begin")
    def begin(conn: sa.engine.Connection) -> None:  # on the driver's connection: a third of a find's cost less
        write = conn.get_execution_options().get("lrlab_write") and not readonly
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


# -- opening: the tables recognised, created, upgraded or probed -----------------------------------------------
def _recognise(conn: sa.engine.Connection, where: str, *, sqlite: bool) -> str:
    """The tables' state (`_inspect`), after checking an SQLite file's pages (PRAGMA quick_check)."""
    state = _inspect(conn, where)  # a database of another program fails here, before anything is locked
    if sqlite:
        row = conn.exec_driver_sql("PRAGMA quick_check(1)").fetchone()
        if row is None or row[0] != "ok":
            found = " ".join(str(row[0]).replace("*** in database main ***", "").split()) if row else "?"
            raise ValueError(f"{where!r} is not a valid lrlab run store: {found}")
    return state


def _prepare(conn: sa.engine.Connection, where: str) -> None:
    """Create, upgrade or probe the store for writing, in the transaction of `conn` (begun with the write lock;
    committed here when something changed, else left to be rolled back)."""
    # Again under the write lock: another process may have created or upgraded the store meanwhile.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _OPEN_LOCK})
    state = _inspect(conn, where)
    if state == "new":
        for table in (_META, _RUNS, _CLAIMS):
            table.create(conn)
    elif state == "schema2":
        for old, new in (("runs", "lrlab_runs"), ("claims", "lrlab_claims")):
            conn.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))
        conn.execute(sa.text("DROP INDEX IF EXISTS runs_key"))
        next(iter(_RUNS.indexes)).create(conn)
    elif state == "phase1":
        conn.execute(sa.text("ALTER TABLE runs RENAME TO lrlab_runs"))
        _META.create(conn)
        _CLAIMS.create(conn)
        # phase 1 stored a --fresh rerun beside the old run; the latest is the one find() returned
        conn.execute(sa.text("UPDATE lrlab_runs SET key = NULL WHERE key IS NOT NULL AND id NOT IN "
                             "(SELECT MAX(id) FROM lrlab_runs WHERE key IS NOT NULL GROUP BY key)"))
        conn.execute(sa.text("DROP INDEX IF EXISTS runs_key"))
        next(iter(_RUNS.indexes)).create(conn)
    else:  # the write probe: a row that is rolled back (a read-only file, directory or user fails here)
        conn.execute(_META.insert().values(name="write probe", value=""))
    if state in ("new", "phase1"):
        conn.execute(_META.insert().values(name="schema", value=str(SCHEMA_VERSION)))
    elif state == "schema2":
        conn.execute(_META.update().where(_META.c.name == "schema").values(value=str(SCHEMA_VERSION)))
    if state != "current":
        conn.commit()


def _inspect(conn: sa.engine.Connection, where: str) -> str:
    """"new" (no table of lrlab's), "phase1", "schema2" or "current"; ValueError for a database holding tables
    that are neither lrlab's nor Optuna's, or a newer or damaged store."""
    inspector = sa.inspect(conn)
    ours = (set(inspector.get_table_names()) | set(inspector.get_view_names())) - OPTUNA_TABLES
    if not ours:
        return "new"
    if "lrlab_meta" in ours:
        try:
            with conn.begin_nested():
                value = conn.execute(sa.select(_META.c.value).where(_META.c.name == "schema")).scalar()
        except sa.exc.DBAPIError:
            value = None
        version = str(value) if value is not None else ""
        if not version.isdigit():
            raise ValueError(f"{where!r} is not an lrlab run store: its lrlab_meta table has no schema version; "
                             "it was left unchanged")
        if int(version) > SCHEMA_VERSION:
            raise ValueError(f"the run store {where!r} has schema {version}, newer than this lrlab's "
                             f"{SCHEMA_VERSION}: upgrade lrlab")
        layout = _LAYOUTS[3 if int(version) >= 3 else 2]
        others = sorted(ours - layout - _LAYOUTS[2] - _LAYOUTS[3])
        if others:
            raise ValueError(f"{where!r} is not an lrlab run store (it holds the tables {', '.join(others)} "
                             "besides lrlab's); it was left unchanged")
        missing = sorted(layout - ours)
        runs = "lrlab_runs" if "lrlab_runs" in layout else "runs"
        if missing or ours != layout or _columns(inspector, runs)[: len(_RUN_COLUMNS)] != _RUN_COLUMNS:
            found = (f"the table {missing[0]} is missing" if missing else
                     f"it holds the tables {', '.join(sorted(ours))}" if ours != layout else
                     f"its {runs} table differs")
            raise ValueError(f"{where!r} is not a valid lrlab run store: {found}")
        return "current" if int(version) >= 3 else "schema2"
    if ours == {"runs"} and _columns(inspector, "runs") == _RUN_COLUMNS:
        return "phase1"
    raise ValueError(f"{where!r} is not an lrlab run store (it holds the tables {', '.join(sorted(ours))}"
                     + (" with other columns" if ours == {"runs"} else "") + "); it was left unchanged")


def _columns(inspector: sa.engine.Inspector, table: str) -> tuple[str, ...]:
    return tuple(column["name"] for column in inspector.get_columns(table))


# -- a run's row: config, metrics and history as JSON, the per-step arrays as float64 bytes ------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {value!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def _object(where: str, rid: Any, column: str, text: Any) -> dict[str, Any]:
    """A row's JSON column that must hold an object (config, metrics, history), or the one-line ValueError of a
    malformed row (not JSON, or a list, a number...: written by hand or by another program)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"run {rid} in {where!r} is malformed: its {column} is not a JSON object "
                         f"(got {_check.shown(text)})")
    return value


def _run(where: str, row: sa.Row) -> Run:
    """A row of the runs table as a Run (no model); the one-line ValueError naming `where` for a malformed row."""
    import pandas as pd

    rec = row._mapping
    rid = rec["id"]
    hist = _object(where, rid, "history", rec["history"])
    try:
        history = pd.DataFrame(hist["data"], columns=hist["columns"])
        for col in history.columns:
            history[col] = pd.to_numeric(history[col])
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        why = _check.short(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        raise ValueError(f"run {rid} in {where!r} is malformed: its history cannot be read ({why})") from None
    return Run(
        config=_object(where, rid, "config", rec["config"]),
        history=history,
        step_lr=np.frombuffer(rec["step_lr"], dtype="<f8").astype(np.float64),
        step_loss=np.frombuffer(rec["step_loss"], dtype="<f8").astype(np.float64),
        metrics=_object(where, rid, "metrics", rec["metrics"]),
        wall_s=float(rec["wall_s"]),
        status=rec["status"],
        error=hist.get("error"),
        model=None,
        id=int(rec["id"]),
        created=rec["created"],
    )

