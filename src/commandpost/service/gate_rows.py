"""Reading gates: load one (optionally locked), build the view the rules judge, name things."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from commandpost.core.gates import Approval, Decision, GateState, GateView
from commandpost.core.policy import ContainmentAction, Policy
from commandpost.core.vocabulary import Status
from commandpost.errors import Conflict, InvalidInput, NotFound
from commandpost.service.roles import roles_of
from commandpost.storage import models as m
from commandpost.storage.engine import lock_audit_chain


def gate_view(session: Session, policy: Policy, gate: m.Gate) -> GateView:
    decisions = session.exec(
        select(m.GateDecision).where(
            m.GateDecision.gate_id == gate.id, m.GateDecision.decision == Decision.APPROVE.value
        )
    )
    rule = policy.gates[gate.rule]
    allowed = rule.tiers[gate.tier].roles
    approvals = []
    for d in decisions:
        # What each earlier approver could count as now: their recorded role, plus any
        # allowed role they hold, so a later approver can complete a dual gate by a swap.
        held = roles_of(session, policy, gate.incident_id, d.person_id, staffed_only=True)
        approval = Approval(d.person_id, d.role, frozenset(held | {d.role}))
        if approval.options(allowed):
            approvals.append(approval)
    return GateView(
        state=GateState(gate.state),
        requester=gate.requester,
        rule=rule,
        tier=gate.tier,
        approvals=tuple(approvals),
        payload_hash=gate.payload_hash,
    )


def load_gate(
    session: Session, gate_id: int, incident_id: str | None, *, lock: bool = False
) -> m.Gate:
    query = select(m.Gate).where(m.Gate.id == gate_id)
    if lock:
        lock_audit_chain(session)  # before the row lock: see load_incident
        query = query.with_for_update()
    gate = session.exec(query).first()
    if gate is None or (incident_id is not None and gate.incident_id != incident_id):
        raise NotFound(f"no gate #{gate_id}" + (f" in {incident_id}" if incident_id else ""))
    return gate


def action_spec(policy: Policy, name: str) -> ContainmentAction:
    spec = policy.actions.get(name)
    if spec is None:
        raise InvalidInput(
            f"unknown action {name!r}; the policy has " + ", ".join(sorted(policy.actions))
        )
    return spec


def require_active(incident: m.Incident) -> None:
    if incident.status in (Status.RESOLVED.value, Status.CLOSED.value):
        raise Conflict(f"{incident.id} is {incident.status}; no new containment")


def ic_holder(session: Session, incident: m.Incident) -> str | None:
    from commandpost.service.incidents import ic_of

    return ic_of(session, incident)


def describe(payload: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted(payload.get("params", {}).items()))
    flag = "reversible" if payload.get("reversible", True) else "IRREVERSIBLE"
    if "action" in payload:
        return f"{payload['action']}({params}) [{flag}, {payload.get('executor')}]"
    return ", ".join(f"{k}={v}" for k, v in sorted(payload.items()))
