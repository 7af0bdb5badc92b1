"""End to end through Slack: gate cards and their buttons, each card updated in place.

Approve, Reject (through its modal) and Escalate, by button and by typed command; refusals
shown to the clicker alone; concurrent clicks executing once; deadlines escalating and
expiring a gate while its card follows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from commandpost.chat.slack.blocks import GATE_APPROVE, GATE_ESCALATE, GATE_REJECT, REJECT_CALLBACK
from commandpost.chat.slack.blocks_gate import REASON_BLOCK
from commandpost.chat.slack.blocks_text import INPUT_ACTION
from commandpost.storage import models as m

from .slacke2e import (
    ALICE,
    CAROL,
    DAN,
    ERIN,
    Env,
    ack,
    approve_ten_times_at_once,
    card_text,
    contained,
    declare,
    gate_card_ts,
    has_buttons,
)
from .slacke2e import env as env


def card(env: Env, stored: m.SlackChannel, ts: str) -> dict[str, Any]:
    return env.fake.messages[(stored.channel_id, ts)]


def gate_cards_posted(env: Env, stored: m.SlackChannel) -> int:
    return sum(
        1
        for c in env.fake.calls("chat.postMessage", ok=True)
        if c.params.get("channel") == stored.channel_id
        and "Gate #" in str(c.params.get("text", ""))
        and any(b.get("type") == "actions" for b in c.params.get("blocks") or [])
    )


def test_ack_contain_forbidden_then_allowed_approval_executes_once(env: Env) -> None:
    stored, ts, gate_id = contained(env)
    decisions = env.count(m.GateDecision)
    events = env.count(m.AuditEvent)
    # Dan holds no role: refused, ephemerally, and nothing changes.
    env.slack.click(GATE_APPROVE, str(gate_id), user=DAN, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(lambda f: any(e["user"] == DAN for e in f.ephemeral))
    assert env.count(m.GateDecision) == decisions and env.count(m.AuditEvent) == events
    assert env.rows(m.Gate)[0].state == "pending"
    # Erin (safety lead, acknowledged) approves, clicking five times.
    for _ in range(5):
        env.slack.click(GATE_APPROVE, str(gate_id), user=ERIN, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(
        lambda f: any("MANUAL STEP" in msg["text"] for msg in f.messages_in(stored.channel_id))
    )
    (gate,) = env.rows(m.Gate)
    assert (gate.state, gate.execution) == ("approved", "manual_pending")
    assert env.count(m.GateDecision, m.GateDecision.decision == "approve") == 1
    assert env.count(m.OutboxItem, m.OutboxItem.kind == "execute") == 1
    manual = [x for x in env.fake.messages_in(stored.channel_id) if "MANUAL STEP" in x["text"]]
    assert len(manual) == 1
    # The card was updated in place: no buttons left.
    env.fake.wait_for(
        lambda f: (
            not any(b["type"] == "actions" for b in f.messages[(stored.channel_id, ts)]["blocks"])
        )
    )


def test_ten_concurrent_clicks_on_approve_execute_once(env: Env) -> None:
    stored = approve_ten_times_at_once(env)
    assert env.count(m.GateDecision, m.GateDecision.decision == "approve") == 1
    assert env.count(m.OutboxItem, m.OutboxItem.kind == "execute") == 1
    manual = [x for x in env.fake.messages_in(stored.channel_id) if "MANUAL STEP" in x["text"]]
    assert len(manual) == 1


def test_reject_through_the_modal_needs_a_reason(env: Env) -> None:
    stored, ts, gate_id = contained(env)
    env.slack.click(GATE_REJECT, str(gate_id), user=ERIN, channel=stored.channel_id, ts=ts)
    env.fake.wait_for_calls("views.open")
    view = env.fake.views[-1]
    assert view["callback_id"] == REJECT_CALLBACK
    empty = env.slack.submit(
        REJECT_CALLBACK, {}, user=ERIN, private_metadata=view["private_metadata"]
    )
    assert empty.json()["response_action"] == "errors"
    assert env.rows(m.Gate)[0].state == "pending"
    values = {
        REASON_BLOCK: {INPUT_ACTION: {"type": "plain_text_input", "value": "filter breaks triage"}}
    }
    ok = env.slack.submit(
        REJECT_CALLBACK, values, user=ERIN, private_metadata=view["private_metadata"]
    )
    assert ok.status == 200
    env.fake.wait_for(
        lambda f: (
            not any(b["type"] == "actions" for b in f.messages[(stored.channel_id, ts)]["blocks"])
        )
    )
    (gate,) = env.rows(m.Gate)
    assert gate.state == "rejected"
    (decision,) = env.rows(m.GateDecision)
    assert (decision.person_id, decision.reason) == ("erin", "filter breaks triage")


def test_typed_approve_updates_the_gate_card_in_place(env: Env) -> None:
    stored, ts, gate_id = contained(env)
    env.fake.wait_for(lambda f: env.count(m.SlackGateCard) == 1)  # stored after the post
    (row,) = env.rows(m.SlackGateCard)
    assert (row.gate_id, row.channel_id, row.ts) == (gate_id, stored.channel_id, ts)
    assert row.rendered.startswith("pending:")
    reply = env.slack.command(f"approve {gate_id}", user=ERIN, channel=stored.channel_id)
    assert reply.status == 200
    env.fake.wait_for(lambda f: not has_buttons(card(env, stored, ts)))
    assert "approved" in card(env, stored, ts)["text"]
    assert "Erin Park" in card_text(card(env, stored, ts)) or "U0ERIN" in card_text(
        card(env, stored, ts)
    )
    env.fake.wait_for(lambda f: env.rows(m.SlackGateCard)[0].rendered.startswith("approved:"))
    # The card was edited, never posted again; the ephemeral reply went to Erin alone.
    assert gate_cards_posted(env, stored) == 1
    assert any(e["user"] == ERIN and f"Gate #{gate_id}" in e["text"] for e in env.fake.ephemeral)
    # Later messages of the incident leave the decided card alone.
    updates = [c for c in env.fake.calls("chat.update", ok=True) if c.params.get("ts") == ts]
    env.slack.command("note all quiet", user=ALICE, channel=stored.channel_id)
    env.fake.wait_for(
        lambda f: any("all quiet" in x["text"] for x in f.messages_in(stored.channel_id))
    )
    assert [c for c in env.fake.calls("chat.update", ok=True) if c.params.get("ts") == ts] == (
        updates
    )


def test_deadlines_escalate_then_expire_the_gate_and_the_card_follows(env: Env) -> None:
    from commandpost.service.deadlines import fire_due

    stored, ts, gate_id = contained(env)

    def gate_due() -> datetime:
        (row,) = [
            d
            for d in env.rows(m.Deadline)
            if d.kind == "gate" and d.subject == str(gate_id) and d.state == "pending"
        ]
        return row.due_at

    fire_due(env.server.ctx, now=gate_due() + timedelta(seconds=1))
    env.server.kick()
    env.fake.wait_for(lambda f: "Duty director" in card_text(card(env, stored, ts)))
    shown = card(env, stored, ts)
    assert has_buttons(shown) and "needs a decision" in shown["text"]
    assert "Incident commander" not in card_text(shown)  # tier 2: duty directors only
    (gate,) = env.rows(m.Gate)
    assert (gate.state, gate.tier) == ("pending", 1)

    fire_due(env.server.ctx, now=gate_due() + timedelta(seconds=1))
    env.server.kick()
    env.fake.wait_for(lambda f: not has_buttons(card(env, stored, ts)))
    assert "expired" in card(env, stored, ts)["text"]
    assert env.rows(m.Gate)[0].state == "expired"
    assert gate_cards_posted(env, stored) == 1


def test_escalate_button_moves_the_gate_to_the_next_tier(env: Env) -> None:
    stored, ts, gate_id = contained(env)
    assert "Incident commander" in card_text(card(env, stored, ts))
    env.slack.click(GATE_ESCALATE, str(gate_id), user=ERIN, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(lambda f: "Duty director" in card_text(card(env, stored, ts)))
    shown = card(env, stored, ts)
    assert has_buttons(shown)  # still pending, now for the duty directors
    assert "Incident commander" not in card_text(shown)
    (gate,) = env.rows(m.Gate)
    assert (gate.state, gate.tier) == ("pending", 1)
    (escalation,) = env.rows(m.GateDecision)
    assert (escalation.person_id, escalation.decision) == ("erin", "escalate")
    # The duty directors are told, in their DMs.
    env.fake.wait_for(
        lambda f: all(
            any("Decision needed on gate" in x["text"] for x in f.messages_in(dm))
            for dm in ("D0MO", "D0LENA")
        )
    )
    # Erin may no longer decide at tier 2: refused, nothing changes.
    decisions = env.count(m.GateDecision)
    env.slack.click(GATE_APPROVE, str(gate_id), user=ERIN, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(lambda f: any(e["user"] == ERIN for e in f.ephemeral))
    assert env.count(m.GateDecision) == decisions


def test_dual_approval_through_buttons(env: Env) -> None:
    stored = declare(env)
    for user in (ALICE, ERIN, CAROL):
        ack(env, user)
    reply = env.slack.command(
        "contain disable_tool tool=web_search agent=support-bot",
        user=CAROL,
        channel=stored.channel_id,
    )
    assert reply.status == 200
    ts = gate_card_ts(env, stored)
    (gate,) = env.rows(m.Gate)
    assert gate.rule == "containment_dual"
    gate_id = str(gate.id)
    # The requester cannot approve her own request.
    env.slack.click(GATE_APPROVE, gate_id, user=CAROL, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(lambda f: any(e["user"] == CAROL for e in f.ephemeral))
    # Alice (IC) approves: the card shows one of two.
    env.slack.click(GATE_APPROVE, gate_id, user=ALICE, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(lambda f: "1 of 2 approved" in card_text(card(env, stored, ts)))
    assert has_buttons(card(env, stored, ts))
    # Alice again: refused ephemerally, nothing recorded.
    env.slack.click(GATE_APPROVE, gate_id, user=ALICE, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(lambda f: any(e["user"] == ALICE for e in f.ephemeral))
    assert env.count(m.GateDecision) == 1
    assert env.rows(m.Gate)[0].state == "pending"
    # Erin (safety lead): a second person in a second role. Approved, executed once.
    env.slack.click(GATE_APPROVE, gate_id, user=ERIN, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(
        lambda f: any("MANUAL STEP" in x["text"] for x in f.messages_in(stored.channel_id))
    )
    env.fake.wait_for(lambda f: not has_buttons(card(env, stored, ts)))
    (gate,) = env.rows(m.Gate)
    assert (gate.state, gate.execution) == ("approved", "manual_pending")
    approvals = sorted(
        (d.person_id, d.role) for d in env.rows(m.GateDecision) if d.decision == "approve"
    )
    assert approvals == [("alice", "incident_commander"), ("erin", "safety_lead")]
    assert env.count(m.OutboxItem, m.OutboxItem.kind == "execute") == 1
    manual = [x for x in env.fake.messages_in(stored.channel_id) if "MANUAL STEP" in x["text"]]
    assert len(manual) == 1


def test_a_card_the_port_did_not_store_is_updated_on_click_and_adopted(env: Env) -> None:
    stored, ts, gate_id = contained(env)
    env.fake.wait_for(lambda f: env.count(m.SlackGateCard) == 1)  # stored after the post
    with Session(env.server.ctx.engine) as s:  # as if posted before migration 0003
        s.delete(s.get(m.SlackGateCard, gate_id))
        s.commit()
    env.slack.click(GATE_APPROVE, str(gate_id), user=ERIN, channel=stored.channel_id, ts=ts)
    env.fake.wait_for(lambda f: not has_buttons(card(env, stored, ts)))
    env.fake.wait_for(lambda f: env.count(m.SlackGateCard) == 1)
    (row,) = env.rows(m.SlackGateCard)
    assert (row.channel_id, row.ts, row.rendered.split(":")[0]) == (
        stored.channel_id,
        ts,
        "approved",
    )
