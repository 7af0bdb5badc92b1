"""Migration 0009 adds the reviews table exactly as the model declares it, and removes it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from commandpost.storage.migrate import alembic_config
from commandpost.storage.review_models import Review


def columns(db_url: str) -> dict[str, bool] | None:
    engine = create_engine(db_url)
    try:
        found = inspect(engine)
        if "reviews" not in found.get_table_names():
            return None
        return {c["name"]: bool(c["nullable"]) for c in found.get_columns("reviews")}
    finally:
        engine.dispose()


def test_migration_adds_and_removes_the_reviews_table(db_url: str) -> None:
    declared = {c.name: bool(c.nullable) for c in Review.__table__.columns}  # type: ignore[attr-defined]
    assert columns(db_url) == declared
    config = alembic_config(db_url)
    command.downgrade(config, "0008")
    assert columns(db_url) is None
    command.upgrade(config, "head")
    assert columns(db_url) == declared
