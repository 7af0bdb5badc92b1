"""Read the database into the plain view dataclasses the Block Kit builders take.

The service layer speaks text through the chat port; the Slack transport shows the same
moments richer (the summary card, a role page with Acknowledge, a gate card with buttons)
by reading the rows those texts are about. Reads only: nothing here changes state.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from commandpost.chat.slack.blocks import (
    AlertsLine,
    DeadlineLine,
    GateCardView,
    GateLine,
    RoleLine,
    RolePageView,
    SummaryView,
    Who,
)
from commandpost.core.gates import GateKind, GateState
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.service.alert_store import tally_of
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction


def person_who(policy: Policy, person_id: str) -> Who:
    person = policy.person(person_id)
    if person is None:
        return Who(name=person_id)
    return Who(name=person.name, slack_id=person.slack_id)


def summary_view(session: Session, policy: Policy, incident_id: str) -> SummaryView | None:
    incident = session.get(m.Incident, incident_id)
    if incident is None:
        return None
    stored = session.get(m.SlackChannel, incident_id)
    assignments = session.exec(
        select(m.RoleAssignment).where(
            m.RoleAssignment.incident_id == incident_id, col(m.RoleAssignment.active).is_(True)
        )
    ).all()
    roles = [
        RoleLine(
            role=Role(a.role),
            holder=None if a.unfilled else person_who(policy, a.person_id),
            acknowledged=a.acknowledged_at is not None,
        )
        for a in assignments
    ]
    gates = session.exec(
        select(m.Gate).where(
            m.Gate.incident_id == incident_id, m.Gate.state == GateState.PENDING.value
        )
    ).all()
    deadlines = session.exec(
        select(m.Deadline)
        .where(m.Deadline.incident_id == incident_id, m.Deadline.state == "pending")
        .order_by(col(m.Deadline.due_at))
        .limit(5)
    ).all()
    return SummaryView(
        incident_id=incident.id,
        title=incident.title,
        severity=Severity(incident.severity),
        status=Status(incident.status),
        incident_class=IncidentClass(incident.klass),
        model=incident.model or "",
        model_version=incident.model_version or "",
        surface=incident.surface or "",
        tenant=incident.tenant or "",
        region=incident.region or "",
        channel_id=stored.channel_id if stored else None,
        roles=roles,
        open_gates=[
            GateLine(gate_id=g.id or 0, action=g.subject, dual=_dual(policy, g.rule)) for g in gates
        ],
        deadlines=[DeadlineLine(what=f"{d.kind} {d.subject}", due=d.due_at) for d in deadlines],
        declared_at=incident.declared_at,
        updated_at=incident.last_update_at,
        policy_version=incident.policy_version,
        alerts=_alerts(session, incident_id),
    )


def _alerts(session: Session, incident_id: str) -> AlertsLine | None:
    tally = tally_of(session, incident_id)
    if tally is None:
        return None  # declared by a person and never joined by an alert: nothing to show
    return AlertsLine(alerts=tally.alerts, fingerprints=tally.fingerprints, firing=tally.firing)


def _dual(policy: Policy, rule: str) -> bool:
    spec = policy.gates.get(rule)
    return spec is not None and spec.required_approvals == 2


def gate_view(session: Session, policy: Policy, gate_id: int) -> GateCardView | None:
    gate = session.get(m.Gate, gate_id)
    if gate is None:
        return None
    payload = json.loads(gate.payload)
    rule = policy.gates.get(gate.rule)
    tier = rule.tiers[min(gate.tier, len(rule.tiers) - 1)] if rule else None
    approvals: Sequence[m.GateDecision] = session.exec(
        select(m.GateDecision).where(
            m.GateDecision.gate_id == gate_id,
            m.GateDecision.decision == "approve",
            m.GateDecision.tier == gate.tier,
        )
    ).all()
    return GateCardView(
        gate_id=gate_id,
        incident_id=gate.incident_id,
        action=gate.subject,
        kind=GateKind(gate.kind),
        params=dict(payload.get("params") or {}),
        reversible=bool(payload.get("reversible", True)),
        requester=person_who(policy, gate.requester),
        deciders=list(tier.roles) if tier else [],
        approvals_required=rule.required_approvals if rule else 1,
        approvals=[person_who(policy, a.person_id) for a in approvals],
        deadline=(gate.tier_started_at + tier.deadline) if tier else None,
        payload_hash=gate.payload_hash,
        tier=gate.tier,
        reason=gate.reason or "",
    )


def role_page_view(
    session: Session, policy: Policy, incident_id: str, role: Role
) -> RolePageView | None:
    summary = summary_view(session, policy, incident_id)
    if summary is None:
        return None
    incident = session.get(m.Incident, incident_id)
    assert incident is not None
    sla = policy.severity(Severity(incident.severity)).ack_sla
    row = session.exec(
        select(m.RoleAssignment).where(
            m.RoleAssignment.incident_id == incident_id,
            m.RoleAssignment.role == role.value,
            col(m.RoleAssignment.active).is_(True),
        )
    ).first()
    return RolePageView(summary=summary, role=role, ack_by=(row.paged_at + sla) if row else None)


def channel_for_incident(engine: Engine, incident_id: str) -> m.SlackChannel | None:
    with read_transaction(engine) as session:
        return session.get(m.SlackChannel, incident_id)


# channel id -> incident id, per database. A channel belongs to one incident for good, so a
# hit never goes stale; it spares every /incident in a busy channel a read before its ack.
_CHANNELS: weakref.WeakKeyDictionary[Engine, dict[str, str]] = weakref.WeakKeyDictionary()
# channel id -> when it was last seen not to be an incident's. Only for a few seconds: a
# channel becomes an incident's when Command Post creates it, before anyone is in it, so a
# miss is not expected to turn into a hit; this spares a burst of declarations typed in the
# same channel a read each (measured: a tenth of the work process's time in a burst).
_NOT_INCIDENTS: weakref.WeakKeyDictionary[Engine, dict[str, float]] = weakref.WeakKeyDictionary()
MISS_FOR = 5.0  # seconds


def incident_for_channel(engine: Engine, channel_id: str) -> str | None:
    known = _CHANNELS.setdefault(engine, {})
    if channel_id in known:
        return known[channel_id]
    misses = _NOT_INCIDENTS.setdefault(engine, {})
    seen = misses.get(channel_id)
    if seen is not None and time.monotonic() - seen < MISS_FOR:
        return None
    with read_transaction(engine) as session:
        row = session.exec(
            select(m.SlackChannel).where(m.SlackChannel.channel_id == channel_id)
        ).first()
    if row is None:
        if len(misses) > 10_000:
            misses.clear()
        misses[channel_id] = time.monotonic()
        return None
    if len(known) < 10_000:
        known[channel_id] = row.incident_id
    return row.incident_id
