"""A failure half-way through an operation leaves nothing half-written.

The failure is injected at the database edge: a trigger that refuses one kind of audit event
or outbox row (SQLite `RAISE(ABORT)`, PostgreSQL `RAISE EXCEPTION`), so the operation has
already written its other rows in the same transaction when it fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.gates import Decision
from commandpost.core.vocabulary import IncidentClass, Role, Status
from commandpost.service import audit_log, deadlines, gates, outbox, roles
from commandpost.service.context import Context
from commandpost.service.incidents import change_status, resolve
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import contain, counts, declare_incident, staff

PAGED_COMMS = "NEW.kind = 'role.paged' AND NEW.data LIKE '%\"role\":\"comms\"%'"
ACK_SCRIBE = "NEW.kind = 'role.acknowledged' AND NEW.data LIKE '%scribe%'"


def refuse(engine: Engine, table: str, when: str) -> Callable[[], None]:
    """Make inserts into `table` matching `when` (SQL over NEW) fail; returns the undo."""
    name = f"refuse_{table}"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                    f"WHEN {when} "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
        else:
            conn.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
                    f"WHEN ({when}) EXECUTE FUNCTION {name}()"
                )
            )

    def lift() -> None:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text(f"DROP TRIGGER {name}"))
            else:
                conn.execute(text(f"DROP TRIGGER {name} ON {table}"))
                conn.execute(text(f"DROP FUNCTION {name}()"))

    return lift


def snapshot(ctx: Context) -> dict[str, object]:
    """Row counts per table, plus the state of every gate, deadline and the audit head."""
    state: dict[str, object] = dict(counts(ctx))
    with ctx.engine.connect() as conn:
        state["gates.state"] = conn.execute(
            text("SELECT id, state, tier, execution FROM gates ORDER BY id")
        ).all()
        state["deadlines.state"] = conn.execute(
            text("SELECT id, state FROM deadlines ORDER BY id")
        ).all()
        state["incidents.status"] = conn.execute(
            text("SELECT id, status, severity FROM incidents ORDER BY id")
        ).all()
        state["audit_head"] = conn.execute(text("SELECT seq, hash FROM audit_head")).all()
    return state


def new_incident(ctx: Context) -> str:
    return declare_incident(
        ctx, "Support bot shares another customer's address", IncidentClass.DATA_LEAKAGE
    )


def test_declare_failing_at_the_last_page_writes_nothing(ctx: Context, chat: ConsoleChat) -> None:
    new_incident(ctx)
    before = snapshot(ctx)
    # By the comms page, declare has written the incident, three pages and their outbox rows.
    lift = refuse(ctx.engine, "audit_events", PAGED_COMMS)
    with pytest.raises(DBAPIError, match="injected failure"):
        new_incident(ctx)
    assert snapshot(ctx) == before
    lift()
    assert new_incident(ctx) == "INC-2026-0002"  # the number was never used
    outbox.deliver(ctx)
    assert audit_log.verify(ctx).ok


def test_declare_failing_to_queue_a_page_writes_nothing(ctx: Context) -> None:
    before = snapshot(ctx)
    lift = refuse(ctx.engine, "outbox", "NEW.kind = 'direct'")
    with pytest.raises(DBAPIError):
        new_incident(ctx)
    assert snapshot(ctx) == before
    lift()
    assert new_incident(ctx) == "INC-2026-0001"


def test_approval_failing_to_queue_execution_leaves_the_gate_pending(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    gate_id = contain(
        ctx,
        incident_id,
        "route_to_fallback",
        {"surface": "support", "fallback_model": "support-small"},
    )
    staff(ctx, incident_id, "alice")
    before = snapshot(ctx)
    lift = refuse(ctx.engine, "outbox", "NEW.kind = 'execute'")
    with pytest.raises(DBAPIError):
        gates.decide(ctx, gate_id, actor="alice", decision=Decision.APPROVE)
    assert snapshot(ctx) == before  # no decision row, no audit event, gate still pending
    lift()
    gates.decide(ctx, gate_id, actor="alice", decision=Decision.APPROVE)
    with Session(ctx.engine) as s:
        decisions = s.exec(select(m.GateDecision).where(m.GateDecision.gate_id == gate_id)).all()
    assert len(decisions) == 1


def test_gate_request_failing_at_audit_writes_no_gate_or_timer(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    before = snapshot(ctx)
    lift = refuse(ctx.engine, "audit_events", "NEW.kind = 'gate.requested'")
    with pytest.raises(DBAPIError):
        contain(ctx, incident_id, "freeze_releases", {"model": "m"})
    assert snapshot(ctx) == before
    lift()
    assert audit_log.verify(ctx).ok


def test_containment_failing_at_audit_keeps_status_and_sla(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    before = snapshot(ctx)
    lift = refuse(ctx.engine, "audit_events", "NEW.kind = 'status.changed'")
    with pytest.raises(DBAPIError):
        change_status(ctx, incident_id, status=Status.CONTAINED, actor="alice")
    assert snapshot(ctx) == before  # the mitigation timer was not cancelled either
    lift()


def test_resolve_failing_at_audit_keeps_every_timer(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    before = snapshot(ctx)
    lift = refuse(ctx.engine, "audit_events", "NEW.kind = 'incident.resolved'")
    with pytest.raises(DBAPIError):
        resolve(ctx, incident_id, actor="alice", summary="false alarm")
    assert snapshot(ctx) == before
    lift()


def test_acknowledge_failing_half_way_keeps_the_page(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    roles.assign(ctx, incident_id, role=Role.SCRIBE, person_id="alice", actor="alice")
    before = snapshot(ctx)
    # alice acknowledges two roles at once; recording the scribe one fails.
    lift = refuse(ctx.engine, "audit_events", ACK_SCRIBE)
    with pytest.raises(DBAPIError):
        roles.acknowledge(ctx, incident_id, person_id="alice")
    assert snapshot(ctx) == before
    lift()
    assert sorted(roles.acknowledge(ctx, incident_id, person_id="alice")) == [
        "incident_commander",
        "scribe",
    ]


def test_a_deadline_that_fails_to_fire_stays_pending_and_fires_once_later(
    ctx: Context, clock: ManualClock
) -> None:
    new_incident(ctx)
    clock.advance(timedelta(minutes=10))
    before = snapshot(ctx)
    lift = refuse(ctx.engine, "audit_events", "NEW.kind = 'role.reminded'")
    with pytest.raises(DBAPIError):
        deadlines.fire_due(ctx)
    assert snapshot(ctx) == before
    lift()
    fired = deadlines.fire_due(ctx)
    assert sorted(f.outcome for f in fired if f.kind == "ack") == [
        "reminded alice",
        "reminded carol",
        "reminded erin",
        "reminded grace",
    ]
    assert deadlines.fire_due(ctx) == []
    assert audit_log.verify(ctx).ok
