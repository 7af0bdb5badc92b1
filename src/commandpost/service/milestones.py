"""Reading an incident's milestones from storage (what reaches each: `core.milestones`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from commandpost.core import milestones as ms
from commandpost.core.gates import GateKind
from commandpost.core.lifecycle import is_open
from commandpost.core.milestones import Milestone
from commandpost.core.vocabulary import Severity, Status
from commandpost.service.context import Context, load_incident
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction
from commandpost.storage.notice_models import Notice, NoticeDelivery
from commandpost.storage.types import UTCDateTime

__all__ = ["Milestone", "all_milestones", "incident_milestones", "milestones_in", "reached_in"]


def incident_milestones(ctx: Context, incident_id: str) -> list[Milestone]:
    with read_transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        return milestones_in(session, ctx, incident)


def milestones_in(session: Session, ctx: Context, incident: m.Incident) -> list[Milestone]:
    spec = ctx.policy_for(incident).severity(Severity(incident.severity))
    return ms.milestones(
        declared_at=incident.declared_at,
        reached=reached_in(session, incident),
        spec=spec,
        now=ctx.now(),
    )


def reached_in(session: Session, incident: m.Incident) -> dict[str, datetime | None]:
    # The earliest executed containment and the earliest delivery of any notice.
    executed = session.exec(
        select(m.Gate.executed_at)
        .where(
            m.Gate.incident_id == incident.id,
            m.Gate.kind == GateKind.CONTAINMENT.value,
            m.Gate.execution == "executed",
            col(m.Gate.executed_at).is_not(None),
        )
        .order_by(col(m.Gate.executed_at))
        .limit(1)
    ).first()
    delivered = session.exec(
        select(NoticeDelivery.delivered_at)
        .join(Notice, col(Notice.id) == col(NoticeDelivery.notice_id))
        .where(
            Notice.incident_id == incident.id,
            NoticeDelivery.state == "delivered",
            col(NoticeDelivery.delivered_at).is_not(None),
        )
        .order_by(col(NoticeDelivery.delivered_at))
        .limit(1)
    ).first()
    return _reached(incident, executed, delivered)


def _reached(
    incident: m.Incident, executed: datetime | None, delivered: datetime | None
) -> dict[str, datetime | None]:
    return {
        ms.ACKNOWLEDGED: incident.acknowledged_at,
        ms.CONTAINED: _earliest(incident.contained_at, executed),
        ms.NOTIFIED: delivered,
        # A reopened incident keeps its old resolved_at; it is resolved again only when it says so.
        ms.RESOLVED: incident.resolved_at if not is_open(Status(incident.status)) else None,
    }


def _earliest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def all_milestones(session: Session, ctx: Context) -> list[tuple[m.Incident, list[Milestone]]]:
    """Every incident with its milestones, in three queries whatever the number of incidents
    (what a metrics scrape reads)."""
    incidents = list(session.exec(select(m.Incident).order_by(col(m.Incident.declared_at))))
    stamp = UTCDateTime()
    executed = dict(
        session.exec(
            select(m.Gate.incident_id, func.min(m.Gate.executed_at, type_=stamp))
            .where(
                m.Gate.kind == GateKind.CONTAINMENT.value,
                m.Gate.execution == "executed",
                col(m.Gate.executed_at).is_not(None),
            )
            .group_by(col(m.Gate.incident_id))
        ).all()
    )
    delivered = dict(
        session.exec(
            select(Notice.incident_id, func.min(NoticeDelivery.delivered_at, type_=stamp))
            .join(Notice, col(Notice.id) == col(NoticeDelivery.notice_id))
            .where(
                NoticeDelivery.state == "delivered",
                col(NoticeDelivery.delivered_at).is_not(None),
            )
            .group_by(col(Notice.incident_id))
        ).all()
    )
    now = ctx.now()
    out = []
    for incident in incidents:
        reached = _reached(incident, executed.get(incident.id), delivered.get(incident.id))
        spec = ctx.policy_for(incident).severity(Severity(incident.severity))
        found = ms.milestones(declared_at=incident.declared_at, reached=reached, spec=spec, now=now)
        out.append((incident, found))
    return out
