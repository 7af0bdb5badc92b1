"""End to end through Microsoft Teams: a drill played as the requests people would send.

Everyone in the drill's policy is given a Teams id. Commands are signed outgoing-webhook
requests (`@CommandPost INC-… ack`) to /teams/command; gate decisions follow the signed
links on the newest gate card the Workflows receiver recorded (GET the page, POST the form
with its CSRF value, as a browser would); people without a link (not eligible, or the
requester) try the `approve` command and are refused. Cards go to a local webhook receiver on
port 0: the incident channel to one URL, each person's pages to their own. The drill's own
`expect` checks run against the database and the cards the receiver got.

Run it: .venv/bin/pytest -q tests/test_teams_drill_e2e.py (both database lanes).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import Session, col, select

from commandpost.chat.console import ConsoleChat
from commandpost.chat.slack import commands as c
from commandpost.chat.teams import TeamsChat
from commandpost.chat.teams.outgoing import signature
from commandpost.core.policy import Policy
from commandpost.drills import model as dm
from commandpost.drills.loader import load_drill
from commandpost.drills.runner import DrillExecutor, run_drill
from commandpost.runtime import build_context
from commandpost.service import outbox
from commandpost.service.context import Context
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .drillsupport import DrillPlayer
from .support import POLICY_FILE, ROOT
from .teamsupport import (
    OUTGOING_TOKEN,
    Receiver,
    approval_link,
    assert_valid_card,
    csrf_of,
    gate_cards,
    serve_teams,
    settings,
    submit_page,
    webhook_receiver,
)

DRILL = ROOT / "drills" / "sev2-prompt-injection.yml"


def on_teams(policy: Policy) -> Policy:
    """The drill's policy with every person reachable on Teams (and only there)."""
    people = [
        p.model_copy(update={"teams_id": f"29:{p.id}", "slack_id": None}) for p in policy.people
    ]
    return policy.model_copy(update={"people": people})


def card_texts(value: Any) -> list[str]:
    """Every text a card shows, in order (TextBlocks, facts, action titles)."""
    if isinstance(value, dict):
        found = [str(value[k]) for k in ("text", "title", "value") if isinstance(value.get(k), str)]
        return found + [t for k, v in value.items() if k not in ("url",) for t in card_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in card_texts(v)]
    return []


class TeamsDrill(DrillPlayer):
    """Plays a drill's steps through Teams. `advance` moves the drill's clock and fires what
    falls due, as the runner does. After each request the outbox is delivered to the
    receiver, as a running server's deliverer would."""

    platform = "Teams"

    def __init__(
        self,
        ctx: Context,
        *,
        base: str,
        receiver: Receiver,
        clock: ManualClock,
        executor: DrillExecutor,
    ) -> None:
        super().__init__(ctx, clock=clock, executor=executor)
        self.base, self.receiver = base, receiver
        self.decided_by_link = 0
        self.sent = 0

    # -- what the people see
    def messages_to(self, where: str) -> list[str]:
        """The drill's view of the chat (`#inc-…` or `DM @person`) from the receiver."""
        path = f"/dm/{where.removeprefix('DM @')}" if where.startswith("DM @") else "/channel"
        with self.receiver.lock:
            posted = [
                b
                for b, p in zip(self.receiver.bodies, self.receiver.paths, strict=True)
                if p == path
            ]
        return [" ".join(card_texts(body)) for body in posted]

    def events(self) -> int:
        with Session(self.ctx.engine) as session:
            return int(session.exec(select(func.count()).select_from(m.AuditEvent)).one())

    def settled(self) -> None:
        outbox.deliver(self.ctx)
        with Session(self.ctx.engine) as session:
            left = [o for o in session.exec(select(m.OutboxItem)) if o.state != "delivered"]
        assert not left, [(o.kind, o.state, o.last_error) for o in left]

    # -- requests
    def say(self, person: str, text: str) -> str:
        """`@CommandPost <text>` from `person`, signed as Teams signs it; the reply's text."""
        self.sent += 1
        body = json.dumps(
            {
                "type": "message",
                "id": f"drill-{self.sent}",
                "text": f"<at>CommandPost</at> {text}",
                "from": {"id": f"29:{person}", "name": person},
            }
        ).encode()
        started = time.monotonic()
        reply = httpx.post(
            f"{self.base}/teams/command",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Authorization": signature(body, OUTGOING_TOKEN),
            },
            timeout=10,
        )
        assert time.monotonic() - started < 5, "Teams waits 5 seconds at most"
        assert reply.status_code == 200, reply.text
        return str(reply.json()["text"])

    def command(self, person: str, cmd: c.Command, expect_error: str | None) -> None:
        assert self.incident_id is not None
        self.run(person, f"{self.incident_id} {c.render(cmd)}", expect_error)

    def run(self, person: str, text: str, expect_error: str | None) -> None:
        events = self.events()
        said = self.say(person, text)
        if expect_error is None:
            assert self.events() > events, f"nothing recorded for {text!r}: {said}"
        else:
            assert expect_error.lower() in said.lower(), said
            assert self.events() == events
            self.refusals += 1
        self.settled()

    def follow(self, person: str, gate_id: int, button: str, reason: str | None) -> None:
        """Open `person`'s link on the newest card of the gate and submit the form there."""
        card = gate_cards(self.receiver, gate_id)[-1]
        assert_valid_card(card)
        name = self.ctx.policy.person(person).name  # type: ignore[union-attr]
        url = approval_link(card, name, button)
        events = self.events()
        with httpx.Client(timeout=10) as browser:
            page = browser.get(url)
            assert page.status_code == 200, page.text
            done = submit_page(
                browser,
                f"{self.base}/teams/approve",
                token=parse_qs(urlparse(url).query)["token"][0],
                csrf=csrf_of(page),
                decision=button.lower(),
                reason=reason or "",
            )
        assert done.status_code == 200 and "recorded" in done.text, done.text
        assert self.events() > events
        self.decided_by_link += 1
        self.settled()

    # -- steps
    def ack(self, person: str, role: Any, expect_error: str | None) -> None:
        self.command(person, c.Ack(role), expect_error)

    def newest_gate(self) -> int:
        with Session(self.ctx.engine) as session:
            return max(g.id or 0 for g in session.exec(select(m.Gate)))

    def declare(self, step: dm.Declare) -> None:
        # Teams has no form: severity, class and title, as typed.
        cmd = c.Declare(step.severity, step.klass, step.title)
        said = self.say(step.by, c.render(cmd))
        assert said.startswith("Declared INC-"), said
        self.incident_id = said.split()[1].rstrip(".")
        self.settled()

    def decide(self, step: dm.Decide) -> None:
        gate_id = self.labels[step.gate]
        if step.expect_error is not None:
            # Nobody refused has a link on the card; they try the command, as they would.
            assert self.incident_id is not None
            name = self.ctx.policy.person(step.who).name  # type: ignore[union-attr]
            card = gate_cards(self.receiver, gate_id)[-1]
            assert f"For **{name}**" not in json.dumps(card), "a refused person got a link"
            cmd: c.Command
            if step.kind == "approve":
                cmd = c.Approve(gate_id)
            elif step.kind == "escalate":
                cmd = c.Escalate(gate_id)
            else:
                cmd = c.Reject(gate_id, step.reason or "")
            self.command(step.who, cmd, step.expect_error)
            return
        self.follow(step.who, gate_id, step.kind.capitalize(), step.reason)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


def test_a_drill_played_through_teams(db_url: str, receiver: Receiver) -> None:
    loaded = load_drill(DRILL, default_policy=POLICY_FILE)
    policy = on_teams(loaded.policy)
    drill = replace(loaded, policy=policy)
    clock = ManualClock(drill.start)
    executor = DrillExecutor(lambda where, text: None)
    ctx = build_context(
        database_url=db_url, policy=policy, clock=clock, chat=ConsoleChat(clock), executor=executor
    )
    try:
        with serve_teams(ctx, settings()) as base:
            people = {p.id: SecretStr(f"{receiver.url}/dm/{p.id}") for p in policy.people}
            config = settings(
                teams_public_url=base,
                teams_webhook_url=SecretStr(receiver.url + "/channel"),
                teams_person_urls=people,
            )
            ctx.chat = TeamsChat(config, engine=ctx.engine, policy=policy, clock=clock)
            player = TeamsDrill(ctx, base=base, receiver=receiver, clock=clock, executor=executor)
            checks = player.play(drill)
        with Session(ctx.engine) as session:
            (incident,) = session.exec(select(m.Incident))
            events = list(session.exec(select(m.AuditEvent).order_by(col(m.AuditEvent.seq))))
    finally:
        ctx.engine.dispose()
    # As many checks held as when the drill runs straight through the service layer.
    assert checks == run_drill(drill, out=io.StringIO()).checks
    assert player.decided_by_link == 1  # lena's approval, from her link on the tier-2 card
    assert incident.status == "closed" and incident.trigger.startswith("teams:")

    # Every card the receiver got is a valid Adaptive Card; the gate's last shows the outcome.
    for card in receiver.cards():
        assert_valid_card(card)
    shown = [" ".join(card_texts(card)) for card in receiver.cards()]
    assert any(f"Gate #{player.labels['block']} approved" in text for text in shown)

    # The audit trail says where each action came from: people in Teams, deadlines by timer.
    via = {(e.actor, e.kind): json.loads(e.data).get("via") for e in events}
    assert via[("femi", "incident.declared")] == "teams"
    assert via[("lena", "gate.approve")] == "teams"
    assert via[("alice", "incident.resolved")] == "teams"
    fired = [json.loads(e.data).get("via") for e in events if e.kind == "deadline.fired"]
    assert fired and set(fired) == {"timer"}
