"""Firing what is due: each deadline once, in due order, in its own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from commandpost.core import deadlines as due
from commandpost.core.durations import format_duration
from commandpost.core.effects import ChannelPost
from commandpost.core.lifecycle import is_open
from commandpost.core.vocabulary import Role, Severity, Status
from commandpost.service import timers
from commandpost.service.context import Context, audit, direct, enqueue, load_incident, post
from commandpost.service.gate_outcomes import on_silence
from commandpost.service.origin import acting_from
from commandpost.service.roles import holder
from commandpost.storage import models as m
from commandpost.storage.engine import lock_audit_chain, transaction


@dataclass(frozen=True)
class Fired:
    deadline_id: int
    incident_id: str
    kind: str
    subject: str
    step: int
    due_at: datetime
    lateness_seconds: float
    outcome: str


def fire_due(
    ctx: Context, *, now: datetime | None = None, limit: int = 1000, per_transaction: int = 1
) -> list[Fired]:
    """Fire every pending deadline due at `now`; firing can schedule more, which fire too.

    Each firing is recorded (state, lateness, audit event, effects in the outbox) in the
    transaction that claims it; `per_transaction` > 1 fires up to that many due deadlines,
    in due order, per transaction (the runner does, to keep up with a burst).
    """
    fired: list[Fired] = []
    while len(fired) < limit:
        with transaction(ctx.engine) as session:
            at = now or ctx.now()
            due_now = (m.Deadline.state == "pending", m.Deadline.due_at <= at)
            query = (
                select(m.Deadline)
                .where(*due_now)
                .order_by(col(m.Deadline.due_at), col(m.Deadline.id))
                .limit(max(1, min(per_transaction, limit - len(fired))))
            )
            if session.get_bind().dialect.name == "postgresql":
                # Poll without locks; when something is due, take the audit-chain lock before
                # the row lock: the order every writer uses (see load_incident).
                if session.exec(select(m.Deadline.id).where(*due_now).limit(1)).first() is None:
                    break
                lock_audit_chain(session)
                query = query.with_for_update(skip_locked=True)
            rows = list(session.exec(query))
            if not rows:
                break
            for row in rows:
                scheduled = timers.earliest_noted(session)
                if scheduled is not None and scheduled <= row.due_at:
                    break  # a firing scheduled something due sooner: keep due order
                # A firing acts for nobody in particular: whoever runs it (the runner, a
                # worker, a drill, the CLI), the audit trail says a timer did it.
                with acting_from("timer"):
                    fired.append(_fire(session, ctx, row, now or ctx.now()))
    return fired


def _fire(session: Session, ctx: Context, row: m.Deadline, at: datetime) -> Fired:
    assert row.id is not None
    lateness = max(0.0, (at - row.due_at).total_seconds())
    row.state = "fired"
    row.fired_at = at
    row.lateness_seconds = lateness
    session.add(row)
    incident = load_incident(session, row.incident_id, lock=True)
    kind = due.DeadlineKind(row.kind)
    if kind is due.DeadlineKind.ACK:
        outcome = _fire_ack(session, ctx, incident, row)
    elif kind is due.DeadlineKind.GATE:
        gate = session.get(m.Gate, int(row.subject))
        outcome = "gate already decided"
        if gate is not None and gate.state == "pending" and gate.tier == row.step:
            outcome = on_silence(session, ctx, incident, gate)
    elif kind is due.DeadlineKind.MITIGATION_SLA:
        outcome = _fire_mitigation(session, ctx, incident, at)
    else:
        outcome = _fire_cadence(session, ctx, incident, row, at)
    audit(
        session,
        ctx,
        incident,
        actor="commandpost",
        kind="deadline.fired",
        deadline=row.id,
        deadline_kind=row.kind,
        subject=row.subject,
        step=row.step,
        due_at=row.due_at.isoformat(),
        lateness_seconds=lateness,
        outcome=outcome,
    )
    return Fired(
        row.id, incident.id, row.kind, row.subject, row.step, row.due_at, lateness, outcome
    )


def _fire_ack(session: Session, ctx: Context, incident: m.Incident, row: m.Deadline) -> str:
    assignment = holder(session, incident.id, Role(row.subject))
    if assignment is None or assignment.acknowledged_at is not None:
        return "already acknowledged"
    chain = assignment.chain.split(",")
    action = due.ack_action(chain, row.step)
    policy = ctx.policy_for(incident)
    sla = policy.severity(Severity(incident.severity)).ack_sla
    if action.step is due.AckStep.REMIND:
        assert action.person_id is not None
        direct(
            session,
            ctx,
            incident,
            action.person_id,
            f"Reminder: you are paged as {row.subject} for {incident.id} and have not "
            f"acknowledged ({format_duration(ctx.now() - assignment.paged_at)} so far).",
        )
        post(
            session,
            ctx,
            incident,
            f"{row.subject}: no acknowledgement from "
            f"{assignment.person_id} within {format_duration(sla)}; reminded.",
        )
        audit(
            session,
            ctx,
            incident,
            actor="commandpost",
            kind="role.reminded",
            role=row.subject,
            person=action.person_id,
        )
        outcome = f"reminded {action.person_id}"
    elif action.step is due.AckStep.PAGE:
        assert action.person_id is not None
        assignment.person_id = action.person_id
        assignment.chain_step = row.step
        session.add(assignment)
        direct(
            session,
            ctx,
            incident,
            action.person_id,
            f"You are paged as {row.subject} for {incident.id} ({incident.severity}): "
            f"{incident.title}. {chain[row.step - 1]} has not acknowledged. Acknowledge "
            f"within {format_duration(sla)}.",
        )
        post(
            session,
            ctx,
            incident,
            f"{row.subject}: escalated to {action.person_id} (step {row.step + 1} of the chain).",
        )
        audit(
            session,
            ctx,
            incident,
            actor="commandpost",
            kind="role.escalated",
            role=row.subject,
            person=action.person_id,
            step=row.step,
        )
        outcome = f"paged {action.person_id}"
    else:
        assignment.unfilled = True
        session.add(assignment)
        text = (
            f":warning: {row.subject} is UNFILLED in {incident.id}: nobody in the chain "
            f"({', '.join(chain)}) acknowledged."
        )
        ic = holder(session, incident.id, Role.INCIDENT_COMMANDER)
        if row.subject != Role.INCIDENT_COMMANDER.value and ic and ic.acknowledged_at:
            direct(session, ctx, incident, ic.person_id, text)
        else:
            enqueue(
                session,
                ctx,
                ChannelPost(
                    channel=policy.announcements_channel, text=text, incident_id=incident.id
                ),
            )
        post(session, ctx, incident, text)
        audit(
            session,
            ctx,
            incident,
            actor="commandpost",
            kind="role.unfilled",
            role=row.subject,
            chain=chain,
        )
        return "unfilled"
    timers.schedule(
        session,
        incident.id,
        due.ack_due(role=row.subject, step=row.step + 1, paged_at=assignment.paged_at, ack_sla=sla),
    )
    return outcome


def _fire_mitigation(session: Session, ctx: Context, incident: m.Incident, at: datetime) -> str:
    if incident.contained_at is not None or not is_open(Status(incident.status)):
        return "already contained"
    elapsed = format_duration(at - incident.declared_at)
    text = (
        f":alarm_clock: First-mitigation SLA breached for {incident.id} ({incident.severity}): "
        f"declared {elapsed} ago and nothing is contained yet."
    )
    post(session, ctx, incident, text)
    # The escalation channel: the policy's announcements channel, where leads watch.
    channel = ctx.policy_for(incident).announcements_channel
    enqueue(session, ctx, ChannelPost(channel=channel, text=text, incident_id=incident.id))
    ic = holder(session, incident.id, Role.INCIDENT_COMMANDER)
    if ic is not None:
        direct(session, ctx, incident, ic.person_id, text)
    audit(
        session,
        ctx,
        incident,
        actor="commandpost",
        kind="sla.breached",
        sla="first_mitigation",
        elapsed=elapsed,
    )
    return "breached"


def _fire_cadence(
    session: Session, ctx: Context, incident: m.Incident, row: m.Deadline, at: datetime
) -> str:
    if not is_open(Status(incident.status)):
        return "incident not open"
    cadence = ctx.policy_for(incident).severity(Severity(incident.severity)).update_cadence
    ic = holder(session, incident.id, Role.INCIDENT_COMMANDER)
    text = (
        f"Status update due for {incident.id}: none posted in "
        f"{format_duration(at - incident.last_update_at)} (cadence {format_duration(cadence)})."
    )
    if ic is not None:
        direct(session, ctx, incident, ic.person_id, text)
    post(session, ctx, incident, text)
    # From now, not from the missed due time: a long outage gives one reminder, not a burst.
    timers.schedule(
        session,
        incident.id,
        due.cadence_due(last_update_at=at, cadence=cadence, step=row.step + 1),
    )
    return "reminded"


def pending_deadlines(ctx: Context, incident_id: str | None = None) -> list[m.Deadline]:
    with transaction(ctx.engine) as session:
        key = load_incident(session, incident_id).id if incident_id else None
        return timers.pending(session, key)
