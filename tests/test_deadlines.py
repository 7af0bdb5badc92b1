"""Durable deadlines fired by `fire_due` as a ManualClock moves: each fires exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.gates import Decision
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.executors import PolicyExecutor
from commandpost.service import deadlines, gates, outbox, roles
from commandpost.service.context import Context
from commandpost.service.deadlines import Fired
from commandpost.service.incidents import change_severity, change_status, post_update
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import contain, declare_incident

STAFF = {"alice", "carol", "erin", "grace"}  # the SEV1 primaries


def new_incident(ctx: Context, severity: Severity = Severity.SEV1, *, ack: bool = False) -> str:
    incident_id = declare_incident(
        ctx, "Chatbot invents refund policy", IncidentClass.DECEPTIVE_OUTPUT, severity
    )
    if ack:
        for person in STAFF:
            roles.acknowledge(ctx, incident_id, person_id=person)
    return incident_id


def fire_at(ctx: Context, clock: ManualClock, minutes: int, kind: str | None = None) -> list[Fired]:
    """Set the clock to 09:00 + minutes and fire; twice, to show a second pass fires nothing."""
    clock.set(clock.now().replace(hour=9, minute=0) + timedelta(minutes=minutes))
    fired = deadlines.fire_due(ctx)
    assert deadlines.fire_due(ctx) == []
    return [f for f in fired if kind is None or f.kind == kind]


def outcomes(fired: list[Fired]) -> dict[str, str]:
    return {f.subject: f.outcome for f in fired}


def holder(ctx: Context, incident_id: str, role: Role) -> m.RoleAssignment:
    with Session(ctx.engine) as s:
        row = roles.holder(s, incident_id, role)
    assert row is not None
    return row


def test_ack_chain_remind_secondary_manager_unfilled(
    ctx: Context, clock: ManualClock, chat: ConsoleChat
) -> None:
    incident_id = new_incident(ctx)
    assert fire_at(ctx, clock, 9) == []
    assert outcomes(fire_at(ctx, clock, 10, "ack")) == {
        "incident_commander": "reminded alice",
        "model_owner": "reminded carol",
        "safety_lead": "reminded erin",
        "comms": "reminded grace",
    }
    assert outcomes(fire_at(ctx, clock, 20, "ack")) == {
        "incident_commander": "paged bob",
        "model_owner": "paged dan",
        "safety_lead": "paged femi",
        "comms": "paged hana",
    }
    assert holder(ctx, incident_id, Role.INCIDENT_COMMANDER).person_id == "bob"
    assert outcomes(fire_at(ctx, clock, 30, "ack")) == {
        "incident_commander": "paged mo",
        "model_owner": "paged mo",
        "safety_lead": "paged lena",
        "comms": "paged lena",
    }
    unfilled = fire_at(ctx, clock, 40, "ack")
    assert set(outcomes(unfilled).values()) == {"unfilled"}
    assert holder(ctx, incident_id, Role.COMMS).unfilled
    assert fire_at(ctx, clock, 24 * 60, "ack") == []  # the chain ends; nothing more fires

    outbox.deliver(ctx)
    assert any(t.startswith("Reminder: you are paged") for t in chat.messages_to("DM @alice"))
    assert any("bob has not acknowledged" in t for t in chat.messages_to("DM @mo"))
    warnings = [t for t in chat.messages_to("#incidents") if "UNFILLED" in t]
    assert len(warnings) == 4  # no IC acknowledged, so the announcements channel hears it


def test_acknowledged_roles_cancel_their_timers(ctx: Context, clock: ManualClock) -> None:
    incident_id = new_incident(ctx)
    clock.advance(timedelta(minutes=5))
    roles.acknowledge(ctx, incident_id, person_id="alice")
    reminded = outcomes(fire_at(ctx, clock, 10, "ack"))
    assert "incident_commander" not in reminded and len(reminded) == 3
    roles.acknowledge(ctx, incident_id, person_id="erin")  # the primary, after a reminder
    assert set(outcomes(fire_at(ctx, clock, 20, "ack"))) == {"model_owner", "comms"}
    clock.advance(timedelta(minutes=2))
    roles.acknowledge(ctx, incident_id, person_id="dan")  # the secondary, once paged
    assert holder(ctx, incident_id, Role.MODEL_OWNER).person_id == "dan"
    assert outcomes(fire_at(ctx, clock, 30, "ack")) == {"comms": "paged lena"}
    roles.acknowledge(ctx, incident_id, person_id="lena", role=Role.COMMS)
    assert fire_at(ctx, clock, 120, "ack") == []
    with Session(ctx.engine) as s:
        acks = s.exec(
            select(m.Deadline).where(m.Deadline.kind == "ack", m.Deadline.state == "pending")
        ).all()
    assert acks == []


def test_gate_escalates_then_expires(ctx: Context, clock: ManualClock, chat: ConsoleChat) -> None:
    incident_id = new_incident(ctx, ack=True)
    gate_id = contain(
        ctx, incident_id, "rollback_model", {"model": "support-bot", "to_version": "v7"}
    )
    assert outcomes(fire_at(ctx, clock, 10, "gate")) == {str(gate_id): "escalated to tier 2"}
    assert outcomes(fire_at(ctx, clock, 24, "gate")) == {}
    assert outcomes(fire_at(ctx, clock, 25, "gate")) == {str(gate_id): "expired"}
    [gate] = gates.list_gates(ctx, incident_id)
    assert (gate.state, gate.execution) == ("expired", None)
    assert fire_at(ctx, clock, 240, "gate") == []
    outbox.deliver(ctx)
    for who in ("carol", "alice"):  # the requester and the IC hear it
        assert any("EXPIRED with no decision" in t for t in chat.messages_to(f"DM @{who}"))
    with Session(ctx.engine) as s:
        executes = s.exec(select(m.OutboxItem).where(m.OutboxItem.kind == "execute")).all()
    assert executes == []  # silence never approves


def test_gate_runs_pre_authorised_fallback(
    make_ctx: Callable[..., Context], clock: ManualClock, chat: ConsoleChat
) -> None:
    ctx = make_ctx(PolicyExecutor(clock))
    incident_id = new_incident(ctx, ack=True)
    gate_id = contain(ctx, incident_id, "disable_endpoint", {"endpoint": "/v1/refunds"})
    assert outcomes(fire_at(ctx, clock, 10, "gate")) == {str(gate_id): "escalated to tier 2"}
    assert outcomes(fire_at(ctx, clock, 20, "gate")) == {str(gate_id): "fallback"}
    outbox.deliver(ctx)
    [gate] = gates.list_gates(ctx, incident_id)
    assert (gate.state, gate.execution) == ("fallback", "manual_pending")
    with Session(ctx.engine) as s:
        [item] = s.exec(select(m.OutboxItem).where(m.OutboxItem.kind == "execute")).all()
    body = json.loads(item.body)
    assert body["action"] == "force_safety_filter"  # not the requested disable_endpoint
    assert body["params"]["values"] == {"level": "strict", "surface": "all"}
    channel = [t for line in chat.lines if (t := line.text) and "PRE-AUTHORISED" in t]
    assert channel and "disable_endpoint) did NOT run" in channel[0]
    assert fire_at(ctx, clock, 600, "gate") == []


def test_decided_gate_timer_does_not_fire(ctx: Context, clock: ManualClock) -> None:
    incident_id = new_incident(ctx, ack=True)
    gate_id = contain(ctx, incident_id, "advisory_only", {"surface": "app"})
    clock.advance(timedelta(minutes=9))
    gates.decide(ctx, gate_id, actor="alice", decision=Decision.APPROVE)
    assert fire_at(ctx, clock, 60, "gate") == []


def test_first_mitigation_breach_fires_once(
    ctx: Context, clock: ManualClock, chat: ConsoleChat
) -> None:
    incident_id = new_incident(ctx, ack=True)
    assert fire_at(ctx, clock, 29, "mitigation_sla") == []
    assert outcomes(fire_at(ctx, clock, 30, "mitigation_sla")) == {"first_mitigation": "breached"}
    # A severity change re-times the SLA timers; the breach must not be announced again.
    change_severity(ctx, incident_id, severity=Severity.SEV0, actor="alice")
    assert fire_at(ctx, clock, 31, "mitigation_sla") == []
    assert fire_at(ctx, clock, 6 * 60, "mitigation_sla") == []
    outbox.deliver(ctx)
    breaches = [t for t in chat.messages_to("DM @alice") if "First-mitigation SLA breached" in t]
    assert len(breaches) == 1


def test_containment_in_time_stops_the_mitigation_sla(ctx: Context, clock: ManualClock) -> None:
    incident_id = new_incident(ctx, ack=True)
    clock.advance(timedelta(minutes=20))
    change_status(ctx, incident_id, status=Status.CONTAINED, actor="alice")
    assert fire_at(ctx, clock, 60, "mitigation_sla") == []


def test_status_cadence_fires_and_restarts_after_an_update(
    ctx: Context, clock: ManualClock, chat: ConsoleChat
) -> None:
    incident_id = new_incident(ctx, ack=True)
    assert outcomes(fire_at(ctx, clock, 30, "status_cadence")) == {"status_update": "reminded"}
    assert fire_at(ctx, clock, 59, "status_cadence") == []
    assert len(fire_at(ctx, clock, 60, "status_cadence")) == 1
    clock.advance(timedelta(minutes=15))
    post_update(ctx, incident_id, actor="alice", text="Refund answers now go to a human")
    assert fire_at(ctx, clock, 90, "status_cadence") == []  # restarted at 09:75
    assert len(fire_at(ctx, clock, 105, "status_cadence")) == 1
    outbox.deliver(ctx)
    due = [t for t in chat.messages_to("DM @alice") if t.startswith("Status update due")]
    assert len(due) == 3


def test_missed_deadlines_fire_at_once_with_lateness(ctx: Context, clock: ManualClock) -> None:
    new_incident(ctx, Severity.SEV3)  # ack 4h, cadence 1d, no mitigation SLA
    clock.advance(timedelta(days=1, hours=1))  # the process was down
    fired = deadlines.fire_due(ctx)
    ack = [f for f in fired if f.kind == "ack"]
    # A whole chain that fell due while down: remind, page secondary, manager, unfilled.
    assert [f.outcome for f in ack if f.subject == "incident_commander"] == [
        "reminded alice",
        "paged bob",
        "paged mo",
        "unfilled",
    ]
    assert ack[0].lateness_seconds == timedelta(hours=21).total_seconds()
    cadence = [f for f in fired if f.kind == "status_cadence"]
    assert len(cadence) == 1  # one reminder for the missed update, not a burst
    assert deadlines.fire_due(ctx) == []
    with Session(ctx.engine) as s:
        rows = s.exec(select(m.Deadline).where(m.Deadline.state == "fired")).all()
        audits = s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "deadline.fired")).all()
    assert len(rows) == len(fired) == len(audits)
