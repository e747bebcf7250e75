"""Shared by the lab tests: the models are tiny, so one torch thread is faster and immune to a busy machine."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """A run store's db, on either backend: an SQLite file's path, or the URL of an empty PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "runs.db"
    return request.getfixturevalue("pg_url")
