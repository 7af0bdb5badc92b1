"""Sending an approved notice to one recipient: the outbox's "notice" items end here.

The text is read and hashed right before it goes out; if it no longer hashes to what was
approved (edited since, or altered in the database), nothing is sent and the refusal is
recorded: retrying could never make the bytes match, so it does not raise. A failed send
raises DeliveryFailed after recording the attempt, and the outbox tries again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter
from sqlmodel import Session, select

from commandpost.core.policy import (
    EmailNoticeDestination,
    NoticeDestination,
    WebhookNoticeDestination,
)
from commandpost.errors import DeliveryFailed
from commandpost.service.context import Context, audit, load_incident, post
from commandpost.service.notice_rows import OPEN_DELIVERY, sha256_of
from commandpost.service.ports import NoticeMessage
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction, transaction
from commandpost.storage.notice_models import Notice, NoticeDelivery

_DESTINATION: TypeAdapter[Any] = TypeAdapter(NoticeDestination)
# Customer-facing templates whose first delivery is the "customer notified" milestone.
_CUSTOMER_PREFIXES = ("customer_", "status_page")


@dataclass(frozen=True)
class _Item:
    notice_id: int
    sha256: str
    kind: str
    recipient: str
    destination: dict[str, Any]

    @classmethod
    def of(cls, body: dict[str, Any]) -> _Item:
        return cls(
            notice_id=int(body["notice_id"]),
            sha256=str(body["sha256"]),
            kind=str(body["kind"]),
            recipient=str(body["recipient"]),
            destination=dict(body.get("destination") or {}),
        )


def deliver_notice(ctx: Context, body: dict[str, Any], *, attempt: int, final: bool) -> None:
    """Send one outbox "notice" item; `attempt` counts from 1, `final` is the outbox's last."""
    item = _Item.of(body)
    with read_transaction(ctx.engine) as session:
        notice = session.get(Notice, item.notice_id)
        row = _delivery(session, item)
    if notice is None or row is None or row.state not in OPEN_DELIVERY:
        return  # cancelled by an edit or a rejection, or already sent by an earlier claim
    text = notice.text
    actual = sha256_of(text)
    if actual != item.sha256 or notice.approved_sha256 != item.sha256:
        _refuse(ctx, item, actual=actual)
        return
    message = NoticeMessage(
        notice_id=item.notice_id,
        incident_id=notice.incident_id,
        template=notice.template,
        subject=notice.subject,
        text=text,
        sha256=actual,
    )
    try:
        detail = _send(ctx, message, item)
    except Exception as exc:
        later = isinstance(exc, DeliveryFailed) and exc.retry_after is not None
        _failed(ctx, item, error=f"{type(exc).__name__}: {exc}"[:300], attempt=attempt,
                final=final and not later)  # fmt: skip
        raise
    _delivered(ctx, item, sha256=actual, detail=detail, attempt=attempt)


def _send(ctx: Context, message: NoticeMessage, item: _Item) -> str:
    if item.kind == "chat":
        ctx.chat.post(channel=item.recipient, text=message.text, incident_id=message.incident_id)
        return "posted"
    destination = _DESTINATION.validate_python(item.destination)
    if not isinstance(destination, EmailNoticeDestination | WebhookNoticeDestination):
        raise DeliveryFailed(f"notice destination {item.kind} cannot be sent by the sender")
    return ctx.notice_sender.send(message, destination=destination, recipient=item.recipient)


def _delivery(session: Session, item: _Item) -> NoticeDelivery | None:
    return session.exec(
        select(NoticeDelivery).where(
            NoticeDelivery.notice_id == item.notice_id,
            NoticeDelivery.sha256 == item.sha256,
            NoticeDelivery.kind == item.kind,
            NoticeDelivery.recipient == item.recipient,
        )
    ).first()


def _locked(session: Session, item: _Item) -> tuple[m.Incident, Notice, NoticeDelivery]:
    notice = session.get(Notice, item.notice_id)
    assert notice is not None
    incident = load_incident(session, notice.incident_id, lock=True)
    session.refresh(notice)
    row = _delivery(session, item)
    assert row is not None
    return incident, notice, row


def _audit_recipient(
    session: Session, ctx: Context, incident: m.Incident, item: _Item, *, kind: str, **data: Any
) -> None:
    """One audit event about one recipient of one notice."""
    audit(
        session,
        ctx,
        incident,
        actor="commandpost",
        kind=kind,
        notice=item.notice_id,
        channel=item.kind,
        recipient=item.recipient,
        **data,
    )


def _delivered(ctx: Context, item: _Item, *, sha256: str, detail: str, attempt: int) -> None:
    with transaction(ctx.engine) as session:
        incident, notice, row = _locked(session, item)
        now = ctx.now()
        row.state, row.attempts, row.error, row.detail = "delivered", attempt, None, detail
        row.delivered_at, row.delivered_sha256, row.updated_at = now, sha256, now
        session.add(row)
        _audit_recipient(
            session,
            ctx,
            incident,
            item,
            kind="notice.delivered",
            sha256=sha256,
            attempt=attempt,
            detail=detail,
        )
        session.flush()
        rows = session.exec(
            select(NoticeDelivery.state).where(
                NoticeDelivery.notice_id == item.notice_id, NoticeDelivery.sha256 == item.sha256
            )
        ).all()
        if notice.state == "approved" and all(state == "delivered" for state in rows):
            notice.state, notice.updated_at = "sent", now
            session.add(notice)
            if notice.template.startswith(_CUSTOMER_PREFIXES) and not incident.customer_notified_at:
                incident.customer_notified_at = now
                session.add(incident)
            post(
                session,
                ctx,
                incident,
                f"Notice #{item.notice_id} sent to all {len(rows)} recipient(s), "
                f"exactly as approved (sha256 {sha256[:12]}…).",
                card=f"notice:{item.notice_id}",
            )


def _failed(ctx: Context, item: _Item, *, error: str, attempt: int, final: bool) -> None:
    with transaction(ctx.engine) as session:
        incident, notice, row = _locked(session, item)
        row.state = "failed" if final else "retrying"
        row.attempts, row.error, row.updated_at = attempt, error, ctx.now()
        session.add(row)
        if final and notice.state == "approved":
            notice.state, notice.updated_at = "failed", ctx.now()
            session.add(notice)
        _audit_recipient(
            session,
            ctx,
            incident,
            item,
            kind="notice.delivery_failed",
            error=error,
            attempt=attempt,
            final=final,
        )
        then = "GAVE UP: send it by hand" if final else "it stays queued and will be retried"
        post(
            session,
            ctx,
            incident,
            f"Notice #{item.notice_id}: delivery to {item.kind} {item.recipient} failed "
            f"(attempt {attempt}: {error}); {then}.",
            card=f"notice:{item.notice_id}",
        )


def _refuse(ctx: Context, item: _Item, *, actual: str) -> None:
    with transaction(ctx.engine) as session:
        incident, _notice, row = _locked(session, item)
        if row.state not in OPEN_DELIVERY:
            return
        row.state, row.updated_at = "refused", ctx.now()
        row.error = "the text no longer hashes to the approved hash; nothing was sent"
        session.add(row)
        _audit_recipient(
            session,
            ctx,
            incident,
            item,
            kind="notice.delivery_refused",
            approved_sha256=item.sha256,
            sha256=actual,
        )
        post(
            session,
            ctx,
            incident,
            f"Notice #{item.notice_id}: NOT sent to {item.kind} {item.recipient}: its text "
            "is no longer the text that was approved.",
            card=f"notice:{item.notice_id}",
        )
