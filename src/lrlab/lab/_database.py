"""How lrlab names a database and words its failures: the one rule that turns a run store's `db` (a path or a URL) into
an SQLAlchemy URL (`database_url`), the one rule that shows it with its password hidden (`display_name`, for every
message, listing, report and recorded command), and the one place that turns a failure of the database, its
server or its file into a one-line ValueError (`_failure`, and `guard` for code that reaches the database without a
Store, such as tune's Optuna storage). lrlab.lab.store re-exports the public names.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from .. import _check

# primary SQLite result codes (sqlite3.Error.sqlite_errorcode & 0xFF)
_PERM, _BUSY, _LOCKED, _READONLY, _CORRUPT, _CANTOPEN, _NOTADB = 3, 5, 6, 8, 11, 14, 26
# PostgreSQL SQLSTATEs: lock_not_available, query_canceled, deadlock_detected; read_only_sql_transaction,
# insufficient_privilege; and the classes of connection, authentication and unknown database failures
_PG_LOCKED, _PG_DENIED, _PG_UNREACHABLE = {"55P03", "57014", "40P01"}, {"25006", "42501"}, ("08", "28", "3D")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def database_url(db: str | Path) -> str:
    """The SQLAlchemy URL of a run store (or of an Optuna storage sharing its database).

    A plain path (any Path, or a string without `scheme://`) is an SQLite file: `sqlite:///<absolute path>`.
    `postgresql://` (and `postgres://`) is given the installed driver, psycopg 3: `postgresql+psycopg://`; it must
    name its host (a Unix socket: `?host=/path`). Other URLs are returned as they are. This is the one place that
    turns a `db` into a URL.

    Args:
        db: a path or an SQLAlchemy URL.

    Raises:
        ValueError: an empty db, one with control characters, a PostgreSQL URL without a host, or a URL SQLAlchemy
            cannot read (one line, the password hidden).

    Examples:
        >>> from lrlab.lab.store import database_url
        >>> database_url("postgresql://me:secret@db.example:5432/runs")
        'postgresql+psycopg://me:secret@db.example:5432/runs'
        >>> database_url("runs.db").startswith("sqlite:///") and database_url("runs.db").endswith("/runs.db")
        True
        >>> database_url("postgresql://")
        Traceback (most recent call last):
        ...
        ValueError: the run store 'postgresql://': a database server's URL must name its host \
(postgresql://USER@HOST:PORT/NAME; a Unix socket: ?host=/path)
    """
    if not isinstance(db, (str, Path)) or not str(db).strip():
        raise _check.fail("the run store", "db", "an SQLite file path or a database URL", db)
    if any(ord(c) < 32 or ord(c) == 127 for c in str(db)):
        raise ValueError(f"the run store {display_name(db)!r}: a path or URL with control characters is refused")
    if isinstance(db, Path) or not _SCHEME.match(str(db)):
        return "sqlite:///" + str(Path(db).expanduser().absolute())
    url = _parse_url(str(db))
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "postgresql" and not url.host and "host" not in url.query:
        raise ValueError(f"the run store {display_name(db)!r}: a database server's URL must name its host "
                         "(postgresql://USER@HOST:PORT/NAME; a Unix socket: ?host=/path)")
    return url.render_as_string(hide_password=False)


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):(.*)@", re.DOTALL)  # to the last '@'
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pwd|sslpassword)=)[^&]*", re.IGNORECASE)


def display_name(db: str | Path) -> str:
    """How a run store (or storage) is named in messages and files: a path as given, a URL with its password hidden.

    This is the rule for showing a database anywhere: every error message, listing, report and recorded command
    names a store through it, so a password never reaches a terminal, a log or a file. It never fails: the password
    of a URL SQLAlchemy cannot read is hidden too (everything between the user name and the last '@', and a
    `password=` query parameter).

    Args:
        db: a path or an SQLAlchemy URL.

    Examples:
        >>> from lrlab.lab.store import display_name
        >>> display_name("postgresql://me:secret@db.example:5432/runs")
        'postgresql://me:***@db.example:5432/runs'
        >>> display_name("postgresql://me:p@ss@db.example/runs?password=secret")
        'postgresql://me:***@db.example/runs?password=***'
        >>> display_name("lrlab-runs/runs.db")
        'lrlab-runs/runs.db'
    """
    text = str(db)
    if isinstance(db, Path) or not _SCHEME.match(text):
        return text
    return _QUERY_SECRET.sub(r"\1***", _USERINFO.sub(r"\1:***@", text))


def _secrets(url: sa.engine.URL) -> list[str]:
    """The passwords a URL holds (in its user info or its query), to blank out of a driver's messages."""
    found = [url.password, url.query.get("password")]
    return [str(p) for p in found if isinstance(p, str) and p]


def sqlite_path(db: str | Path) -> Path | None:
    """The SQLite file a run store's db names (a plain path or an sqlite:/// URL); None for a database server.

    The CLI uses it to tell "no store yet" (a file that does not exist) from a server it must connect to.

    Args:
        db: a path or an SQLAlchemy URL.

    Examples:
        >>> from lrlab.lab.store import sqlite_path
        >>> sqlite_path("sqlite:////tmp/runs.db")
        PosixPath('/tmp/runs.db')
        >>> sqlite_path("postgresql://me@db.example/runs") is None
        True
    """
    url = sa.engine.make_url(database_url(db))
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _parse_url(text: str) -> sa.engine.URL:
    try:
        return sa.engine.make_url(text)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise ValueError(f"the run store {display_name(text)!r}: not a database URL SQLAlchemy can read "
                         f"({' '.join(str(exc).split())})") from None


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
             (stat.S_ISSOCK, "socket"), (stat.S_ISDIR, "directory"))
    return next((name for test, name in kinds if test(mode)), "special file")


def _failure(where: str, exc: BaseException, *, secrets: list[str], timeout: float, server: bool) -> ValueError:
    """The one line for a failure of a database, its server or its file (`where`: the store's display_name): the
    one place that words them, for the run store and for tune's Optuna storage alike."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    code = (getattr(orig, "sqlite_errorcode", None) or 0) & 0xFF
    state = str(getattr(orig, "sqlstate", None) or "")
    if code in (_BUSY, _LOCKED) or state in _PG_LOCKED:
        return ValueError(f"the run store {where!r} is locked: another process holds it (waited {timeout:g} s)")
    if code in (_CORRUPT, _NOTADB):
        return ValueError(f"{where!r} is not a valid lrlab run store: {text}")
    if code in (_READONLY, _CANTOPEN, _PERM) or isinstance(orig, PermissionError):
        return ValueError(f"cannot write the run store {where!r}: {text} (is the file or its directory read-only?)")
    if state in _PG_DENIED:
        return ValueError(f"cannot write the run store {where!r}: {text} (may this user write there?)")
    if server and isinstance(exc, sa.exc.OperationalError) and (not state or state.startswith(_PG_UNREACHABLE)):
        return ValueError(f"cannot reach the run store {where!r}: {text}")
    return ValueError(f"the run store {where!r}: {text}")


@contextlib.contextmanager
def guard(db: str | Path, *, timeout: float = 30.0, wrapped: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Within it, a failure of the database behind `db` is the one-line ValueError a Store gives for it.

    For code that reaches a store's database without a Store (tune's Optuna storage): SQLAlchemy's and the driver's
    errors, the file system's, and the exceptions of types `wrapped` (a library's own, e.g. Optuna's
    StorageInternalError) whose cause is one of those, become ValueErrors naming the store (password hidden).

    Args:
        db: the store's path or URL (as given, or database_url's).
        timeout: the lock timeout the message reports.
        wrapped: further exception types to translate by their cause.

    Examples:
        >>> import sqlite3
        >>> from lrlab.lab.store import guard
        >>> with guard("postgresql://me:secret@db.example/runs"):
        ...     raise sqlite3.OperationalError("no such table: trials")
        Traceback (most recent call last):
        ...
        ValueError: the run store 'postgresql://me:***@db.example/runs': no such table: trials
    """
    errors = (sa.exc.SQLAlchemyError, sqlite3.Error, OSError)
    try:
        yield
    except (*errors, *wrapped) as exc:
        cause: BaseException | None = exc
        for _ in range(16):  # the chain of causes, bounded
            if cause is None or isinstance(cause, errors):
                break
            cause = cause.__cause__ or cause.__context__
        url = sa.engine.make_url(database_url(db))
        server = url.get_backend_name() != "sqlite"
        raise _failure(display_name(db), cause or exc, secrets=_secrets(url), timeout=timeout,
                       server=server) from exc
