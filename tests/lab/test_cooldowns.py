"""WSD cooldowns from one run: every branch equals a fresh run of its wsd schedule trained from scratch (float64:
bitwise on the sequential engine, 1e-9 stacked), for every decay shape, with a warmup and a plateau-free Adam or
SGD; the table against cosine runs; the store shares a branch's key with the fresh run; bad options are one line."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")

from test_checkpoint import assert_identical  # noqa: E402
from test_stacked import assert_same_run  # noqa: E402

from lrlab.lab.engines.train import execute  # noqa: E402
from lrlab.lab.options import RunOptions  # noqa: E402
from lrlab.lab.plan import plan  # noqa: E402
from lrlab.lab.store import Store, config_key  # noqa: E402
from lrlab.lab.studies.cooldowns import branch_schedule, check_at, check_fraction, check_spec, cooldowns  # noqa: E402

OPTIONS = {"batch_size": 3, "dtype": "float64"}  # or3: 8 samples, batches of 3, 3, 2: cooldowns start mid-epoch


def _fresh(run, **options):
    """The run of the branch's wsd schedule and budget, trained from scratch."""
    p = plan("or3", run.config["schedule"], RunOptions(steps=run.config["steps"], seed=run.seed, batch_size=3,
                                                        **options), dtype="float64")
    return execute(p)


def _without_branch(run):
    config = dict(run.config)
    assert config.pop("branch")["from_step"] < config["steps"]
    run.config = config
    return run


@pytest.mark.parametrize(("engine", "spec", "options"), [
    ("sequential", "wsd(0.4, warmup_steps=2, decay='1-sqrt')", {"optimizer": "adam"}),
    ("stacked", "wsd(0.4, warmup_steps=2, decay='1-sqrt')", {"optimizer": "adam"}),
    ("stacked", "wsd(0.8, decay='cosine', end_lr=0.05)", {"optimizer": "sgd", "momentum": 0.9}),
    ("stacked", "wsd(0.8)", {"optimizer": "sgd"}),
])
def test_every_branch_equals_a_fresh_run_of_its_wsd_schedule(engine, spec, options):
    result = cooldowns("or3", spec, at=(0.3, 0.6, 1.0), fraction=0.3, steps=20, seeds=[0, 1], db=None,
                       progress=False, engine=engine, cosine=False, **OPTIONS, **options)
    assert result.lengths == [6, 12, 20] and result.starts == [4, 8, 14]
    assert result.trunk_steps == 2 * 14 and result.branch_steps == 2 * (2 + 4 + 6) and result.scratch_steps == 76
    assert [(r.seed, r.config["steps"]) for r in result.branches] == [(s, n) for s in (0, 1) for n in (6, 12, 20)]
    kwargs = {"momentum": options["momentum"]} if "momentum" in options else {}
    for run in result.branches:
        assert run.schedule == branch_schedule(check_spec(spec), run.config["steps"], 0.3)
        fresh = _fresh(_without_branch(run), optimizer=options["optimizer"], optimizer_kwargs=kwargs)
        if engine == "sequential":
            assert_identical(run, fresh)
        else:
            assert_same_run(fresh, run)


def test_the_table_sets_each_length_against_cosine_and_a_stored_branch_is_a_fresh_run(tmp_path):
    db = tmp_path / "runs.db"
    result = cooldowns("or3", "wsd(0.4)", at=(0.5, 1.0), fraction=0.25, steps=16, seeds=2, db=db, progress=False,
                       optimizer="adam", **OPTIONS)
    table = result.table
    assert table["length"].tolist() == [8, 16] and table["cooldown_start"].tolist() == [6, 12]
    assert [r.config["schedule"] for r in result.cosine] == ["cosine(0.4, decay_steps=8)",
                                                             "cosine(0.4, decay_steps=16)"] * 2
    for i, length in enumerate((8, 16)):
        wsd = [r.metrics["test_accuracy"] for r in result.branches if r.config["steps"] == length]
        cos = [r.metrics["test_accuracy"] for r in result.cosine if r.config["steps"] == length]
        assert table["wsd"][i] == pytest.approx(np.mean(wsd)) and table["cosine"][i] == pytest.approx(np.mean(cos))
        assert table["wsd_std"][i] == pytest.approx(np.std(wsd, ddof=1), nan_ok=True)
        assert table["difference"][i] == pytest.approx(table["wsd"][i] - table["cosine"][i])
    # a branch is stored under the key of the fresh run of its schedule (the "branch" field is not part of it)
    with Store(db) as store:
        for run in result.branches:
            fresh_plan = plan("or3", run.config["schedule"], RunOptions(steps=run.config["steps"], seed=run.seed,
                                                                         batch_size=3, optimizer="adam"),
                              dtype="float64")
            assert config_key(fresh_plan.config) == config_key(run.config)
            assert store.find(fresh_plan.config).config["branch"]["from_step"] == run.config["branch"]["from_step"]
    again = cooldowns("or3", "wsd(0.4)", at=(0.5, 1.0), fraction=0.25, steps=16, seeds=2, db=db, progress=False,
                      optimizer="adam", **OPTIONS)
    assert again.trunk_steps == again.branch_steps == 0  # all stored: no trunk, no branch trained
    assert again.table.equals(table)
    paths = result.write(tmp_path / "out")
    assert [p.name for p in paths] == ["cooldowns.csv", "runs.csv"] and all(p.is_file() for p in paths)


def test_an_interrupted_trunk_goes_on_from_its_last_checkpoint_file(tmp_path):
    kwargs = {"at": (0.3, 0.6, 1.0), "fraction": 0.3, "steps": 20, "db": None, "progress": False, "cosine": False,
              "optimizer": "adam", "seeds": 2, **OPTIONS}  # two seeds: the trunks train as one stack
    whole = cooldowns("or3", "wsd(0.4)", **kwargs)
    first = cooldowns("or3", "wsd(0.4)", checkpoint_dir=tmp_path, **kwargs)
    files = sorted(tmp_path.glob("trunk-*-step*.pt"))
    assert sorted(int(f.stem.rsplit("step", 1)[1]) for f in files) == [4, 4, 8, 8, 14, 14]
    for f in files:
        if f.stem.endswith("step14"):  # as if killed between step 8 and step 14
            f.unlink()
    resumed = cooldowns("or3", "wsd(0.4)", checkpoint_dir=tmp_path, **kwargs)
    assert (whole.trunk_steps, first.trunk_steps, resumed.trunk_steps) == (28, 28, 2 * (14 - 8))
    for a, b in zip(whole.branches, resumed.branches):
        assert_identical(a, b)
    done = cooldowns("or3", "wsd(0.4)", checkpoint_dir=tmp_path, **kwargs)
    assert done.trunk_steps == 0  # every checkpoint is there: no trunk to train


@pytest.mark.parametrize(("call", "message"), [
    (lambda: check_at([0.5, 0.25]), "at must be increasing fractions in"),
    (lambda: check_at([0.0, 0.5]), "at must be increasing fractions in"),
    (lambda: check_at([0.5, 1.5]), "at must be increasing fractions in"),
    (lambda: check_at([]), "at must be increasing fractions in"),
    (lambda: check_fraction(1.0), r"fraction must be a number in \(0, 1\)"),
    (lambda: check_fraction(0), r"fraction must be a number in \(0, 1\)"),
    (lambda: check_spec("cosine(0.1)"), "must be a wsd schedule"),
    (lambda: check_spec("wsd(0.1, decay_steps=5)"), "leave total_steps and decay_steps out"),
    (lambda: cooldowns("or3", "wsd(0.1, warmup_steps=5)", steps=8, db=None, progress=False),
     "no room for the warmup"),
    (lambda: cooldowns("or3", "wsd(0.1)", at=(0.5, 0.6), steps=4, db=None, progress=False), "equal lengths"),
])
def test_bad_options_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
