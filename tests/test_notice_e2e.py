"""A notice end to end, on both database lanes: render -> edit -> lint -> override -> comms
approve -> legal approve -> delivered to a real SMTP server and a webhook receiver, the bytes
they got hashing to the approved hash; and the timeline shows every step."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.policy import Policy
from commandpost.errors import InvalidInput
from commandpost.executors.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from commandpost.notices.delivery import NoticeSender, SmtpSender
from commandpost.service import notices, outbox
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .conftest import MakeCtx
from .noticesupport import (
    NEXT_STEPS,
    SmtpHandler,
    WebhookLog,
    review_incident,
    sha256,
    smtp_server,
    webhook_receiver,
    with_channels,
)
from .support import counts, run_cli

SECRET_ENV = "COMMANDPOST_TEST_NOTICE_SECRET"
CUSTOMERS = ["customers@example.com", "ops-list@example.com"]
MINIMISING = "Only a small number of users saw this, and it was a minor issue."


def _events(engine: Engine, incident_id: str, kind: str) -> list[dict[str, object]]:
    with Session(engine) as s:
        rows = s.exec(
            select(m.AuditEvent.data)
            .where(m.AuditEvent.incident_id == incident_id, m.AuditEvent.kind == kind)
            .order_by(col(m.AuditEvent.seq))
        )
        return [json.loads(r) for r in rows]


def test_render_edit_override_approve_deliver(
    make_ctx: MakeCtx,
    policy: Policy,
    clock: ManualClock,
    chat: ConsoleChat,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, "notice-secret")
    handler, hooks = SmtpHandler(), WebhookLog()
    with smtp_server(handler) as port, webhook_receiver(hooks) as url:
        chosen = with_channels(
            policy,
            {
                "customer_initial": [
                    {"type": "email", "to": CUSTOMERS},
                    {"type": "webhook", "url": url, "secret_ref": f"env:{SECRET_ENV}"},
                    {"type": "chat", "channel": "#status"},
                ]
            },
        )
        ctx = make_ctx(use_policy=chosen)
        ctx.notice_sender = NoticeSender(
            smtp=SmtpSender(host="127.0.0.1", port=port, starttls=False), clock=clock
        )
        incident = review_incident(ctx)

        # Render: clean, from the incident's facts plus the one the incident cannot know.
        drafted = notices.draft(
            ctx, incident, template="customer_initial", actor="grace",
            facts={"next_steps": NEXT_STEPS},
        )  # fmt: skip
        assert drafted.findings == () and drafted.state == "draft"
        assert "Requests to chat-web served by chat-large" in drafted.text

        # Edit: a reviewer adds a minimising sentence; the lint blocks it.
        text = drafted.text.replace("Who is affected\n", f"Who is affected\n{MINIMISING}\n")
        edited = notices.edit(ctx, drafted.id, actor="grace", text=text)
        assert {f["rule"] for f in edited.blocking} == {"minimising"}

        # A blocking finding without an override: refused, nothing written.
        before = counts(ctx)
        with pytest.raises(InvalidInput, match="blocking lint finding"):
            notices.approve(ctx, drafted.id, actor="grace", role="comms")
        assert counts(ctx) == before

        # Override (with a reason) and comms approval; then legal co-approves (SEV1).
        reason = "Legal confirmed the count of affected accounts; wording agreed with DPO"
        half = notices.approve(ctx, drafted.id, actor="grace", role="comms", override_reason=reason)
        assert half.state == "draft" and half.still_needed == ("legal",)
        full = notices.approve(ctx, drafted.id, actor="ivan", role="legal")
        assert full.state == "approved" and full.still_needed == ()
        approved = full.sha256
        assert approved == sha256(text.encode())

        outbox.deliver(ctx)

    # Every email body, the webhook's text and the chat post are the approved bytes.
    assert sorted(r for msg in handler.messages for r in msg.rcpt_tos) == sorted(CUSTOMERS)
    for msg in handler.messages:
        assert sha256(msg.body) == approved
        assert msg.header("X-CommandPost-Notice-SHA256") == approved
        assert msg.header("Subject") == f"Harper Assistant: incident {incident}"
    [(headers, body)] = hooks.requests
    sent = json.loads(body)
    assert sha256(sent["text"].encode("utf-8")) == approved == sent["sha256"]
    assert verify_signature(
        "notice-secret",
        timestamp=int(headers[TIMESTAMP_HEADER]),
        body=body,
        signature=headers[SIGNATURE_HEADER],
        now=int(clock.now().timestamp()),
    )
    assert chat.messages_to("#status") == [text]

    shown = notices.get(ctx, drafted.id)
    assert shown.state == "sent"
    assert {(d.kind, d.state, d.delivered_sha256) for d in shown.deliveries} == {
        ("email", "delivered", approved),
        ("webhook", "delivered", approved),
        ("chat", "delivered", approved),
    }

    # The record: one delivered event per recipient, each naming the hash it sent.
    delivered = _events(ctx.engine, incident, "notice.delivered")
    assert sorted(str(e["recipient"]) for e in delivered) == sorted([*CUSTOMERS, url, "#status"])
    assert {e["sha256"] for e in delivered} == {approved}
    [override] = _events(ctx.engine, incident, "notice.overridden")
    assert override["reason"] == reason and override["role"] == "comms"
    [edit] = _events(ctx.engine, incident, "notice.edited")
    diff = edit["diff"]
    assert isinstance(diff, list) and f"+{MINIMISING}" in diff

    with Session(ctx.engine) as s:
        row = s.get(m.Incident, incident)
        assert row is not None and row.customer_notified_at == clock.now()

    # `commandpost timeline` shows each step.
    result = run_cli("timeline", incident, db_url=db_url)
    assert result.returncode == 0, result.stderr
    for kind in (
        "notice.drafted",
        "notice.edited",
        "notice.overridden",
        "notice.approved",
        "notice.delivered",
    ):
        assert kind in result.stdout
