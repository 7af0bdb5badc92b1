"""Nobody is invited into a new incident channel, and its summary is not pinned, before
Command Post has written the channel down as the incident's: a command typed there the moment
it looks ready must be taken as the incident's, not answered "works only in an incident
channel" (and that miss remembered for a few seconds)."""

from __future__ import annotations

import time

from commandpost.storage import models as m

from .slacke2e import ALICE, Env
from .slacke2e import env as env
from .writersupport import wait_until, writer_held

HOLD = 1.5  # seconds the database's writer is held while the channel is being opened


def test_the_channel_is_known_before_anyone_is_invited_or_the_card_pinned(env: Env) -> None:
    engine = env.server.ctx.engine
    # The channel is created two seconds after the declaration commits: time enough, on a
    # busy machine too, to take the writer's turn first, so the channel's row cannot be
    # written until we let go.
    env.fake.set_latency(2.0, "conversations.create")
    reply = env.slack.command('declare sev1 harmful_content "Leaks order history"', user=ALICE)
    assert reply.status == 200
    wait_until(lambda: env.count(m.Incident) > 0, "the declaration was never recorded")
    with writer_held(engine):
        env.fake.wait_for_calls("conversations.create", timeout=10)
        time.sleep(HOLD)  # create answered long ago; post, invite and pin would be done
        assert env.count(m.SlackChannel) == 0
        assert env.fake.calls("conversations.invite") == []
        assert env.fake.calls("pins.add") == []
    (pin,) = env.fake.wait_for_calls("pins.add", timeout=10)
    channel = str(pin.params["channel"])
    note = env.slack.command(
        "note typed the moment the card was pinned", user=ALICE, channel=channel
    )
    assert note.status == 200
    assert "incident channel" not in note.text
    env.fake.wait_for(
        lambda f: any(
            "typed the moment" in str(c.params.get("text", ""))
            for c in f.calls("chat.postMessage", ok=True)
        ),
        timeout=10,
    )
