"""What the Slack end-to-end tests share: the served app against FakeSlack, and its steps.

The served Slack app (waitress + Bolt) runs against FakeSlack on each DB lane. Requests are
signed as Slack signs them; assertions are on what the fake received and on the database.
The app does its work after the ack, so tests wait on the fake, never sleep.

A test module takes the `env` fixture by importing it: `from .slacke2e import env as env`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from commandpost.chat.slack.app import SlackSettings
from commandpost.chat.slack.blocks import ACK_ACTION, GATE_APPROVE
from commandpost.chat.slack.blocks_text import INPUT_ACTION
from commandpost.chat.slack.server import SlackServer, make_server, work_spec
from commandpost.core.policy import Policy
from commandpost.storage import models as m

from .fakeslack import FakeSlack
from .slackreq import SECRET, SlackClient

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
        return stored_channel(self.fake, self.server.ctx.engine)

    def dm(self, user: str) -> list[dict[str, Any]]:
        return self.fake.messages_in("D" + user[1:])


def stored_channel(fake: FakeSlack, engine: Engine) -> m.SlackChannel:
    """The one incident channel's row (written before anyone is invited or the summary is
    pinned; a test that looks earlier waits here for it)."""

    def rows() -> list[m.SlackChannel]:
        with Session(engine) as s:
            return list(s.exec(select(m.SlackChannel)).all())

    fake.wait_for(lambda _: bool(rows()))
    (row,) = rows()
    return row


def start_fake() -> FakeSlack:
    """A started FakeSlack holding the channels the policy names."""
    fake = FakeSlack().start()
    fake.add_channel("incidents")
    fake.add_channel("general", channel_id="C0GENERAL")
    return fake


def slack_settings(fake: FakeSlack) -> SlackSettings:
    return SlackSettings(signing_secret=SECRET, bot_token=fake.token or "", api_url=fake.base_url)


@contextmanager
def served(
    db_url: str, policy: Policy, *, work_process: bool = False, pin_cpus: bool = False
) -> Iterator[Env]:
    """The served app against a started FakeSlack; with `work_process`, as `serve` runs it
    over HTTP (the work after each ack in a process of its own, and with `pin_cpus` each of
    the two on a CPU of its own)."""
    fake = start_fake()
    settings = slack_settings(fake)
    work = None
    if work_process:
        work = work_spec(
            database_url=db_url,
            policy=policy,
            settings=settings,
            deliver_every=0.2,
            pin_cpus=pin_cpus,
        )
    server = make_server(
        database_url=db_url, policy=policy, settings=settings, deliver_every=0.2, work=work
    ).start()
    try:
        yield Env(fake, server, SlackClient(f"http://127.0.0.1:{server.port}"))
    finally:
        server.stop()
        fake.stop()
        # stop() leaves the pool open; enough of them and PostgreSQL refuses new clients.
        server.ctx.engine.dispose()


@pytest.fixture
def env(db_url: str, policy: Policy) -> Iterator[Env]:
    with served(db_url, policy) as served_env:
        yield served_env


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


def approve_ten_times_at_once(env: Env) -> m.SlackChannel:
    """Ten clicks on one gate card's Approve at the same moment; each answered 200. Returns
    the channel once the action's one execution has been posted."""
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
    return stored


def has_buttons(message: dict[str, Any]) -> bool:
    return any(b["type"] == "actions" for b in message.get("blocks", []))


def card_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []))


def typed(value: str) -> dict[str, Any]:
    return {INPUT_ACTION: {"type": "plain_text_input", "value": value}}


def chosen(value: str) -> dict[str, Any]:
    return {INPUT_ACTION: {"type": "static_select", "selected_option": {"value": value}}}
