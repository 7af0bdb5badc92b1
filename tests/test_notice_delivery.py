"""Delivery of approved notices: retried per recipient, refused when the bytes changed,
email exactly as approved over STARTTLS with credentials, and a clear default refusal."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from commandpost.core.policy import EmailNoticeDestination, Policy
from commandpost.errors import DeliveryFailed
from commandpost.notices.delivery import NoticeSender, SmtpSender, build_email
from commandpost.service import notices, outbox
from commandpost.service.context import Context
from commandpost.service.ports import ManualClock, NoticeMessage, RefusingNoticeSender
from commandpost.storage.engine import transaction
from commandpost.storage.notice_models import Notice

from .conftest import MakeCtx
from .noticesupport import (
    NEXT_STEPS,
    SmtpHandler,
    password_check,
    review_incident,
    self_signed,
    sha256,
    smtp_server,
    with_channels,
)
from .support import audit_kinds

TEXT = "Line one.\r\nLíne two, not ASCII.\n\n  trailing spaces  "
MESSAGE = NoticeMessage(
    1, "INC-2026-0001", "customer_initial", "Subject", TEXT, sha256(TEXT.encode())
)
EMAIL = EmailNoticeDestination(type="email", to=["a@example.com"])


def _approved(
    make_ctx: MakeCtx, policy: Policy, clock: ManualClock, port: int
) -> tuple[Context, str, notices.NoticeView]:
    ctx = make_ctx(use_policy=with_channels(
        policy, {"customer_initial": [{"type": "email", "to": ["a@example.com", "b@example.com"]}]}
    ))  # fmt: skip
    ctx.notice_sender = NoticeSender(
        smtp=SmtpSender(host="127.0.0.1", port=port, starttls=False), clock=clock
    )
    incident = review_incident(ctx)
    made = notices.draft(
        ctx, incident, template="customer_initial", actor="grace", facts={"next_steps": NEXT_STEPS}
    )
    notices.approve(ctx, made.id, actor="grace")
    notices.approve(ctx, made.id, actor="ivan", role="legal")
    return ctx, incident, made


def test_a_failing_recipient_is_retried_and_reported(
    make_ctx: MakeCtx, policy: Policy, clock: ManualClock
) -> None:
    handler = SmtpHandler(refuse={"b@example.com": 1})
    with smtp_server(handler) as port:
        ctx, incident, made = _approved(make_ctx, policy, clock, port)
        outbox.deliver(ctx)
        first = notices.get(ctx, made.id)
        states = {d.recipient: (d.state, d.attempts) for d in first.deliveries}
        assert states == {"a@example.com": ("delivered", 1), "b@example.com": ("retrying", 1)}
        assert first.state == "approved"
        assert "451" in (next(d.error for d in first.deliveries if d.state == "retrying") or "")
        outbox.deliver(ctx)
    done = notices.get(ctx, made.id)
    assert {d.state for d in done.deliveries} == {"delivered"} and done.state == "sent"
    assert [sha256(m.body) for m in handler.messages] == [made.sha256, made.sha256]
    kinds = audit_kinds(ctx, incident)
    assert kinds.count("notice.delivery_failed") == 1 and kinds.count("notice.delivered") == 2


def test_text_changed_behind_the_approval_is_not_sent(
    make_ctx: MakeCtx, policy: Policy, clock: ManualClock
) -> None:
    handler = SmtpHandler()
    with smtp_server(handler) as port:
        ctx, incident, made = _approved(make_ctx, policy, clock, port)
        # Altered in the database, past every check of the service: delivery re-hashes.
        with transaction(ctx.engine) as session:
            session.execute(update(Notice).values(text=made.text + "P.S. extra"))
        outbox.deliver(ctx)
    assert handler.messages == []
    assert {d.state for d in notices.get(ctx, made.id).deliveries} == {"refused"}
    assert audit_kinds(ctx, incident).count("notice.delivery_refused") == 2


def test_the_email_body_is_the_approved_bytes() -> None:
    email = build_email(MESSAGE, sender="cp@example.com", recipient="a@example.com")
    payload = email.get_payload(decode=True)
    assert isinstance(payload, bytes) and sha256(payload) == MESSAGE.sha256
    assert email["Content-Type"] == 'text/plain; charset="utf-8"'


def test_starttls_then_login_then_the_exact_bytes(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    handler = SmtpHandler()
    options = {
        "tls_context": server_tls,
        "require_starttls": True,
        "auth_required": True,
        "authenticator": password_check("cp", "hunter2"),
    }
    with smtp_server(handler, **options) as port:
        good = SmtpSender(host="127.0.0.1", port=port, user="cp", password=SecretStr("hunter2"),
                          ssl_context=client_tls)  # fmt: skip
        assert "accepted" in good.send(MESSAGE, recipient="a@example.com")
        bad = SmtpSender(host="127.0.0.1", port=port, user="cp", password=SecretStr("wrong"),
                         ssl_context=client_tls)  # fmt: skip
        with pytest.raises(DeliveryFailed, match=r"SMTP 127\.0\.0\.1") as caught:
            bad.send(MESSAGE, recipient="a@example.com")
        assert "wrong" not in str(caught.value)
    [received] = handler.messages
    assert sha256(received.body) == MESSAGE.sha256


def test_credentials_are_never_sent_without_starttls() -> None:
    plain = SmtpSender(host="127.0.0.1", port=1, user="cp", starttls=False)
    with pytest.raises(DeliveryFailed, match="without STARTTLS"):
        plain.send(MESSAGE, recipient="a@example.com")
    with pytest.raises(DeliveryFailed, match="COMMANDPOST_SMTP_HOST"):
        SmtpSender(host=None).send(MESSAGE, recipient="a@example.com")


def test_without_a_sender_delivery_refuses_clearly() -> None:
    with pytest.raises(DeliveryFailed, match="no notice sender is configured"):
        RefusingNoticeSender().send(MESSAGE, destination=EMAIL, recipient="a@example.com")
