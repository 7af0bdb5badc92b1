"""`/incident hold` and `/incident hold release <reason>`: through signed Slack requests to the
served app, and through Teams' outgoing webhook (the same parser and dispatcher)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session, col, select

from commandpost.chat.teams.outgoing import signature
from commandpost.core.vocabulary import IncidentClass
from commandpost.service.context import Context
from commandpost.storage import models as m
from commandpost.storage.evidence_models import LegalHold

from .slacke2e import ALICE, Env, declare
from .slacke2e import env as env
from .support import declare_incident
from .teamsupport import OUTGOING_TOKEN, serve_teams, settings
from .test_teams_commands import activity, send

JO = "U0JO"  # legal's secondary: may release a hold without having been paged


def said_in(env: Env, channel_id: str, text: str) -> None:
    env.fake.wait_for(lambda f: any(text in x["text"] for x in f.messages_in(channel_id)))


def told(env: Env, user: str, text: str) -> None:
    env.fake.wait_for(lambda f: any(e["user"] == user and text in e["text"] for e in f.ephemeral))


def test_hold_and_release_by_slack_command(env: Env) -> None:
    stored = declare(env)
    here = stored.channel_id
    reply = env.slack.command("hold", user=ALICE, channel=here)
    assert reply.status == 200 and "Usage: `/incident hold" in reply.text
    assert env.count(LegalHold) == 0

    env.slack.command("hold litigation notice from acme", user=ALICE, channel=here)
    said_in(env, here, "Legal hold placed by alice")
    (hold,) = env.rows(LegalHold)
    assert (hold.placed_by, hold.reason, hold.released_at) == (
        "alice",
        "litigation notice from acme",
        None,
    )

    # Only the policy's hold releasers (legal) may release: the IC is refused, privately,
    # and nothing is written.
    audit_before = env.count(m.AuditEvent)
    env.slack.command("hold release the case settled", user=ALICE, channel=here)
    told(env, ALICE, "cannot release a legal hold")
    assert env.count(m.AuditEvent) == audit_before
    assert env.count(LegalHold, col(LegalHold.released_at).is_not(None)) == 0
    assert not any("released" in x["text"] for x in env.fake.messages_in(here))

    env.slack.command("hold release the case settled", user=JO, channel=here)
    said_in(env, here, "Legal hold released by jo: the case settled")
    (hold,) = env.rows(LegalHold)
    assert hold.released_by == "jo" and hold.released_at is not None
    kinds = [e.kind for e in env.rows(m.AuditEvent)]
    assert kinds.count("hold.placed") == 1 and kinds.count("hold.released") == 1
    env.slack.command("hold release again", user=JO, channel=here)
    told(env, JO, "is not under a legal hold")


@pytest.fixture
def teams(ctx: Context) -> Iterator[str]:
    with serve_teams(ctx, settings()) as url:
        yield url


def test_hold_and_release_through_teams(ctx: Context, teams: str) -> None:
    incident = declare_incident(ctx, "Leak", IncidentClass.DATA_LEAKAGE)

    def run(text: str) -> str:
        body = activity(f"{incident} {text}")
        reply = send(teams, body, signature(body, OUTGOING_TOKEN))
        assert reply.status_code == 200
        return str(reply.json()["text"])

    assert "hold needs a reason" in run("hold")
    assert run("hold regulator inquiry") == "Done."
    assert "already under a legal hold" in run("hold again")
    assert run("hold release inquiry closed") == "Done."
    with Session(ctx.engine) as s:
        (hold,) = s.exec(select(LegalHold)).all()
    assert (hold.placed_by, hold.released_by) == ("ivan", "ivan")
