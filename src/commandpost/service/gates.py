"""Gate operations: request containment or restore, decide, confirm a manual step.

What follows a decision lives in `gate_outcomes`; loading and naming in `gate_rows`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from commandpost.core import gates as rules
from commandpost.core.deadlines import DeadlineKind, gate_due
from commandpost.core.gates import Decision, GateKind, GateState
from commandpost.core.vocabulary import Severity
from commandpost.errors import Conflict, NotAuthorised
from commandpost.service import timers
from commandpost.service.context import Context, audit, direct, load_incident, post
from commandpost.service.gate_outcomes import mark_contained, move_tier, queue_execution
from commandpost.service.gate_rows import (
    action_spec,
    describe,
    gate_view,
    load_gate,
    require_active,
)
from commandpost.service.params import coerce_params
from commandpost.service.roles import refusal_hint, roles_of
from commandpost.storage import models as m
from commandpost.storage.engine import transaction


def open_gate(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    *,
    kind: GateKind,
    subject: str,
    rule_name: str,
    payload: dict[str, Any],
    requester: str,
    reason: str | None,
) -> m.Gate:
    policy = ctx.policy_for(incident)
    rule = policy.gates[rule_name]
    now = ctx.now()
    gate = m.Gate(
        incident_id=incident.id,
        kind=kind.value,
        subject=subject,
        payload=json.dumps(payload, sort_keys=True),
        payload_hash=rules.payload_hash(payload),
        rule=rule_name,
        requester=requester,
        reason=reason,
        state=GateState.PENDING.value,
        created_at=now,
        tier_started_at=now,
    )
    session.add(gate)
    session.flush()
    assert gate.id is not None
    due_at = rules.tier_deadline(rule, tier=0, start=now)
    timers.schedule(session, incident.id, gate_due(gate_id=gate.id, tier=0, due_at=due_at))
    audit(
        session,
        ctx,
        incident,
        actor=requester,
        kind="gate.requested",
        gate=gate.id,
        gate_kind=kind.value,
        subject=subject,
        payload=payload,
        payload_hash=gate.payload_hash,
        rule=rule_name,
        approvals=rule.approvals,
        reason=reason,
    )
    deciders = ", ".join(rule.tiers[0].roles)
    post(
        session,
        ctx,
        incident,
        f"Gate #{gate.id} ({kind.value}: {subject}) requested by {requester}: "
        f"{describe(payload)}. Needs {rule.approvals} approval from {deciders} "
        f"by {due_at:%H:%M}Z. Reply approve / reject <reason> / escalate.",
        card=f"gate:{gate.id}",
    )
    return gate


def request_containment(
    ctx: Context,
    incident_id: str,
    *,
    action: str,
    params: dict[str, str],
    requester: str,
    reason: str | None = None,
) -> int:
    from commandpost.service.incidents import require_role

    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        require_active(incident)
        require_role(session, ctx, incident, requester, doing="request containment")
        spec = action_spec(ctx.policy_for(incident), action)
        values = coerce_params(action, spec, params)
        payload = {
            "action": action,
            "params": values,
            "reversible": spec.reversible,
            "executor": spec.executor.type,
            "mode": "contain",
        }
        gate = open_gate(
            session,
            ctx,
            incident,
            kind=GateKind.CONTAINMENT,
            subject=action,
            rule_name=spec.gate,
            payload=payload,
            requester=requester,
            reason=reason,
        )
        assert gate.id is not None
        return gate.id


def request_restore(
    ctx: Context, incident_id: str, *, gate_id: int, requester: str, reason: str | None = None
) -> int:
    """Undo an executed, reversible containment action: a gate of its own, with checks listed."""
    from commandpost.service.incidents import require_role

    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        require_role(session, ctx, incident, requester, doing="request a restore")
        original = load_gate(session, gate_id, incident.id)
        if original.kind != GateKind.CONTAINMENT.value or original.execution != "executed":
            raise Conflict(f"gate #{gate_id} is not an executed containment action")
        body = json.loads(original.payload)
        spec = action_spec(ctx.policy_for(incident), body["action"])
        if not spec.reversible:
            raise Conflict(f"{body['action']} is irreversible; there is nothing to restore")
        payload = {
            **body,
            "mode": "restore",
            "restores_gate": gate_id,
            "recovery_checks": spec.restore_checks,
        }
        gate = open_gate(
            session,
            ctx,
            incident,
            kind=GateKind.RESTORE,
            subject=body["action"],
            rule_name="restore",
            payload=payload,
            requester=requester,
            reason=reason,
        )
        assert gate.id is not None
        return gate.id


def decide(
    ctx: Context,
    gate_id: int,
    *,
    actor: str,
    decision: Decision,
    reason: str | None = None,
    seen_hash: str | None = None,
) -> GateState:
    from commandpost.service.incidents import apply_severity

    with transaction(ctx.engine) as session:
        gate = load_gate(session, gate_id, None, lock=True)
        incident = load_incident(session, gate.incident_id)
        policy = ctx.policy_for(incident)
        from commandpost.service.context import person_or_refuse

        person_or_refuse(policy, actor)
        if decision is Decision.APPROVE and gate.kind == GateKind.SEVERITY_DOWNGRADE.value:
            asked_from = json.loads(gate.payload)["from"]
            if gate.state == GateState.PENDING.value and incident.severity != asked_from:
                # What was asked (from → to) is no longer what approving would do.
                raise Conflict(
                    f"gate #{gate_id} asked to go from {asked_from} to {gate.subject}, but "
                    f"{incident.id} is now {incident.severity}; reject it and ask again"
                )
        view = gate_view(session, policy, gate)
        try:
            outcome = rules.decide(
                view,
                decision=decision,
                actor=actor,
                actor_roles=roles_of(session, policy, incident.id, actor, staffed_only=True),
                reason=reason,
                seen_hash=seen_hash,
            )
        except NotAuthorised as exc:
            raise NotAuthorised(f"{exc}{refusal_hint(session, incident.id, actor)}") from None
        now = ctx.now()
        session.add(
            m.GateDecision(
                gate_id=gate_id,
                person_id=actor,
                role=outcome.role,
                decision=decision.value,
                tier=gate.tier,
                reason=reason,
                payload_hash=gate.payload_hash,
                policy_version=incident.policy_version,
                at=now,
            )
        )
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind=f"gate.{decision.value}",
            gate=gate_id,
            role=outcome.role,
            tier=gate.tier + 1,
            reason=reason,
            payload_hash=gate.payload_hash,
            state=outcome.state.value,
            # Who counts under which role once this decision is in (a dual pair may swap).
            counted_as={a.person_id: a.role for a in outcome.approvals},
        )
        gate.state = outcome.state.value
        if outcome.tier != gate.tier:
            move_tier(
                session, ctx, incident, gate, policy, tier=outcome.tier, why=f"{actor} escalated"
            )
        elif outcome.state is GateState.PENDING:
            needed = policy.gates[gate.rule].required_approvals - len(outcome.approvals)
            post(
                session,
                ctx,
                incident,
                f"Gate #{gate_id}: {actor} approved as {outcome.role}; "
                f"{needed} more approval from a different person and role needed.",
            )
        if outcome.state is not GateState.PENDING:
            gate.decided_at = now
            timers.cancel(session, incident.id, kind=DeadlineKind.GATE, subject=str(gate_id))
        if outcome.state is GateState.REJECTED:
            post(session, ctx, incident, f"Gate #{gate_id} rejected by {actor}: {reason}")
            direct(
                session,
                ctx,
                incident,
                gate.requester,
                f"Your request #{gate_id} ({gate.subject}) was rejected by {actor}: {reason}",
            )
        if outcome.approved:
            approvers = " and ".join(f"{a.person_id} ({a.role})" for a in outcome.approvals)
            post(session, ctx, incident, f"Gate #{gate_id} approved by {approvers}.")
            if gate.kind == GateKind.SEVERITY_DOWNGRADE.value:
                apply_severity(
                    session,
                    ctx,
                    incident,
                    severity=Severity(gate.subject),
                    actor=actor,
                    reason=gate.reason,
                )
                gate.execution = "executed"
                gate.executed_at = now
            else:
                queue_execution(session, ctx, incident, gate, json.loads(gate.payload))
        session.add(gate)
        return outcome.state


def confirm_manual(ctx: Context, gate_id: int, *, actor: str, note: str | None = None) -> None:
    from commandpost.service.incidents import require_role

    with transaction(ctx.engine) as session:
        gate = load_gate(session, gate_id, None, lock=True)
        incident = load_incident(session, gate.incident_id)
        require_role(session, ctx, incident, actor, doing="confirm a manual step")
        if gate.execution != "manual_pending":
            raise Conflict(f"gate #{gate_id} has no manual step waiting (it is {gate.execution})")
        gate.execution = "executed"
        gate.executed_at = ctx.now()
        gate.execution_detail = note
        session.add(gate)
        audit(session, ctx, incident, actor=actor, kind="action.confirmed", gate=gate_id, note=note)
        post(session, ctx, incident, f"{actor} confirmed the manual step of gate #{gate_id}.")
        mark_contained(session, ctx, incident, gate, actor=actor)


def list_gates(ctx: Context, incident_id: str) -> list[m.Gate]:
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        query = select(m.Gate).where(m.Gate.incident_id == incident.id).order_by(col(m.Gate.id))
        return list(session.exec(query))
