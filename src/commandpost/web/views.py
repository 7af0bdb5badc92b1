"""What the incident pages show, read in one read-only transaction per page.

Plain values for the templates: times as UTC text, people as "Name (id)", payloads as the
one-line description the chat cards use. Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from commandpost.core.lifecycle import is_open
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import Role, Status
from commandpost.service.context import Context, load_incident
from commandpost.service.gate_rows import describe
from commandpost.service.milestones import milestones_in
from commandpost.service.notice_rows import view as notice_view
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction
from commandpost.storage.notice_models import Notice
from commandpost.web.chart import Chart, milestone_chart

_SUMMARY_VALUE = 120


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ") if at is not None else ""


def label(value: str) -> str:
    return value.replace("_", " ")


class People:
    """Display names of the policy's people; an unknown id is shown as it is."""

    def __init__(self, policy: Policy) -> None:
        self._names = {p.id: p.name for p in policy.people}

    def __call__(self, person_id: str | None) -> str:
        if not person_id:
            return "—"
        name = self._names.get(person_id)
        return f"{name} ({person_id})" if name else person_id


@dataclass(frozen=True)
class IncidentRow:
    id: str
    title: str
    severity: str
    klass: str
    status: str
    declared_at: str
    commander: str


@dataclass(frozen=True)
class Event:
    seq: int
    at: str
    actor: str
    kind: str
    summary: str


@dataclass(frozen=True)
class RoleRow:
    role: str
    person: str
    state: str  # acknowledged, paged, unfilled, ended
    since: str


@dataclass(frozen=True)
class DecisionRow:
    person: str
    role: str
    decision: str
    reason: str
    at: str
    payload_hash: str


@dataclass(frozen=True)
class GateRow:
    id: int
    kind: str
    what: str
    rule: str
    requester: str
    reason: str
    state: str
    created_at: str
    decided_at: str
    execution: str
    payload_hash: str
    decisions: tuple[DecisionRow, ...]


@dataclass(frozen=True)
class NoticeRow:
    id: int
    template: str
    channel: str
    state: str
    version: int
    sha256: str
    approved_sha256: str
    approved_at: str
    approvals: tuple[tuple[str, str, str], ...]  # person, role, at (current text only)
    deliveries: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class IncidentPage:
    incident: m.Incident
    declared_at: str
    declared_by: str
    open: bool
    events: tuple[Event, ...]
    roles: tuple[RoleRow, ...]
    gates: tuple[GateRow, ...]
    notices: tuple[NoticeRow, ...]
    chart: Chart


def incident_rows(ctx: Context) -> list[IncidentRow]:
    """Every incident, newest first, with who holds the incident commander role now."""
    people = People(ctx.policy)
    with read_transaction(ctx.engine) as session:
        incidents = list(
            session.exec(select(m.Incident).order_by(col(m.Incident.declared_at).desc()))
        )
        commanders = {
            row.incident_id: row.person_id
            for row in session.exec(
                select(m.RoleAssignment).where(
                    m.RoleAssignment.role == Role.INCIDENT_COMMANDER.value,
                    m.RoleAssignment.active == True,  # noqa: E712
                )
            )
        }
    return [
        IncidentRow(
            id=i.id,
            title=i.title,
            severity=i.severity,
            klass=label(i.klass),
            status=i.status,
            declared_at=when(i.declared_at),
            commander=people(commanders.get(i.id)),
        )
        for i in incidents
    ]


def incident_page(ctx: Context, incident_id: str) -> IncidentPage:
    """Everything one incident's page shows; NotFound when there is no such incident."""
    people = People(ctx.policy)
    with read_transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        milestones = milestones_in(session, ctx, incident)
        still_open = is_open(Status(incident.status))
        return IncidentPage(
            incident=incident,
            declared_at=when(incident.declared_at),
            declared_by=people(incident.declared_by),
            open=still_open,
            events=_events(session, incident.id, people),
            roles=_roles(session, incident.id, people),
            gates=_gates(session, incident.id, people),
            notices=_notices(session, ctx, incident.id, people),
            chart=milestone_chart(
                milestones,
                open_for=ctx.now() - incident.declared_at if still_open else None,
            ),
        )


def _events(session: Session, incident_id: str, people: People) -> tuple[Event, ...]:
    rows = session.exec(
        select(m.AuditEvent)
        .where(m.AuditEvent.incident_id == incident_id)
        .order_by(col(m.AuditEvent.seq))
    )
    return tuple(
        Event(seq=r.seq, at=when(r.at), actor=people(r.actor), kind=r.kind, summary=summary(r.data))
        for r in rows
    )


def summary(raw: str) -> str:
    """An event's data as `key=value` pairs, each value cut short to keep the row readable."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return raw[:_SUMMARY_VALUE]
    if not isinstance(data, dict):
        return str(data)[:_SUMMARY_VALUE]
    parts = []
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if len(text) > _SUMMARY_VALUE:
            text = text[: _SUMMARY_VALUE - 1] + "…"
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _roles(session: Session, incident_id: str, people: People) -> tuple[RoleRow, ...]:
    rows = session.exec(
        select(m.RoleAssignment)
        .where(m.RoleAssignment.incident_id == incident_id)
        .order_by(col(m.RoleAssignment.id))
    )
    out = []
    for row in rows:
        if not row.active:
            state, since = "ended", when(row.ended_at)
        elif row.unfilled:
            state, since = "unfilled", when(row.paged_at)
        elif row.acknowledged_at is not None:
            state, since = "acknowledged", when(row.acknowledged_at)
        else:
            state, since = "paged", when(row.paged_at)
        out.append(
            RoleRow(role=label(row.role), person=people(row.person_id), state=state, since=since)
        )
    # Who holds each role now first; hand-overs and ended pages after, for the record.
    return tuple(sorted(out, key=lambda r: (r.state == "ended", r.role)))


def _gates(session: Session, incident_id: str, people: People) -> tuple[GateRow, ...]:
    gates = list(
        session.exec(
            select(m.Gate).where(m.Gate.incident_id == incident_id).order_by(col(m.Gate.id))
        )
    )
    ids = [g.id for g in gates]
    decisions: dict[int, list[DecisionRow]] = {}
    if ids:
        for d in session.exec(
            select(m.GateDecision)
            .where(col(m.GateDecision.gate_id).in_(ids))
            .order_by(col(m.GateDecision.id))
        ):
            decisions.setdefault(d.gate_id, []).append(
                DecisionRow(
                    person=people(d.person_id),
                    role=label(d.role),
                    decision=d.decision,
                    reason=d.reason or "",
                    at=when(d.at),
                    payload_hash=d.payload_hash,
                )
            )
    out = []
    for gate in gates:
        assert gate.id is not None
        try:
            what = describe(json.loads(gate.payload))
        except (json.JSONDecodeError, AttributeError):
            what = gate.subject
        out.append(
            GateRow(
                id=gate.id,
                kind=label(gate.kind),
                what=what,
                rule=gate.rule,
                requester=people(gate.requester),
                reason=gate.reason or "",
                state=gate.state,
                created_at=when(gate.created_at),
                decided_at=when(gate.decided_at),
                execution=gate.execution or "",
                payload_hash=gate.payload_hash,
                decisions=tuple(decisions.get(gate.id, [])),
            )
        )
    return tuple(out)


def _notices(
    session: Session, ctx: Context, incident_id: str, people: People
) -> tuple[NoticeRow, ...]:
    rows = list(
        session.exec(
            select(Notice).where(Notice.incident_id == incident_id).order_by(col(Notice.id))
        )
    )
    out = []
    for row in rows:
        shown = notice_view(session, ctx, row)
        out.append(
            NoticeRow(
                id=shown.id,
                template=label(shown.template),
                channel=shown.channel,
                state=shown.state,
                version=shown.version,
                sha256=shown.sha256,
                approved_sha256=row.approved_sha256 or "",
                approved_at=when(row.approved_at),
                approvals=tuple(
                    (people(a.person_id), a.role, a.at.replace("T", " ").replace("+00:00", "Z"))
                    for a in shown.approvals
                    if not a.void
                ),
                deliveries=tuple(
                    {
                        "kind": d.kind,
                        "recipient": d.recipient,
                        "state": d.state,
                        "attempts": d.attempts,
                        # Delivered bytes that differ from the approved ones are worth a flag.
                        "matches": d.delivered_sha256 is None or d.delivered_sha256 == d.sha256,
                        "delivered_sha256": d.delivered_sha256 or "",
                    }
                    for d in shown.deliveries
                ),
            )
        )
    return tuple(out)
