"""One database holds an Optuna study and lrlab's runs (issue 12's storage URL): the run store opens beside a
study, Optuna still loads it and adds studies beside the runs, on SQLite and PostgreSQL (the `db` fixture); the
tables the store accepts as Optuna's are Optuna's own."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("torch")

from store_sql import tables  # noqa: E402
from tiny_task import TINY  # noqa: E402

from lrlab.lab.engines.train import train  # noqa: E402
from lrlab.lab.store import OPTUNA_TABLES, Store, database_url  # noqa: E402

LRLAB_TABLES = ["lrlab_claims", "lrlab_meta", "lrlab_runs"]


def test_the_optuna_tables_are_optunas():
    from optuna.storages._rdb import models

    assert set(OPTUNA_TABLES) == set(models.BaseModel.metadata.tables) | {"alembic_version"}


def test_a_study_and_the_runs_share_one_database(db):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = database_url(db)
    study = optuna.create_study(storage=url, study_name="search")
    study.optimize(lambda trial: (trial.suggest_float("x", -2, 2) - 1) ** 2, n_trials=3)
    optuna_tables = tables(db)
    assert optuna_tables and set(optuna_tables) <= OPTUNA_TABLES  # what Optuna made is in the list
    run = train(TINY, "constant(0.1)")
    with Store(db, readonly=True) as store:  # a study alone: an empty run store
        assert len(store) == 0 and store.summaries() == []
    with Store(db) as store:
        rid = store.save(run)
    assert tables(db) == sorted(optuna_tables + LRLAB_TABLES)
    loaded = optuna.load_study(study_name="search", storage=url)  # the study is intact
    assert [t.value for t in loaded.trials] == [t.value for t in study.trials] and len(loaded.trials) == 3
    loaded.optimize(lambda trial: trial.suggest_float("x", -2, 2) ** 2, n_trials=1)  # and goes on
    other = optuna.create_study(storage=url, study_name="another")  # Optuna opens it beside the runs
    other.optimize(lambda trial: trial.suggest_float("y", 0, 1), n_trials=1)
    assert sorted(optuna.get_all_study_names(url)) == ["another", "search"]
    with Store(db) as store:
        assert len(store) == 1 and store.get(rid).metrics == run.metrics and store.find(run.config).id == rid
    assert len(optuna.load_study(study_name="search", storage=url).trials) == 4


def test_optuna_creates_its_study_in_a_run_store(db):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = train(TINY, "constant(0.1)")
    with Store(db) as store:  # the runs first, in an empty database
        rid = store.save(run)
    url = database_url(db)
    study = optuna.create_study(storage=url, study_name="later", direction="maximize")
    study.optimize(lambda trial: trial.suggest_int("n", 0, 9), n_trials=2)
    assert len(optuna.load_study(study_name="later", storage=url).trials) == 2
    with Store(db) as store:
        assert len(store) == 1 and store.get(rid).config == run.config
    assert set(tables(db)) - OPTUNA_TABLES == set(LRLAB_TABLES)
