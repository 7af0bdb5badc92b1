"""Migration 0010's indexes, and the reads they are for.

SQLite uses one index a table. Given an equality on incident_id and one on state, it took the
index on state alone, so reading one incident's pending deadlines or open gates (the summary
card, drawn on every change) read every pending deadline and open gate, and every read of
channel openings read the whole pending outbox. The plan test reads SQLite's own plans.
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, event, inspect, text

from commandpost.chat.slack import views
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.service import outbox
from commandpost.service.context import Context
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction
from commandpost.storage.migrate import alembic_config
from tests.support import declare_incident

DECLARED = {
    "outbox": m.OutboxItem,
    "deadlines": m.Deadline,
    "gates": m.Gate,
}


def composite_indexes(db_url: str) -> dict[str, list[str]]:
    engine = create_engine(db_url)
    try:
        found = inspect(engine)
        return {
            str(ix["name"]): [str(c) for c in ix["column_names"]]
            for table in DECLARED
            for ix in found.get_indexes(table)
            if len(ix["column_names"]) > 1
        }
    finally:
        engine.dispose()


def test_migration_adds_the_indexes_the_models_declare_and_removes_them(db_url: str) -> None:
    declared = {
        str(ix.name): [c.name for c in ix.columns]
        for model in DECLARED.values()
        for ix in model.__table__.indexes  # type: ignore[attr-defined]
        if len(ix.columns) > 1
    }
    assert set(declared) == {
        "ix_outbox_kind_state",
        "ix_deadlines_incident_state",
        "ix_gates_incident_state",
    }
    assert composite_indexes(db_url) == declared
    config = alembic_config(db_url)
    command.downgrade(config, "0009")
    assert composite_indexes(db_url) == {}
    command.upgrade(config, "head")
    assert composite_indexes(db_url) == declared


def test_per_incident_and_opening_reads_search_the_composite_indexes(ctx: Context) -> None:
    if ctx.engine.dialect.name != "sqlite":
        pytest.skip("the plans are SQLite's; PostgreSQL plans by its statistics")
    seen: dict[str, Any] = {}

    def grab(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.setdefault(statement, params[0] if many else params)

    event.listen(ctx.engine, "before_cursor_execute", grab)
    incident = declare_incident(ctx, "Plans", IncidentClass.HARMFUL_CONTENT, Severity.SEV1)
    with read_transaction(ctx.engine) as session:
        assert views.summary_view(session, ctx.policy, incident) is not None
    outbox.due_items(ctx, openings_only=True)
    outbox.due_items(ctx)
    outbox.deliver_handed_over(ctx, incident)
    event.remove(ctx.engine, "before_cursor_execute", grab)

    def plan(statement: str) -> str:
        with ctx.engine.connect() as db:
            rows = db.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, seen[statement])
            return " | ".join(str(r[-1]) for r in rows)

    checked = {
        "deadlines.incident_id = ?": "ix_deadlines_incident_state",
        "gates.incident_id = ?": "ix_gates_incident_state",
        "outbox.kind = ?": "ix_outbox_kind_state",
    }
    found = {
        statement: (plan(statement), index)
        for statement in seen
        for condition, index in checked.items()
        # An equality that narrows the read, not one among alternatives (the whole read of
        # what is due, "an opening OR …", is by state: every pending item is wanted there).
        if condition in statement
        and f"{condition} OR" not in statement
        and "state" in statement.split("WHERE", 1)[-1]
    }
    assert {index for _, index in found.values()} == set(checked.values())  # all were read
    wrong = {s: p for s, (p, index) in found.items() if f"USING INDEX {index} " not in p}
    assert wrong == {}
    with ctx.engine.connect() as db:  # the plain index on state is still there for the rest
        assert db.execute(text("SELECT 1 FROM sqlite_master WHERE name='ix_outbox_state'")).one()
