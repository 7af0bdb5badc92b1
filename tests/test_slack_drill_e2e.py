"""End to end through Slack: a drill played as the signed requests people would send."""

from __future__ import annotations

import io
from typing import Any

from sqlmodel import Session

from commandpost.chat.slack import commands as c
from commandpost.chat.slack.app import slack_context, web_client
from commandpost.chat.slack.blocks import ACK_ACTION, DECLARE_CALLBACK, GATE_APPROVE, GATE_ESCALATE
from commandpost.chat.slack.blocks_forms import block_id
from commandpost.chat.slack.server import SlackServer
from commandpost.drills import model as dm
from commandpost.drills.loader import load_drill
from commandpost.drills.runner import DrillExecutor, run_drill
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .drillsupport import DrillPlayer
from .slacke2e import Env, card_text, chosen, has_buttons, slack_settings, start_fake, typed
from .slackreq import SlackClient
from .support import POLICY_FILE, ROOT


class SlackDrill(DrillPlayer):
    """Plays a drill's steps as the signed Slack requests people would send: the declare
    modal, Acknowledge and Approve/Reject/Escalate buttons, and `/incident` commands. The
    clock is the drill's; `expect` steps read the channel and DMs back from the fake."""

    platform = "Slack"

    def __init__(self, env: Env, clock: ManualClock, executor: DrillExecutor) -> None:
        super().__init__(env.server.ctx, clock=clock, executor=executor)
        self.env = env
        self.policy = env.server.ctx.policy

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
        self.env.server.kick()
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
    def newest_gate(self) -> int:
        return max(g.id or 0 for g in self.env.rows(m.Gate))

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


def env_count(env: Env, model: Any, *where: Any) -> int:
    return env.count(model, *where)


def test_a_drill_played_through_slack(db_url: str) -> None:
    drill = load_drill(ROOT / "drills" / "sev2-prompt-injection.yml", default_policy=POLICY_FILE)
    clock = ManualClock(drill.start)
    fake = start_fake()
    settings = slack_settings(fake)
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
