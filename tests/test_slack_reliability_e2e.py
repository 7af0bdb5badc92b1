"""End to end through Slack: the served app holds up.

Health and metrics, the deadline runner inside `serve`, refused signatures, deduplicated
event retries, and every message delivered once through a Slack outage, a 429 and a storm of
them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from commandpost.storage import models as m

from .slacke2e import ALICE, CAROL, ERIN, Env, declare
from .slacke2e import env as env


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


@pytest.mark.parametrize("how", ["forged", "stale"])
def test_bad_signatures_get_401_and_write_nothing(env: Env, how: str) -> None:
    kwargs: dict[str, Any] = {"secret": "wrong"} if how == "forged" else {"age": 6 * 60}
    reply = env.slack.command('declare sev1 harmful_content "x"', user=ALICE, **kwargs)
    assert reply.status == 401
    assert (
        env.count(m.Incident) == 0 and env.count(m.AuditEvent) == 0 and env.count(m.OutboxItem) == 0
    )
    assert env.fake.calls("conversations.create") == []


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
