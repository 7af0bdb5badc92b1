"""What the review draft is filled in from: one incident's record as plain values.

Times are shown as UTC to the second and durations in the policy's own notation (`15m`,
`1h30m`), so the review reads the same on every machine and compares with the policy file.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from commandpost.core.durations import format_duration
from commandpost.core.milestones import Milestone
from commandpost.service.context import Context
from commandpost.service.milestones import milestones_in
from commandpost.storage import models as m
from commandpost.storage.notice_models import Notice, NoticeApproval, NoticeDelivery

# Bulky or already-shown fields an event's one-line summary leaves out (diffs are in the chain).
_SKIPPED = frozenset({"diff", "findings", "via"})
_LONGEST = 100


def when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else None


def span(value: timedelta | None) -> str | None:
    return format_duration(value) if value is not None else None


def verdict(item: Milestone) -> str:
    if item.breached:
        return "BREACHED" if item.at is not None else "BREACHED (not reached)"
    if item.at is None:
        return "not reached"
    return "met" if item.sla is not None else "no SLA"


def review_facts(session: Session, ctx: Context, incident: m.Incident) -> dict[str, Any]:
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "klass": incident.klass,
            "severity": incident.severity,
            "declared_at": when(incident.declared_at),
            "declared_by": incident.declared_by,
            "resolved_at": when(incident.resolved_at),
            "resolution": incident.resolution or "",
            "model": incident.model,
            "model_version": incident.model_version,
            "surface": incident.surface,
            "policy_version": incident.policy_version,
        },
        "roles": _roles(session, incident),
        "milestones": [
            {
                "name": item.name,
                "at": when(item.at),
                "elapsed": span(item.elapsed),
                "sla": span(item.sla),
                "verdict": verdict(item),
            }
            for item in milestones_in(session, ctx, incident)
        ],
        "gates": _gates(session, incident),
        "notices": _notices(session, incident),
        "timeline": _timeline(session, incident),
    }


def _roles(session: Session, incident: m.Incident) -> list[dict[str, str]]:
    rows = session.exec(
        select(m.RoleAssignment)
        .where(
            m.RoleAssignment.incident_id == incident.id,
            col(m.RoleAssignment.acknowledged_at).is_not(None),
        )
        .order_by(col(m.RoleAssignment.id))
    )
    # Everyone who held a role, handovers included, in the order they took it.
    seen: dict[tuple[str, str], None] = {}
    for row in rows:
        seen[(row.role, row.person_id)] = None
    return [{"role": role, "person": person} for role, person in seen]


def _gates(session: Session, incident: m.Incident) -> list[dict[str, Any]]:
    out = []
    for gate in session.exec(
        select(m.Gate).where(m.Gate.incident_id == incident.id).order_by(col(m.Gate.id))
    ):
        decisions = session.exec(
            select(m.GateDecision)
            .where(m.GateDecision.gate_id == gate.id)
            .order_by(col(m.GateDecision.id))
        )
        out.append(
            {
                "id": gate.id,
                "kind": gate.kind,
                "subject": gate.subject,
                "requester": gate.requester,
                "reason": gate.reason,
                "state": gate.state,
                "execution": gate.execution,
                "decisions": [
                    {
                        "at": when(d.at),
                        "person": d.person_id,
                        "role": d.role,
                        "decision": d.decision,
                        "reason": d.reason,
                    }
                    for d in decisions
                ],
            }
        )
    return out


def _notices(session: Session, incident: m.Incident) -> list[dict[str, Any]]:
    out = []
    for notice in session.exec(
        select(Notice).where(Notice.incident_id == incident.id).order_by(col(Notice.id))
    ):
        delivered = list(
            session.exec(
                select(NoticeDelivery)
                .where(
                    NoticeDelivery.notice_id == notice.id,
                    NoticeDelivery.state == "delivered",
                )
                .order_by(col(NoticeDelivery.delivered_at))
            )
        )
        if not delivered:
            continue
        sent_sha = delivered[0].delivered_sha256 or delivered[0].sha256
        approvers = session.exec(
            select(NoticeApproval)
            .where(NoticeApproval.notice_id == notice.id, NoticeApproval.sha256 == sent_sha)
            .order_by(col(NoticeApproval.id))
        )
        out.append(
            {
                "id": notice.id,
                "template": notice.template,
                "approved_by": ", ".join(f"{a.person_id} ({a.role})" for a in approvers),
                "first_delivered": when(delivered[0].delivered_at),
                "recipients": len({d.recipient for d in delivered}),
                "sha256": sent_sha[:12] + "…",
            }
        )
    return out


def _timeline(session: Session, incident: m.Incident) -> list[dict[str, str | None]]:
    rows = session.exec(
        select(m.AuditEvent)
        .where(m.AuditEvent.incident_id == incident.id)
        .order_by(col(m.AuditEvent.seq))
    )
    return [
        {"at": when(r.at), "actor": r.actor, "kind": r.kind, "summary": _summary(r.data)}
        for r in rows
    ]


def _summary(raw: str) -> str:
    data: dict[str, Any] = json.loads(raw)
    parts = []
    for key, value in data.items():
        if key in _SKIPPED or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = " ".join(text.split())  # one line: a Markdown list item must not break
        parts.append(f"{key}={text if len(text) <= _LONGEST else text[: _LONGEST - 1] + '…'}")
    return " ".join(parts)
