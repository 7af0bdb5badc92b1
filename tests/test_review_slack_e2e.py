"""`/incident review` and `/incident review done` through the served Slack app, then
`/incident close`; and the incident metrics on the same server's `/metrics`."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from commandpost.storage import models as m
from commandpost.storage.review_models import Review

from .slacke2e import ALICE, DAN, Env, ack, declare
from .slacke2e import env as env


def ephemeral_to(env: Env, user: str, needle: str) -> str:
    env.fake.wait_for(lambda f: any(e["user"] == user and needle in e["text"] for e in f.ephemeral))
    return next(e["text"] for e in env.fake.ephemeral if e["user"] == user and needle in e["text"])


def test_review_show_done_and_close_in_slack(env: Env) -> None:
    stored = declare(env)
    ack(env, ALICE)
    channel = stored.channel_id
    (incident,) = env.rows(m.Incident)

    env.slack.command("review", user=ALICE, channel=channel)
    ephemeral_to(env, ALICE, "no review yet")

    assert env.slack.command("resolve false alarm", user=ALICE, channel=channel).status == 200
    env.fake.wait_for(lambda _: env.count(Review) == 1)
    env.slack.command("review", user=ALICE, channel=channel)
    shown = ephemeral_to(env, ALICE, "Post-incident review of")
    assert f"# Post-incident review: {incident.id}" in shown
    assert "| acknowledged |" in shown and "## Action items" in shown

    env.slack.command("close", user=ALICE, channel=channel)
    ephemeral_to(env, ALICE, "cannot be closed before its post-incident review is done")
    env.slack.command("review done", user=DAN, channel=channel)
    ephemeral_to(env, DAN, "cannot mark the review done")
    assert [r.state for r in env.rows(Review)] == ["draft"]

    env.slack.command("review done", user=ALICE, channel=channel)
    env.fake.wait_for(lambda _: [r.state for r in env.rows(Review)] == ["done"])
    env.slack.command("close", user=ALICE, channel=channel)
    env.fake.wait_for(lambda _: [i.status for i in env.rows(m.Incident)] == ["closed"])
    kinds = [e.kind for e in env.rows(m.AuditEvent)]
    assert kinds[-4:] == ["incident.resolved", "review.opened", "review.done", "incident.closed"]

    # The same server's /metrics reads the database at scrape time.
    scraped = httpx.get(f"{env.slack.url}/metrics")
    assert scraped.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    assert "commandpost_deadline_lateness_seconds" in families  # the process's own still there
    labels = {"milestone": "acknowledged", "class": "harmful_content", "severity": "SEV1"}
    count = next(
        s.value
        for s in families["commandpost_incident_milestone_seconds"].samples
        if s.name.endswith("_count") and s.labels == labels
    )
    assert count == 1
    incidents = families["commandpost_incidents"].samples
    assert [(s.labels, s.value) for s in incidents] == [
        ({"class": "harmful_content", "severity": "SEV1"}, 1.0)
    ]
