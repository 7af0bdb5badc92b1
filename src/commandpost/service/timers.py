"""Storing and cancelling due times inside a transaction."""

from __future__ import annotations

from sqlmodel import Session, col, select

from commandpost.core.deadlines import DeadlineKind, DueTime
from commandpost.storage import models as m


def schedule(session: Session, incident_id: str, due: DueTime) -> m.Deadline:
    row = m.Deadline(
        incident_id=incident_id,
        kind=due.kind.value,
        subject=due.subject,
        step=due.step,
        due_at=due.due_at,
    )
    session.add(row)
    return row


def cancel(
    session: Session,
    incident_id: str,
    *,
    kind: DeadlineKind | None = None,
    subject: str | None = None,
) -> int:
    query = select(m.Deadline).where(
        m.Deadline.incident_id == incident_id, m.Deadline.state == "pending"
    )
    if kind is not None:
        query = query.where(m.Deadline.kind == kind.value)
    if subject is not None:
        query = query.where(m.Deadline.subject == subject)
    rows = list(session.exec(query))
    for row in rows:
        row.state = "cancelled"
        session.add(row)
    return len(rows)


def pending(session: Session, incident_id: str | None = None) -> list[m.Deadline]:
    query = select(m.Deadline).where(m.Deadline.state == "pending")
    if incident_id is not None:
        query = query.where(m.Deadline.incident_id == incident_id)
    return list(session.exec(query.order_by(col(m.Deadline.due_at), col(m.Deadline.id))))
