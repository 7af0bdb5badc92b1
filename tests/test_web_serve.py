"""The incident pages as `commandpost serve` mounts them, and the `commandpost web link` verb
that signs people in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import SecretStr

from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.serving import build_server
from commandpost.settings import Settings
from commandpost.web.auth import ViewerSigner
from commandpost.web.links import viewer_link

from .conftest import MakeCtx
from .slacke2e import slack_settings, start_fake
from .support import counts, declare_incident, run_cli

SECRET = "web-secret-for-tests-0123456789"


def test_serve_mounts_the_pages_beside_slack_and_leaves_evidence_alone(
    db_url: str, policy: Policy, make_ctx: MakeCtx
) -> None:
    incident = declare_incident(
        make_ctx(), "Refusals collapse after the update", IncidentClass.FUNCTIONAL, Severity.SEV2
    )
    fake = start_fake()
    settings = Settings(web_secret=SecretStr(SECRET))
    server = build_server(
        database_url=db_url, policy=policy, slack=slack_settings(fake), settings=settings
    )
    server.start(run_deadlines=False)
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert httpx.get(f"{base}/healthz", timeout=10).text == "ok\n"
        assert httpx.get(f"{base}/incidents", timeout=10).status_code == 401
        link = viewer_link(
            settings=settings.model_copy(update={"web_public_url": base}),
            policy=policy,
            person_id="carol",
            now=server.ctx.now(),
        )
        with httpx.Client(base_url=base, timeout=10) as client:
            assert client.get(link).status_code == 200
            listed = client.get("/incidents")
            assert listed.status_code == 200 and "Refusals collapse after the update" in listed.text
            page = client.get(f"/incidents/{incident}")
            assert page.status_code == 200 and 'id="milestone-chart"' in page.text
            # The evidence endpoint beside the pages is another app's: not our 405 page.
            before = counts(server.ctx)
            posted = client.post(f"/incidents/{incident}/evidence", content=b"{}")
            assert posted.headers.get("allow") != "GET, HEAD"
            assert 'id="refused"' not in posted.text
            assert client.post(f"/incidents/{incident}").status_code == 405
            assert counts(server.ctx) == before
    finally:
        server.stop()
        fake.stop()
        server.ctx.engine.dispose()


def test_web_link_prints_a_signed_link_for_a_person_of_the_policy() -> None:
    env = {
        "COMMANDPOST_WEB_SECRET": SECRET,
        "COMMANDPOST_WEB_PUBLIC_URL": "https://cp.example.com/",
    }
    result = run_cli("web", "link", "grace", "--ttl", "30m", db_url="sqlite://", env=env)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://cp.example.com/incidents/session?token=")
    token = parse_qs(urlsplit(url).query)["token"][0]
    # The CLI signs with the wall clock, so the check does too.
    now = datetime.now(UTC)
    viewer = ViewerSigner(SECRET).read(token, purpose="link", now=now)
    assert viewer.person_id == "grace"
    assert viewer.expires_at is not None
    assert timedelta(minutes=28) < viewer.expires_at - now <= timedelta(minutes=30)
    # The token is a credential: it goes to stdout for the operator, never to the log.
    assert token not in result.stderr


def test_web_link_refuses_without_a_secret_or_for_a_stranger() -> None:
    no_secret = run_cli(
        "web", "link", "grace", db_url="sqlite://", env={"COMMANDPOST_WEB_SECRET": ""}
    )
    assert no_secret.returncode == 2 and "COMMANDPOST_WEB_SECRET" in no_secret.stderr
    assert no_secret.stdout == ""
    env = {"COMMANDPOST_WEB_SECRET": SECRET}
    stranger = run_cli("web", "link", "mallory", db_url="sqlite://", env=env)
    assert stranger.returncode == 2 and "no person 'mallory'" in stranger.stderr
    narrow = run_cli(
        "web",
        "link",
        "alice",
        db_url="sqlite://",
        env={**env, "COMMANDPOST_WEB_VIEWERS": '["legal"]'},
    )
    assert narrow.returncode == 2 and "may not view" in narrow.stderr
    short = run_cli(
        "web", "link", "alice", db_url="sqlite://", env={"COMMANDPOST_WEB_SECRET": "short"}
    )
    assert short.returncode == 2 and "at least 16 bytes" in short.stderr
