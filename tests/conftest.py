"""Fixtures for every test: a PostgreSQL database of its own, for the tests of the many-machines path.

The server is LRLAB_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test, trust auth: the test
machines and CI run it). Where it cannot be reached (a laptop) those tests skip, saying why; with
LRLAB_REQUIRE_POSTGRES=1 (set by .ci/run) they fail instead, so CI never skips them silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_SERVER = os.environ.get("LRLAB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_engine() -> tuple:  # sqlalchemy is imported here, lazily
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    url = sqlalchemy.engine.make_url(PG_SERVER).set(drivername="postgresql+psycopg")
    return sqlalchemy, sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT",
                                                connect_args={"connect_timeout": 3})


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped (with its connections) after the test."""
    sqlalchemy, engine = _admin_engine()
    name = f"lrlab_test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as exc:
        engine.dispose()
        reason = f"PostgreSQL not reachable at {PG_SERVER}: {' '.join(str(exc.orig).split())[:160]}"
        if os.environ.get("LRLAB_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (LRLAB_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    url = sqlalchemy.engine.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
