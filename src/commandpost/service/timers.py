"""Storing and cancelling due times inside a transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, text
from sqlmodel import Session, SQLModel, col, select

from commandpost.core.deadlines import DeadlineKind, DueTime
from commandpost.storage import models as m
from commandpost.storage.append import append

DEADLINES: Table = SQLModel.metadata.tables[m.Deadline.__tablename__]

# The earliest due time scheduled in a session's current transaction. A deadline runner in
# this process reads it after commit (scheduling/runner.py) to wake early; on PostgreSQL a
# NOTIFY, delivered at commit, wakes the runners of other processes and replicas.
WAKE_AT = "commandpost.wake_at"
WAKE_TX = "commandpost.wake_tx"
NOTIFY_CHANNEL = "commandpost_deadlines"


def schedule(session: Session, incident_id: str, due: DueTime) -> m.Deadline:
    row = m.Deadline(
        incident_id=incident_id,
        kind=due.kind.value,
        subject=due.subject,
        step=due.step,
        due_at=due.due_at,
    )
    session.add(row)
    note_wake(session, due.due_at)
    return row


def schedule_plain(session: Session, incident_id: str, due: DueTime) -> None:
    """`schedule` as a plain appended row (`storage.append`), for a caller that needs no ORM
    object and writes the appended rows itself (`roles.write_new_pages`)."""
    append(
        session,
        DEADLINES,
        {
            "incident_id": incident_id,
            "kind": due.kind.value,
            "subject": due.subject,
            "step": due.step,
            "due_at": due.due_at,
            "state": "pending",
            "fired_at": None,
            "lateness_seconds": None,
        },
    )
    note_wake(session, due.due_at)


def earliest_noted(session: Session) -> datetime | None:
    """The earliest due time scheduled so far in this session's current transaction."""
    if session.info.get(WAKE_TX) is not session.get_transaction():
        return None
    earliest: datetime | None = session.info.get(WAKE_AT)
    return earliest


def note_wake(session: Session, at: datetime) -> None:
    """Say that something falls due at `at` once this transaction commits."""
    earliest = earliest_noted(session)
    if earliest is not None and earliest <= at:
        return
    session.info[WAKE_AT] = at
    session.info[WAKE_TX] = session.get_transaction()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :at)"),
            {"channel": NOTIFY_CHANNEL, "at": at.isoformat()},
        )


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
