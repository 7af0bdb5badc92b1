"""Incident operations: declare, status, severity, updates, notes, evidence, resolve, close."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from commandpost.core import deadlines as due
from commandpost.core.durations import format_duration
from commandpost.core.effects import ChannelPost, OpenChannel
from commandpost.core.gates import GateKind
from commandpost.core.lifecycle import check_transition, is_open
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.errors import Conflict, InvalidInput, NotAuthorised
from commandpost.service import timers
from commandpost.service.context import (
    Context,
    audit,
    enqueue,
    load_incident,
    person_or_refuse,
    post,
)
from commandpost.service.ids import channel_name, format_incident_id, next_number
from commandpost.service.roles import holder, page_for_severity, roles_of
from commandpost.storage import models as m
from commandpost.storage.engine import transaction


@dataclass(frozen=True)
class Declaration:
    title: str
    klass: IncidentClass
    severity: Severity
    declared_by: str
    model: str | None = None
    model_version: str | None = None
    surface: str | None = None
    tenant: str | None = None
    region: str | None = None
    description: str | None = None
    trigger: str = "command"


def store_policy(session: Session, ctx: Context) -> None:
    version = ctx.policy.version()
    if session.get(m.PolicySnapshot, version) is None:
        body = json.dumps(ctx.policy.model_dump(mode="json"), sort_keys=True)
        session.add(
            m.PolicySnapshot(version=version, name=ctx.policy.name, body=body, loaded_at=ctx.now())
        )
        session.flush()


def declare(ctx: Context, spec: Declaration, *, attempts: int = 5) -> m.Incident:
    if not spec.title.strip():
        raise InvalidInput("an incident needs a title")
    person_or_refuse(ctx.policy, spec.declared_by)
    for attempt in range(attempts):
        try:
            return _declare_once(ctx, spec)
        except IntegrityError:
            # Another replica took the same number; the whole declaration was rolled back.
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _declare_once(ctx: Context, spec: Declaration) -> m.Incident:
    with transaction(ctx.engine) as session:
        store_policy(session, ctx)
        now = ctx.now()
        number = next_number(session, now.year)
        incident_id = format_incident_id(now.year, number)
        incident = m.Incident(
            id=incident_id,
            year=now.year,
            number=number,
            title=spec.title.strip(),
            klass=spec.klass.value,
            severity=spec.severity.value,
            status=Status.DECLARED.value,
            model=spec.model,
            model_version=spec.model_version,
            surface=spec.surface,
            tenant=spec.tenant,
            region=spec.region,
            description=spec.description,
            trigger=spec.trigger,
            channel=channel_name(incident_id, spec.title),
            policy_version=ctx.policy.version(),
            declared_by=spec.declared_by,
            declared_at=now,
            last_update_at=now,
        )
        session.add(incident)
        session.flush()
        audit(
            session,
            ctx,
            incident,
            actor=spec.declared_by,
            kind="incident.declared",
            title=incident.title,
            klass=incident.klass,
            severity=incident.severity,
            surface=incident.surface,
            model=incident.model,
            model_version=incident.model_version,
            trigger=incident.trigger,
        )
        enqueue_channel_open(session, ctx, incident)
        page_for_severity(session, ctx, incident, actor="commandpost")
        _schedule_sla_timers(session, ctx, incident)
        return incident


def enqueue_channel_open(session: Session, ctx: Context, incident: m.Incident) -> None:
    policy = ctx.policy_for(incident)
    summary = (
        f"{incident.id} {incident.severity} {incident.klass}: {incident.title}"
        + (
            f" | model {incident.model} {incident.model_version or ''}".rstrip()
            if incident.model
            else ""
        )
        + (f" | surface {incident.surface}" if incident.surface else "")
    )
    enqueue(
        session, ctx, OpenChannel(name=incident.channel, topic=summary, incident_id=incident.id)
    )
    post(session, ctx, incident, f"Declared by {incident.declared_by}: {summary}")
    enqueue(
        session,
        ctx,
        ChannelPost(
            channel=policy.announcements_channel,
            text=f"New incident {summary} in #{incident.channel}",
            incident_id=incident.id,
        ),
    )


def _schedule_sla_timers(session: Session, ctx: Context, incident: m.Incident) -> None:
    spec = ctx.policy_for(incident).severity(Severity(incident.severity))
    if incident.contained_at is None and not _mitigation_breached(session, incident.id):
        mitigation = due.mitigation_due(
            declared_at=incident.declared_at, sla=spec.first_mitigation_sla
        )
        if mitigation is not None:
            timers.schedule(session, incident.id, mitigation)
    timers.schedule(
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
    _schedule_sla_timers(session, ctx, incident)


def add_note(
    ctx: Context, incident_id: str, *, actor: str, text: str, evidence: bool = False
) -> None:
    if not text.strip():
        raise InvalidInput("evidence needs text or a link" if evidence else "a note needs text")
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        person_or_refuse(ctx.policy_for(incident), actor)
        kind = "evidence.added" if evidence else "note.added"
        audit(session, ctx, incident, actor=actor, kind=kind, text=text.strip())
        label = "Evidence" if evidence else "Note"
        post(session, ctx, incident, f"{label} from {actor}: {text.strip()}")


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


def list_incidents(ctx: Context, *, open_only: bool = True) -> list[m.Incident]:
    with transaction(ctx.engine) as session:
        query = select(m.Incident).order_by(col(m.Incident.declared_at))
        rows = list(session.exec(query))
    return [r for r in rows if not open_only or is_open(Status(r.status))]


def get_incident(ctx: Context, incident_id: str) -> m.Incident:
    with transaction(ctx.engine) as session:
        return load_incident(session, incident_id)


def ic_of(session: Session, incident: m.Incident) -> str | None:
    row = holder(session, incident.id, Role.INCIDENT_COMMANDER)
    return row.person_id if row else None
