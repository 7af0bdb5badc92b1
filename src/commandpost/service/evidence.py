"""Sealed evidence: add it, read the original (chain of custody), verify the store.

    ctx.evidence = LocalEvidenceStore(dir)    which store (default: what the settings choose,
                                              `evidence.config.store_from_settings`)
    add(ctx, "INC-2026-0001", actor="erin", content=b"...", kind="output",
        label="transcript", media_type="text/plain")      -> EvidenceView
    add_from_monitor(ctx, "INC-2026-0001", source="guardrail", content=b"...", kind="trace")
                                                           -> (EvidenceView, created)
    read_original(ctx, evidence_id, actor="ivan", reason="counsel review") -> bytes
    verify(ctx)                                            -> StoreReport
    list_evidence(ctx, incident_id)                        -> list[EvidenceView]

The original goes to the store once, named by its SHA-256; the channel and the database see
only the redacted copy. Reading an original needs a role or group the policy's `evidence
.readers` names and a reason, and every read is an `evidence.read` audit event. Holds and
retention: `service.evidence_retention`; the archive for counsel: `service.evidence_export`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from commandpost.core.policy import Policy
from commandpost.errors import Conflict, EvidenceChanged, InvalidInput, NotAuthorised, NotFound
from commandpost.evidence import redact
from commandpost.evidence.config import store_from_settings
from commandpost.service.context import Context, audit, load_incident, person_or_refuse, post
from commandpost.service.ports import EvidenceStore
from commandpost.service.roles import roles_of
from commandpost.settings import Settings
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction, transaction
from commandpost.storage.evidence_models import Evidence, EvidenceRead

KINDS = ("prompt", "output", "trace", "config", "other")
PREVIEW_CHARS = 500


def store_for(ctx: Context) -> EvidenceStore:
    if ctx.evidence is None:
        ctx.evidence = store_from_settings(Settings())
    return ctx.evidence


@dataclass(frozen=True)
class EvidenceView:
    id: int
    incident_id: str
    sha256: str
    size: int
    media_type: str
    kind: str
    label: str
    added_by: str
    added_at: datetime
    redacted: str
    deleted_at: datetime | None
    deleted_reason: str | None


def view(row: Evidence) -> EvidenceView:
    assert row.id is not None
    return EvidenceView(
        id=row.id,
        incident_id=row.incident_id,
        sha256=row.sha256,
        size=row.size,
        media_type=row.media_type,
        kind=row.kind,
        label=row.label,
        added_by=row.added_by,
        added_at=row.added_at,
        redacted=row.redacted,
        deleted_at=row.deleted_at,
        deleted_reason=row.deleted_reason,
    )


def channel_copy(content: bytes, *, media_type: str, policy: Policy) -> str:
    """The redacted text; bytes that are not text are only described, never shown."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return f"[{media_type}, {len(content)} bytes: binary, not shown]"
    return redact(text, policy.evidence.redact)


def add(
    ctx: Context,
    incident_id: str,
    *,
    actor: str,
    content: bytes,
    kind: str = "other",
    label: str = "",
    media_type: str = "text/plain",
) -> EvidenceView:
    _check(content, kind)
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        person_or_refuse(ctx.policy_for(incident), actor)
        return _seal(
            session,
            ctx,
            incident,
            actor=actor,
            content=content,
            kind=kind,
            label=label,
            media_type=media_type,
        )


MONITOR_PREFIX = "monitor:"


def add_from_monitor(
    ctx: Context,
    incident_id: str,
    *,
    source: str,
    content: bytes,
    kind: str,
    label: str = "",
    media_type: str = "application/octet-stream",
) -> tuple[EvidenceView, bool]:
    """Evidence a monitor posted (`POST /incidents/<id>/evidence`), already authenticated
    as `source`. The same bytes for the same incident again are the record already made
    (False): a monitor retrying after a lost answer must not add the evidence twice."""
    _check(content, kind)
    with transaction(ctx.engine) as session:
        # The lock serialises the check below with a concurrent retry of the same bytes.
        incident = load_incident(session, incident_id, lock=True)
        sha256 = hashlib.sha256(content).hexdigest()
        existing = session.exec(
            select(Evidence)
            .where(
                Evidence.incident_id == incident.id,
                Evidence.sha256 == sha256,
                col(Evidence.deleted_at).is_(None),
            )
            .order_by(col(Evidence.id))
        ).first()
        if existing is not None:
            return view(existing), False
        added = _seal(
            session,
            ctx,
            incident,
            actor=f"{MONITOR_PREFIX}{source}"[:80],
            content=content,
            kind=kind,
            label=label,
            media_type=media_type,
        )
        return added, True


def _check(content: bytes, kind: str) -> None:
    if not content.strip():
        raise InvalidInput("evidence needs text or a link")
    if kind not in KINDS:
        raise InvalidInput(f"unknown evidence kind {kind!r}; use one of {', '.join(KINDS)}")


def _seal(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    *,
    actor: str,
    content: bytes,
    kind: str,
    label: str,
    media_type: str,
) -> EvidenceView:
    policy = ctx.policy_for(incident)
    # Sealed before the record: if the transaction fails, an unreferenced object is left
    # (harmless, content-addressed); the other order could leave a record whose original
    # was never stored.
    sha256 = store_for(ctx).put(content)
    row = Evidence(
        incident_id=incident.id,
        sha256=sha256,
        size=len(content),
        media_type=media_type[:100],
        kind=kind,
        label=label.strip()[:200],
        added_by=actor,
        added_at=ctx.now(),
        redacted=channel_copy(content, media_type=media_type, policy=policy),
    )
    session.add(row)
    session.flush()
    audit(
        session,
        ctx,
        incident,
        actor=actor,
        kind="evidence.added",
        evidence_id=row.id,
        sha256=sha256,
        size=row.size,
        evidence_kind=kind,
        label=row.label,
        media_type=row.media_type,
    )
    preview = row.redacted
    if len(preview) > PREVIEW_CHARS:
        preview = preview[: PREVIEW_CHARS - 1] + "…"
    # The same line a responder always saw; the hash and id are in the audit event.
    post(session, ctx, incident, f"Evidence from {actor}: {preview}")
    return view(row)


def may_act(
    session: Session, policy: Policy, incident_id: str, person_id: str, names: list[str]
) -> bool:
    """Holds a named role in the incident, is in a named group, or stands in the rotation
    of a named role: counsel reads months later without having been paged."""
    if roles_of(session, policy, incident_id, person_id) & set(names):
        return True
    return any(
        person_id in rotation.chain()
        for role, rotation in policy.rotations.items()
        if role.value in names
    )


def read_original(ctx: Context, evidence_id: int, *, actor: str, reason: str) -> bytes:
    if not reason.strip():
        raise InvalidInput("reading a sealed original needs a reason (--reason)")
    with transaction(ctx.engine) as session:
        row = session.get(Evidence, evidence_id)
        if row is None:
            raise NotFound(f"no evidence #{evidence_id}")
        incident = load_incident(session, row.incident_id, lock=True)
        policy = ctx.policy_for(incident)
        person_or_refuse(policy, actor)
        readers = policy.evidence.readers
        if not may_act(session, policy, incident.id, actor, readers):
            raise NotAuthorised(
                f"{actor} cannot read sealed evidence: it needs one of {', '.join(readers)}"
            )
        if row.deleted_at is not None:
            raise Conflict(f"evidence #{evidence_id} was deleted: {row.deleted_reason}")
        try:
            content = store_for(ctx).get(row.sha256)
        except EvidenceChanged:
            raise Conflict(
                f"evidence #{evidence_id} no longer matches its SHA-256 {row.sha256}: "
                "the stored object was changed; run `commandpost evidence-store verify`"
            ) from None
        session.add(
            EvidenceRead(
                evidence_id=evidence_id, reader=actor, read_at=ctx.now(), reason=reason.strip()
            )
        )
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="evidence.read",
            evidence_id=evidence_id,
            sha256=row.sha256,
            reason=reason.strip(),
        )
        return content


@dataclass(frozen=True)
class StoreReport:
    checked: int
    changed: tuple[str, ...]  # sha256s whose bytes no longer hash to their name
    missing: tuple[str, ...]  # sha256s a live record names that the store lacks

    @property
    def ok(self) -> bool:
        return not self.changed and not self.missing


def verify(ctx: Context) -> StoreReport:
    """Re-hash every object in the store, and check every live record still has one."""
    store = store_for(ctx)
    with read_transaction(ctx.engine) as session:
        wanted = set(
            session.exec(select(Evidence.sha256).where(col(Evidence.deleted_at).is_(None)))
        )
    changed: list[str] = []
    checked = 0
    for name in store.iter():
        checked += 1
        try:
            store.get(name)  # every store re-hashes what it reads
        except NotFound:
            continue  # deleted while we looked
        except EvidenceChanged:
            changed.append(name)
    missing = sorted(sha for sha in wanted if not store.exists(sha))
    return StoreReport(checked=checked, changed=tuple(changed), missing=tuple(missing))


def list_evidence(ctx: Context, incident_id: str) -> list[EvidenceView]:
    with read_transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        rows = session.exec(
            select(Evidence).where(Evidence.incident_id == incident.id).order_by(col(Evidence.id))
        )
        return [view(r) for r in rows]


def reads_of(session: Session, evidence_id: int) -> list[EvidenceRead]:
    query = select(EvidenceRead).where(EvidenceRead.evidence_id == evidence_id)
    return list(session.exec(query.order_by(col(EvidenceRead.id))))
