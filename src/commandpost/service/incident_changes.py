"""Changes to a declared incident: status, severity, updates, notes, evidence, resolve, close.

Each change checks who may make it (`require_role`), records it in the audit chain and tells
the channel. The SLA timers live here too: a severity change re-arms them, as declaring does.
Callers import these from `commandpost.service.incidents`, the incidents' public face.
"""

from __future__ import annotations

from sqlmodel import Session, select

from commandpost.core import deadlines as due
from commandpost.core.durations import format_duration
from commandpost.core.gates import GateKind
from commandpost.core.lifecycle import check_transition, is_open
from commandpost.core.vocabulary import Role, Severity, Status
from commandpost.errors import Conflict, InvalidInput, NotAuthorised
from commandpost.service import evidence as sealed_evidence
from commandpost.service import timers
from commandpost.service.context import Context, audit, load_incident, person_or_refuse, post
from commandpost.service.roles import page_for_severity, roles_of
from commandpost.storage import models as m
from commandpost.storage.engine import transaction


def require_role(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    person_id: str,
    *,
    roles: tuple[Role, ...] | None = None,
    doing: str,
) -> frozenset[str]:
    """Server-side authorisation: the actor must hold one of `roles` (or any role) here."""
    policy = ctx.policy_for(incident)
    person_or_refuse(policy, person_id)
    held = roles_of(session, policy, incident.id, person_id)
    wanted = {r.value for r in roles} if roles else None
    if (wanted is None and not held) or (wanted is not None and not held & wanted):
        need = ", ".join(sorted(wanted)) if wanted else "a role in this incident"
        raise NotAuthorised(f"{person_id} cannot {doing}: it needs {need}")
    return held


def change_status(
    ctx: Context, incident_id: str, *, status: Status, actor: str, note: str | None = None
) -> None:
    if status in (Status.RESOLVED, Status.CLOSED):
        raise InvalidInput(f"use `{'resolve' if status is Status.RESOLVED else 'close'}` for that")
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        require_role(session, ctx, incident, actor, doing="change the status")
        current = Status(incident.status)
        check_transition(current, status)
        apply_status(session, ctx, incident, status=status, actor=actor, note=note)


def apply_status(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    *,
    status: Status,
    actor: str,
    note: str | None,
) -> None:
    now = ctx.now()
    previous = incident.status
    incident.status = status.value
    if status is Status.CONTAINED and incident.contained_at is None:
        incident.contained_at = now
        timers.cancel(session, incident.id, kind=due.DeadlineKind.MITIGATION_SLA)
    session.add(incident)
    audit(
        session,
        ctx,
        incident,
        actor=actor,
        kind="status.changed",
        previous=previous,
        status=status.value,
        note=note,
    )
    _mark_update(session, ctx, incident)
    post(
        session,
        ctx,
        incident,
        f"Status {previous} → {status.value}" + (f": {note}" if note else ""),
    )


def post_update(ctx: Context, incident_id: str, *, actor: str, text: str) -> None:
    if not text.strip():
        raise InvalidInput("a status update needs text")
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        _require_open(incident)
        require_role(session, ctx, incident, actor, doing="post a status update")
        audit(session, ctx, incident, actor=actor, kind="status.update", text=text.strip())
        _mark_update(session, ctx, incident)
        post(session, ctx, incident, f"Update from {actor}: {text.strip()}")


def _mark_update(session: Session, ctx: Context, incident: m.Incident) -> None:
    """A status update restarts the cadence timer at the current severity's interval."""
    incident.last_update_at = ctx.now()
    session.add(incident)
    timers.cancel(session, incident.id, kind=due.DeadlineKind.STATUS_CADENCE)
    if is_open(Status(incident.status)):
        cadence = ctx.policy_for(incident).severity(Severity(incident.severity)).update_cadence
        timers.schedule(
            session,
            incident.id,
            due.cadence_due(last_update_at=incident.last_update_at, cadence=cadence),
        )


def change_severity(
    ctx: Context, incident_id: str, *, severity: Severity, actor: str, reason: str | None = None
) -> int | None:
    """Upgrade at once; a downgrade of SEV0/SEV1 is a gate (returns its id)."""
    from commandpost.service.gates import open_gate

    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        _require_open(incident)
        require_role(session, ctx, incident, actor, doing="change the severity")
        current = Severity(incident.severity)
        if severity is current:
            raise Conflict(f"{incident.id} is already {current.value}")
        if severity.rank > current.rank:
            if not reason or not reason.strip():
                raise InvalidInput("a severity downgrade needs a reason")
            if current.rank <= 1:
                gate = open_gate(
                    session,
                    ctx,
                    incident,
                    kind=GateKind.SEVERITY_DOWNGRADE,
                    subject=severity.value,
                    rule_name="severity_downgrade",
                    payload={"from": current.value, "to": severity.value},
                    requester=actor,
                    reason=reason,
                )
                return gate.id
        apply_severity(session, ctx, incident, severity=severity, actor=actor, reason=reason)
        return None


def apply_severity(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    *,
    severity: Severity,
    actor: str,
    reason: str | None,
) -> None:
    previous = incident.severity
    incident.severity = severity.value
    session.add(incident)
    audit(
        session,
        ctx,
        incident,
        actor=actor,
        kind="severity.changed",
        previous=previous,
        severity=severity.value,
        reason=reason,
    )
    post(
        session,
        ctx,
        incident,
        f"Severity {previous} → {severity.value}" + (f" ({reason})" if reason else ""),
    )
    page_for_severity(session, ctx, incident, actor=actor)
    # New numbers for the SLA timers: the mitigation SLA and cadence follow the severity.
    timers.cancel(session, incident.id, kind=due.DeadlineKind.MITIGATION_SLA)
    timers.cancel(session, incident.id, kind=due.DeadlineKind.STATUS_CADENCE)
    schedule_sla_timers(session, ctx, incident)


def add_note(
    ctx: Context, incident_id: str, *, actor: str, text: str, evidence: bool = False
) -> None:
    if not text.strip():
        raise InvalidInput("evidence needs text or a link" if evidence else "a note needs text")
    if evidence:
        # Sealed, not chained in clear: the audit event keeps the hash, the channel the
        # redacted copy.
        sealed_evidence.add(ctx, incident_id, actor=actor, content=text.strip().encode())
        return
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        person_or_refuse(ctx.policy_for(incident), actor)
        audit(session, ctx, incident, actor=actor, kind="note.added", text=text.strip())
        post(session, ctx, incident, f"Note from {actor}: {text.strip()}")


def resolve(ctx: Context, incident_id: str, *, actor: str, summary: str) -> None:
    if not summary.strip():
        raise InvalidInput("resolve needs a summary of what was done")
    with transaction(ctx.engine) as session:
        incident = _locked_for_ic(
            session, ctx, incident_id, actor=actor, doing="resolve the incident"
        )
        check_transition(Status(incident.status), Status.RESOLVED)
        waiting = list(
            session.exec(
                select(m.Gate.id).where(
                    m.Gate.incident_id == incident.id, m.Gate.state == "pending"
                )
            )
        )
        if waiting:
            raise Conflict(
                "gates still waiting for a decision: "
                + ", ".join(f"#{g}" for g in waiting)
                + "; decide them first"
            )
        now = ctx.now()
        incident.status = Status.RESOLVED.value
        incident.resolved_at = now
        incident.resolution = summary.strip()
        session.add(incident)
        stopped = timers.cancel(session, incident.id)
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="incident.resolved",
            summary=summary.strip(),
            timers_stopped=stopped,
            minutes_open=round((now - incident.declared_at).total_seconds() / 60, 1),
        )
        post(
            session,
            ctx,
            incident,
            f"Resolved by {actor} after "
            f"{format_duration(now - incident.declared_at)}: {summary.strip()}",
        )
        # Imported here: the review module uses require_role from this one.
        from commandpost.service.review import open_review

        open_review(session, ctx, incident, actor=actor)


def _locked_for_ic(
    session: Session, ctx: Context, incident_id: str, *, actor: str, doing: str
) -> m.Incident:
    """Ending an incident is the incident commander's call."""
    incident = load_incident(session, incident_id, lock=True)
    require_role(session, ctx, incident, actor, roles=(Role.INCIDENT_COMMANDER,), doing=doing)
    return incident


def close(ctx: Context, incident_id: str, *, actor: str) -> None:
    with transaction(ctx.engine) as session:
        incident = _locked_for_ic(
            session, ctx, incident_id, actor=actor, doing="close the incident"
        )
        check_transition(Status(incident.status), Status.CLOSED)
        from commandpost.service.review import require_done

        require_done(session, incident)
        incident.status = Status.CLOSED.value
        incident.closed_at = ctx.now()
        session.add(incident)
        audit(session, ctx, incident, actor=actor, kind="incident.closed")
        post(session, ctx, incident, f"Closed by {actor}.")


def _require_open(incident: m.Incident) -> None:
    if not is_open(Status(incident.status)):
        raise Conflict(
            f"{incident.id} is {incident.status}; reopen it by setting status investigating first"
        )


def schedule_sla_timers(
    session: Session, ctx: Context, incident: m.Incident, *, new_incident: bool = False
) -> None:
    """Arm the mitigation SLA (unless contained or already breached) and the update cadence.

    `new_incident`: the caller has just inserted the incident in this transaction, so no
    deadline of it can have fired: the breach look-up (a query of its own plus an early
    flush, inside the writer's lock) is skipped, and the deadlines are appended as plain rows
    for the caller to write (`roles.write_new_pages`).
    """
    spec = ctx.policy_for(incident).severity(Severity(incident.severity))
    schedule = timers.schedule_plain if new_incident else timers.schedule
    breached = not new_incident and _mitigation_breached(session, incident.id)
    if incident.contained_at is None and not breached:
        mitigation = due.mitigation_due(
            declared_at=incident.declared_at, sla=spec.first_mitigation_sla
        )
        if mitigation is not None:
            schedule(session, incident.id, mitigation)
    schedule(
        session,
        incident.id,
        due.cadence_due(last_update_at=incident.last_update_at, cadence=spec.update_cadence),
    )


def _mitigation_breached(session: Session, incident_id: str) -> bool:
    """The first-mitigation breach is announced once, whatever the severity does after it."""
    fired = session.exec(
        select(m.Deadline.id).where(
            m.Deadline.incident_id == incident_id,
            m.Deadline.kind == due.DeadlineKind.MITIGATION_SLA.value,
            m.Deadline.state == "fired",
        )
    ).first()
    return fired is not None
