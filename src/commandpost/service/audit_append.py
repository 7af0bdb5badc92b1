"""Appending to the hash-chained audit trail inside the caller's transaction.

Every consequential change ends here, so this is the hottest write path (a burst of deadline
firings appends two events each). Events are plain rows batched per transaction
(`storage.append`) rather than ORM objects, and the chain head (`audit_head`, which catches a
cut-off tail) is written once, just before the transaction commits, instead of after every
event. The head read at the first append is held in `session.info` for the rest of that
transaction; a rollback discards it with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, event, insert, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, SQLModel

from commandpost.core import audit as chain
from commandpost.service import origin
from commandpost.storage import models as m
from commandpost.storage.append import append
from commandpost.storage.engine import lock_audit_chain

_HEAD = "commandpost.audit_head"
EVENTS: Table = SQLModel.metadata.tables[m.AuditEvent.__tablename__]
HEADS: Table = SQLModel.metadata.tables[m.AuditHead.__tablename__]


@dataclass
class _Head:
    transaction: SessionTransaction | None
    seq: int
    hash: str
    stored: bool  # a head row exists (UPDATE) or this is the first event ever (INSERT)
    written: bool = True


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    kind: str,
    data: dict[str, Any],
    incident_id: str | None,
    policy_version: str | None,
) -> chain.AuditRecord:
    """Append one sealed event; the chain head follows at commit. Under `origin.acting_from`
    the event's data also says where the action came from (`via`), inside the hash."""
    via = origin.current()
    if via is not None and origin.KEY not in data:
        data = {**data, origin.KEY: via}
    lock_audit_chain(session)
    head = _head(session)
    sealed = chain.seal(
        seq=head.seq + 1,
        at=at,
        incident_id=incident_id,
        actor=actor,
        kind=kind,
        data=data,
        policy_version=policy_version,
        prev_hash=head.hash,
    )
    append(
        session,
        EVENTS,
        {
            "seq": sealed.seq,
            "at": at,
            "incident_id": incident_id,
            "actor": actor,
            "kind": kind,
            "data": chain.canonical_json(data),
            "policy_version": policy_version,
            "prev_hash": sealed.prev_hash,
            "hash": sealed.hash,
        },
    )
    head.seq, head.hash, head.written = sealed.seq, sealed.hash, False
    return sealed


def _head(session: Session) -> _Head:
    session.connection()  # begins the transaction if nothing has yet, so it can be named
    current = session.get_transaction()
    held: _Head | None = session.info.get(_HEAD)
    if held is not None and held.transaction is current:
        return held
    row = session.execute(select(HEADS.c.seq, HEADS.c.hash).where(HEADS.c.id == 1)).first()
    fresh = (
        _Head(current, row.seq, row.hash, stored=True)
        if row is not None
        else _Head(current, 0, chain.GENESIS_HASH, stored=False)
    )
    session.info[_HEAD] = fresh
    return fresh


@event.listens_for(OrmSession, "before_commit")
def _write_head(session: OrmSession) -> None:
    held: _Head | None = session.info.get(_HEAD)
    if held is None or held.written or held.transaction is not session.get_transaction():
        return
    if held.stored:
        session.execute(update(HEADS).where(HEADS.c.id == 1).values(seq=held.seq, hash=held.hash))
    else:
        session.execute(insert(HEADS).values(id=1, seq=held.seq, hash=held.hash))
        held.stored = True
    held.written = True
