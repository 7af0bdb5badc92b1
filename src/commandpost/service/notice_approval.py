"""Approving a notice: comms approves; legal co-approves where the policy says; one person
never fills both; a blocking lint finding needs a written override; the approvals bind the
text's hash; the last approval queues the deliveries in its own transaction.

An override is bound to the hash it was given for: a later approver of the same text
approves knowing it (the event names who overrode and why), and an edit voids it along with
the approvals.
"""

from __future__ import annotations

from sqlmodel import Session

from commandpost.core.effects import SendNotice
from commandpost.core.policy import (
    ChatNoticeDestination,
    EmailNoticeDestination,
    Policy,
    WebhookNoticeDestination,
)
from commandpost.errors import Conflict, InvalidInput, NotAuthorised
from commandpost.service.context import Context, audit, enqueue, person_or_refuse, post
from commandpost.service.notice_rows import (
    APPROVER_ROLES,
    NoticeView,
    active_approvals,
    compact,
    locked,
    needs_legal,
    relint,
    view,
)
from commandpost.service.roles import refusal_hint, roles_of
from commandpost.storage import models as m
from commandpost.storage.engine import transaction
from commandpost.storage.notice_models import Notice, NoticeApproval, NoticeDelivery

Destination = ChatNoticeDestination | EmailNoticeDestination | WebhookNoticeDestination


def approve(
    ctx: Context,
    notice_id: int,
    *,
    actor: str,
    role: str = "comms",
    override_reason: str | None = None,
    expected_sha256: str | None = None,
) -> NoticeView:
    """Approve the notice's current text as `role` (comms or legal).

    `expected_sha256`, the hash of the text the approver read, is checked under the
    incident's lock: an edit landing between reading and approving is refused, not approved.

    Refused (nothing written) unless the actor holds that role in the incident and has
    acknowledged it; when the same person already approved in the other role; and when the
    text has a blocking lint finding and no override reason (this one or an earlier
    approver's, for the same text).
    """
    chosen = role.strip().lower()
    if chosen not in APPROVER_ROLES:
        raise InvalidInput(f"approve as comms or legal; got {role!r}")
    reason = override_reason.strip() if override_reason is not None else None
    if override_reason is not None and not reason:
        raise InvalidInput("an override needs a written reason")
    with transaction(ctx.engine) as session:
        incident, notice = locked(session, ctx, notice_id)
        if expected_sha256 is not None and notice.sha256 != expected_sha256.lower():
            raise Conflict(
                f"notice #{notice_id}: the text changed since it was reviewed (now sha256 "
                f"{notice.sha256[:12]}…); review the newest text"
            )
        policy = ctx.policy_for(incident)
        person_or_refuse(policy, actor)
        if notice.state == "rejected":
            raise Conflict(f"notice #{notice_id} was rejected; draft a new one")
        if notice.state != "draft":
            raise Conflict(f"notice #{notice_id} is already approved ({notice.state})")
        held = roles_of(session, policy, incident.id, actor, staffed_only=True)
        if chosen not in held:
            raise NotAuthorised(
                f"{actor} cannot approve notice #{notice_id} as {chosen}: it needs the "
                f"incident's {chosen} role, acknowledged"
                + refusal_hint(session, incident.id, actor)
            )
        active = active_approvals(session, notice)
        for given in active:
            if given.person_id == actor and given.role == chosen:
                raise Conflict(f"{actor} has already approved notice #{notice_id} as {chosen}")
            if given.person_id == actor:
                raise NotAuthorised(
                    f"{actor} already approved notice #{notice_id} as {given.role}: the same "
                    "person cannot approve as both comms and legal"
                )
            if given.role == chosen:
                raise Conflict(
                    f"notice #{notice_id} is already approved as {chosen} by {given.person_id}"
                )
        blocking = [f for f in relint(incident, notice) if f.blocking]
        earlier = next((a for a in active if a.override_reason), None)
        if blocking and reason is None and earlier is None:
            listed = "; ".join(f'{f.rule} "{f.span.text}"' if f.span.text else f.rule
                               for f in blocking)  # fmt: skip
            raise InvalidInput(
                f"notice #{notice_id} has {len(blocking)} blocking lint finding(s): {listed}. "
                "Fix the text, or approve with an override and a written reason"
            )
        now = ctx.now()
        overriding = reason if blocking else None
        session.add(
            NoticeApproval(
                notice_id=notice_id,
                person_id=actor,
                role=chosen,
                sha256=notice.sha256,
                override_reason=overriding,
                at=now,
            )
        )
        if overriding:
            audit(
                session,
                ctx,
                incident,
                actor=actor,
                kind="notice.overridden",
                notice=notice_id,
                sha256=notice.sha256,
                role=chosen,
                reason=overriding,
                findings=compact(blocking),
            )
        required = {"comms"} | ({"legal"} if needs_legal(policy, incident) else set())
        have = {a.role for a in active} | {chosen}
        still = sorted(required - have)
        plan = _plan(incident, notice, policy) if not still else []
        queued = [f"{d.type}:{recipient}" for d, recipient in plan]
        extra: dict[str, object] = {}
        if blocking and not overriding and earlier is not None:
            extra["under_override_by"] = earlier.person_id
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="notice.approved",
            notice=notice_id,
            role=chosen,
            sha256=notice.sha256,
            complete=not still,
            still_needed=still,
            queued=queued,
            **extra,
        )
        if still:
            text = f"waiting for {', '.join(still)} approval"
        elif queued:
            text = f"fully approved; sending to {', '.join(queued)}"
        else:
            text = (
                f"fully approved; the policy names no channel for {notice.template}, "
                "so nothing is sent automatically"
            )
        post(
            session,
            ctx,
            incident,
            f"Notice #{notice_id} approved by {actor} as {chosen}: {text}.",
            card=f"notice:{notice_id}",
        )
        if not still:
            # After the approval message, so the channel reads "approved", then the notice.
            _queue(session, ctx, incident, notice, plan)
        session.add(notice)
        return view(session, ctx, notice)


def _plan(incident: m.Incident, notice: Notice, policy: Policy) -> list[tuple[Destination, str]]:
    """Each destination the policy names for the template, once per recipient."""
    planned: list[tuple[Destination, str]] = []
    seen: set[tuple[str, str]] = set()
    for destination in policy.notices.channels.get(notice.template, []):
        for recipient in destination.recipients():
            if isinstance(destination, ChatNoticeDestination) and recipient == "incident":
                recipient = incident.channel
            if (destination.type, recipient) not in seen:
                seen.add((destination.type, recipient))
                planned.append((destination, recipient))
    return planned


def _queue(
    session: Session,
    ctx: Context,
    incident: m.Incident,
    notice: Notice,
    plan: list[tuple[Destination, str]],
) -> None:
    """Mark the notice approved and queue one delivery per recipient, in this transaction."""
    assert notice.id is not None
    now = ctx.now()
    notice.state, notice.approved_sha256, notice.approved_at = "approved", notice.sha256, now
    notice.updated_at = now
    for destination, recipient in plan:
        session.add(
            NoticeDelivery(
                notice_id=notice.id,
                kind=destination.type,
                recipient=recipient,
                sha256=notice.sha256,
                created_at=now,
                updated_at=now,
            )
        )
        enqueue(
            session,
            ctx,
            SendNotice(
                notice_id=notice.id,
                incident_id=incident.id,
                sha256=notice.sha256,
                kind=destination.type,
                recipient=recipient,
                destination=destination.model_dump(mode="json"),
            ),
        )
