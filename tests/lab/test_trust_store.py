"""Issue 27 (trust, round two), the library's side: a checkpoint file is data, never code (a planted pickle that
would create a marker file is refused in one line and the marker never appears, for every loader); malformed
checkpoints (empty, text, wrong-shaped weights, bad contents) are one-line refusals on both engines; opening a store
refuses what is not a regular file or a URL; tune checks its storage as a run store before Optuna touches it."""

from __future__ import annotations

import os
import pathlib
import pickle
import socket
import sqlite3

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")
optuna = pytest.importorskip("optuna")

from store_sql import sql, tables  # noqa: E402

from lrlab.lab.engines import checkpoint  # noqa: E402
from lrlab.lab.engines.stacked import execute_stack  # noqa: E402
from lrlab.lab.engines.train import execute  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.store import OPTUNA_TABLES, SCHEMA_VERSION, Store, display_name, guard  # noqa: E402
from lrlab.lab.studies.cooldowns import cooldowns  # noqa: E402
from lrlab.lab.studies.tune import check_storage, tune  # noqa: E402


class Evil:
    """Unpickled, it creates a marker file: what a hostile checkpoint would do instead."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _plan(**options):
    options.setdefault("batch_size", 3)  # or3: 8 samples
    options.setdefault("steps", 11)
    options.setdefault("optimizer", "adam")
    return plan("or3", "wsd(0.4, warmup_steps=2, decay_steps=4)", RunOptions(**options), dtype="float64")


@pytest.fixture(scope="module")
def saved():
    """Real checkpoints of one run at steps 4 (mid-epoch) and 8."""
    out = {}
    execute(_plan(), save_at=[4, 8], on_save=lambda c: out.__setitem__(c["step"], c))
    return out


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


# -- a checkpoint file is data, never code ------------------------------------------------------------
def _evil_payloads(marker, state):
    """Hostile files: a pickle whose object would create `marker`, alone, inside a real checkpoint, as a plain
    pickle (not torch's zip format), and in the old format's place of an array."""
    return {
        "alone": lambda p: torch.save({"evil": Evil(marker)}, p),
        "inside a checkpoint": lambda p: torch.save({**checkpoint._plain(state), "config": Evil(marker)}, p),
        "in a row": lambda p: torch.save({**checkpoint._plain(state), "rows": [{"x": Evil(marker)}]}, p),
        "plain pickle": lambda p: p.write_bytes(pickle.dumps({"evil": Evil(marker)})),
        "legacy torch format": lambda p: torch.save({"evil": Evil(marker)}, p, _use_new_zipfile_serialization=False),
    }


@pytest.mark.parametrize("how", ["alone", "inside a checkpoint", "in a row", "plain pickle", "legacy torch format"])
def test_a_planted_pickle_never_runs(tmp_path, saved, how):
    marker = tmp_path / "MARKER"
    path = tmp_path / "trunk.pt"
    _evil_payloads(marker, saved[8])[how](path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="not a checkpoint") as err:
        checkpoint.load(path)
    assert str(path) in _one_line(err)
    assert not marker.exists()


def test_cooldowns_refuses_a_planted_trunk_checkpoint_without_running_it(tmp_path):
    kwargs = dict(at=[0.5, 1.0], fraction=0.25, steps=16, batch_size=3, seeds=1, cosine=False, progress=False)
    cooldowns("or3", "wsd(0.4)", checkpoint_dir=tmp_path / "ck", db=tmp_path / "a.db", **kwargs)
    files = sorted((tmp_path / "ck").glob("trunk-*.pt"))
    assert files
    marker = tmp_path / "MARKER"
    for path in files:
        torch.save({"evil": Evil(marker)}, path)
    with pytest.raises(ValueError, match="not a checkpoint") as err:  # another store: the trunk must resume
        cooldowns("or3", "wsd(0.4)", checkpoint_dir=tmp_path / "ck", db=tmp_path / "b.db", **kwargs)
    _one_line(err)
    assert not marker.exists()


def test_a_saved_checkpoint_is_plain_data_and_loads_as_it_was_captured(tmp_path, saved):
    path = checkpoint.save(saved[4], tmp_path / "at4.pt")
    torch.load(path, weights_only=True)  # no global outside torch's allow-list
    loaded = checkpoint.load(path)
    for key in ("step_lr", "step_loss"):
        assert isinstance(loaded[key], np.ndarray) and loaded[key].dtype == np.float64
        np.testing.assert_array_equal(loaded[key], saved[4][key])
    assert torch.equal(loaded["perm"], saved[4]["perm"]) and loaded["rows"] == saved[4]["rows"]


@pytest.mark.parametrize("content", [b"", b"hello, I am text\n", os.urandom(4096), b"PK\x03\x04" + b"\0" * 60],
                         ids=["0 bytes", "text", "random bytes", "a broken zip"])
def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path, content):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a checkpoint") as err:
        checkpoint.load(path)
    assert str(path) in _one_line(err)


def test_a_directory_or_a_socket_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="not a regular file"):
        checkpoint.load(tmp_path)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s.pt"))
        with pytest.raises(ValueError, match="not a regular file"):
            checkpoint.load(tmp_path / "s.pt")
    with pytest.raises(ValueError, match="cannot read it"):
        checkpoint.load(tmp_path / "missing.pt")


def _tampered(state, **changes):
    out = {**state, **changes}
    return out


@pytest.mark.parametrize("change, message", [
    ({"format": 2}, "format 2"),
    ({"config": [1, 2]}, "config is not a dict"),
    ({"step": -1}, "step is not a whole number"),
    ({"step": 4.5}, "step is not a whole number"),
    ({"perm": torch.tensor([0, 0, 1, 2, 3, 4, 5, 6])}, "perm is not"),
    ({"perm": torch.arange(8.0)}, "perm is not"),
    ({"generator": torch.zeros(3, dtype=torch.uint8)}, "generator"),
    ({"generator": "seed"}, "generator"),
    ({"model": {"w": torch.zeros(2, dtype=torch.int64)}}, "model is not"),
    ({"model": [1]}, "model is not"),
    ({"optimizer": {0: {"exp_avg": "x"}}}, "optimizer is not"),
    ({"optimizer": {-1: {}}}, "optimizer is not"),
    ({"plateau": 3}, "plateau is not"),
    ({"rows": {"a": 1}}, "rows is not"),
    ({"step_lr": [0.1] * 8}, "step_lr is not"),
    ({"step_lr": np.zeros(3)}, "one rate per update"),
    ({"limit": "inf"}, "limit"),
])
def test_malformed_contents_are_one_line_from_a_file_and_in_memory(tmp_path, saved, change, message):
    state = _tampered(saved[8], **change)
    with pytest.raises(ValueError, match=message) as err:
        execute(_plan(), start=state)
    _one_line(err)
    path = tmp_path / "c.pt"
    torch.save(checkpoint._plain(state), path)
    with pytest.raises(ValueError, match=message) as err:
        checkpoint.load(path)
    assert str(path) in _one_line(err)


def _wrong_weight(state):
    model = dict(state["model"])
    name = next(iter(model))
    model[name] = torch.zeros((*model[name].shape, 2), dtype=model[name].dtype)
    return {**state, "model": model}


def _wrong_moment(state):
    opt = {i: dict(s) for i, s in state["optimizer"].items()}
    opt[0]["exp_avg"] = torch.zeros(7, dtype=torch.float64)
    return {**state, "optimizer": opt}


def _extra_param(state):
    opt = {i: dict(s) for i, s in state["optimizer"].items()}
    opt[99] = dict(opt[0])
    return {**state, "optimizer": opt}


@pytest.mark.parametrize("engine", ["sequential", "stacked"])
@pytest.mark.parametrize("tamper, message", [
    (_wrong_weight, "has shape"),
    (lambda s: {**s, "model": {"nope": torch.zeros(1, dtype=torch.float64)}}, "weights differ"),
    (_wrong_moment, "optimizer exp_avg"),
    (_extra_param, "parameter 99"),
    (lambda s: {**s, "perm": torch.arange(5)}, "data order has 5 samples"),
], ids=["wrong-shaped weight", "other names", "wrong-shaped moment", "extra parameter", "short perm"])
def test_a_checkpoint_that_does_not_fit_the_model_is_one_line(tmp_path, saved, engine, tamper, message):
    path = checkpoint.save(tamper(saved[4]), tmp_path / "c.pt")
    state = checkpoint.load(path)  # well-formed on its own: the model decides
    with pytest.raises(ValueError, match=message) as err:
        if engine == "sequential":
            execute(_plan(), start=state)
        else:
            execute_stack([_plan(), _plan()], starts=[state, None])
    _one_line(err)


# -- opening a store refuses what is not a regular file or a URL --------------------------------------
@pytest.mark.parametrize("readonly", [False, True])
def test_a_store_that_is_not_a_regular_file_is_one_line(tmp_path, readonly):
    fifo = tmp_path / "fifo.db"
    os.mkfifo(fifo)  # opened by SQLite it would block for ever; the check never opens it
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock.db"))
        for path, kind in [(fifo, "FIFO"), (tmp_path / "sock.db", "socket"), ("/dev/null", "character device"),
                           ("/dev/zero", "character device")]:
            with pytest.raises(ValueError, match=f"not a regular file \\(a {kind}\\)") as err:
                Store(path, readonly=readonly)
            _one_line(err)


@pytest.mark.parametrize("db, message", [
    ("", "db must be an SQLite file path or a database URL, got ''"),
    ("   ", "db must be an SQLite file path or a database URL"),
    ("postgresql://", "must name its host"),
    ("postgresql://me:secret@/runs", "must name its host"),
    ("runs\x01.db", "control characters"),
    ("runs\n.db", "control characters"),
    ("sqlite:///tmp/a\x07b.db", "control characters"),
    ("postgresql://me:secret@host\x7f/runs", "control characters"),
    ("sqlite:///:memory:", "not an in-memory database"),
    ("sqlite://", "not an in-memory database"),
    ("mysql://u@localhost/db", "cannot use this database URL"),
    ("http://example.com/x", "cannot use this database URL"),
], ids=repr)
def test_bad_dbs_are_one_line(tmp_path, monkeypatch, db, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message) as err:
        Store(db)
    assert "secret" not in _one_line(err)
    assert not any(tmp_path.iterdir())  # nothing created


def test_display_name_is_the_one_rule_and_never_shows_a_password():
    for url, shown in [
        ("postgresql://me:SECRET@db:5432/runs", "postgresql://me:***@db:5432/runs"),
        ("postgresql://me:SE@CRET@db/runs", "postgresql://me:***@db/runs"),
        ("postgresql://me:SE%40CRET@db/runs", "postgresql://me:***@db/runs"),
        ("postgresql://me@db/runs?password=SECRET&sslmode=off", "postgresql://me@db/runs?password=***&sslmode=off"),
        ("postgresql://me:SECRET@db:notaport/runs", "postgresql://me:***@db:notaport/runs"),  # SQLAlchemy refuses it
        ("runs/x.db", "runs/x.db"),
    ]:
        assert display_name(url) == shown
    with pytest.raises(ValueError) as err:
        Store("postgresql://me:SECRET@db:notaport/runs")
    assert "SECRET" not in str(err.value) and "me:***@db:notaport" in str(err.value)


def test_guard_words_a_failure_as_the_store_does(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"x" * 4096)
    with pytest.raises(ValueError) as store_err:
        Store(bad)
    with pytest.raises(ValueError) as guard_err, guard(bad):
        sqlite3.connect(bad).execute("SELECT * FROM sqlite_master")
    assert str(guard_err.value) == str(store_err.value)
    with pytest.raises(ValueError, match=r"postgresql://u:\*\*\*@h/d': boom \*\*\*$"), \
            guard("postgresql://u:SECRET@h/d", wrapped=(optuna.exceptions.StorageInternalError,)):
        try:
            raise sqlite3.OperationalError("boom SECRET")
        except sqlite3.OperationalError as exc:
            raise optuna.exceptions.StorageInternalError("commit failed") from exc


# -- tune's storage is checked before Optuna touches it ----------------------------------------------
def _tune(storage, **kwargs):
    return tune("or3", "constant(loguniform(0.1, 1))", trials=1, epochs=1, batch=1, confirm=0, storage=storage,
                progress=False, **kwargs)


@pytest.fixture
def trained(monkeypatch):
    """Counts trials that reach training: a refused storage must train none."""
    import importlib

    T = importlib.import_module("lrlab.lab.studies.tune")  # lrlab.lab.studies.tune, the attribute, is the function
    calls = []
    real = T._run_batch
    monkeypatch.setattr(T, "_run_batch", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


OTHER_PROGRAM = ["CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO users VALUES (1, 'ada')"]


def test_another_programs_database_gets_no_optuna_tables(db, trained):
    for statement in OTHER_PROGRAM:
        sql(db, statement)
    before = tables(db)
    with pytest.raises(ValueError, match=r"is not an lrlab run store .*left unchanged") as err:
        _tune(db)
    _one_line(err)
    assert tables(db) == before == ["users"] and not trained
    assert sql(db, "SELECT * FROM users") == [(1, "ada")]


def test_a_newer_store_is_refused_before_training(db, trained):
    Store(db).close()
    sql(db, "UPDATE lrlab_meta SET value = :v WHERE name = 'schema'", v=str(SCHEMA_VERSION + 1))
    with pytest.raises(ValueError, match=f"has schema {SCHEMA_VERSION + 1}, newer than") as err:
        _tune(db)
    _one_line(err)
    assert not trained and not set(tables(db)) & OPTUNA_TABLES


def test_a_new_storage_holds_the_run_store_and_the_study(tmp_path):
    url = check_storage(tmp_path / "deep" / "t.db")
    assert url.startswith("sqlite:///") and set(tables(tmp_path / "deep" / "t.db")) == {
        "lrlab_meta", "lrlab_runs", "lrlab_claims"}
    result = _tune(tmp_path / "deep" / "t.db", pruner="none")
    assert len(result.trials) == 1
    Store(tmp_path / "deep" / "t.db").close()  # Optuna's tables beside lrlab's: still a run store


@pytest.fixture(scope="module")
def study_file(tmp_path_factory):
    """A real tune storage (SQLite) with one finished study."""
    path = tmp_path_factory.mktemp("study") / "t.db"
    _tune(path, pruner="none")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.read_bytes()


def _damage(data: bytes, how: str) -> bytes:
    page = int.from_bytes(data[16:18], "big") or 65536
    if how == "truncated":
        return data[: len(data) // 2 + 123]
    if how == "header zeroed":
        return b"\0" * 100 + data[100:]
    middle = (len(data) // page // 2) * page  # a whole page in the middle, overwritten
    return data[:middle] + os.urandom(page) + data[middle + page:]


@pytest.mark.parametrize("how", ["truncated", "header zeroed", "middle page overwritten"])
def test_a_damaged_study_file_is_one_line(tmp_path, study_file, trained, how):
    path = tmp_path / "t.db"
    path.write_bytes(_damage(study_file, how))
    with pytest.raises(ValueError) as err:
        _tune(path, pruner="none")
    assert str(path) in _one_line(err)
    assert not trained


@pytest.mark.parametrize("content", [b"", b"some text\n" * 50, os.urandom(8192)], ids=["empty", "text", "random"])
def test_a_file_that_is_not_a_study_is_one_line_or_a_new_store(tmp_path, trained, content):
    path = tmp_path / "t.db"
    path.write_bytes(content)
    if content:
        with pytest.raises(ValueError, match="not a valid lrlab run store") as err:
            _tune(path)
        _one_line(err)
        assert not trained and path.read_bytes() == content
    else:  # an empty file is an empty SQLite database: it becomes the storage (and the counter counts)
        assert len(_tune(path, pruner="none").trials) == 1 and trained


def test_tunes_unreachable_postgresql_is_one_line_without_its_password(pg_url, trained):
    from sqlalchemy.engine import make_url

    base = make_url(pg_url)
    cases = [
        base.set(port=1, password="SECRET"),
        base.set(database="lrlab_no_such_database", password="SECRET"),
        base.set(username="lrlab_no_such_user", password="SECRET"),
    ]
    for url in cases:
        with pytest.raises(ValueError, match="cannot reach the run store") as err:
            _tune(url.render_as_string(hide_password=False))
        assert "SECRET" not in _one_line(err)
    assert not trained


def test_a_study_of_other_settings_names_the_storage_without_its_password(pg_url):
    from sqlalchemy.engine import make_url

    url = make_url(pg_url).set(password="SECRET").render_as_string(hide_password=False)  # trust: any password
    _tune(url, study="shared", pruner="none")
    with pytest.raises(ValueError, match="was started with other settings") as err:
        tune("or3", "constant(loguniform(0.1, 1))", trials=1, epochs=2, batch=1, confirm=0, storage=url,
             study="shared", progress=False, pruner="none")
    assert "SECRET" not in _one_line(err) and ":***@" in str(err.value)


def test_a_planted_mnist1d_cache_never_runs_and_is_generated_again(tmp_path, monkeypatch):
    pytest.importorskip("mnist1d")
    from lrlab.lab.tasks import builtin_tasks

    marker = tmp_path / "MARKER"
    cache = tmp_path / "mnist1d" / "mnist1d_default.npz"
    cache.parent.mkdir()
    evil = np.empty(1, dtype=object)
    evil[0] = Evil(marker)
    np.savez(cache, x=evil, y=evil, x_test=evil, y_test=evil)  # object arrays: pickles inside the .npz
    monkeypatch.setenv("LRLAB_DATA_DIR", str(tmp_path))
    arrays = builtin_tasks._mnist1d_arrays()
    assert arrays["x"].shape == (4000, 40) and not marker.exists()


def test_a_bad_storage_is_refused_before_the_range_test_and_the_forecast_runs(tmp_path, monkeypatch):
    import importlib

    T = importlib.import_module("lrlab.lab.studies.tune")
    calls = []
    monkeypatch.setattr(T, "find_peak", lambda *a, **k: calls.append("find") or 0.5)
    monkeypatch.setattr(T, "fit_forecast", lambda *a, **k: calls.append("forecast"))
    path = tmp_path / "t.db"
    path.write_text("not a database\n" * 100)
    with pytest.raises(ValueError, match="not a valid lrlab run store") as err:
        tune("or3", trials=1, epochs=1, confirm=0, storage=path, progress=False, peak_from_find=True, forecast=2)
    _one_line(err)
    assert calls == []
