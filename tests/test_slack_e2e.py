"""End to end: the served Slack app (waitress + Bolt) against FakeSlack, on each DB lane.

Requests are signed as Slack signs them; assertions are on what the fake received and on
the database. The app does its work after the ack, so tests wait on the fake, never sleep.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select

from commandpost.chat.slack import commands as c
from commandpost.chat.slack.app import SlackSettings, slack_context, web_client
from commandpost.chat.slack.blocks import (
    ACK_ACTION,
    DECLARE_CALLBACK,
    GATE_APPROVE,
    GATE_ESCALATE,
    GATE_REJECT,
    REJECT_CALLBACK,
)
from commandpost.chat.slack.blocks_forms import block_id
from commandpost.chat.slack.blocks_gate import REASON_BLOCK
from commandpost.chat.slack.blocks_text import INPUT_ACTION
from commandpost.chat.slack.server import SlackServer, make_server
from commandpost.core.policy import Policy
from commandpost.drills import model as dm
from commandpost.drills.checks import evaluate
from commandpost.drills.loader import load_drill
from commandpost.drills.model import Drill
from commandpost.drills.runner import DrillExecutor, run_drill
from commandpost.service import deadlines
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .fakeslack import FakeSlack
from .slackreq import SECRET, SlackClient
from .support import POLICY_FILE, ROOT

ALICE, ERIN, DAN, CAROL = "U0ALICE", "U0ERIN", "U0DAN", "U0CAROL"


@dataclass
class Env:
    fake: FakeSlack
    server: SlackServer
    slack: SlackClient

    def count(self, model: Any, *where: Any) -> int:
        with Session(self.server.ctx.engine) as s:
            return int(s.exec(select(func.count()).select_from(model).where(*where)).one())

    def rows(self, model: Any) -> list[Any]:
        with Session(self.server.ctx.engine) as s:
            return list(s.exec(select(model)).all())

    def channel(self) -> m.SlackChannel:
        (row,) = self.rows(m.SlackChannel)
        return row

    def dm(self, user: str) -> list[dict[str, Any]]:
        return self.fake.messages_in("D" + user[1:])


@pytest.fixture
def env(db_url: str, policy: Policy) -> Iterator[Env]:
    fake = FakeSlack().start()
    fake.add_channel("incidents")
    fake.add_channel("general", channel_id="C0GENERAL")
    settings = SlackSettings(
        signing_secret=SECRET, bot_token=fake.token or "", api_url=fake.base_url
    )
    server = make_server(
        database_url=db_url, policy=policy, settings=settings, deliver_every=0.2
    ).start()
    try:
        yield Env(fake, server, SlackClient(f"http://127.0.0.1:{server.port}"))
    finally:
        server.stop()
        fake.stop()


def declare(env: Env) -> m.SlackChannel:
    reply = env.slack.command('declare sev1 harmful_content "Self-harm advice in chat"', user=ALICE)
    assert reply.status == 200
    env.fake.wait_for_calls("pins.add")
    # Four roles paged for SEV1: four DMs with an Acknowledge button.
    env.fake.wait_for(
        lambda f: (
            sum(
                1
                for c in f.calls("chat.postMessage", ok=True)
                if str(c.params.get("channel", "")).startswith("U")
            )
            >= 4
        )
    )
    return env.channel()


def test_healthz_and_missing_route(env: Env) -> None:
    assert httpx.get(f"{env.slack.url}/healthz").status_code == 200


def test_serve_runs_the_deadlines_and_exports_their_metrics(env: Env) -> None:
    assert env.server.runner is not None
    declare(env)
    # The declaration scheduled its ack timers; the in-process runner woke for the first one.
    first_due = min(d.due_at for d in env.rows(m.Deadline))
    assert env.server.runner.armed_at == first_due
    metrics = httpx.get(f"{env.slack.url}/metrics")
    assert metrics.status_code == 200
    assert "commandpost_deadline_lateness_seconds" in metrics.text


def test_declare_by_command_opens_the_channel(env: Env) -> None:
    stored = declare(env)
    channel = env.fake.channels[stored.channel_id]
    assert channel.name.startswith("inc-") and channel.name.endswith("-self-harm-advice-in-chat")
    assert {"U0ALICE", "U0CAROL", "U0ERIN", "U0GRACE"} <= channel.members
    assert channel.topic.startswith("INC-") and channel.purpose
    assert channel.pins == [stored.summary_ts]
    assert env.fake.calls("conversations.create", ok=True)[0].params["name"] == channel.name
    page = env.dm(ALICE)[0]
    buttons = [e for b in page["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["action_id"] == ACK_ACTION
    # announced in the announcements channel
    announce = env.fake.channel_named("incidents")
    assert announce is not None
    env.fake.wait_for(lambda f: len(f.messages_in(announce.id)) == 1)
    assert env.count(m.Incident) == 1


def test_channel_name_collision_gets_a_suffix(env: Env) -> None:
    env.fake.add_channel(f"inc-{2000 + 0}-x")  # unrelated
    # Take the name the first incident of this year will want.
    from datetime import UTC, datetime

    year = datetime.now(UTC).year
    env.fake.add_channel(f"inc-{year}-0001-self-harm-advice-in-chat")
    stored = declare(env)
    assert stored.name == f"inc-{year}-0001-self-harm-advice-in-chat-2"
    assert env.fake.calls("conversations.create", ok=False)[0].error == "name_taken"


def ack(env: Env, user: str) -> None:
    page = env.dm(user)[0]
    value = next(
        e["value"] for b in page["blocks"] if b["type"] == "actions" for e in b["elements"]
    )
    before = len(env.fake.calls("chat.update", ok=True))
    assert (
        env.slack.click(ACK_ACTION, value, user=user, channel="D" + user[1:], ts=page["ts"]).status
        == 200
    )
    env.fake.wait_for(
        lambda f: (
            len(f.calls("chat.update", ok=True)) > before
            and not any(
                b["type"] == "actions" for b in f.messages_in("D" + user[1:])[0].get("blocks", [])
            )
        )
    )


def gate_card_ts(env: Env, stored: m.SlackChannel) -> str:
    env.fake.wait_for(
        lambda f: any(
            "Gate #" in msg["text"]
            or (
                "ate" in msg["text"]
                and msg.get("blocks")
                and any(b["type"] == "actions" for b in msg["blocks"])
            )
            for msg in f.messages_in(stored.channel_id)[1:]
        )
    )
    for msg in env.fake.messages_in(stored.channel_id)[1:]:
        if any(b["type"] == "actions" for b in msg.get("blocks", [])):
            return str(msg["ts"])
    raise AssertionError("no gate card")


def contained(env: Env) -> tuple[m.SlackChannel, str, int]:
    stored = declare(env)
    ack(env, ALICE)
    ack(env, ERIN)
    assert env.count(m.RoleAssignment, col(m.RoleAssignment.acknowledged_at).is_not(None)) == 2
    reply = env.slack.command(
        "contain force_safety_filter level=strict surface=chat",
        user=ALICE,
        channel=stored.channel_id,
    )
    assert reply.status == 200
    ts = gate_card_ts(env, stored)
    (gate,) = env.rows(m.Gate)
    return stored, ts, gate.id


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
    stored, ts, gate_id = contained(env)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def click() -> None:
        barrier.wait()
        reply = env.slack.click(
            GATE_APPROVE, str(gate_id), user=ERIN, channel=stored.channel_id, ts=ts
        )
        statuses.append(reply.status)

    threads = [threading.Thread(target=click) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 10
    env.fake.wait_for(
        lambda f: any("MANUAL STEP" in msg["text"] for msg in f.messages_in(stored.channel_id))
    )
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


@pytest.mark.parametrize("how", ["forged", "stale"])
def test_bad_signatures_get_401_and_write_nothing(env: Env, how: str) -> None:
    kwargs: dict[str, Any] = {"secret": "wrong"} if how == "forged" else {"age": 6 * 60}
    reply = env.slack.command('declare sev1 harmful_content "x"', user=ALICE, **kwargs)
    assert reply.status == 401
    assert (
        env.count(m.Incident) == 0 and env.count(m.AuditEvent) == 0 and env.count(m.OutboxItem) == 0
    )
    assert env.fake.calls("conversations.create") == []


def test_malformed_command_gets_usage(env: Env) -> None:
    reply = env.slack.command("contain", user=ALICE)
    assert reply.status == 200
    assert "Usage: `/incident contain" in reply.text
    outside = env.slack.command("note hello", user=ALICE, channel="C0GENERAL")
    assert "only in an incident channel" in outside.text
    stranger = env.slack.command('declare sev1 harmful_content "x"', user="U0NOBODY")
    assert "not in Command Post's policy" in stranger.text
    assert env.count(m.Incident) == 0


def test_event_retries_are_deduplicated(env: Env) -> None:
    event = {"type": "member_joined_channel", "user": ALICE, "channel": "C1"}
    assert env.slack.event(event, event_id="Ev1").status == 200
    assert env.slack.event(event, event_id="Ev1", retry=1).status == 200
    assert env.count(m.SlackEvent) == 1


def test_slack_down_then_up_delivers_everything_once(env: Env) -> None:
    env.fake.go_down()
    env.slack.command('declare sev1 harmful_content "Self-harm advice in chat"', user=ALICE)
    env.fake.wait_for(lambda f: len(f.calls("conversations.create")) >= 2)  # retried while down
    assert env.count(m.OutboxItem, m.OutboxItem.state == "pending") > 0
    assert env.count(m.OutboxItem, m.OutboxItem.state == "failed") == 0
    assert env.count(m.Incident) == 1  # the command worked while Slack was down
    env.fake.come_up()
    env.fake.wait_for(lambda f: len(f.calls("pins.add", ok=True)) == 1, timeout=15)
    env.fake.wait_for(lambda f: len(f.calls("chat.postMessage", ok=True)) >= 7, timeout=15)
    assert len(env.fake.calls("conversations.create", ok=True)) == 1
    env.fake.wait_for(lambda f: env.count(m.OutboxItem, m.OutboxItem.state != "delivered") == 0)
    with Session(env.server.ctx.engine) as s:
        states = [i.state for i in s.exec(select(m.OutboxItem)).all()]
    assert states and set(states) == {"delivered"}
    # each DM exactly once
    for user in (ALICE, ERIN, "U0CAROL", "U0GRACE"):
        assert len(env.dm(user)) == 1


def test_rate_limited_call_is_deferred_not_dropped(env: Env) -> None:
    env.fake.rate_limit_next("conversations.create", retry_after=1, times=3)
    declare(env)
    assert len(env.fake.calls("conversations.create", ok=True)) == 1
    assert len(env.fake.calls("conversations.create", ok=False)) == 3
    env.fake.wait_for(lambda f: env.count(m.OutboxItem, m.OutboxItem.state != "delivered") == 0)
    (item,) = [i for i in env.rows(m.OutboxItem) if i.kind == "open_channel"]
    assert (item.state, item.attempts) == ("delivered", 1)  # the 429s used no attempt
    assert json.loads(item.body)["name"].startswith("inc-")


def test_serve_without_credentials_names_the_missing_variables() -> None:
    from typer.testing import CliRunner

    from commandpost.cli.app import _register, app

    _register()
    result = CliRunner().invoke(
        app, ["serve"], env={"SLACK_SIGNING_SECRET": "", "SLACK_BOT_TOKEN": ""}
    )
    assert result.exit_code == 2
    assert "SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN" in result.output


# ------------------------------------------------------------------ gate cards in step
def card(env: Env, stored: m.SlackChannel, ts: str) -> dict[str, Any]:
    return env.fake.messages[(stored.channel_id, ts)]


def has_buttons(message: dict[str, Any]) -> bool:
    return any(b["type"] == "actions" for b in message.get("blocks", []))


def card_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []))


def gate_cards_posted(env: Env, stored: m.SlackChannel) -> int:
    return sum(
        1
        for c in env.fake.calls("chat.postMessage", ok=True)
        if c.params.get("channel") == stored.channel_id
        and "Gate #" in str(c.params.get("text", ""))
        and any(b.get("type") == "actions" for b in c.params.get("blocks") or [])
    )


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
    env.server.deliverer.kick()
    env.fake.wait_for(lambda f: "Duty director" in card_text(card(env, stored, ts)))
    shown = card(env, stored, ts)
    assert has_buttons(shown) and "needs a decision" in shown["text"]
    assert "Incident commander" not in card_text(shown)  # tier 2: duty directors only
    (gate,) = env.rows(m.Gate)
    assert (gate.state, gate.tier) == ("pending", 1)

    fire_due(env.server.ctx, now=gate_due() + timedelta(seconds=1))
    env.server.deliverer.kick()
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


# ------------------------------------------------------------------- declare by modal
def typed(value: str) -> dict[str, Any]:
    return {INPUT_ACTION: {"type": "plain_text_input", "value": value}}


def chosen(value: str) -> dict[str, Any]:
    return {INPUT_ACTION: {"type": "static_select", "selected_option": {"value": value}}}


def test_declare_by_modal(env: Env) -> None:
    reply = env.slack.command("declare", user=ALICE, channel="C0GENERAL")
    assert reply.status == 200
    env.fake.wait_for_calls("views.open")
    view = env.fake.views[-1]
    assert view["callback_id"] == DECLARE_CALLBACK
    assert view["private_metadata"] == "C0GENERAL"
    blocks = {b["block_id"] for b in view["blocks"]}
    assert {block_id(f) for f in ("title", "incident_class", "severity", "model")} <= blocks

    bad = env.slack.submit(
        DECLARE_CALLBACK, {block_id("title"): typed("  ")}, user=ALICE, private_metadata="C0GENERAL"
    )
    assert bad.status == 200
    errors = bad.json()
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) == {
        block_id("title"),
        block_id("model"),
        block_id("incident_class"),
        block_id("severity"),
    }
    assert env.count(m.Incident) == 0 and env.count(m.OutboxItem) == 0

    values = {
        block_id("title"): typed("Agent emails customers unprompted"),
        block_id("incident_class"): chosen("unauthorized_tool_use"),
        block_id("severity"): chosen("SEV2"),
        block_id("model"): typed("support-agent"),
        block_id("model_version"): typed("2026-03-01"),
        block_id("surface"): typed("email-tool"),
        block_id("tenant"): typed("acme"),
        block_id("region"): typed("eu-west"),
        block_id("description"): typed("Seen by support at 09:12"),
    }
    ok = env.slack.submit(DECLARE_CALLBACK, values, user=ALICE, private_metadata="C0GENERAL")
    assert ok.status == 200 and ok.text == ""
    env.fake.wait_for_calls("pins.add")
    (incident,) = env.rows(m.Incident)
    assert (incident.severity, incident.klass, incident.declared_by) == (
        "SEV2",
        "unauthorized_tool_use",
        "alice",
    )
    assert (incident.model, incident.model_version, incident.surface) == (
        "support-agent",
        "2026-03-01",
        "email-tool",
    )
    assert (incident.tenant, incident.region) == ("acme", "eu-west")
    assert env.channel().name.endswith("-agent-emails-customers-unprompted")
    # Told privately (the modal has no channel): a DM names the new incident.
    env.fake.wait_for(lambda f: any(incident.id in x["text"] for x in f.messages_in("D0ALICE")))


# ------------------------------------------------------------- assign and handover
def test_assign_and_handover_by_command(env: Env) -> None:
    stored = declare(env)
    ack(env, ALICE)
    reply = env.slack.command(
        "assign product_owner <@U0KAI|kai>", user=ALICE, channel=stored.channel_id
    )
    assert reply.status == 200
    env.fake.wait_for(lambda f: len(f.messages_in("D0KAI")) == 1)
    page = env.fake.messages_in("D0KAI")[0]
    assert has_buttons(page)  # a role page with Acknowledge
    holders = {
        (r.role, r.person_id) for r in env.rows(m.RoleAssignment) if r.active and not r.unfilled
    }
    assert ("product_owner", "kai") in holders
    # Only the holder or the IC hands over; Dan is neither.
    env.slack.command("handover safety_lead <@U0FEMI>", user=DAN, channel=stored.channel_id)
    env.fake.wait_for(lambda f: any(e["user"] == DAN for e in f.ephemeral))
    # Erin (the safety lead) hands over to Femi.
    ack(env, ERIN)
    env.slack.command("handover safety_lead <@U0FEMI>", user=ERIN, channel=stored.channel_id)
    env.fake.wait_for(lambda f: len(f.messages_in("D0FEMI")) == 1)
    holders = {
        (r.role, r.person_id) for r in env.rows(m.RoleAssignment) if r.active and not r.unfilled
    }
    assert ("safety_lead", "femi") in holders and ("safety_lead", "erin") not in holders
    kinds = [e.kind for e in env.rows(m.AuditEvent)]
    assert kinds.count("role.assigned") == 1 and kinds.count("role.handover") == 1
    env.fake.wait_for(
        lambda f: any("handed safety_lead" in x["text"] for x in f.messages_in(stored.channel_id))
    )
    # A mention of someone outside the policy is refused, with the reason.
    env.slack.command("assign comms <@U0STRANGER>", user=ALICE, channel=stored.channel_id)
    env.fake.wait_for(
        lambda f: any(e["user"] == ALICE and "not in the policy" in e["text"] for e in f.ephemeral)
    )


# ------------------------------------------------------------------------ 429 storm
def test_a_429_storm_delivers_everything_once(env: Env) -> None:
    env.fake.rate_limit_next("chat.postMessage", retry_after=1, times=20)
    env.slack.command('declare sev1 harmful_content "Self-harm advice in chat"', user=ALICE)
    env.fake.wait_for(
        lambda f: (
            len(f.calls("chat.postMessage", ok=False)) == 20
            and env.count(m.OutboxItem) > 0
            and env.count(m.OutboxItem, m.OutboxItem.state != "delivered") == 0
        ),
        timeout=40,
    )
    assert all(c.status == 429 for c in env.fake.calls("chat.postMessage", ok=False))
    items = env.rows(m.OutboxItem)
    assert {(i.state, i.attempts) for i in items} == {("delivered", 1)}  # no attempt used up
    stored = env.channel()
    assert env.fake.channels[stored.channel_id].pins == [stored.summary_ts]
    for user in (ALICE, ERIN, CAROL, "U0GRACE"):
        assert len(env.dm(user)) == 1
    announce = env.fake.channel_named("incidents")
    assert announce is not None and len(env.fake.messages_in(announce.id)) == 1
    posts = [i for i in items if i.kind in ("post", "direct")]
    assert len(env.fake.calls("chat.postMessage", ok=True)) == len(posts) + 1  # + summary card


# ------------------------------------------------------------ a drill played in Slack
class SlackDrill:
    """Plays a drill's steps as the signed Slack requests people would send: the declare
    modal, Acknowledge and Approve/Reject/Escalate buttons, and `/incident` commands. The
    clock is the drill's (a ManualClock in the served app's context); `advance` moves it and
    fires what falls due, as the runner would. `expect` steps are checked by the drill's own
    `evaluate`, with the channel and DMs read back from the fake."""

    def __init__(self, env: Env, clock: ManualClock, executor: DrillExecutor) -> None:
        self.env, self.clock, self.executor = env, clock, executor
        self.policy = env.server.ctx.policy
        self.incident_id: str | None = None
        self.labels: dict[str, int] = {}
        self.fired: list[str] = []
        self.refusals = 0  # expected refusals seen, each a check held

    # -- helpers
    def user(self, person_id: str) -> str:
        person = self.policy.person(person_id)
        assert person is not None and person.slack_id, person_id
        return person.slack_id

    def channel_id(self) -> str:
        return self.env.channel().channel_id

    def messages_to(self, where: str) -> list[str]:
        """The drill's view of the chat (`#inc-…` or `DM @person`), read from the fake."""
        dm_of = where.removeprefix("DM @")
        channel = "D" + self.user(dm_of)[1:] if dm_of != where else self.channel_id()
        return [x["text"] + card_text(x) for x in self.env.fake.messages_in(channel)]

    def settled(self) -> None:
        """Everything the last step queued reached Slack."""
        self.env.server.deliverer.kick()
        self.env.fake.wait_for(
            lambda f: env_count(self.env, m.OutboxItem, m.OutboxItem.state != "delivered") == 0,
            timeout=15,
        )

    def command(self, person: str, cmd: c.Command, expect_error: str | None) -> None:
        self.send(person, expect_error, lambda user: self.env.slack.command(
            c.render(cmd), user=user, channel=self.channel_id()))  # fmt: skip

    def click(self, person: str, action: str, value: str, ts: str, channel: str,
              expect_error: str | None) -> None:  # fmt: skip
        self.send(person, expect_error, lambda user: self.env.slack.click(
            action, value, user=user, channel=channel, ts=ts))  # fmt: skip

    def send(self, person: str, expect_error: str | None, request: Any) -> None:
        user = self.user(person)
        events = env_count(self.env, m.AuditEvent)
        refusals = len([e for e in self.env.fake.ephemeral if e["user"] == user])
        reply = request(user)
        assert reply.status == 200 and not reply.text.strip(), reply.text
        if expect_error is None:
            self.env.fake.wait_for(lambda f: env_count(self.env, m.AuditEvent) > events)
        else:
            self.env.fake.wait_for(
                lambda f: len([e for e in f.ephemeral if e["user"] == user]) > refusals
            )
            said = [e["text"] for e in self.env.fake.ephemeral if e["user"] == user][-1]
            assert expect_error.lower() in said.lower(), said
            assert env_count(self.env, m.AuditEvent) == events
            self.refusals += 1
        self.settled()

    # -- steps
    def play(self, drill: Drill) -> int:
        checks = 0
        for step in drill.steps:
            if isinstance(step, dm.Expect):
                checks += self.expect(step)
            elif isinstance(step, dm.Advance):
                self.advance(step.by)
            else:
                self.act(step)
        return checks + self.refusals

    def act(self, step: dm.ActionStep) -> None:
        who, error = step.actor(), step.expect_error
        if isinstance(step, dm.Declare):
            self.declare(step)
        elif isinstance(step, dm.Ack):
            self.ack(step.who, step.role, error)
        elif isinstance(step, dm.Note):
            kind = c.Evidence if step.kind == "evidence" else c.Note
            self.command(who, kind(step.text), error)
        elif isinstance(step, dm.Update):
            self.command(who, c.Update(step.text), error)
        elif isinstance(step, dm.ChangeStatus):
            self.command(who, c.StatusChange(step.to, step.note), error)
        elif isinstance(step, dm.Contain):
            params = {k: str(v) for k, v in step.params.items()}
            self.command(who, c.Contain(step.action, params, step.reason), error)
            if error is None:
                self.labels[step.defines()] = max(g.id or 0 for g in self.env.rows(m.Gate))
        elif isinstance(step, dm.Decide):
            self.decide(step)
        elif isinstance(step, dm.ConfirmManual):
            self.command(who, c.Confirm(self.labels[step.gate], step.note), error)
        elif isinstance(step, dm.Resolve):
            self.command(who, c.Resolve(step.summary), error)
        elif isinstance(step, dm.Close):
            self.command(who, c.Close(), error)
        else:
            raise AssertionError(f"no Slack translation for a {step.kind} step")

    def declare(self, step: dm.Declare) -> None:
        user = self.user(step.by)
        assert self.env.slack.command("declare", user=user).status == 200
        self.env.fake.wait_for_calls("views.open")
        fields = {
            "title": typed(step.title),
            "incident_class": chosen(step.klass.value),
            "severity": chosen(step.severity.value),
            **{
                name: typed(value)
                for name in ("model", "model_version", "surface", "tenant", "region")
                if (value := getattr(step, name))
            },
        }
        values = {block_id(name): value for name, value in fields.items()}
        reply = self.env.slack.submit(DECLARE_CALLBACK, values, user=user)
        assert reply.status == 200 and not reply.text, reply.text
        self.env.fake.wait_for(lambda f: env_count(self.env, m.Incident) == 1)
        self.env.fake.wait_for_calls("pins.add", timeout=10)
        self.settled()
        self.incident_id = self.env.rows(m.Incident)[0].id

    def ack(self, person: str, role: Any, error: str | None) -> None:
        user = self.user(person)
        dm_channel = "D" + user[1:]
        pages = [
            (x["ts"], e["value"])
            for x in self.env.fake.messages_in(dm_channel)
            for b in x.get("blocks", [])
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == ACK_ACTION
            and (role is None or e["value"].endswith("|" + role.value))
        ]
        ts, value = pages[-1]
        self.click(person, ACK_ACTION, value, ts, dm_channel, error)

    def decide(self, step: dm.Decide) -> None:
        gate_id = self.labels[step.gate]
        stored = self.env.server.ctx.engine
        with Session(stored) as s:
            row = s.get(m.SlackGateCard, gate_id)
        assert row is not None, "the gate card was posted and stored"
        if step.kind == "reject":
            cmd = c.Reject(gate_id, step.reason or "")
            self.command(step.who, cmd, step.expect_error)
            return
        action = GATE_APPROVE if step.kind == "approve" else GATE_ESCALATE
        self.click(step.who, action, str(gate_id), row.ts, row.channel_id, step.expect_error)

    def advance(self, by: timedelta) -> None:
        """As the drill runner does: fire each deadline at its due time, in order."""
        target = self.clock.now() + by
        ctx = self.env.server.ctx
        while True:
            due = [d.due_at for d in deadlines.pending_deadlines(ctx) if d.due_at <= target]
            if not due:
                break
            self.clock.set(max(self.clock.now(), min(due)))
            fired = deadlines.fire_due(ctx, limit=1)
            if not fired:
                break
            for item in fired:
                subject = item.subject
                if item.kind == "gate":
                    names = [k for k, v in self.labels.items() if str(v) == subject]
                    self.fired.append(f"gate {names[0] if names else subject}: {item.outcome}")
                elif item.kind == "ack":
                    self.fired.append(f"ack {subject}: {item.outcome}")
                else:
                    self.fired.append(f"{item.kind}: {item.outcome}")
            self.settled()
        self.clock.set(target)

    def expect(self, step: dm.Expect) -> int:
        assert self.incident_id is not None
        results = evaluate(
            step,
            ctx=self.env.server.ctx,
            incident_id=self.incident_id,
            labels=self.labels,
            fired=self.fired,
            calls=[(call.action, call.mode) for call in self.executor.calls],
            chat=self,  # type: ignore[arg-type]  # only messages_to is read
        )
        failed = [
            f"{name}: expected {want}, found {got}" for name, want, got, ok in results if not ok
        ]
        assert not failed, failed
        self.fired = []
        return len(results)


def env_count(env: Env, model: Any, *where: Any) -> int:
    return env.count(model, *where)


def test_a_drill_played_through_slack(db_url: str) -> None:
    drill = load_drill(ROOT / "drills" / "sev2-prompt-injection.yml", default_policy=POLICY_FILE)
    clock = ManualClock(drill.start)
    fake = FakeSlack().start()
    fake.add_channel("incidents")
    fake.add_channel("general", channel_id="C0GENERAL")
    settings = SlackSettings(
        signing_secret=SECRET, bot_token=fake.token or "", api_url=fake.base_url
    )
    ctx = slack_context(
        database_url=db_url, policy=drill.policy, client=web_client(settings), clock=clock
    )
    executor = DrillExecutor(lambda where, text: None)
    ctx.executor = executor
    # The drill moves the clock and fires what falls due itself (see SlackDrill.advance).
    server = SlackServer(ctx, settings, deliver_every=0.2).start(run_deadlines=False)
    try:
        env = Env(fake, server, SlackClient(f"http://127.0.0.1:{server.port}"))
        player = SlackDrill(env, clock, executor)
        checks = player.play(drill)
        # As many checks held as when the drill runs straight through the service layer.
        assert checks == run_drill(drill, out=io.StringIO()).checks
        (incident,) = env.rows(m.Incident)
        assert incident.status == "closed"
        # Every gate card in the channel shows its gate's final form, updated in place.
        (card_row,) = env.rows(m.SlackGateCard)
        shown = fake.messages[(card_row.channel_id, card_row.ts)]
        assert not has_buttons(shown) and "approved" in shown["text"]
        assert "Lena Fischer" in card_text(shown) or "U0LENA" in card_text(shown)
        assert {i.state for i in env.rows(m.OutboxItem)} == {"delivered"}
    finally:
        server.stop()
        fake.stop()
        ctx.engine.dispose()


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
