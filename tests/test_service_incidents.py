"""Incident operations through the service layer, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.gates import Decision
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.errors import (
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotAuthorised,
    NotFound,
    UserError,
)
from commandpost.service import gates, outbox, review, roles
from commandpost.service.context import Context
from commandpost.service.incidents import (
    add_note,
    change_severity,
    change_status,
    close,
    get_incident,
    post_update,
    resolve,
)
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import audit_kinds, contain, counts, declare_incident, staff


def new_incident(
    ctx: Context,
    severity: Severity = Severity.SEV1,
    *,
    title: str = "Model gives dangerous medical advice",
    declared_by: str = "alice",
) -> str:
    return declare_incident(
        ctx,
        title,
        IncidentClass.HARMFUL_CONTENT,
        severity,
        declared_by=declared_by,
        model="chat-large",
        model_version="2026-02-28",
        surface="consumer-chat",
    )


def test_declare_numbers_records_policy_and_pages(ctx: Context, policy: Policy) -> None:
    first = new_incident(ctx)
    second = new_incident(ctx, Severity.SEV3, title="Drift in canary")
    assert (first, second) == ("INC-2026-0001", "INC-2026-0002")
    incident = get_incident(ctx, first)
    assert incident.policy_version == policy.version()
    assert incident.status == Status.DECLARED.value
    assert incident.channel == "inc-2026-0001-model-gives-dangerous-medical-advice"
    with Session(ctx.engine) as s:
        snapshot = s.get(m.PolicySnapshot, policy.version())
        assert snapshot is not None
        assert Policy.model_validate(json.loads(snapshot.body)).version() == policy.version()
        paged = {r.role: r.person_id for r in roles.active_assignments(s, first)}
        sev3 = {r.role for r in roles.active_assignments(s, second)}
    assert paged == {
        "incident_commander": "alice",
        "model_owner": "carol",
        "safety_lead": "erin",
        "comms": "grace",
    }
    assert sev3 == {"incident_commander", "model_owner"}
    assert audit_kinds(ctx, first)[:1] == ["incident.declared"]
    assert audit_kinds(ctx, first).count("role.paged") == 4


def test_year_rolls_the_number(ctx: Context, clock: ManualClock) -> None:
    new_incident(ctx)
    clock.advance(timedelta(days=365))
    assert new_incident(ctx) == "INC-2027-0001"


def test_channel_opens_only_through_outbox_delivery(ctx: Context, chat: ConsoleChat) -> None:
    incident_id = new_incident(ctx)
    assert chat.lines == []
    with Session(ctx.engine) as s:
        pending = list(s.exec(select(m.OutboxItem.kind).where(m.OutboxItem.state == "pending")))
    assert pending.count("open_channel") == 1
    assert pending.count("direct") == 4
    delivered = outbox.deliver(ctx)
    assert delivered == len(pending)
    channel = get_incident(ctx, incident_id).channel
    assert channel in chat.channels
    assert "INC-2026-0001 SEV1 harmful_content" in chat.channels[channel]
    assert any("New incident INC-2026-0001" in t for t in chat.messages_to("#incidents"))
    assert any("You are paged as incident_commander" in t for t in chat.messages_to("DM @alice"))
    assert chat.messages_to("DM @ivan") == []  # legal is paged at SEV0 only
    assert outbox.deliver(ctx) == 0


def test_ack_assign_and_handover(ctx: Context, chat: ConsoleChat, clock: ManualClock) -> None:
    incident_id = new_incident(ctx)
    clock.advance(timedelta(minutes=3))
    assert roles.acknowledge(ctx, incident_id, person_id="alice") == ["incident_commander"]
    with pytest.raises(Conflict, match="already acknowledged"):
        roles.acknowledge(ctx, incident_id, person_id="alice")
    with pytest.raises(NotAuthorised, match="not paged"):
        roles.acknowledge(ctx, incident_id, person_id="kai")
    assert get_incident(ctx, incident_id).acknowledged_at == clock.now()

    # Only the IC assigns; then the new holder acknowledges.
    with pytest.raises(NotAuthorised, match="only the incident commander"):
        roles.assign(ctx, incident_id, role=Role.SCRIBE, person_id="kai", actor="carol")
    roles.assign(ctx, incident_id, role=Role.SCRIBE, person_id="kai", actor="alice")
    assert roles.acknowledge(ctx, incident_id, person_id="kai") == ["scribe"]

    # The holder hands over; the old row ends, the new holder must acknowledge.
    roles.assign(
        ctx,
        incident_id,
        role=Role.INCIDENT_COMMANDER,
        person_id="bob",
        actor="alice",
        handover=True,
    )
    with Session(ctx.engine) as s:
        ic = roles.holder(s, incident_id, Role.INCIDENT_COMMANDER)
        ended = s.exec(
            select(m.RoleAssignment).where(
                m.RoleAssignment.incident_id == incident_id,
                m.RoleAssignment.person_id == "alice",
            )
        ).one()
    assert ic is not None and ic.person_id == "bob" and ic.acknowledged_at is None
    assert not ended.active and ended.ended_at == clock.now()
    with pytest.raises(Conflict, match="already holds"):
        roles.assign(ctx, incident_id, role=Role.INCIDENT_COMMANDER, person_id="bob", actor="bob")
    assert roles.acknowledge(ctx, incident_id, person_id="bob") == ["incident_commander"]
    kinds = audit_kinds(ctx, incident_id)
    assert kinds.count("role.acknowledged") == 3
    assert "role.assigned" in kinds and "role.handover" in kinds
    outbox.deliver(ctx)
    assert any(
        "handed incident_commander to Bob Okafor" in t
        for t in chat.messages_to("#" + get_incident(ctx, incident_id).channel)
    )


def test_status_changes_legal_and_illegal(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    change_status(ctx, incident_id, status=Status.INVESTIGATING, actor="alice", note="repro'd")
    before = counts(ctx)
    with pytest.raises(InvalidTransition) as refused:
        change_status(ctx, incident_id, status=Status.MONITORING, actor="alice")
    message = str(refused.value)
    assert "investigating" in message and "monitoring" in message
    assert "contained, resolved" in message  # names the allowed next statuses
    with pytest.raises(InvalidTransition, match="already investigating"):
        change_status(ctx, incident_id, status=Status.INVESTIGATING, actor="alice")
    with pytest.raises(InvalidInput, match="use `resolve`"):
        change_status(ctx, incident_id, status=Status.RESOLVED, actor="alice")
    with pytest.raises(NotAuthorised):
        change_status(ctx, incident_id, status=Status.CONTAINED, actor="kai")
    assert counts(ctx) == before
    change_status(ctx, incident_id, status=Status.CONTAINED, actor="alice")
    incident = get_incident(ctx, incident_id)
    assert incident.status == "contained" and incident.contained_at is not None
    assert audit_kinds(ctx, incident_id).count("status.changed") == 2


def test_severity_upgrade_applies_and_pages(ctx: Context) -> None:
    incident_id = new_incident(ctx, Severity.SEV2)
    assert change_severity(ctx, incident_id, severity=Severity.SEV0, actor="alice") is None
    assert get_incident(ctx, incident_id).severity == "SEV0"
    with Session(ctx.engine) as s:
        held = {r.role for r in roles.active_assignments(s, incident_id)}
    assert {"comms", "legal"} <= held
    with pytest.raises(Conflict, match="already SEV0"):
        change_severity(ctx, incident_id, severity=Severity.SEV0, actor="alice")


def test_sev1_downgrade_opens_a_gate_instead_of_applying(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    staff(ctx, incident_id)
    with pytest.raises(InvalidInput, match="reason"):
        change_severity(ctx, incident_id, severity=Severity.SEV3, actor="alice")
    gate_id = change_severity(
        ctx, incident_id, severity=Severity.SEV3, actor="alice", reason="only in staging"
    )
    assert gate_id is not None
    assert get_incident(ctx, incident_id).severity == "SEV1"
    [gate] = gates.list_gates(ctx, incident_id)
    assert (gate.kind, gate.rule, gate.subject, gate.state) == (
        "severity_downgrade",
        "severity_downgrade",
        "SEV3",
        "pending",
    )
    assert json.loads(gate.payload) == {"from": "SEV1", "to": "SEV3"}
    # The IC cannot decide it: only safety_lead or duty_director.
    with pytest.raises(NotAuthorised):
        gates.decide(ctx, gate_id, actor="alice", decision=Decision.APPROVE)
    gates.decide(ctx, gate_id, actor="erin", decision=Decision.APPROVE)
    incident = get_incident(ctx, incident_id)
    assert incident.severity == "SEV3"
    assert gates.list_gates(ctx, incident_id)[0].execution == "executed"


def test_sev2_downgrade_applies_at_once(ctx: Context) -> None:
    incident_id = new_incident(ctx, Severity.SEV2)
    result = change_severity(
        ctx, incident_id, severity=Severity.SEV3, actor="alice", reason="canary only"
    )
    assert result is None
    assert get_incident(ctx, incident_id).severity == "SEV3"
    assert gates.list_gates(ctx, incident_id) == []


def test_notes_evidence_and_updates(ctx: Context, chat: ConsoleChat) -> None:
    incident_id = new_incident(ctx)
    add_note(ctx, incident_id, actor="carol", text="  rolled canary back  ")
    add_note(ctx, incident_id, actor="erin", text="https://trace/123", evidence=True)
    post_update(ctx, incident_id, actor="alice", text="Mitigation under way")
    kinds = audit_kinds(ctx, incident_id)
    assert kinds[-3:] == ["note.added", "evidence.added", "status.update"]
    before = counts(ctx)
    with pytest.raises(InvalidInput, match="note needs text"):
        add_note(ctx, incident_id, actor="carol", text="   ")
    with pytest.raises(InvalidInput, match="evidence"):
        add_note(ctx, incident_id, actor="carol", text="", evidence=True)
    with pytest.raises(NotAuthorised, match="unknown person"):
        add_note(ctx, incident_id, actor="mallory", text="hi")
    with pytest.raises(NotAuthorised):
        post_update(ctx, incident_id, actor="kai", text="not mine to post")
    assert counts(ctx) == before
    outbox.deliver(ctx)
    channel = "#" + get_incident(ctx, incident_id).channel
    assert "Note from carol: rolled canary back" in chat.messages_to(channel)
    assert "Evidence from erin: https://trace/123" in chat.messages_to(channel)


def test_resolve_refused_while_gates_pending_then_close(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    gate_id = contain(
        ctx, incident_id, "force_safety_filter", {"level": "strict", "surface": "consumer-chat"}
    )
    staff(ctx, incident_id)
    before = counts(ctx)
    with pytest.raises(Conflict, match=f"#{gate_id}"):
        resolve(ctx, incident_id, actor="alice", summary="filter on")
    with pytest.raises(NotAuthorised, match="incident_commander"):
        resolve(ctx, incident_id, actor="carol", summary="filter on")
    with pytest.raises(InvalidTransition):
        close(ctx, incident_id, actor="alice")
    assert counts(ctx) == before
    gates.decide(ctx, gate_id, actor="alice", decision=Decision.REJECT, reason="too broad")
    resolve(ctx, incident_id, actor="alice", summary="false alarm")
    incident = get_incident(ctx, incident_id)
    assert incident.status == "resolved" and incident.resolution == "false alarm"
    with Session(ctx.engine) as s:
        pending = s.exec(
            select(func.count()).select_from(m.Deadline).where(m.Deadline.state == "pending")
        ).one()
    assert pending == 0  # resolving stops every timer
    review.mark_done(ctx, incident_id, actor="alice")  # closed means the review is done
    close(ctx, incident_id, actor="alice")
    assert get_incident(ctx, incident_id).status == "closed"
    with pytest.raises(InvalidTransition, match="no further status change"):
        change_status(ctx, incident_id, status=Status.INVESTIGATING, actor="alice")
    assert audit_kinds(ctx, incident_id)[-4:] == [
        "incident.resolved",
        "review.opened",
        "review.done",
        "incident.closed",
    ]


@pytest.mark.parametrize(
    ("title", "declared_by", "error"),
    [("   ", "alice", InvalidInput), ("Leak", "mallory", NotAuthorised)],
)
def test_bad_declaration_writes_nothing(
    ctx: Context, title: str, declared_by: str, error: type[UserError]
) -> None:
    before = counts(ctx)
    with pytest.raises(error):
        new_incident(ctx, title=title, declared_by=declared_by)
    assert counts(ctx) == before


@pytest.mark.parametrize("bad_id", ["INC-26-1", "42", "INC-2026-", "DROP TABLE incidents"])
def test_bad_incident_id_is_invalid_input(ctx: Context, bad_id: str) -> None:
    new_incident(ctx)
    before = counts(ctx)
    with pytest.raises(InvalidInput, match="ids look like INC-2026-0042"):
        add_note(ctx, bad_id, actor="alice", text="x")
    with pytest.raises(InvalidInput):
        roles.acknowledge(ctx, bad_id, person_id="alice")
    assert counts(ctx) == before


def test_unknown_incident_and_people_write_nothing(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    assert get_incident(ctx, incident_id.lower()).id == incident_id  # ids are normalised
    before = counts(ctx)
    with pytest.raises(NotFound, match="no incident INC-2026-0999"):
        change_status(ctx, "INC-2026-0999", status=Status.INVESTIGATING, actor="alice")
    with pytest.raises(NotAuthorised, match="unknown person"):
        roles.assign(ctx, incident_id, role=Role.SCRIBE, person_id="mallory", actor="alice")
    with pytest.raises(NotAuthorised, match="unknown person"):
        roles.acknowledge(ctx, incident_id, person_id="mallory")
    with pytest.raises(InvalidInput, match="update needs text"):
        post_update(ctx, incident_id, actor="alice", text=" ")
    with pytest.raises(InvalidInput, match="summary"):
        resolve(ctx, incident_id, actor="alice", summary="")
    assert counts(ctx) == before
    for error in (InvalidInput, NotAuthorised, NotFound, Conflict, InvalidTransition):
        assert issubclass(error, UserError)


def test_downgrade_gate_goes_stale_when_the_severity_moves(ctx: Context) -> None:
    incident_id = new_incident(ctx)
    gate_id = change_severity(
        ctx, incident_id, severity=Severity.SEV3, actor="alice", reason="looks narrow"
    )
    assert gate_id is not None
    change_severity(ctx, incident_id, severity=Severity.SEV0, actor="alice")  # it got worse
    staff(ctx, incident_id, "erin")  # the safety lead could decide, but not this stale gate
    before = counts(ctx)
    with pytest.raises(Conflict, match="now SEV0"):
        gates.decide(ctx, gate_id, actor="erin", decision=Decision.APPROVE)
    assert counts(ctx) == before
    assert get_incident(ctx, incident_id).severity == "SEV0"
    gates.decide(ctx, gate_id, actor="erin", decision=Decision.REJECT, reason="stale")
