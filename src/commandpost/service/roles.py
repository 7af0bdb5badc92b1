"""Staffing: paging roles from rotations, acknowledging, assigning and handing over."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Table
from sqlmodel import Session, SQLModel, select

from commandpost.core.deadlines import DeadlineKind, ack_due
from commandpost.core.durations import format_duration
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import Role, Severity
from commandpost.errors import Conflict, NotAuthorised, NotFound
from commandpost.service import timers
from commandpost.service.context import (
    Context,
    audit,
    direct,
    load_incident,
    person_or_refuse,
    post,
)
from commandpost.storage import models as m
from commandpost.storage.append import append, write_appended
from commandpost.storage.engine import transaction

ROLES: Table = SQLModel.metadata.tables[m.RoleAssignment.__tablename__]


def write_new_pages(session: Session) -> None:
    """Write the rows `page_for_severity(new_incident=True)` appended (one INSERT per table).

    Called before anything else in the transaction can add role or deadline rows: rows the
    ORM flushes later then get later ids, in the order the calls were made, as before."""
    write_appended(session, only=(ROLES, timers.DEADLINES))


def active_assignments(session: Session, incident_id: str) -> list[m.RoleAssignment]:
    query = select(m.RoleAssignment).where(
        m.RoleAssignment.incident_id == incident_id,
        m.RoleAssignment.active == True,  # noqa: E712
    )
    return list(session.exec(query))


def holder(session: Session, incident_id: str, role: Role) -> m.RoleAssignment | None:
    for row in active_assignments(session, incident_id):
        if row.role == role.value:
            return row
    return None


def roles_of(
    session: Session,
    policy: Policy,
    incident_id: str,
    person_id: str,
    *,
    staffed_only: bool = False,
) -> frozenset[str]:
    """Incident roles the person holds, plus standing policy groups.

    `staffed_only` counts acknowledged roles only: a paged role is not staffed until its
    person acknowledges (DESIGN.md), and a gate decision needs a staffed role. Lesser steps
    (a note, a status change) accept the person paged for the role.
    """
    held = {
        r.role
        for r in active_assignments(session, incident_id)
        if r.person_id == person_id and (r.acknowledged_at is not None or not staffed_only)
    }
    groups = {g for g, members in policy.groups.items() if person_id in members}
    return frozenset(held | groups)


def paged_not_acknowledged(session: Session, incident_id: str, person_id: str) -> list[str]:
    """Roles the person was paged for and has not acknowledged: named in refusals."""
    return sorted(
        r.role
        for r in active_assignments(session, incident_id)
        if r.person_id == person_id and r.acknowledged_at is None
    )


def refusal_hint(session: Session, incident_id: str, person_id: str) -> str:
    waiting = paged_not_acknowledged(session, incident_id, person_id)
    if not waiting:
        return ""
    return f" (you were paged as {', '.join(waiting)}: acknowledge first, then decide)"


def page_role(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    *,
    role: Role,
    chain: list[str],
    actor: str,
    why: str,
    vacant: bool = False,
) -> m.RoleAssignment:
    """Make `chain[0]` the pending holder of `role` and start its acknowledgement chain.

    `vacant`: the caller has just seen that nobody holds the role, so it is not looked up
    again (a declaration pages three or four roles; each look-up flushed and queried)."""
    policy = ctx.policy_for(incident)
    now = ctx.now()
    previous = None if vacant else holder(session, incident.id, role)
    if previous is not None:
        previous.active = False
        previous.ended_at = now
        session.add(previous)
        timers.cancel(session, incident.id, kind=DeadlineKind.ACK, subject=role.value)
    person = person_or_refuse(policy, chain[0])
    row = m.RoleAssignment(
        incident_id=incident.id,
        role=role.value,
        person_id=person.id,
        chain=",".join(chain),
        paged_at=now,
    )
    session.add(row)
    _start_ack_chain(
        session,
        ctx,
        incident,
        policy,
        role=role,
        person_id=person.id,
        now=now,
        actor=actor,
        why=why,
    )
    return row


def _page_new(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    *,
    role: Role,
    chain: list[str],
    actor: str,
    why: str,
) -> None:
    """`page_role` for an incident inserted in this transaction (nobody can hold the role):
    the same rows, appended as plain rows (`storage.append`) rather than ORM objects, which
    cost more to build and flush than the rest of the page together. The caller writes them
    (`write_appended`) before anything else can add rows to these tables, so ids keep the
    order the ORM would have given them."""
    policy = ctx.policy_for(incident)
    now = ctx.now()
    person = person_or_refuse(policy, chain[0])
    append(
        session,
        ROLES,
        {
            "incident_id": incident.id,
            "role": role.value,
            "person_id": person.id,
            "chain": ",".join(chain),
            "chain_step": 0,
            "paged_at": now,
            "acknowledged_at": None,
            "unfilled": False,
            "active": True,
            "ended_at": None,
        },
    )
    _start_ack_chain(
        session,
        ctx,
        incident,
        policy,
        role=role,
        person_id=person.id,
        now=now,
        actor=actor,
        why=why,
        plain=True,
    )


def _start_ack_chain(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    policy: Policy,
    *,
    role: Role,
    person_id: str,
    now: datetime,
    actor: str,
    why: str,
    plain: bool = False,
) -> None:
    """The acknowledgement deadline, the audit event and the page itself."""
    sla = policy.severity(Severity(incident.severity)).ack_sla
    due = ack_due(role=role.value, step=0, paged_at=now, ack_sla=sla)
    if plain:
        timers.schedule_plain(session, incident.id, due)
    else:
        timers.schedule(session, incident.id, due)
    audit(
        session,
        ctx,
        incident,
        actor=actor,
        kind="role.paged",
        role=role.value,
        person=person_id,
        why=why,
    )
    direct(
        session,
        ctx,
        incident,
        person_id,
        f"You are paged as {role.value} for {incident.id} ({incident.severity}, "
        f"{incident.klass}): {incident.title}. Acknowledge within {_fmt(sla)}.",
        card=f"role_page:{role.value}",
    )


def page_for_severity(
    session: Session, ctx: Context, incident: m.Incident, *, actor: str, new_incident: bool = False
) -> None:
    """Page every role the severity needs that is not already held.

    `new_incident`: the caller has just inserted the incident in this transaction, so nobody
    holds a role in it yet: the look-up (a query, inside the writer's lock) is skipped and the
    pages are appended as plain rows (`_page_new`); the caller then writes them with
    `write_new_pages`."""
    policy = ctx.policy_for(incident)
    needed = policy.severity(Severity(incident.severity)).page
    held = set() if new_incident else {r.role for r in active_assignments(session, incident.id)}
    page = _page_new if new_incident else partial(page_role, vacant=True)
    for role in needed:
        if role.value not in held:
            chain = policy.rotations[role].chain()
            why = f"paged for {incident.severity}"
            page(session, ctx, incident, role=role, chain=chain, actor=actor, why=why)


def acknowledge(
    ctx: Context, incident_id: str, *, person_id: str, role: Role | None = None
) -> list[str]:
    """Acknowledge the roles this person is paged for (or one named role). Returns the roles."""
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        person_or_refuse(ctx.policy_for(incident), person_id)
        now = ctx.now()
        rows = [
            r
            for r in active_assignments(session, incident.id)
            if (role is None or r.role == role.value)
            and person_id in r.chain.split(",")[: r.chain_step + 1]
        ]
        if not rows:
            what = role.value if role else "any role"
            raise NotAuthorised(f"{person_id} is not paged for {what} in {incident.id}")
        # Once someone down the chain has acknowledged, the role is staffed: an earlier
        # person acknowledging late must not silently take it over (that is a handover).
        pending = [r for r in rows if r.acknowledged_at is None]
        taken = [r for r in rows if r.acknowledged_at is not None and r.person_id != person_id]
        if not pending and taken:
            raise Conflict(
                f"{taken[0].role} is held by {taken[0].person_id}, who acknowledged it; "
                "ask them or the incident commander to hand it over"
            )
        if not pending:
            raise Conflict(
                f"{person_id} has already acknowledged " + ", ".join(r.role for r in rows)
            )
        for row in pending:
            row.person_id = person_id
            row.acknowledged_at = now
            row.unfilled = False
            session.add(row)
            timers.cancel(session, incident.id, kind=DeadlineKind.ACK, subject=row.role)
            waited = int((now - row.paged_at).total_seconds())
            audit(
                session,
                ctx,
                incident,
                actor=person_id,
                kind="role.acknowledged",
                role=row.role,
                seconds_after_page=waited,
            )
            post(
                session,
                ctx,
                incident,
                f"{_name(ctx, incident, person_id)} acknowledged "
                f"{row.role} ({_fmt_seconds(waited)} after the page).",
            )
        if incident.acknowledged_at is None:
            incident.acknowledged_at = now
            session.add(incident)
        return [r.role for r in pending]


def assign(
    ctx: Context,
    incident_id: str,
    *,
    role: Role,
    person_id: str,
    actor: str,
    handover: bool = False,
) -> None:
    """Give a role to someone: the IC assigns; the holder (or the IC) hands over."""
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        policy = ctx.policy_for(incident)
        person_or_refuse(policy, actor)
        person_or_refuse(policy, person_id)
        current = holder(session, incident.id, role)
        ic = holder(session, incident.id, Role.INCIDENT_COMMANDER)
        is_ic = ic is not None and ic.person_id == actor
        if handover:
            if current is None:
                raise NotFound(f"nobody holds {role.value}; use assign")
            if current.person_id != actor and not is_ic:
                raise NotAuthorised(
                    f"only {current.person_id} (the holder) or the IC can hand over"
                )
        elif not is_ic and not (role is Role.INCIDENT_COMMANDER and ic is None):
            raise NotAuthorised("only the incident commander assigns roles")
        if current is not None and current.person_id == person_id:
            raise Conflict(f"{person_id} already holds {role.value}")
        kind = "role.handover" if handover else "role.assigned"
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind=kind,
            role=role.value,
            person=person_id,
            previous=current.person_id if current else None,
        )
        page_role(session, ctx, incident, role=role, chain=[person_id], actor=actor, why=kind)
        verb = "handed" if handover else "assigned"
        post(
            session,
            ctx,
            incident,
            f"{_name(ctx, incident, actor)} {verb} {role.value} to "
            f"{_name(ctx, incident, person_id)} (pending acknowledgement).",
        )


def _name(ctx: Context, incident: m.Incident, person_id: str) -> str:
    person = ctx.policy_for(incident).person(person_id)
    return person.name if person else person_id


def _fmt(delta: timedelta) -> str:
    return format_duration(delta)


def _fmt_seconds(seconds: int) -> str:
    return format_duration(timedelta(seconds=seconds))


def role_holders(ctx: Context, incident_id: str) -> list[m.RoleAssignment]:
    """Who holds (or has been paged for) each role right now."""
    with transaction(ctx.engine) as session:
        return active_assignments(session, incident_id)
