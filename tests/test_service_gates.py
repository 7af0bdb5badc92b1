"""Gates through the service layer: who may decide, how often, and what gets recorded."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.audit import canonical_json
from commandpost.core.gates import Decision, GateState
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Role
from commandpost.errors import Conflict, InvalidInput, NotAuthorised, NotFound
from commandpost.service import audit_log, gates, outbox, roles
from commandpost.service.context import Context
from commandpost.service.incidents import get_incident
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import ROLLBACK, RecordingExecutor, contain, counts, declare_incident, gate_row, staff

TABLES = ("gates", "gate_decisions", "deadlines", "outbox", "audit_events")


@pytest.fixture
def executor() -> RecordingExecutor:
    return RecordingExecutor()


@pytest.fixture
def gctx(make_ctx: Callable[..., Context], executor: RecordingExecutor) -> Context:
    return make_ctx(executor)


def declare_leak(ctx: Context) -> str:
    """A SEV1 data leak: alice, carol, erin and grace are paged, nobody has acknowledged."""
    return declare_incident(ctx, "Assistant leaks other users' chats", IncidentClass.DATA_LEAKAGE)


@pytest.fixture
def incident_id(gctx: Context) -> str:
    """The leak, staffed: every paged responder has acknowledged, so their roles may decide."""
    incident_id = declare_leak(gctx)
    staff(gctx, incident_id)
    return incident_id


def events(ctx: Context, kind_prefix: str = "") -> list[m.AuditEvent]:
    with Session(ctx.engine) as s:
        rows = s.exec(select(m.AuditEvent).order_by(col(m.AuditEvent.seq)))
        return [r for r in rows if r.kind.startswith(kind_prefix)]


def test_request_opens_a_pending_gate_with_deadline(gctx: Context, incident_id: str) -> None:
    gate_id = contain(gctx, incident_id)
    gate = gate_row(gctx, gate_id)
    payload = json.loads(gate.payload)
    assert (gate.state, gate.tier, gate.rule, gate.requester) == (
        "pending",
        0,
        "containment",
        "carol",
    )
    assert payload == {
        "action": "rollback_model",
        "params": ROLLBACK,
        "reversible": True,
        "executor": "webhook",
        "mode": "contain",
    }
    assert gate.payload_hash == hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    with Session(gctx.engine) as s:
        deadline = s.exec(
            select(m.Deadline).where(m.Deadline.kind == "gate", m.Deadline.subject == str(gate_id))
        ).one()
    assert deadline.due_at == gate.created_at + timedelta(minutes=10)
    [requested] = events(gctx, "gate.requested")
    assert json.loads(requested.data)["payload_hash"] == gate.payload_hash


def test_request_refuses_bad_input_and_writes_nothing(gctx: Context, incident_id: str) -> None:
    before = counts(gctx, TABLES)
    with pytest.raises(InvalidInput, match="unknown action 'nuke'"):
        contain(gctx, incident_id, action="nuke")
    with pytest.raises(InvalidInput, match="needs to_version"):
        contain(gctx, incident_id, params={"model": "chat-large"})
    with pytest.raises(InvalidInput, match="must be one of"):
        contain(gctx, incident_id, "force_safety_filter", params={"level": "max", "surface": "x"})
    with pytest.raises(NotAuthorised):
        contain(gctx, incident_id, requester="kai")  # holds no role in this incident
    assert counts(gctx, TABLES) == before


def test_single_approval_executes_exactly_once(
    gctx: Context, incident_id: str, executor: RecordingExecutor, chat: ConsoleChat
) -> None:
    gate_id = contain(gctx, incident_id)
    assert gates.decide(gctx, gate_id, actor="alice", decision=Decision.APPROVE) is (
        GateState.APPROVED
    )
    assert executor.calls == []  # execution waits for the commit, then the outbox runs it
    outbox.deliver(gctx)
    assert executor.calls == [
        {"name": "rollback_model", "params": ROLLBACK, "mode": "contain", "gate": gate_id,
         "inc": incident_id}
    ]  # fmt: skip
    gate = gate_row(gctx, gate_id)
    assert (gate.state, gate.execution) == ("approved", "executed")
    incident = get_incident(gctx, incident_id)
    assert incident.status == "contained" and incident.contained_at is not None

    before = counts(gctx, TABLES)
    for actor in ("alice", "erin", "mo"):
        with pytest.raises(Conflict, match="already approved"):
            gates.decide(gctx, gate_id, actor=actor, decision=Decision.APPROVE)
    outbox.deliver(gctx)
    assert len(executor.calls) == 1
    assert counts(gctx, TABLES) == before
    assert any(f"Gate #{gate_id} approved by alice" in line.text for line in chat.lines)


def test_requester_never_approves_own_request(gctx: Context, incident_id: str) -> None:
    gate_id = contain(gctx, incident_id, requester="alice")
    before = counts(gctx, TABLES)
    with pytest.raises(NotAuthorised, match="someone else must approve"):
        gates.decide(gctx, gate_id, actor="alice", decision=Decision.APPROVE)
    assert counts(gctx, TABLES) == before
    assert gate_row(gctx, gate_id).state == "pending"


def test_roles_not_allowed_at_the_tier_are_refused(gctx: Context, incident_id: str) -> None:
    gate_id = contain(gctx, incident_id, requester="erin")
    before = counts(gctx, TABLES)
    with pytest.raises(NotAuthorised, match="only incident_commander, safety_lead"):
        gates.decide(gctx, gate_id, actor="grace", decision=Decision.APPROVE)  # comms
    with pytest.raises(NotAuthorised):
        gates.decide(gctx, gate_id, actor="mo", decision=Decision.APPROVE)  # tier 2 only
    with pytest.raises(NotAuthorised, match="unknown person"):
        gates.decide(gctx, gate_id, actor="mallory", decision=Decision.APPROVE)
    with pytest.raises(NotFound):
        gates.decide(gctx, 9999, actor="alice", decision=Decision.APPROVE)
    assert counts(gctx, TABLES) == before


def test_dual_approval_needs_two_people_in_two_roles(
    gctx: Context, incident_id: str, executor: RecordingExecutor
) -> None:
    gate_id = contain(gctx, incident_id, "disable_tool", params={"tool": "web_browse"})
    assert gate_row(gctx, gate_id).rule == "containment_dual"
    assert gates.decide(gctx, gate_id, actor="alice", decision=Decision.APPROVE) is (
        GateState.PENDING
    )
    before = counts(gctx, TABLES)
    with pytest.raises(Conflict, match="second, different person"):
        gates.decide(gctx, gate_id, actor="alice", decision=Decision.APPROVE)
    assert counts(gctx, TABLES) == before
    assert gates.decide(gctx, gate_id, actor="erin", decision=Decision.APPROVE) is (
        GateState.APPROVED
    )
    outbox.deliver(gctx)
    assert [c["name"] for c in executor.calls] == ["disable_tool"]
    assert gate_row(gctx, gate_id).execution == "executed"
    with Session(gctx.engine) as s:
        rows = list(s.exec(select(m.GateDecision).where(m.GateDecision.gate_id == gate_id)))
    assert [(r.person_id, r.role) for r in rows] == [
        ("alice", "incident_commander"),
        ("erin", "safety_lead"),
    ]


def test_manual_action_waits_for_confirmation(gctx: Context, incident_id: str) -> None:
    gate_id = contain(gctx, incident_id, "advisory_only", params={"surface": "api"})
    gates.decide(gctx, gate_id, actor="erin", decision=Decision.APPROVE)
    # The recording executor answers "done" for everything; use the policy's own executor.
    from commandpost.executors import PolicyExecutor

    gctx.executor = PolicyExecutor(gctx.clock)
    outbox.deliver(gctx)
    assert gate_row(gctx, gate_id).execution == "manual_pending"
    assert get_incident(gctx, incident_id).status == "declared"
    with pytest.raises(NotAuthorised):
        gates.confirm_manual(gctx, gate_id, actor="kai")
    gates.confirm_manual(gctx, gate_id, actor="carol", note="done in console")
    assert gate_row(gctx, gate_id).execution == "executed"
    assert get_incident(gctx, incident_id).status == "contained"
    with pytest.raises(Conflict, match="no manual step waiting"):
        gates.confirm_manual(gctx, gate_id, actor="carol")


def test_reject_needs_a_reason_and_tells_the_requester(
    gctx: Context, incident_id: str, executor: RecordingExecutor, chat: ConsoleChat
) -> None:
    gate_id = contain(gctx, incident_id)
    before = counts(gctx, TABLES)
    for reason in (None, "   "):
        with pytest.raises(InvalidInput, match="rejection needs a reason"):
            gates.decide(gctx, gate_id, actor="alice", decision=Decision.REJECT, reason=reason)
    assert counts(gctx, TABLES) == before
    state = gates.decide(
        gctx, gate_id, actor="alice", decision=Decision.REJECT, reason="wrong version"
    )
    assert state is GateState.REJECTED
    with pytest.raises(Conflict, match="already rejected"):
        gates.decide(gctx, gate_id, actor="erin", decision=Decision.APPROVE)
    outbox.deliver(gctx)
    assert executor.calls == []
    assert any("was rejected by alice: wrong version" in t for t in chat.messages_to("DM @carol"))
    with Session(gctx.engine) as s:
        pending = s.exec(
            select(m.Deadline).where(m.Deadline.kind == "gate", m.Deadline.state == "pending")
        ).all()
    assert pending == []


def test_escalate_moves_to_the_next_tier(
    gctx: Context, incident_id: str, clock: ManualClock, chat: ConsoleChat
) -> None:
    gate_id = contain(gctx, incident_id)
    clock.advance(timedelta(minutes=4))
    gates.decide(gctx, gate_id, actor="erin", decision=Decision.ESCALATE)
    gate = gate_row(gctx, gate_id)
    assert (gate.state, gate.tier, gate.tier_started_at) == ("pending", 1, clock.now())
    with Session(gctx.engine) as s:
        timers = list(
            s.exec(select(m.Deadline).where(m.Deadline.kind == "gate").order_by(col(m.Deadline.id)))
        )
    assert [(t.step, t.state) for t in timers] == [(0, "cancelled"), (1, "pending")]
    assert timers[1].due_at == clock.now() + timedelta(minutes=15)
    # The first tier's roles no longer decide; the duty director does.
    with pytest.raises(NotAuthorised):
        gates.decide(gctx, gate_id, actor="alice", decision=Decision.APPROVE)
    with pytest.raises(Conflict, match="last tier"):
        gates.decide(gctx, gate_id, actor="mo", decision=Decision.ESCALATE)
    assert gates.decide(gctx, gate_id, actor="lena", decision=Decision.APPROVE) is (
        GateState.APPROVED
    )
    outbox.deliver(gctx)
    assert "Decision needed on gate" in " ".join(chat.messages_to("DM @mo"))


def test_stale_view_is_refused(gctx: Context, incident_id: str) -> None:
    gate_id = contain(gctx, incident_id)
    with pytest.raises(Conflict, match="changed after you saw it"):
        gates.decide(gctx, gate_id, actor="alice", decision=Decision.APPROVE, seen_hash="0" * 64)
    seen = gate_row(gctx, gate_id).payload_hash
    gates.decide(gctx, gate_id, actor="alice", decision=Decision.APPROVE, seen_hash=seen)


def test_decision_rows_record_who_when_hash_and_policy(
    gctx: Context, incident_id: str, clock: ManualClock, policy: Policy
) -> None:
    first = contain(gctx, incident_id, "disable_tool", params={"tool": "shell"})
    clock.advance(timedelta(minutes=2))
    gates.decide(gctx, first, actor="alice", decision=Decision.APPROVE)
    clock.advance(timedelta(minutes=1))
    gates.decide(gctx, first, actor="carol", decision=Decision.REJECT, reason="tool is needed")
    expected_hash = gate_row(gctx, first).payload_hash
    with Session(gctx.engine) as s:
        rows = list(s.exec(select(m.GateDecision).order_by(col(m.GateDecision.id))))
    start = clock.now() - timedelta(minutes=3)
    assert [(r.person_id, r.role, r.decision, r.at, r.reason) for r in rows] == [
        ("alice", "incident_commander", "approve", start + timedelta(minutes=2), None),
        ("carol", "model_owner", "reject", start + timedelta(minutes=3), "tool is needed"),
    ]
    for row in rows:
        assert row.payload_hash == expected_hash
        assert row.policy_version == policy.version()
        assert row.tier == 0


def test_audit_events_per_operation(gctx: Context, incident_id: str) -> None:
    gate_id = contain(gctx, incident_id)
    gates.decide(gctx, gate_id, actor="erin", decision=Decision.ESCALATE)
    gates.decide(gctx, gate_id, actor="mo", decision=Decision.APPROVE)
    outbox.deliver(gctx)
    kinds = [e.kind for e in events(gctx) if e.kind.startswith(("gate.", "action.", "status."))]
    assert kinds == [
        "gate.requested",
        "gate.escalate",
        "gate.tier",
        "gate.approve",
        "action.executed",
        "status.changed",
    ]
    approve = json.loads(events(gctx, "gate.approve")[0].data)
    assert approve["role"] == "duty_director" and approve["tier"] == 2
    assert approve["payload_hash"] == gate_row(gctx, gate_id).payload_hash
    for event in events(gctx):
        assert event.incident_id == incident_id
        assert event.policy_version == get_incident(gctx, incident_id).policy_version
    report = audit_log.verify(gctx)
    assert report.ok and report.count == len(events(gctx))


def test_restore_is_a_dual_gate_on_an_executed_action(
    gctx: Context, incident_id: str, executor: RecordingExecutor
) -> None:
    gate_id = contain(gctx, incident_id)
    with pytest.raises(Conflict, match="not an executed containment"):
        gates.request_restore(gctx, incident_id, gate_id=gate_id, requester="carol")
    gates.decide(gctx, gate_id, actor="alice", decision=Decision.APPROVE)
    outbox.deliver(gctx)
    restore = gates.request_restore(gctx, incident_id, gate_id=gate_id, requester="carol")
    payload = json.loads(gate_row(gctx, restore).payload)
    assert payload["mode"] == "restore" and payload["restores_gate"] == gate_id
    assert payload["recovery_checks"][0] == "eval suite green on the restored version"
    gates.decide(gctx, restore, actor="alice", decision=Decision.APPROVE)
    gates.decide(gctx, restore, actor="erin", decision=Decision.APPROVE)
    outbox.deliver(gctx)
    assert [c["mode"] for c in executor.calls] == ["contain", "restore"]


def test_a_paged_safety_lead_decides_only_after_acknowledging(gctx: Context) -> None:
    incident_id = declare_leak(gctx)  # erin is paged as safety_lead and has not acknowledged
    gate_id = contain(gctx, incident_id)  # requesting needs no acknowledgement: carol is paged
    before = counts(gctx, TABLES)
    hint = "(you were paged as safety_lead: acknowledge first, then decide)"
    for decision, reason in ((Decision.APPROVE, None), (Decision.REJECT, "not yet")):
        with pytest.raises(NotAuthorised) as refused:
            gates.decide(gctx, gate_id, actor="erin", decision=decision, reason=reason)
        assert str(refused.value).endswith(hint)
    assert counts(gctx, TABLES) == before  # no decision row, no audit event, no timer moved
    with Session(gctx.engine) as s:
        assert s.exec(select(m.GateDecision).where(m.GateDecision.gate_id == gate_id)).all() == []
    assert gate_row(gctx, gate_id).state == "pending"

    assert roles.acknowledge(gctx, incident_id, person_id="erin") == ["safety_lead"]
    assert gates.decide(gctx, gate_id, actor="erin", decision=Decision.APPROVE) is (
        GateState.APPROVED
    )
    with Session(gctx.engine) as s:
        rows = list(s.exec(select(m.GateDecision).where(m.GateDecision.gate_id == gate_id)))
    assert [(r.person_id, r.role, r.decision) for r in rows] == [("erin", "safety_lead", "approve")]


def test_dual_pair_completes_by_swapping_the_first_approvers_role(
    make_ctx: Callable[..., Context], executor: RecordingExecutor
) -> None:
    """mo is IC and a duty director, lena only a duty director: mo must count as IC."""
    ctx = make_ctx(executor)
    incident_id = declare_leak(ctx)
    staff(ctx, incident_id)
    roles.assign(ctx, incident_id, role=Role.INCIDENT_COMMANDER, person_id="mo", actor="alice")
    roles.acknowledge(ctx, incident_id, person_id="mo")
    gate_id = contain(ctx, incident_id, "disable_tool", {"tool": "issue_refund"})
    gates.decide(ctx, gate_id, actor="erin", decision=Decision.ESCALATE)
    assert gates.decide(ctx, gate_id, actor="mo", decision=Decision.APPROVE) == GateState.PENDING
    assert gates.decide(ctx, gate_id, actor="lena", decision=Decision.APPROVE) == GateState.APPROVED
    with Session(ctx.engine) as s:
        query = select(m.AuditEvent).where(m.AuditEvent.kind == "gate.approve")
        approved = s.exec(query.order_by(col(m.AuditEvent.seq))).all()
    final = json.loads(approved[-1].data)
    assert final["counted_as"] == {"mo": "incident_commander", "lena": "duty_director"}
    outbox.deliver(ctx)
    assert executor.gate_ids == [gate_id]
