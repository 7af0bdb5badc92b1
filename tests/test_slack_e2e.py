"""End to end: the served Slack app (waitress + Bolt) against FakeSlack, on each DB lane.

Requests are signed as Slack signs them; assertions are on what the fake received and on
the database. The app does its work after the ack, so tests wait on the fake, never sleep.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select

from commandpost.chat.slack.app import SlackSettings
from commandpost.chat.slack.blocks import ACK_ACTION, GATE_APPROVE, GATE_REJECT, REJECT_CALLBACK
from commandpost.chat.slack.blocks_gate import REASON_BLOCK
from commandpost.chat.slack.blocks_text import INPUT_ACTION
from commandpost.chat.slack.server import SlackServer, make_server
from commandpost.core.policy import Policy
from commandpost.storage import models as m

from .fakeslack import FakeSlack
from .slackreq import SECRET, SlackClient

ALICE, ERIN, DAN = "U0ALICE", "U0ERIN", "U0DAN"


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
