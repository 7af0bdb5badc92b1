"""One archive of an incident for auditors and counsel, with a signed manifest.

    export(ctx, "INC-2026-0001", out=Path("inc.zip"), actor="ivan", reason="regulator request",
           secret=b"...")  -> the manifest (dict)

Inside: incident.json, audit/events.jsonl (the incident's events with their hashes),
audit/verification.json (the whole chain re-verified at export time), evidence/index.json
and evidence/<sha256> (the sealed originals still kept), notices/<id>.json (each notice as
approved, with its approvals and deliveries) and notices/<id>.txt (the exact approved text),
and manifest.json (every file's SHA-256, HMAC-SHA256 signed; `evidence.archive`).

The archive holds sealed originals, so exporting is a read: the same readers rule applies,
the export is an `incident.exported` audit event, and each original exported is a read.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from commandpost.errors import InvalidInput, NotAuthorised
from commandpost.evidence.archive import write_archive
from commandpost.service import audit_log, notices
from commandpost.service.context import Context, audit, load_incident, person_or_refuse
from commandpost.service.evidence import may_act, reads_of, store_for
from commandpost.storage.engine import read_transaction, transaction
from commandpost.storage.evidence_models import Evidence, EvidenceRead, LegalHold


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


def export(
    ctx: Context, incident_id: str, *, out: Path, actor: str, reason: str, secret: bytes
) -> dict[str, Any]:
    if not reason.strip():
        raise InvalidInput("an export holds sealed evidence: it needs a reason (--reason)")
    if not secret:
        raise InvalidInput(
            "no signing key: set COMMANDPOST_EXPORT_SIGNING_SECRET so recipients can verify"
        )
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        policy = ctx.policy_for(incident)
        person_or_refuse(policy, actor)
        if not may_act(session, policy, incident.id, actor, policy.evidence.readers):
            raise NotAuthorised(
                f"{actor} cannot export sealed evidence: it needs one of "
                + ", ".join(policy.evidence.readers)
            )
        live = list(
            session.exec(
                select(Evidence).where(
                    Evidence.incident_id == incident.id, col(Evidence.deleted_at).is_(None)
                )
            )
        )
        for row in live:
            assert row.id is not None
            session.add(
                EvidenceRead(
                    evidence_id=row.id,
                    reader=actor,
                    read_at=ctx.now(),
                    reason=f"export: {reason.strip()}",
                )
            )
        # Recorded before the archive is built, so the archive's chain shows its own export.
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="incident.exported",
            reason=reason.strip(),
            file=out.name,
            evidence=[r.sha256 for r in live],
        )
        record = incident.model_dump(mode="json")
    files: dict[str, bytes] = {"incident.json": _json(record)}
    files.update(_audit_files(ctx, incident_id))
    files.update(_evidence_files(ctx, incident_id))
    files.update(_notice_files(ctx, incident_id))
    meta = {"incident": record["id"], "exported_by": actor, "exported_at": ctx.now().isoformat()}
    return write_archive(out, files, meta=meta, secret=secret)


def _audit_files(ctx: Context, incident_id: str) -> dict[str, bytes]:
    lines = list(audit_log.export_jsonl(ctx, incident_id))
    report = audit_log.verify(ctx)
    return {
        "audit/events.jsonl": ("\n".join(lines) + "\n").encode(),
        "audit/verification.json": _json(
            {
                "scope": "the whole audit chain, re-verified at export",
                "ok": report.ok,
                **dataclasses.asdict(report),
            }
        ),
    }


def _evidence_files(ctx: Context, incident_id: str) -> dict[str, bytes]:
    store = store_for(ctx)
    files: dict[str, bytes] = {}
    index: list[dict[str, Any]] = []
    with read_transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        rows = list(
            session.exec(
                select(Evidence)
                .where(Evidence.incident_id == incident.id)
                .order_by(col(Evidence.id))
            )
        )
        holds = list(session.exec(select(LegalHold).where(LegalHold.incident_id == incident.id)))
        for row in rows:
            assert row.id is not None
            entry = row.model_dump(mode="json")
            entry["reads"] = [r.model_dump(mode="json") for r in reads_of(session, row.id)]
            if row.deleted_at is None:
                entry["file"] = f"evidence/{row.sha256}"
                files[entry["file"]] = store.get(row.sha256)
            index.append(entry)
    files["evidence/index.json"] = _json(
        {"evidence": index, "legal_holds": [h.model_dump(mode="json") for h in holds]}
    )
    return files


def _notice_files(ctx: Context, incident_id: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for notice in notices.list_notices(ctx, incident_id):
        files[f"notices/{notice.id}.json"] = _json(dataclasses.asdict(notice))
        files[f"notices/{notice.id}.txt"] = notice.text.encode()
    return files
