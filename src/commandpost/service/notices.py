"""Customer and regulator notices: draft, edit, approve, reject, and reading them back.

    draft(ctx, "INC-2026-0001", template="customer_initial", actor="grace",
          facts={"next_steps": "..."})                -> NoticeView (rendered, linted, stored)
    edit(ctx, notice_id, actor="grace", text="...")    -> NoticeView (approvals voided)
    approve(ctx, notice_id, actor="grace", role="comms", override_reason=None)
    reject(ctx, notice_id, actor="ivan", reason="...")
    get(ctx, notice_id), list_notices(ctx, incident_id)

An approval is bound to the SHA-256 of the exact text; an edit voids every approval of the
old text. Once the approvals the policy asks for are in, the deliveries are queued in the
same transaction (outbox kind "notice") and sent by `notice_delivery`. Every step is an
audit event (notice.drafted, notice.edited with a unified diff, notice.overridden,
notice.approved, notice.rejected, notice.delivered, ...), and nothing is written when a
step is refused.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from commandpost.core.notice_lint import Finding
from commandpost.core.vocabulary import Role, Severity
from commandpost.errors import Conflict, InvalidInput, NotAuthorised, NotFound
from commandpost.service.context import Context, audit, load_incident, post
from commandpost.service.incident_changes import require_role
from commandpost.service.notice_approval import approve
from commandpost.service.notice_facts import incident_facts
from commandpost.service.notice_rows import (
    OPEN_DELIVERY,
    NoticeView,
    active_approvals,
    catalogue_for,
    compact,
    locked,
    relint,
    sha256_of,
    view,
)
from commandpost.service.roles import refusal_hint, roles_of
from commandpost.storage.engine import read_transaction, transaction
from commandpost.storage.notice_models import Notice, NoticeDelivery

__all__ = ["NoticeView", "approve", "draft", "edit", "get", "list_notices", "reject"]

# Who may turn a notice down: its approvers, or the incident commander who owns the call.
_REJECTERS = frozenset({"comms", "legal", Role.INCIDENT_COMMANDER.value})


def draft(
    ctx: Context,
    incident_id: str,
    *,
    template: str,
    actor: str,
    facts: Mapping[str, Any] | None = None,
) -> NoticeView:
    """Render `template` from the incident's facts (and `facts`, which win), lint, store.

    A fact the template needs and nobody knows is an InvalidInput naming all of them.
    """
    with transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id, lock=True)
        require_role(session, ctx, incident, actor, doing="draft a notice")
        policy = ctx.policy_for(incident)
        catalogue = catalogue_for(policy)
        known = incident_facts(session, policy, incident, now=ctx.now(), overrides=facts)
        missing = catalogue.missing_facts(template, known)
        if missing:
            raise InvalidInput(
                f"cannot draft {template} for {incident.id}: missing fact(s): "
                f"{', '.join(missing)}; give them as facts (name=value)"
            )
        made = catalogue.draft(
            template,
            known,
            severity=Severity(incident.severity),
            root_cause_known=bool(known.get("root_cause")),
        )
        now = ctx.now()
        notice = Notice(
            incident_id=incident.id,
            template=template,
            channel=made.context.channel.value,
            subject=made.notice.subject,
            text=made.notice.text,
            sha256=made.notice.sha256,
            facts=json.dumps(known, sort_keys=True, default=str),
            requires=json.dumps(list(made.context.required_facts)),
            findings=json.dumps([f.to_dict() for f in made.findings]),
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        session.add(notice)
        session.flush()
        findings = list(made.findings)
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="notice.drafted",
            notice=notice.id,
            template=template,
            sha256=notice.sha256,
            findings=compact(findings),
            blocking=sum(f.blocking for f in findings),
            facts_given=sorted(facts or {}),
            text=notice.text,
        )
        post(
            session,
            ctx,
            incident,
            f"Notice #{notice.id} ({template}) drafted by {actor}: {_lint_line(findings)}. "
            f"Review it: `notice show {notice.id}`.",
            card=f"notice:{notice.id}",
        )
        return view(session, ctx, notice)


def edit(ctx: Context, notice_id: int, *, actor: str, text: str) -> NoticeView:
    """Replace the text (kept exactly as given), lint it, and void every approval of the
    old text; deliveries queued for the old text are cancelled."""
    if not text.strip():
        raise InvalidInput("a notice needs text")
    with transaction(ctx.engine) as session:
        incident, notice = locked(session, ctx, notice_id)
        require_role(session, ctx, incident, actor, doing="edit a notice")
        _require_changeable(session, notice, doing="edited")
        if text == notice.text:
            raise InvalidInput(f"notice #{notice_id}: the text is unchanged")
        before, before_sha = notice.text, notice.sha256
        diff = list(
            difflib.unified_diff(
                before.splitlines(),
                text.splitlines(),
                fromfile=f"notice-{notice_id}-v{notice.version}",
                tofile=f"notice-{notice_id}-v{notice.version + 1}",
                lineterm="",
            )
        )
        voided = _void(session, ctx, notice)
        cancelled = _cancel_deliveries(session, ctx, notice)
        notice.text, notice.sha256 = text, sha256_of(text)
        notice.version += 1
        notice.state, notice.approved_sha256, notice.approved_at = "draft", None, None
        notice.updated_at = ctx.now()
        findings = relint(incident, notice)
        session.add(notice)
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="notice.edited",
            notice=notice_id,
            version=notice.version,
            sha256_before=before_sha,
            sha256=notice.sha256,
            diff=diff,
            findings=compact(findings),
            blocking=sum(f.blocking for f in findings),
            voided_approvals=voided,
            cancelled_deliveries=cancelled,
        )
        note = f" Approvals voided (the text changed): {', '.join(voided)}." if voided else ""
        post(
            session,
            ctx,
            incident,
            f"Notice #{notice_id} edited by {actor} (version {notice.version}): "
            f"{_lint_line(findings)}.{note}",
            card=f"notice:{notice_id}",
        )
        return view(session, ctx, notice)


def reject(ctx: Context, notice_id: int, *, actor: str, reason: str) -> NoticeView:
    """Turn a notice down, with a reason; it is never sent (draft a new one instead)."""
    if not reason or not reason.strip():
        raise InvalidInput("rejecting a notice needs a reason")
    with transaction(ctx.engine) as session:
        incident, notice = locked(session, ctx, notice_id)
        policy = ctx.policy_for(incident)
        require_role(session, ctx, incident, actor, doing="reject a notice")
        held = roles_of(session, policy, incident.id, actor, staffed_only=True)
        if not held & _REJECTERS:
            raise NotAuthorised(
                f"{actor} cannot reject notice #{notice_id}: it needs the incident's comms, "
                f"legal or incident_commander role, acknowledged"
                + refusal_hint(session, incident.id, actor)
            )
        _require_changeable(session, notice, doing="rejected")
        voided = _void(session, ctx, notice)
        cancelled = _cancel_deliveries(session, ctx, notice)
        notice.state, notice.reason, notice.updated_at = "rejected", reason.strip(), ctx.now()
        session.add(notice)
        audit(
            session,
            ctx,
            incident,
            actor=actor,
            kind="notice.rejected",
            notice=notice_id,
            sha256=notice.sha256,
            reason=reason.strip(),
            voided_approvals=voided,
            cancelled_deliveries=cancelled,
        )
        post(
            session,
            ctx,
            incident,
            f"Notice #{notice_id} rejected by {actor}: {reason.strip()}",
            card=f"notice:{notice_id}",
        )
        return view(session, ctx, notice)


def get(ctx: Context, notice_id: int) -> NoticeView:
    with read_transaction(ctx.engine) as session:
        notice = session.get(Notice, notice_id)
        if notice is None:
            raise NotFound(f"no notice #{notice_id}")
        return view(session, ctx, notice)


def list_notices(ctx: Context, incident_id: str) -> list[NoticeView]:
    with read_transaction(ctx.engine) as session:
        incident = load_incident(session, incident_id)
        rows = session.exec(
            select(Notice).where(Notice.incident_id == incident.id).order_by(col(Notice.id))
        )
        return [view(session, ctx, n) for n in rows]


# -- shared steps ------------------------------------------------------------------------


def _require_changeable(session: Session, notice: Notice, *, doing: str) -> None:
    if notice.state == "rejected":
        raise Conflict(f"notice #{notice.id} was rejected; draft a new one")
    if notice.state in ("sent", "failed"):
        raise Conflict(f"notice #{notice.id} has been sent; draft a new one")
    went = session.exec(
        select(NoticeDelivery.id).where(
            NoticeDelivery.notice_id == notice.id, NoticeDelivery.state == "delivered"
        )
    ).first()
    if went is not None:
        raise Conflict(
            f"notice #{notice.id} cannot be {doing}: it has already gone to some recipients"
        )


def _void(session: Session, ctx: Context, notice: Notice) -> list[str]:
    """Void the approvals of the current text; who they were, as `person (role)`."""
    voided = []
    for approval in active_approvals(session, notice):
        approval.voided_at = ctx.now()
        session.add(approval)
        voided.append(f"{approval.person_id} ({approval.role})")
    return voided


def _cancel_deliveries(session: Session, ctx: Context, notice: Notice) -> int:
    """Deliveries not yet made: cancelled, so the outbox item finds nothing to send."""
    rows = session.exec(
        select(NoticeDelivery).where(
            NoticeDelivery.notice_id == notice.id, col(NoticeDelivery.state).in_(OPEN_DELIVERY)
        )
    )
    count = 0
    for row in rows:
        row.state, row.updated_at = "cancelled", ctx.now()
        session.add(row)
        count += 1
    return count


def _lint_line(findings: list[Finding]) -> str:
    blocking = sum(f.blocking for f in findings)
    if not findings:
        return "no lint findings"
    return f"{len(findings)} lint finding(s), {blocking} blocking"
