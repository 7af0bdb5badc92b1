"""End to end through Slack's Socket Mode: the served app with SLACK_APP_TOKEN set.

The real app (`SlackServer.start_socket_mode`, what `commandpost serve` runs when the app
token is set) opens its socket through the fake Web API (`apps.connections.open` with the
app-level token), and the test plays Slack on that socket: it sends envelopes and times the
acks. The app's Slack work after the ack still goes to the fake Web API with the bot token.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, func, select

from commandpost.chat.slack.server import SlackServer, make_server
from commandpost.core.policy import Policy
from commandpost.storage import models as m

from .fakeslack_socket import CONNECTIONS_OPEN, SocketModeSlack
from .slacke2e import ALICE, slack_settings, stored_channel

ACK_WITHIN = 3.0  # seconds: Slack retries an envelope that is not acked by then
_triggers = itertools.count(1)


@dataclass
class SocketEnv:
    fake: SocketModeSlack
    server: SlackServer

    def command(self, text: str, *, user: str, channel: str = "C0GENERAL") -> str:
        """Send `/incident <text>` as a `slash_commands` envelope; returns its envelope id."""
        return self.fake.socket.send("slash_commands", command_payload(text, user, channel))

    def count(self, model: Any, *where: Any) -> int:
        with Session(self.server.ctx.engine) as s:
            return int(s.exec(select(func.count()).select_from(model).where(*where)).one())


def command_payload(text: str, user: str, channel: str) -> dict[str, Any]:
    # Over the socket Slack sends the same fields it would POST, as a JSON object.
    return {
        "token": "legacy",
        "team_id": "T0FAKE",
        "team_domain": "fake-workspace",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/incident",
        "text": text,
        "api_app_id": "A0FAKE",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.test/commands/1",
        "trigger_id": f"trigger-{next(_triggers)}",
    }


def start_socket_fake() -> SocketModeSlack:
    # The channels slacke2e.start_fake() adds, on a fake that also speaks Socket Mode.
    fake = SocketModeSlack().start()
    fake.add_channel("incidents")
    fake.add_channel("general", channel_id="C0GENERAL")
    return fake


@pytest.fixture
def env(db_url: str, policy: Policy) -> Iterator[SocketEnv]:
    fake = start_socket_fake()
    settings = dataclasses.replace(slack_settings(fake), app_token=fake.app_token)
    server = make_server(database_url=db_url, policy=policy, settings=settings, deliver_every=0.2)
    try:
        server.start_socket_mode()
        fake.socket.wait_for_connections(1)
        yield SocketEnv(fake, server)
    finally:
        server.stop()  # first: with the app gone the fake's close is not a cue to reconnect
        fake.stop()
        server.ctx.engine.dispose()


def test_connects_through_apps_connections_open_with_the_app_token(env: SocketEnv) -> None:
    (opened,) = env.fake.calls(CONNECTIONS_OPEN)
    assert opened.ok and opened.token == env.fake.app_token
    assert env.fake.socket.open_connections == 1


def test_declare_is_acked_over_the_socket_and_opens_the_channel(env: SocketEnv) -> None:
    envelope_id = env.command('declare sev1 harmful_content "Self-harm advice in chat"', user=ALICE)
    ack = env.fake.socket.wait_for_ack(envelope_id, timeout=ACK_WITHIN)
    assert ack.elapsed < ACK_WITHIN
    assert not ack.payload  # a plain ack: the channel is the answer

    env.fake.wait_for_calls("pins.add")
    (created,) = env.fake.calls("conversations.create", ok=True)
    channel = env.fake.channel_named(str(created.params["name"]))
    assert channel is not None and len(channel.pins) == 1

    stored = stored_channel(env.fake, env.server.ctx.engine)
    with Session(env.server.ctx.engine) as s:
        (incident,) = s.exec(select(m.Incident)).all()
    assert (incident.title, incident.severity, incident.klass) == (
        "Self-harm advice in chat",
        "SEV1",
        "harmful_content",
    )
    assert stored.channel_id == channel.id
    # The app-level token opened the socket and nothing else; the work used the bot token.
    assert {c.token for c in env.fake.calls() if c.method != CONNECTIONS_OPEN} == {env.fake.token}


def test_unknown_subcommand_is_acked_with_usage_text(env: SocketEnv) -> None:
    ack = env.fake.socket.wait_for_ack(env.command("bogus", user=ALICE), timeout=ACK_WITHIN)
    assert ack.elapsed < ACK_WITHIN
    assert ack.payload is not None
    # The ack's payload is the reply Slack shows the user alone (a command's default).
    assert "unknown subcommand 'bogus'" in ack.payload["text"]
    assert "Usage: `/incident help" in ack.payload["text"]
    assert ack.payload.get("response_type", "ephemeral") == "ephemeral"
    assert env.count(m.Incident) == 0
    assert env.fake.calls("conversations.create") == []


def test_reconnects_when_slack_asks_and_keeps_acking(env: SocketEnv) -> None:
    env.fake.socket.disconnect("refresh_requested")
    env.fake.socket.wait_for_connections(2)
    assert len(env.fake.calls(CONNECTIONS_OPEN, ok=True)) == 2  # a fresh URL, not the old one
    env.fake.wait_for(lambda f: f.socket.open_connections == 1)  # the old socket let go
    ack = env.fake.socket.wait_for_ack(env.command("bogus", user=ALICE), timeout=ACK_WITHIN)
    assert "Usage:" in (ack.payload or {}).get("text", "")


def test_event_redeliveries_are_acked_and_handled_once(env: SocketEnv) -> None:
    payload = {
        "type": "event_callback",
        "team_id": "T0FAKE",
        "api_app_id": "A0FAKE",
        "event_id": "Ev0SOCKET",
        "event_time": 1_700_000_000,
        "event": {"type": "member_joined_channel", "user": ALICE, "channel": "C0GENERAL"},
    }
    first = env.fake.socket.send("events_api", payload)
    again = env.fake.socket.send("events_api", payload, retry_attempt=1)
    for envelope_id in (first, again):
        assert env.fake.socket.wait_for_ack(envelope_id, timeout=ACK_WITHIN).elapsed < ACK_WITHIN
    assert env.count(m.SlackEvent) == 1


def test_a_wrong_app_token_fails_at_start(db_url: str, policy: Policy) -> None:
    fake = start_socket_fake()
    settings = dataclasses.replace(slack_settings(fake), app_token="xapp-1-wrong")
    server = make_server(database_url=db_url, policy=policy, settings=settings)
    try:
        with pytest.raises(SlackApiError, match="invalid_auth"):
            server.start_socket_mode()
        assert fake.socket.connections == 0
    finally:
        server.stop()
        fake.stop()
        server.ctx.engine.dispose()
