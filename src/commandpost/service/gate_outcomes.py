"""What happens to a gate after a decision or a deadline: move tiers, queue the execution,
run the pre-authorised fallback on silence, mark the incident contained."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from commandpost.core import gates as rules
from commandpost.core.deadlines import DeadlineKind, gate_due
from commandpost.core.effects import ExecuteAction
from commandpost.core.gates import GateKind, GateState
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import Status
from commandpost.service import timers
from commandpost.service.context import Context, audit, direct, enqueue, post
from commandpost.service.gate_rows import action_spec, describe, gate_view, ic_holder
from commandpost.storage import models as m


def queue_execution(
    session: Session, ctx: Context, incident: m.Incident, gate: m.Gate, payload: dict[str, Any]
) -> None:
    assert gate.id is not None
    gate.execution = "queued"
    session.add(gate)
    enqueue(
        session,
        ctx,
        ExecuteAction(
            gate_id=gate.id,
            incident_id=incident.id,
            action=payload["action"],
            params={"values": payload["params"], "mode": payload.get("mode", "contain")},
        ),
    )


def move_tier(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    gate: m.Gate,
    policy: Policy,
    *,
    tier: int,
    why: str,
) -> None:
    assert gate.id is not None
    rule = policy.gates[gate.rule]
    now = ctx.now()
    gate.tier = tier
    gate.tier_started_at = now
    session.add(gate)
    timers.cancel(session, incident.id, kind=DeadlineKind.GATE, subject=str(gate.id))
    due_at = rules.tier_deadline(rule, tier=tier, start=now)
    timers.schedule(session, incident.id, gate_due(gate_id=gate.id, tier=tier, due_at=due_at))
    audit(
        session,
        ctx,
        incident,
        actor="commandpost",
        kind="gate.tier",
        gate=gate.id,
        tier=tier + 1,
        why=why,
    )
    roles = rule.tiers[tier].roles
    post(
        session,
        ctx,
        incident,
        f"Gate #{gate.id} ({gate.subject}) escalated to tier {tier + 1} "
        f"({why}): now {', '.join(roles)} may decide, by {due_at:%H:%M}Z.",
    )
    for group in roles:
        for person in policy.groups.get(group, []):
            direct(
                session,
                ctx,
                incident,
                person,
                f"Decision needed on gate #{gate.id} in {incident.id}: {gate.subject}.",
            )


def on_silence(session: Session, ctx: Context, incident: m.Incident, gate: m.Gate) -> str:
    """A gate's decision deadline passed: escalate, expire, or run the pre-authorised fallback."""
    policy = ctx.policy_for(incident)
    outcome = rules.on_silence(gate_view(session, policy, gate))
    if outcome.state is GateState.PENDING:
        move_tier(
            session,
            ctx,
            incident,
            gate,
            policy,
            tier=outcome.tier,
            why="no decision by the deadline",
        )
        return f"escalated to tier {outcome.tier + 1}"
    gate.state = outcome.state.value
    gate.decided_at = ctx.now()
    session.add(gate)
    ic = ic_holder(session, incident)
    if outcome.state is GateState.EXPIRED:
        audit(
            session,
            ctx,
            incident,
            actor="commandpost",
            kind="gate.expired",
            gate=gate.id,
            tier=gate.tier + 1,
        )
        text = (
            f"Gate #{gate.id} ({gate.subject}) EXPIRED with no decision; the action did "
            "not run. Silence never approves: request it again if it is still needed."
        )
        post(session, ctx, incident, text)
        for person in {gate.requester, ic} - {None}:
            assert person is not None
            direct(session, ctx, incident, person, text)
        return "expired"
    fallback = policy.gates[gate.rule].fallback
    assert fallback is not None
    spec = action_spec(policy, fallback.action)
    payload = {
        "action": fallback.action,
        "params": dict(fallback.params),
        "reversible": spec.reversible,
        "executor": spec.executor.type,
        "mode": "contain",
        "fallback_for": gate.id,
    }
    audit(
        session,
        ctx,
        incident,
        actor="commandpost",
        kind="gate.fallback",
        gate=gate.id,
        fallback=payload,
    )
    text = (
        f":rotating_light: Gate #{gate.id} ({gate.subject}) got NO decision from any tier. "
        f"Running the policy's PRE-AUTHORISED fallback instead: {describe(payload)}. "
        f"The requested action ({gate.subject}) did NOT run."
    )
    post(session, ctx, incident, text)
    for person in {gate.requester, ic} - {None}:
        assert person is not None
        direct(session, ctx, incident, person, text)
    queue_execution(session, ctx, incident, gate, payload)
    return "fallback"


def mark_contained(
    session: Session, ctx: Context, incident: m.Incident, gate: m.Gate, *, actor: str
) -> None:
    """The first executed containment action contains the incident (if it was still open)."""
    from commandpost.service.incidents import apply_status

    if gate.kind != GateKind.CONTAINMENT.value:
        return
    ran = gate.subject
    fallback = ctx.policy_for(incident).gates[gate.rule].fallback
    if gate.state == GateState.FALLBACK.value and fallback is not None:
        ran = f"{fallback.action} (pre-authorised fallback for {gate.subject})"
    if incident.status in (Status.DECLARED.value, Status.INVESTIGATING.value):
        apply_status(
            session,
            ctx,
            incident,
            status=Status.CONTAINED,
            actor=actor,
            note=f"containment action {ran} executed (gate #{gate.id})",
        )
