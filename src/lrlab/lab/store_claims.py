"""Claims, by which processes share a run store's runs: one taken, or taken over from an owner gone, for
Store.try_claim, and the Claim it hands out (heartbeat, save, release); moved out of lrlab.lab.store.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .store_schema import _run

if TYPE_CHECKING:
    from .run import Run
    from .store import Store


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


def _stale(store: Store, host: str, pid: int, heartbeat: float, now: float) -> bool:
    """Whether a claim's owner is gone: its pid is not alive on this host, or its heartbeat is too old."""
    if host == socket.gethostname() and not _alive(int(pid)):
        return True
    return now - float(heartbeat) > store.stale_after_s


def _take(store: Store, key: str, *, fresh: bool, retry_failed_before: int | None, stale_upto: int | None
          ) -> Claim:
    """`Store.try_claim` for a config with a key: the stored run, the claim taken (or taken over), or busy."""
    q = store._sql
    host, pid = socket.gethostname(), os.getpid()
    token = uuid.uuid4().hex

    def reusable(conn: sa.engine.Connection) -> Run | None:
        if fresh or (row := conn.execute(q.find, {"_key": key}).first()) is None:
            return None
        rec = row._mapping
        if stale_upto is not None and rec["id"] <= stale_upto:
            return None
        if rec["status"] == "failed" and retry_failed_before is not None and rec["id"] <= retry_failed_before:
            return None
        return _run(store.name, row)

    with store._transaction(write=True) as conn:
        if (run := reusable(conn)) is not None:
            return Claim(store, None, None, run)
        now = time.time()
        mine = {"key": key, "token": token, "host": host, "pid": pid, "claimed_at": now, "heartbeat": now}
        try:
            with conn.begin_nested():  # PostgreSQL: a failed INSERT must not end the transaction
                conn.execute(q.claim, mine)
        except sa.exc.IntegrityError:  # held: by whom?
            owner = conn.execute(q.owner, {"_key": key}).first()
            if owner is not None and not _stale(store, owner.host, owner.pid, owner.heartbeat, now):
                return Claim(store, None, None, None, busy=f"pid {owner.pid} on {owner.host}")
            if owner is not None:
                conn.execute(q.release, {"_key": key, "_token": owner.token})
            conn.execute(q.claim, mine)
        # PostgreSQL: the owner may have stored the run and released its claim since the SELECT above
        # (SQLite's write lock rules that out); then the run is reused and the claim rolled back.
        if (run := reusable(conn)) is not None:
            conn.rollback()
            return Claim(store, None, None, run)
        return Claim(store, key, token, None)


class Claim:
    """What `Store.claim` returns: a stored run to reuse (`run`), or this process's claim on a run to train.

    As a context manager it beats the claim's heartbeat from a thread (on a connection of its own) while the block
    runs, and releases the claim when the block ends, however it ends (a release that fails while an exception is
    on its way is dropped: the claim is then taken over, its owner being gone). `held` says whether this process
    holds a claim.

    Args:
        store: the Store it belongs to.
        key: the config key claimed (None: nothing to claim).
        token: this claim's owner token (None when nothing is held).
        run: the stored run to reuse, or None.
        busy: who holds the claim when another live process does ("pid P on HOST"; `Store.try_claim`), else None.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from lrlab.lab.store import Store
        >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
        ...     claim = store.claim({"task": "or3", "schedule_config": None})  # no key: nothing to claim
        ...     print(claim.held, claim.key, claim.run)
        False None None
    """

    def __init__(self, store: Store, key: str | None, token: str | None, run: Run | None, busy: str | None = None
                 ) -> None:
        self.store, self.key, self.token, self.run, self.busy = store, key, token, run, busy
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds a claim (False for a reused run and for a config without a key)."""
        return self.token is not None

    def save(self, run: Run) -> int:
        """Store the trained run and release the claim, in one transaction; returns the run's id.

        With nothing held (a config without a key) it is `Store.save`.

        Args:
            run: the trained Run.

        Examples:
            >>> import tempfile
            >>> from pathlib import Path
            >>> from lrlab.lab.studies.compare import compare
            >>> from lrlab.lab.store import Store
            >>> run = compare("or3", ["constant(0.5)"], epochs=1, db=None, progress=False).runs[0]
            >>> with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "runs.db") as store:
            ...     with store.claim(run.config) as claim:
            ...         print(claim.save(run), store.claims())
            1 []
        """
        claim = (self.key, self.token) if self.held else None
        return self.store.save(run, _claim=claim)  # type: ignore[arg-type]

    def __enter__(self) -> Claim:
        if self.held:
            self._beater = threading.Thread(target=self._beat, name="lrlab-claim-heartbeat", daemon=True)
            self._beater.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.store.heartbeat_s):
            with contextlib.suppress(ValueError):  # a missed beat: the next one tries again
                self.store._beat(self.key, self.token)  # type: ignore[arg-type]

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self._beater is not None:
            self._stop.set()
            self._beater.join()
            self._beater = None
        if not self.held:
            return
        try:
            self.store._release(self.key, self.token)  # type: ignore[arg-type]
        except ValueError:
            if exc_type is None:
                raise
