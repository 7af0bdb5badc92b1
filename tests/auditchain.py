"""Audit chains built in memory for the audit-chain tests: sealed records and their head."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commandpost.core.audit import GENESIS_HASH, AuditRecord, seal

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        record = seal(
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            incident_id="INC-2026-0001" if seq % 3 else None,
            actor=["alice", "bob", "commandpost"][seq % 3],
            kind=["incident.declared", "role.paged", "note.added"][seq % 3],
            data={"n": seq, "text": f"event {seq} — ünïcode", "nested": {"b": [1, 2], "a": None}},
            policy_version="sha256:0123456789abcdef",
            prev_hash=prev,
        )
        records.append(record)
        prev = record.hash
    return records


def head_of(records: list[AuditRecord]) -> tuple[int, str]:
    return (records[-1].seq, records[-1].hash) if records else (0, GENESIS_HASH)
