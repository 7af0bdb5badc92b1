"""What a signed link may do, checked against the database, and the decision it makes.

    load(ctx, claims)            the gate as the page shows it; LinkRefused when the link is
                                 spent, the gate is gone, decided, or its payload changed
    decide(ctx, claims, ...)     spend the link, then decide through `service.gates.decide`
    eligible_approvers(...)      who gets a link set on a gate card

The link is spent (its nonce stored) before the decision and given back if the service
refuses, so a refused decision leaves nothing behind, and two submits of one link race on
the nonce's primary key: one decides, the other is refused as used. Authorisation stays in
the service layer: the same rules as a Slack button (staffed roles, dual approval by two
people in two roles, the requester never approves), checked on the payload hash the link
was issued for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from commandpost.chat.slack import views
from commandpost.chat.slack.blocks import GateCardView
from commandpost.chat.teams.approvals import LinkClaims, LinkRefused
from commandpost.chat.teams.link_uses import spend_then
from commandpost.core.gates import Decision, GateState
from commandpost.core.policy import Person, Policy
from commandpost.service import gates
from commandpost.service.context import Context
from commandpost.service.roles import roles_of
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction
from commandpost.storage.teams_models import TeamsLinkUse


@dataclass(frozen=True)
class DecisionLine:
    person: str
    role: str
    decision: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class GatePage:
    """Everything the approval page shows: the gate, its incident, the decisions so far."""

    claims: LinkClaims
    approver: str  # display name of the link's person
    incident_title: str
    gate: GateCardView
    decisions: Sequence[DecisionLine]


def _policy(ctx: Context, session: Session, incident_id: str) -> tuple[Policy, m.Incident]:
    incident = session.get(m.Incident, incident_id)
    if incident is None:
        raise LinkRefused("unknown", f"There is no incident {incident_id}.")
    return ctx.policy_for(incident), incident


def load(ctx: Context, claims: LinkClaims) -> GatePage:
    with read_transaction(ctx.engine) as session:
        if session.get(TeamsLinkUse, claims.nonce) is not None:
            raise LinkRefused(
                "used", "This approval link was already used. Each link decides once."
            )
        gate = session.get(m.Gate, claims.gate_id)
        if gate is None or gate.incident_id != claims.incident_id:
            raise LinkRefused("unknown", f"There is no gate #{claims.gate_id} in this incident.")
        policy, incident = _policy(ctx, session, gate.incident_id)
        person = policy.person(claims.person_id)
        if person is None:
            raise LinkRefused("unknown", "This link names someone who is not in the policy.")
        if gate.payload_hash != claims.payload_hash:
            raise LinkRefused(
                "changed",
                f"Gate #{gate.id} no longer asks for what this link was issued for: its"
                " payload changed. Nothing was recorded; look at the newest card.",
            )
        if gate.state != GateState.PENDING.value:
            raise LinkRefused(
                "decided", f"Gate #{gate.id} is already {gate.state}: there is nothing to decide."
            )
        view = views.gate_view(session, policy, gate.id or 0)
        assert view is not None
        rows = session.exec(
            select(m.GateDecision)
            .where(m.GateDecision.gate_id == gate.id)
            .order_by(col(m.GateDecision.at))
        ).all()
        decisions = [
            DecisionLine(
                person=views.person_who(policy, d.person_id).name,
                role=d.role,
                decision=d.decision,
                at=d.at,
                reason=d.reason or "",
            )
            for d in rows
        ]
        return GatePage(
            claims=claims,
            approver=person.name,
            incident_title=incident.title,
            gate=view,
            decisions=decisions,
        )


def decide(
    ctx: Context, claims: LinkClaims, *, decision: Decision, reason: str | None
) -> GateState:
    """Spend the link and decide; LinkRefused or the service's UserError, with nothing
    written, when it may not."""
    load(ctx, claims)
    use = TeamsLinkUse(
        nonce=claims.nonce,
        gate_id=claims.gate_id,
        person_id=claims.person_id,
        decision=decision.value,
        used_at=ctx.now(),
    )
    return spend_then(
        ctx,
        use,
        decide=lambda: gates.decide(
            ctx,
            claims.gate_id,
            actor=claims.person_id,
            decision=decision,
            reason=reason,
            seen_hash=claims.payload_hash,
        ),
        used="This approval link was already used.",
    )


def eligible_approvers(
    session: Session, policy: Policy, gate: m.Gate
) -> list[tuple[Person, list[str]]]:
    """People who could decide the gate at its tier: holders (or paged holders: they can
    acknowledge and then use the link) of a deciding role, and standing groups. Not the
    requester, not who already approved at this tier. The service checks again on use."""
    rule = policy.gates.get(gate.rule)
    if rule is None:
        return []
    deciding = set(rule.tiers[min(gate.tier, len(rule.tiers) - 1)].roles)
    approved = {
        d.person_id
        for d in session.exec(
            select(m.GateDecision).where(
                m.GateDecision.gate_id == gate.id,
                m.GateDecision.decision == Decision.APPROVE.value,
                m.GateDecision.tier == gate.tier,
            )
        )
    }
    found = []
    for person in policy.people:
        if person.id == gate.requester or person.id in approved:
            continue
        held = sorted(roles_of(session, policy, gate.incident_id, person.id) & deciding)
        if held:
            found.append((person, held))
    return found
