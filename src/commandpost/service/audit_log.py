"""Reading the audit trail: verify the chain, export an incident's events, build a timeline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlmodel import col, select

from commandpost.core.audit import AuditRecord, VerifyReport, verify_chain
from commandpost.service.context import Context, load_incident
from commandpost.storage import models as m
from commandpost.storage.engine import transaction

BATCH = 5000


def _records(ctx: Context) -> Iterator[AuditRecord]:
    # Paged by seq so a chain of millions of events never sits in memory at once.
    after = 0
    while True:
        with transaction(ctx.engine) as session:
            rows = list(
                session.exec(
                    select(m.AuditEvent)
                    .where(m.AuditEvent.seq > after)
                    .order_by(col(m.AuditEvent.seq))
                    .limit(BATCH)
                )
            )
        if not rows:
            return
        for row in rows:
            yield to_record(row)
        after = rows[-1].seq


def to_record(row: m.AuditEvent) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        at=row.at,
        incident_id=row.incident_id,
        actor=row.actor,
        kind=row.kind,
        data=json.loads(row.data),
        policy_version=row.policy_version,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def verify(ctx: Context) -> VerifyReport:
    with transaction(ctx.engine) as session:
        head = session.get(m.AuditHead, 1)
        anchor = (head.seq, head.hash) if head else (0, "0" * 64)
    return verify_chain(_records(ctx), head=anchor)


def incident_events(ctx: Context, incident_id: str) -> list[m.AuditEvent]:
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        query = (
            select(m.AuditEvent)
            .where(m.AuditEvent.incident_id == incident.id)
            .order_by(col(m.AuditEvent.seq))
        )
        return list(session.exec(query))


def export_jsonl(ctx: Context, incident_id: str) -> Iterator[str]:
    for row in incident_events(ctx, incident_id):
        event: dict[str, Any] = {
            "seq": row.seq,
            "at": row.at.isoformat(),
            "incident_id": row.incident_id,
            "actor": row.actor,
            "kind": row.kind,
            "data": json.loads(row.data),
            "policy_version": row.policy_version,
            "prev_hash": row.prev_hash,
            "hash": row.hash,
        }
        yield json.dumps(event, sort_keys=True, ensure_ascii=False)
