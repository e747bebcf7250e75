"""The tinylm task: its standard-library corpus (fixed files, split by file, hash and Python version in every run's
config), a user's text file (split by position, clear errors), that a short run learns (below the unigram entropy),
and that the stacked engine equals the sequential trainer on it in float64."""

from __future__ import annotations

import hashlib
import math
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from test_stacked import assert_same_run  # noqa: E402

from lrlab.lab import get_task  # noqa: E402
from lrlab.lab.engines.stacked import execute_stack, unstackable  # noqa: E402
from lrlab.lab.engines.train import execute  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.store import config_key  # noqa: E402
from lrlab.lab.tasks import tinylm as tl  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*have not yet implemented the batching rule:UserWarning")

TINY = dict(context=16, width=16, layers=1, heads=2, train_windows=64, eval_windows=16)


def _text(tmp_path: Path, n: int = 4000, name: str = "t.txt") -> Path:
    words = [b"alpha ", b"beta ", b"gamma ", b"delta\n"]
    rng = np.random.default_rng(3)
    raw = b"".join(words[i] for i in rng.integers(0, 4, size=n))[:n]
    path = tmp_path / name
    path.write_bytes(raw)
    return path


# -- the corpus --------------------------------------------------------------------------------------------------
def test_stdlib_corpus_is_the_listed_files_split_by_file_with_their_hash():
    root = Path(sysconfig.get_paths()["stdlib"])
    parts = [b"".join((root / n).read_bytes() for n in names)
             for names in (tl.STDLIB_TRAIN, tl.STDLIB_VAL, tl.STDLIB_TEST)]
    assert not set(tl.STDLIB_TRAIN) & set(tl.STDLIB_VAL + tl.STDLIB_TEST) and not set(tl.STDLIB_VAL) & set(
        tl.STDLIB_TEST)
    got, info = tl.stdlib_corpus()
    assert got == parts
    assert info["corpus_sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert info["python"] == f"{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"
    assert info["corpus_bytes"] == sum(map(len, parts))
    # deterministic: a second build gives the same identity and the same windows
    a, b = get_task("tinylm"), get_task("tinylm")
    assert a.identity == b.identity and a.identity["corpus_sha256"] == info["corpus_sha256"]
    da, db = a.load(0), b.load(5)  # the seed does not change the data
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(da, name).x, getattr(db, name).x)
    assert (len(da.train), len(da.val), len(da.test)) == (1600, 256, 256)
    # every training window is a piece of the training files, targets are the next bytes
    for i in (0, 777, 1599):
        x, y = da.train.x[i], da.train.y[i]
        np.testing.assert_array_equal(x[1:], y[:-1])
        assert bytes(np.append(x, y[-1]).astype(np.uint8)) in parts[0]


def test_each_run_records_the_corpus_and_python_in_its_config():
    task = get_task("tinylm", **TINY)
    p = plan(task, "constant(0.01)", RunOptions(epochs=1))
    ident = p.config["task_identity"]
    assert ident["corpus"] == "python-stdlib" and ident["python"] == ".".join(map(str, sys.version_info[:3]))
    assert ident["corpus_sha256"] == tl.stdlib_corpus()[1]["corpus_sha256"]
    assert ident["context"] == 16 and ident["width"] == 16
    # the store tells tasks with other data (or sizes) apart; tasks without an identity keep their old keys
    other = plan(get_task("tinylm", **{**TINY, "width": 32}), "constant(0.01)", RunOptions(epochs=1))
    assert config_key(p.config) != config_key(other.config)
    plain = plan("or3", "constant(0.1)", RunOptions(epochs=1))
    assert "task_identity" not in plain.config


# -- a user's text ---------------------------------------------------------------------------------------------
def test_a_text_file_is_split_by_position(tmp_path):
    path = _text(tmp_path, 4000)
    raw = path.read_bytes()
    task = get_task("tinylm", text=str(path), **TINY)
    assert task.identity["corpus"] == "text"
    assert task.identity["corpus_sha256"] == hashlib.sha256(raw).hexdigest()
    d = task.load(0)
    # 80/10/10 by position: 3200 bytes -> (3200 - 1) // 16 = 199 windows, 64 of them drawn; 400 -> 24, 16 spread
    assert (len(d.train), len(d.val), len(d.test)) == (64, 16, 16)
    first_val = raw[3200:3217]
    np.testing.assert_array_equal(d.val.x[0], np.frombuffer(first_val[:16], np.uint8))
    np.testing.assert_array_equal(d.val.y[0], np.frombuffer(first_val[1:], np.uint8))
    np.testing.assert_array_equal(d.test.x[0], np.frombuffer(raw[3600:3616], np.uint8))
    assert all(bytes(x.astype(np.uint8)) in raw[:3200] for x in d.train.x)
    # another text is another task identity
    assert get_task("tinylm", text=str(_text(tmp_path, 4001, "u.txt")), **TINY).identity != task.identity


@pytest.mark.parametrize("size, message", [(None, "does not exist"), (0, "is empty"), (-1, "is not a file"),
                                           (100, "too short")])
def test_text_file_errors_are_one_line(tmp_path, size, message):
    path = {None: tmp_path / "missing.txt", -1: tmp_path}.get(size) or _text(tmp_path, size)
    with pytest.raises(ValueError, match=message) as info:
        get_task("tinylm", text=str(path), **TINY)
    assert "\n" not in str(info.value)


def test_cli_text_option(tmp_path, capsys):
    from lrlab.cli import main

    db = str(tmp_path / "r.db")
    assert main(["compare", "tinylm", "0.01", "--text", str(tmp_path / "nope.txt"), "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err
    assert main(["compare", "digits", "0.01", "--text", str(_text(tmp_path)), "--db", db]) == 2
    assert "does not take option(s) text" in capsys.readouterr().err


# -- training --------------------------------------------------------------------------------------------------
def test_a_short_run_learns_below_the_unigram_entropy(tmp_path):
    task = get_task("tinylm", **{**TINY, "train_windows": 256})
    data = task.load(0)
    counts = np.bincount(data.train.y.ravel(), minlength=256) / data.train.y.size
    unigram = float(-(counts[counts > 0] * np.log2(counts[counts > 0])).sum())  # bits per byte
    run = execute(plan(task, "constant(0.01)", RunOptions(epochs=6), data=data))
    assert run.status == "ok"
    assert list(run.history.columns) == ["epoch", "step", "lr", "loss", "val_loss", "val_bpb"]
    assert run.metrics["val_bpb"] == pytest.approx(run.metrics["val_loss"] / math.log(2), rel=1e-12)
    assert run.metrics["test_bpb"] < unigram - 0.3, (run.metrics, unigram)
    assert run.history["val_bpb"].iloc[-1] < run.history["val_bpb"].iloc[0]


def test_the_model_stacks_and_equals_the_sequential_runs_in_float64():
    task = get_task("tinylm", **{**TINY, "train_windows": 40, "eval_windows": 8})
    assert unstackable(task.model(0)) is None
    plans = [plan(task, spec, RunOptions(epochs=2, seed=seed, batch_size=8), dtype="float64")
             for spec, seed in (("constant(0.01)", 0), ("cosine(0.02)", 1), ("wsd(0.01, decay_steps=4)", 2))]
    for p, st in zip(plans, execute_stack(plans)):
        assert_same_run(execute(p), st)


def test_compare_ranks_tinylm_by_bits_per_byte(tmp_path):
    from lrlab.lab.studies.compare import compare

    c = compare(get_task("tinylm", text=str(_text(tmp_path)), **TINY), ["constant(0.01)", "constant(1e-5)"],
                epochs=2, db=None, progress=False)
    assert c.metric == "bpb" and not c.higher_is_better and c.rank_column == "val_bpb"
    board = c.leaderboard
    assert board["schedule"].tolist() == ["constant(0.01)", "constant(1e-05)"]
    assert board["val_bpb"].is_monotonic_increasing  # ranked by the final val bits per byte, lower first
    assert "test_bpb" in board and "best_val_bpb" in board
