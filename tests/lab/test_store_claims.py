"""Claims: a run being trained is claimed in the store, so a second process waits for it and reuses it instead of
training it again; a claim is released however its block ends, and taken over when its owner is gone (killed
with SIGKILL, or silent past the stale timeout on another host). Two real `lrlab compare` processes on one db
store every run once. On SQLite and PostgreSQL (the `db` fixture)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from store_sql import sql  # noqa: E402
from tiny_task import TINY  # noqa: E402

from lrlab.lab.engines.train import train  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.store import Store, config_key  # noqa: E402
from lrlab.lab.studies.compare import compare  # noqa: E402


class Waited(Exception):
    """Raised by an on_wait that must not be called."""


def _never_wait(status: str) -> None:
    raise Waited(status)


def _rows(db) -> list[tuple]:
    return sql(db, "SELECT label, seed, key FROM lrlab_runs ORDER BY id")


# -- one process -------------------------------------------------------------------------------
def test_a_second_claimant_waits_for_the_owner_then_reuses_its_run(db):
    run = train(TINY, "constant(0.1)")
    waiting, got = threading.Event(), {}

    def second() -> None:  # its own connection, as another process would have
        try:
            with Store(db, poll_s=0.01) as other:
                with other.claim(run.config, on_wait=lambda status: (got.setdefault("status", status),
                                                                     waiting.set())) as claim:
                    got["held"], got["run"] = claim.held, claim.run
        except BaseException as exc:  # reported below
            got["error"] = exc
            waiting.set()

    with Store(db) as store:
        with store.claim(run.config) as mine:
            assert mine.held and mine.run is None
            assert [c["pid"] for c in store.claims()] == [os.getpid()]
            thread = threading.Thread(target=second)
            thread.start()
            assert waiting.wait(120), "the second claimant never waited"
            assert "error" not in got, got.get("error")
            assert got["status"].startswith(f"waiting for pid {os.getpid()} on ")
            rid = mine.save(run)  # stores and releases in one transaction
        thread.join(120)
        assert not thread.is_alive() and "error" not in got, got.get("error")
        assert got["held"] is False and got["run"].id == rid  # reused, not trained again
        assert store.claims() == [] and len(store) == 1


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_a_claim_is_released_when_training_fails_and_the_waiter_trains(db, failure):
    config = train(TINY, "constant(0.1)").config
    waiting, got = threading.Event(), {}

    def second() -> None:
        with Store(db, poll_s=0.01) as other:
            with other.claim(config, on_wait=lambda status: waiting.set()) as claim:
                got["held"], got["run"] = claim.held, claim.run
                got["claims"] = [c["pid"] for c in other.claims()]

    with Store(db) as store:
        thread = threading.Thread(target=second)
        with pytest.raises(failure), store.claim(config):
            thread.start()
            assert waiting.wait(120)
            raise failure("training failed")
        thread.join(120)
        assert got == {"held": True, "run": None, "claims": [os.getpid()]}  # the waiter took the freed claim
        assert store.claims() == [] and len(store) == 0


def test_ctrl_c_in_compare_releases_its_claim(db):

    def interrupt(step, model, loss, lr):
        if lr == 0.2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compare(TINY, ["constant(0.1)", "constant(0.2)"], db=db, progress=False, callback=interrupt)
    with Store(db) as store:
        assert store.claims() == [] and [r["schedule"] for r in store.summaries()] == ["constant(0.1)"]


def test_a_stale_claim_of_another_host_is_taken_over_a_live_one_is_not(db):
    config = train(TINY, "constant(0.1)").config
    key = config_key(config)
    with Store(db, stale_after_s=600) as store:
        now = time.time()
        # a process on another machine claimed it and beats
        sql(db, "INSERT INTO lrlab_claims VALUES (:key, 'their-token', 'elsewhere', 1, :now, :now)", key=key, now=now)
        with pytest.raises(Waited, match="waiting for pid 1 on elsewhere"):
            store.claim(config, on_wait=_never_wait)
        # ... and went silent an hour ago
        sql(db, "UPDATE lrlab_claims SET heartbeat = :beat WHERE key = :key", beat=now - 3600, key=key)
        with store.claim(config, on_wait=_never_wait) as claim:
            assert claim.held and [(c["host"], c["pid"]) for c in store.claims()] == [
                (__import__("socket").gethostname(), os.getpid())]
        assert store.claims() == []


def test_the_owner_beats_its_heartbeat_while_it_holds_the_claim(db):
    config = train(TINY, "constant(0.1)").config
    with Store(db, heartbeat_s=0.01) as store, store.claim(config):
        first = store.claims()[0]["heartbeat"]
        deadline = time.monotonic() + 60
        while store.claims()[0]["heartbeat"] == first and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.claims()[0]["heartbeat"] > first


def test_a_key_is_stored_once_and_fresh_replaces_it(db):
    first = compare(TINY, ["constant(0.1)"], db=db, progress=False).runs[0]
    again = compare(TINY, ["constant(0.1)"], db=db, progress=False, fresh=True).runs[0]
    assert again.id != first.id
    rows = _rows(db)
    assert len(rows) == 2 and rows[0][2] is None and rows[1][2] == config_key(first.config)  # old row kept
    with Store(db) as store:
        assert store.find(first.config).id == again.id
    with pytest.raises(sa.exc.IntegrityError):
        sql(db, "UPDATE lrlab_runs SET key = :key WHERE id = :id", key=rows[1][2], id=first.id)


# -- real processes ----------------------------------------------------------------------------
HANG = """
import sys, time
from lrlab.lab.studies.compare import compare

def hang(step, model, loss, lr):
    print("training", flush=True)
    time.sleep(3600)

compare("or3", ["constant(0.5)"], epochs=3, db=sys.argv[1], progress=False, callback=hang)
"""


def test_a_claim_left_by_a_killed_process_is_taken_over(db):
    """A real compare is killed with SIGKILL in the middle of training a run: its claim stays in the store, and
    the next process takes it over at once (the pid is not alive here), without waiting for a heartbeat."""
    proc = subprocess.Popen([sys.executable, "-c", HANG, str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()  # blocks until the first training step
        assert line == "training\n", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    config = plan("or3", "constant(0.5)", RunOptions(epochs=3)).config
    with Store(db, stale_after_s=3600) as store:
        assert [(c["key"], c["pid"]) for c in store.claims()] == [(config_key(config), proc.pid)]
        with store.claim(config, on_wait=_never_wait) as claim:  # no waiting for the dead
            assert claim.held and [c["pid"] for c in store.claims()] == [os.getpid()]
        assert store.claims() == [] and len(store) == 0
    done = compare("or3", ["constant(0.5)"], epochs=3, db=db, progress=False)
    assert done.runs[0].model is not None  # trained here
    with Store(db) as store:
        assert store.claims() == [] and len(store) == 1


SPECS = ["0.01", "0.02", "0.03", "0.04", "0.05"]


def test_two_lrlab_compare_processes_train_and_store_every_run_once(db):
    """Two identical `lrlab compare` processes at once on one db (phase 1 trained and stored 13 of 15 runs
    twice): every key is stored once, the two together train each run once, and both print the leaderboard."""
    cmd = [sys.executable, "-m", "lrlab", "compare", "line", *SPECS, "--seeds", "3", "--epochs", "300",
           "--db", str(db), "--no-progress", "--threads", "1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=500)
            outs.append(out)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    trained = []
    for out in outs:
        assert "line: 15 runs" in out and all(f"constant({lr})" in out for lr in SPECS)  # the leaderboard
        found = re.search(r"15 runs \((\d+) trained, (\d+) reused\)", out)
        assert found, out
        trained.append(int(found.group(1)))
    rows = _rows(db)
    assert sum(trained) == 15, trained  # each run trained by one process only
    assert len(rows) == 15 and len({key for _, _, key in rows}) == 15 and None not in {key for _, _, key in rows}
    assert sorted((label, seed) for label, seed, _ in rows) == sorted(
        (f"constant({lr})", seed) for lr in SPECS for seed in range(3))
    with Store(db) as store:
        assert store.claims() == []
