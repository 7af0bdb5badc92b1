"""End to end through Slack: `/incident notify` posts a review card; Edit, Approve and Reject
through its buttons and modals; an approval binds to the text on the card that was clicked.

Grace holds comms (paged at SEV1, acknowledged through her DM); Dan holds no role.
"""

from __future__ import annotations

import json
from typing import Any

from commandpost.chat.slack.blocks_notice import (
    EDIT_CALLBACK,
    NOTICE_APPROVE,
    NOTICE_EDIT,
    NOTICE_REJECT,
    OVERRIDE_CALLBACK,
    REASON_BLOCK,
    REJECT_CALLBACK,
    TEXT_BLOCK,
    parse_notice_value,
)
from commandpost.storage import models as m
from commandpost.storage.notice_models import Notice, NoticeApproval

from .slacke2e import ALICE, DAN, Env, ack, declare, typed
from .slacke2e import env as env

GRACE = "U0GRACE"
NEXT = "We are reviewing every answer the assistant gave during the incident."
MINIMISING = "Only a small number of users saw this."
AFFECTED = "People who asked the chat assistant about self-harm on 2 March."


def cards(env: Env, channel: str) -> list[dict[str, Any]]:
    """The notice review cards in the channel, oldest first."""
    return [
        msg
        for msg in env.fake.messages_in(channel)
        if any(
            b["type"] == "header" and str(b["text"]["text"]).startswith("Notice #")
            for b in msg.get("blocks", [])
        )
    ]


def button(card: dict[str, Any], action_id: str) -> str:
    return next(
        e["value"]
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


def wait_cards(env: Env, channel: str, count: int) -> dict[str, Any]:
    env.fake.wait_for(lambda f: len(cards(env, channel)) >= count, timeout=10)
    return cards(env, channel)[count - 1]


def ephemeral_to(env: Env, user: str, words: str) -> None:
    env.fake.wait_for(lambda f: any(e["user"] == user and words in e["text"] for e in f.ephemeral))


def click(env: Env, action_id: str, card: dict[str, Any], *, user: str, channel: str) -> None:
    value = button(card, action_id)
    assert (
        env.slack.click(action_id, value, user=user, channel=channel, ts=card["ts"]).status == 200
    )


def writes(env: Env) -> tuple[int, int, int]:
    return env.count(m.AuditEvent), env.count(NoticeApproval), env.count(m.OutboxItem)


def staffed(env: Env, *, next_steps: str = NEXT) -> tuple[str, dict[str, Any]]:
    stored = declare(env)
    ack(env, ALICE)
    ack(env, GRACE)
    channel = stored.channel_id
    facts = f"affected={json.dumps(AFFECTED)} next_steps={json.dumps(next_steps)}"
    reply = env.slack.command(f"notify customer_initial {facts}", user=GRACE, channel=channel)
    assert reply.status == 200
    return channel, wait_cards(env, channel, 1)


def test_notify_edit_then_only_the_newest_card_approves(env: Env) -> None:
    channel, first = staffed(env, next_steps=f"{NEXT} {MINIMISING}")
    (notice,) = env.rows(Notice)
    shown = json.dumps(first["blocks"], ensure_ascii=False)
    # The card: the text, the lint findings, the hash, and the three buttons bound to it.
    assert f"Notice #{notice.id} · customer_initial · draft" in shown
    assert "small number of" in shown and "(blocking)" in shown
    assert f"`{notice.sha256[:12]}`" in shown
    assert parse_notice_value(button(first, NOTICE_APPROVE)) == (notice.id, notice.sha256)
    assert "Still needed:* comms, legal" in shown  # SEV1: legal co-approves
    ephemeral_to(env, GRACE, f"Notice #{notice.id}")

    # Edit through the modal: the next card shows the new text and hash.
    click(env, NOTICE_EDIT, first, user=GRACE, channel=channel)
    env.fake.wait_for_calls("views.open")
    modal = env.fake.views[-1]
    assert modal["callback_id"] == EDIT_CALLBACK
    (text_input,) = [b for b in modal["blocks"] if b["type"] == "input"]
    assert text_input["element"]["initial_value"] == notice.text
    edited_text = notice.text.replace(f" {MINIMISING}", "")
    reply = env.slack.submit(
        EDIT_CALLBACK,
        {TEXT_BLOCK: typed(edited_text.rstrip("\n"))},  # Slack drops the last line end
        user=GRACE,
        private_metadata=modal["private_metadata"],
    )
    assert reply.status == 200
    second = wait_cards(env, channel, 2)
    (edited,) = env.rows(Notice)
    assert edited.text == edited_text and edited.version == 2
    assert edited.sha256 != notice.sha256
    assert f"`{edited.sha256[:12]}`" in json.dumps(second["blocks"])
    assert parse_notice_value(button(second, NOTICE_APPROVE)) == (notice.id, edited.sha256)
    assert "small number of" not in json.dumps(second["blocks"])

    # Approve on the old card: refused, to Grace alone, and nothing is written.
    before = writes(env)
    click(env, NOTICE_APPROVE, first, user=GRACE, channel=channel)
    ephemeral_to(env, GRACE, "the text changed since this card was posted")
    assert writes(env) == before

    # Dan holds no role: refused by the service, ephemerally; nothing written.
    click(env, NOTICE_APPROVE, second, user=DAN, channel=channel)
    ephemeral_to(env, DAN, "cannot approve")
    assert writes(env) == before

    # Grace approves the newest card as comms; legal is still needed.
    click(env, NOTICE_APPROVE, second, user=GRACE, channel=channel)
    third = wait_cards(env, channel, 3)
    (approval,) = env.rows(NoticeApproval)
    assert (approval.person_id, approval.role, approval.sha256) == ("grace", "comms", edited.sha256)
    assert approval.override_reason is None
    assert "as *comms*" in json.dumps(third["blocks"]) and "Still needed:* legal" in json.dumps(
        third["blocks"]
    )
    ephemeral_to(env, GRACE, "still needed: legal")


def test_a_blocking_finding_needs_a_written_override(env: Env) -> None:
    channel, card = staffed(env, next_steps=f"{NEXT} {MINIMISING}")
    click(env, NOTICE_APPROVE, card, user=GRACE, channel=channel)
    env.fake.wait_for_calls("views.open")
    modal = env.fake.views[-1]
    assert modal["callback_id"] == OVERRIDE_CALLBACK
    assert "small number of" in json.dumps(modal["blocks"])
    meta = modal["private_metadata"]
    empty = env.slack.submit(OVERRIDE_CALLBACK, {}, user=GRACE, private_metadata=meta)
    assert empty.json()["response_action"] == "errors"
    assert env.count(NoticeApproval) == 0
    reason = {REASON_BLOCK: typed("Legal confirmed the figure is exact.")}
    assert env.slack.submit(OVERRIDE_CALLBACK, reason, user=GRACE, private_metadata=meta).status
    env.fake.wait_for(lambda f: env.count(NoticeApproval) == 1)
    (approval,) = env.rows(NoticeApproval)
    assert (approval.role, approval.override_reason) == (
        "comms",
        "Legal confirmed the figure is exact.",
    )
    assert env.count(m.AuditEvent, m.AuditEvent.kind == "notice.overridden") == 1


def test_reject_needs_a_reason_and_an_unknown_template_lists_the_templates(env: Env) -> None:
    channel, card = staffed(env)
    click(env, NOTICE_REJECT, card, user=GRACE, channel=channel)
    env.fake.wait_for_calls("views.open")
    modal = env.fake.views[-1]
    assert modal["callback_id"] == REJECT_CALLBACK
    meta = modal["private_metadata"]
    empty = env.slack.submit(REJECT_CALLBACK, {}, user=GRACE, private_metadata=meta)
    assert empty.json()["response_action"] == "errors"
    assert env.rows(Notice)[0].state == "draft"
    reason = {REASON_BLOCK: typed("Wrong audience: this one is for the regulator.")}
    assert env.slack.submit(REJECT_CALLBACK, reason, user=GRACE, private_metadata=meta).status
    newest = wait_cards(env, channel, 2)
    (notice,) = env.rows(Notice)
    assert (notice.state, notice.reason) == (
        "rejected",
        "Wrong audience: this one is for the regulator.",
    )
    assert not any(b["type"] == "actions" for b in newest["blocks"])
    # A rejected notice's old card does nothing.
    click(env, NOTICE_APPROVE, card, user=GRACE, channel=channel)
    ephemeral_to(env, GRACE, "is rejected")
    assert env.count(NoticeApproval) == 0

    reply = env.slack.command("notify customer_initiall", user=GRACE, channel=channel)
    assert reply.status == 200
    ephemeral_to(env, GRACE, "no notice template 'customer_initiall'")
    (refusal,) = [e for e in env.fake.ephemeral if "customer_initiall" in e["text"]]
    assert "customer_initial, customer_resolved" in refusal["text"]
    assert "Usage: /incident notify <template>" in refusal["text"]
    assert env.count(Notice) == 1
