"""Legal holds and retention: what may be deleted, when, and who may stop it.

    place_hold(ctx, "INC-2026-0001", actor="ivan", reason="litigation notice")
    release_hold(ctx, "INC-2026-0001", actor="ivan", reason="matter settled")
                                          # only roles in evidence.hold_releasers
    run_retention(ctx, actor="retention")               -> list[Deletion]

Retention counts from when the incident ended (closed, else resolved): evidence of an open
incident is never due. Under an unreleased hold nothing is deleted. A deletion keeps the
record (deleted_at, why) and is an `evidence.deleted` audit event; only the object goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from commandpost.core.durations import format_duration
from commandpost.core.vocabulary import IncidentClass
from commandpost.errors import Conflict, InvalidInput, NotAuthorised, NotFound
from commandpost.service.context import Context, audit, load_incident, person_or_refuse, post
from commandpost.service.evidence import may_act, store_for
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction, transaction
from commandpost.storage.evidence_models import Evidence, LegalHold

DELETED_COPY = "[deleted: retention period over]"


def active_hold(session: Session, incident_id: str) -> LegalHold | None:
    query = select(LegalHold).where(
        LegalHold.incident_id == incident_id, col(LegalHold.released_at).is_(None)
    )
    return session.exec(query).first()


def place_hold(ctx: Context, incident_id: str, *, actor: str, reason: str) -> LegalHold:
    if not reason.strip():
        raise InvalidInput("a legal hold needs a reason (--reason)")
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        policy = ctx.policy_for(incident)
        person_or_refuse(policy, actor)
        allowed = [*policy.evidence.readers, *policy.evidence.hold_releasers]
        if not may_act(session, policy, incident.id, actor, allowed):
            raise NotAuthorised(
                f"{actor} cannot place a legal hold: it needs one of {', '.join(allowed)}"
            )
        if active_hold(session, incident.id) is not None:
            raise Conflict(f"{incident.id} is already under a legal hold")
        hold = LegalHold(
            incident_id=incident.id, placed_by=actor, placed_at=ctx.now(), reason=reason.strip()
        )
        session.add(hold)
        session.flush()
        audit(session, ctx, incident, actor=actor, kind="hold.placed", reason=reason.strip())
        post(session, ctx, incident, f"Legal hold placed by {actor}: evidence is kept.")
        return hold


def release_hold(ctx: Context, incident_id: str, *, actor: str, reason: str) -> LegalHold:
    if not reason.strip():
        raise InvalidInput("releasing a legal hold needs a reason (--reason)")
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        policy = ctx.policy_for(incident)
        person_or_refuse(policy, actor)
        releasers = policy.evidence.hold_releasers
        if not may_act(session, policy, incident.id, actor, releasers):
            raise NotAuthorised(
                f"{actor} cannot release a legal hold: it needs {', '.join(releasers)}"
            )
        hold = active_hold(session, incident.id)
        if hold is None:
            raise NotFound(f"{incident.id} is not under a legal hold")
        hold.released_by = actor
        hold.released_at = ctx.now()
        session.add(hold)
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="hold.released",
            hold_id=hold.id,
            reason=reason.strip(),
        )
        post(session, ctx, incident, f"Legal hold released by {actor}: {reason.strip()}")
        return hold


@dataclass(frozen=True)
class Deletion:
    evidence_id: int
    incident_id: str
    sha256: str
    reason: str
    object_deleted: bool


def _ended(incident: m.Incident) -> datetime | None:
    return incident.closed_at or incident.resolved_at


def run_retention(ctx: Context, *, actor: str = "retention") -> list[Deletion]:
    """Delete every object past its class's retention, except under a legal hold."""
    now = ctx.now()
    with read_transaction(ctx.engine) as session:
        due = list(
            session.exec(
                select(Evidence.incident_id)
                .where(col(Evidence.deleted_at).is_(None))
                .distinct()
                .order_by(col(Evidence.incident_id))
            )
        )
    done: list[Deletion] = []
    for incident_id in due:
        done.extend(_expire_incident(ctx, incident_id, actor=actor, now=now))
    sweep(ctx)
    return done


def _expire_incident(
    ctx: Context, incident_id: str, *, actor: str, now: datetime
) -> list[Deletion]:
    store = store_for(ctx)
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        ended = _ended(incident)
        keep = ctx.policy_for(incident).evidence.retention.get(IncidentClass(incident.klass))
        if ended is None or keep is None or ended + keep > now:
            return []
        if active_hold(session, incident.id) is not None:
            return []
        rows = list(
            session.exec(
                select(Evidence).where(
                    Evidence.incident_id == incident.id, col(Evidence.deleted_at).is_(None)
                )
            )
        )
        reason = (
            f"retention: {incident.klass} evidence is kept {format_duration(keep)} after the "
            f"incident ended ({ended.isoformat()})"
        )
        planned: list[Evidence] = []
        for row in rows:
            row.deleted_at = now
            row.deleted_reason = reason
            row.redacted = DELETED_COPY
            session.add(row)
            audit(
                session,
                ctx,
                incident,
                actor=actor,
                kind="evidence.deleted",
                evidence_id=row.id,
                sha256=row.sha256,
                reason=reason,
            )
            planned.append(row)
        session.flush()
        # An object can back records of several incidents (same bytes): it goes only when
        # no live record, held or not, still names it.
        shared = set(
            session.exec(
                select(Evidence.sha256).where(
                    col(Evidence.sha256).in_([r.sha256 for r in planned]),
                    col(Evidence.deleted_at).is_(None),
                )
            )
        )
    # After the commit: if deleting fails, the record already says why it should be gone
    # and the next run finds the object again (see `sweep`), rather than a live record
    # pointing at nothing.
    result = []
    for row in planned:
        assert row.id is not None
        gone = row.sha256 not in shared and store.delete(row.sha256)
        result.append(Deletion(row.id, incident.id, row.sha256, reason, gone))
    return result


def sweep(ctx: Context) -> list[str]:
    """Objects whose every record was deleted but that are still stored: delete them."""
    store = store_for(ctx)
    with read_transaction(ctx.engine) as session:
        dead = set(
            session.exec(select(Evidence.sha256).where(col(Evidence.deleted_at).is_not(None)))
        )
        live = set(session.exec(select(Evidence.sha256).where(col(Evidence.deleted_at).is_(None))))
    return [sha for sha in sorted(dead - live) if store.delete(sha)]
