"""Plain SQL on a run store's database, either backend (the tests look at the tables behind the Store's back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lrlab.lab.store import database_url


def sql(db: str | Path, statement: str, **params: Any) -> list[tuple]:
    """Run one statement in its own committed transaction; the rows it returns, if any."""
    engine = sa.create_engine(database_url(db))
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def tables(db: str | Path) -> list[str]:
    engine = sa.create_engine(database_url(db))
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
