"""Gate views for the core.gates tests, on the gate rules of the shipped policy.yml:

containment                single; tier 1 incident_commander, safety_lead; tier 2 duty_director
containment_dual           dual; tier 1 incident_commander, safety_lead, model_owner;
                           tier 2 incident_commander, duty_director
containment_with_fallback  single; like containment, fallback force_safety_filter
restore                    dual; like containment_dual
severity_downgrade         single; one tier: safety_lead, duty_director
"""

from __future__ import annotations

from dataclasses import replace

from commandpost.core.gates import Approval, Decision, GateState, GateView, decide, payload_hash
from commandpost.core.policy import GateRule, Policy
from commandpost.policy_file import load_policy

from .support import POLICY_FILE

POLICY: Policy = load_policy(POLICY_FILE)

IC = "incident_commander"
SL = "safety_lead"
MO = "model_owner"
COMMS = "comms"
DD = "duty_director"

PAYLOAD = {"action": "rollback_model", "params": {"model": "m", "to_version": "v1"}}
HASH = payload_hash(PAYLOAD)


def rule(name: str) -> GateRule:
    return POLICY.gates[name]


def view(
    rule_name: str,
    *,
    requester: str = "alice",
    tier: int = 0,
    approvals: tuple[Approval, ...] = (),
    state: GateState = GateState.PENDING,
) -> GateView:
    return GateView(
        state=state,
        requester=requester,
        rule=rule(rule_name),
        tier=tier,
        approvals=approvals,
        payload_hash=HASH,
    )


def approve(gate: GateView, actor: str, *roles: str) -> GateView:
    outcome = decide(gate, decision=Decision.APPROVE, actor=actor, actor_roles=frozenset(roles))
    return replace(gate, state=outcome.state, tier=outcome.tier, approvals=outcome.approvals)
