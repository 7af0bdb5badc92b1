"""One incident, either platform: `commandpost serve` with Slack and Teams configured.

A SEV0 declared in Slack pages legal, whose primary (ivan) has only a Teams id: his page goes
to his Teams webhook, everyone else's to Slack; the Teams approval page is served on the
Slack server's port and refuses a forged link without writing anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from commandpost.core.policy import Policy
from commandpost.serving import build_server

from .slacke2e import ALICE, slack_settings, start_fake
from .slackreq import SlackClient
from .support import counts
from .teamsupport import Receiver, settings, webhook_receiver


@pytest.fixture
def teams_inbox() -> Iterator[Receiver]:
    with webhook_receiver() as receiver:
        yield receiver


def wait_for(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_slack_incident_pages_a_teams_only_person_on_teams(
    db_url: str, policy: Policy, teams_inbox: Receiver
) -> None:
    fake = start_fake()
    config = settings(teams_person_urls={"ivan": SecretStr(teams_inbox.url + "/ivan")})
    server = build_server(
        database_url=db_url, policy=policy, slack=slack_settings(fake), settings=config
    )
    server.start()
    try:
        slack = SlackClient(f"http://127.0.0.1:{server.port}")
        reply = slack.command('declare sev0 data_leakage "PII in answers"', user=ALICE)
        assert reply.status == 200
        wait_for(lambda: "/ivan" in teams_inbox.paths)
        page = json.dumps(teams_inbox.cards()[teams_inbox.paths.index("/ivan")])
        assert "legal" in page and "INC-" in page
        # Everyone else paged for a SEV0 has a Slack id: their pages went to Slack DMs.
        fake.wait_for(
            lambda f: (
                {
                    str(c.params.get("channel"))
                    for c in f.calls("chat.postMessage", ok=True)
                    if str(c.params.get("channel", "")).startswith("U")
                }
                >= {"U0ALICE", "U0CAROL", "U0ERIN", "U0GRACE"}
            )
        )
        assert teams_inbox.paths.count("/ivan") >= 1
        assert all(path == "/ivan" for path in teams_inbox.paths)

        before = counts(server.ctx)
        page_url = f"http://127.0.0.1:{server.port}/teams/approve?token=forged"
        refused = httpx.get(page_url, timeout=10)
        assert refused.status_code in (400, 401, 403)
        assert counts(server.ctx) == before
    finally:
        server.stop()
        fake.stop()
        server.ctx.engine.dispose()
