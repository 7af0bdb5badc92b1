"""The audit trail records the platform of each action (`via` in the event's data, inside the
hash chain): the same action from Slack and from Teams, a deadline firing, an alert, the CLI."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import Session, col, select

from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass
from commandpost.errors import InvalidInput
from commandpost.service import audit_log, deadlines
from commandpost.service.context import Context
from commandpost.service.origin import acting_from, carried, current
from commandpost.service.ports import ManualClock
from commandpost.serving import build_server
from commandpost.storage import models as m

from .alertsupport import fixture, serve_alerts
from .slacke2e import ALICE, slack_settings, start_fake, stored_channel
from .slackreq import SlackClient
from .support import declare_incident, run_cli
from .teamsupport import OUTGOING_TOKEN, settings, webhook_receiver


def events(ctx_or_engine: Any, **where: str) -> list[tuple[str, str, str | None]]:
    engine = getattr(ctx_or_engine, "engine", ctx_or_engine)
    with Session(engine) as session:
        rows = session.exec(select(m.AuditEvent).order_by(col(m.AuditEvent.seq))).all()
    found = [(r.actor, r.kind, json.loads(r.data).get("via")) for r in rows]
    return [e for e in found if all(dict(zip(("actor", "kind"), e, strict=False))[k] == v
                                    for k, v in where.items())]  # fmt: skip


# -- the context variable -----------------------------------------------------------------------
def test_innermost_origin_wins_and_unknown_ones_are_refused() -> None:
    assert current() is None
    with acting_from("drill"):
        with acting_from("timer"):
            assert current() == "timer"
        assert current() == "drill"
    assert current() is None
    with pytest.raises(InvalidInput, match="unknown origin"), acting_from("pager"):
        pass


def test_a_thread_starts_without_an_origin_unless_the_work_carries_it() -> None:
    seen: list[str | None] = []
    with acting_from("slack"):
        plain = threading.Thread(target=lambda: seen.append(current()))
        taken = threading.Thread(target=carried(lambda: seen.append(current())))
    for thread in (plain, taken):
        thread.start()
        thread.join()
    assert seen == [None, "slack"]


# -- timers -------------------------------------------------------------------------------------
def test_a_deadline_firing_records_timer(ctx: Context, clock: ManualClock) -> None:
    incident = declare_incident(ctx, "Jailbreak demo", IncidentClass.HARMFUL_CONTENT)
    before = len(events(ctx))
    clock.advance(timedelta(hours=1))
    fired = deadlines.fire_due(ctx)
    assert fired
    recorded = events(ctx)
    # Called straight into the service, with no adapter in between: no origin to record.
    assert [v for a, k, v in recorded if k == "incident.declared"] == [None]
    firing = [v for a, k, v in recorded if k == "deadline.fired"]
    assert len(firing) == len(fired)
    # What a firing does (pages the next person, escalates) is recorded as the timer's too.
    assert len(recorded) > before + len(fired)
    assert {v for _, _, v in recorded[before:]} == {"timer"}
    assert audit_log.verify(ctx).ok, incident


# -- Slack and Teams ----------------------------------------------------------------------------
def with_teams_id(policy: Policy, person: str, teams_id: str) -> Policy:
    people = [p.model_copy(update={"teams_id": teams_id}) if p.id == person else p
              for p in policy.people]  # fmt: skip
    return policy.model_copy(update={"people": people})


def wait_for(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_same_note_from_slack_and_from_teams(db_url: str, policy: Policy) -> None:
    """One server with both platforms: alice declares and notes in Slack, then notes in Teams."""
    from commandpost.chat.teams.outgoing import signature

    both = with_teams_id(policy, "alice", "29:alice")
    fake = start_fake()
    with webhook_receiver() as inbox:
        config = settings(teams_webhook_url=SecretStr(inbox.url))
        server = build_server(
            database_url=db_url, policy=both, slack=slack_settings(fake), settings=config
        )
        server.start()
        try:
            base = f"http://127.0.0.1:{server.port}"
            slack = SlackClient(base)
            assert (
                slack.command('declare sev2 harmful_content "Jailbreak demo"', user=ALICE).status
                == 200
            )
            wait_for(lambda: server.ctx.engine and events(server.ctx, kind="incident.declared"))
            fake.wait_for_calls("pins.add")
            channel = stored_channel(fake, server.ctx.engine)
            with Session(server.ctx.engine) as session:
                (incident,) = session.exec(select(m.Incident)).all()
            reply = slack.command("note seen in the wild", user=ALICE, channel=channel.channel_id)
            assert reply.status == 200
            wait_for(lambda: events(server.ctx, actor="alice", kind="note.added"))

            body = json.dumps({
                "type": "message", "id": "a1", "from": {"id": "29:alice"},
                "text": f"<at>CommandPost</at> {incident.id} note seen in the wild",
            }).encode()  # fmt: skip
            teams = httpx_post(f"{base}/teams/command", body, signature(body, OUTGOING_TOKEN))
            assert teams.status_code == 200 and teams.json()["text"] == "Done.", teams.text
            notes = events(server.ctx, actor="alice", kind="note.added")
            declared = events(server.ctx, kind="incident.declared")
        finally:
            server.stop()
            fake.stop()
            server.ctx.engine.dispose()
    assert [v for _, _, v in declared] == ["slack"]
    assert [v for _, _, v in notes] == ["slack", "teams"]


def httpx_post(url: str, body: bytes, auth: str) -> Any:
    import httpx

    headers = {"Content-Type": "application/json", "Authorization": auth}
    return httpx.post(url, content=body, headers=headers, timeout=10)


# -- alerts and the CLI -------------------------------------------------------------------------
def test_an_alert_records_alert(ctx: Context) -> None:
    with serve_alerts(ctx) as alerts:
        response = alerts.post("alertmanager", fixture("alertmanager_firing"))
    assert response.status_code == 200, response.text
    recorded = events(ctx, kind="incident.declared")
    assert recorded and {v for _, _, v in recorded} == {"alert"}


def test_the_cli_records_cli_and_the_timeline_shows_it(db_url: str) -> None:
    declared = run_cli("declare", "sev2", "harmful_content", "Jailbreak demo", "--as", "alice",
                       db_url=db_url)  # fmt: skip
    assert declared.returncode == 0, declared.stderr
    incident = next(w for w in declared.stdout.split() if w.startswith("INC-")).rstrip(".:,")
    timeline = run_cli("timeline", incident, db_url=db_url)
    assert timeline.returncode == 0, timeline.stderr
    line = next(x for x in timeline.stdout.splitlines() if "incident.declared" in x)
    assert "alice      [cli] incident.declared" in line and "via=" not in line
    verified = run_cli("audit", "verify", db_url=db_url)
    assert verified.returncode == 0 and "audit chain ok" in verified.stdout
