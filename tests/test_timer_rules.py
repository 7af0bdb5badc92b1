"""What starts, re-times and stops timers: reassignment, handover, severity, resolve; who hears
about an unfilled role or a breached SLA. On a ManualClock: no sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.vocabulary import IncidentClass, Role, Severity
from commandpost.service import deadlines, outbox, roles
from commandpost.service.context import Context
from commandpost.service.deadlines import Fired
from commandpost.service.incidents import change_severity, post_update, resolve
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import START, audit_kinds, declare_incident

MIN = timedelta(minutes=1)


def incident(ctx: Context, severity: Severity = Severity.SEV1) -> str:
    return declare_incident(
        ctx, "Agent refunds orders", IncidentClass.UNAUTHORIZED_TOOL_USE, severity
    )


def pending(ctx: Context, kind: str | None = None) -> list[tuple[str, str, int, datetime]]:
    with Session(ctx.engine) as s:
        query = select(m.Deadline).where(m.Deadline.state == "pending")
        if kind is not None:
            query = query.where(m.Deadline.kind == kind)
        return sorted((r.kind, r.subject, r.step, r.due_at) for r in s.exec(query))


def fire(ctx: Context, clock: ManualClock, minutes: float) -> list[Fired]:
    clock.set(START + timedelta(minutes=minutes))
    return deadlines.fire_due(ctx)


def test_reassignment_and_handover_replace_the_ack_chain(ctx: Context, clock: ManualClock) -> None:
    incident_id = incident(ctx)
    roles.acknowledge(ctx, incident_id, person_id="alice")
    clock.advance(5 * MIN)
    roles.assign(ctx, incident_id, role=Role.COMMS, person_id="kai", actor="alice")
    comms = [d for d in pending(ctx, "ack") if d[1] == "comms"]
    assert comms == [("ack", "comms", 0, START + 15 * MIN)]  # grace's chain is gone
    fired = [f for f in fire(ctx, clock, 15) if f.subject == "comms"]
    assert [f.outcome for f in fired] == ["reminded kai"]
    clock.advance(MIN)
    roles.acknowledge(ctx, incident_id, person_id="kai")
    assert [d for d in pending(ctx, "ack") if d[1] == "comms"] == []
    roles.assign(ctx, incident_id, role=Role.COMMS, person_id="lena", actor="kai", handover=True)
    assert [d[2:] for d in pending(ctx, "ack") if d[1] == "comms"] == [(0, START + 26 * MIN)]
    roles.acknowledge(ctx, incident_id, person_id="lena")
    assert [d for d in pending(ctx, "ack") if d[1] == "comms"] == []


def test_severity_change_re_times_cadence_and_mitigation(ctx: Context, clock: ManualClock) -> None:
    incident_id = incident(ctx)  # SEV1: mitigation 30 min, cadence 30 min
    roles.acknowledge(ctx, incident_id, person_id="alice")
    assert pending(ctx, "status_cadence")[0][3] == START + 30 * MIN
    clock.advance(5 * MIN)
    change_severity(ctx, incident_id, severity=Severity.SEV0, actor="alice")
    assert [d[3] for d in pending(ctx, "status_cadence")] == [START + 15 * MIN]
    assert [d[3] for d in pending(ctx, "mitigation_sla")] == [START + 15 * MIN]
    kinds = {f.kind: f.outcome for f in fire(ctx, clock, 15) if f.kind != "ack"}
    assert kinds == {"status_cadence": "reminded", "mitigation_sla": "breached"}
    assert [d[3] for d in pending(ctx, "status_cadence")] == [START + 30 * MIN]  # 15 from now


def test_downgrade_to_a_slower_cadence(ctx: Context, clock: ManualClock) -> None:
    incident_id = incident(ctx, Severity.SEV2)  # cadence 2 h; no gate below SEV1
    roles.acknowledge(ctx, incident_id, person_id="alice")
    clock.advance(10 * MIN)
    post_update(ctx, incident_id, actor="alice", text="Tool disabled for one tenant")
    change_severity(ctx, incident_id, severity=Severity.SEV3, actor="alice", reason="one tenant")
    assert [d[3] for d in pending(ctx, "status_cadence")] == [START + 10 * MIN + timedelta(days=1)]
    assert pending(ctx, "mitigation_sla") == []  # SEV3 has no first-mitigation SLA
    assert [f for f in fire(ctx, clock, 23 * 60) if f.kind == "status_cadence"] == []


def test_resolve_stops_every_timer(ctx: Context, clock: ManualClock) -> None:
    incident_id = incident(ctx)
    roles.acknowledge(ctx, incident_id, person_id="alice")
    before = len(pending(ctx))
    assert before == 5  # three unacknowledged roles, mitigation SLA, cadence
    clock.advance(3 * MIN)
    resolve(ctx, incident_id, actor="alice", summary="tool disabled, refunds reversed")
    assert pending(ctx) == []
    assert fire(ctx, clock, 7 * 24 * 60) == []
    with Session(ctx.engine) as s:
        event = s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "incident.resolved")).one()
    assert '"timers_stopped":5' in event.data


def test_unfilled_role_is_flagged_to_the_ic(
    ctx: Context, clock: ManualClock, chat: ConsoleChat
) -> None:
    incident_id = incident(ctx)
    roles.acknowledge(ctx, incident_id, person_id="alice")  # the IC is staffed
    outcomes = [f.outcome for f in fire(ctx, clock, 40) if f.subject == "comms"]
    assert outcomes == ["reminded grace", "paged hana", "paged lena", "unfilled"]
    outbox.deliver(ctx)
    to_ic = [t for t in chat.messages_to("DM @alice") if "UNFILLED" in t]
    assert len(to_ic) == 3 and any(t.startswith(":warning: comms is UNFILLED") for t in to_ic)
    assert [t for t in chat.messages_to("#incidents") if "UNFILLED" in t] == []
    assert audit_kinds(ctx, incident_id).count("role.unfilled") == 3
    with Session(ctx.engine) as s:
        row = roles.holder(s, incident_id, Role.COMMS)
    assert row is not None and row.unfilled  # the summary card shows it


def test_unfilled_ic_goes_to_announcements(
    ctx: Context, clock: ManualClock, chat: ConsoleChat
) -> None:
    incident_id = incident(ctx)
    for person in ("carol", "erin", "grace"):
        roles.acknowledge(ctx, incident_id, person_id=person)
    assert {f.outcome for f in fire(ctx, clock, 40) if f.kind == "ack"} >= {"unfilled"}
    outbox.deliver(ctx)
    [flag] = [t for t in chat.messages_to("#incidents") if "UNFILLED" in t]
    assert "incident_commander is UNFILLED" in flag


def test_mitigation_breach_tells_the_ic_and_the_escalation_channel(
    ctx: Context, clock: ManualClock, chat: ConsoleChat
) -> None:
    incident_id = incident(ctx)
    roles.acknowledge(ctx, incident_id, person_id="alice")
    assert [f.outcome for f in fire(ctx, clock, 31) if f.kind == "mitigation_sla"] == ["breached"]
    outbox.deliver(ctx)
    for where in ("DM @alice", "#incidents"):
        [text] = [t for t in chat.messages_to(where) if "First-mitigation SLA breached" in t]
        assert incident_id in text and "declared 31m ago" in text
