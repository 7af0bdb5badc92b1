"""End to end: monitors post alerts over HTTP into the served app (`commandpost serve`'s
SlackServer), which opens incident channels on the fake Slack, on each database lane.

One incident and one channel per new fingerprint, its pinned summary card showing the alert
count; a repeat delivery changes nothing; a resolved alert is noted in the channel; past the
flood limit the rest go under one storm incident; wrong credentials get 401 and write nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, select

from commandpost.chat.slack.server import SlackServer, make_server
from commandpost.core.alerts import AlertSource
from commandpost.core.policy import Policy
from commandpost.ingest import IngestSettings, sign
from commandpost.storage import models as m

from .alertsupport import (
    ALL_TABLES,
    ENVIRON,
    AlertClient,
    alertmanager,
    am_alert,
    fixture,
    generic,
    generic_alert,
    open_incidents_by_fingerprint,
)
from .fakeslack import FakeSlack
from .slacke2e import slack_settings, start_fake
from .support import counts

AM, GENERIC = AlertSource.ALERTMANAGER, AlertSource.GENERIC
IC = "U0ALICE"  # the incident commander's primary in the shipped policy


@dataclass
class Served:
    fake: FakeSlack
    server: SlackServer
    alerts: AlertClient

    def send(self, source: AlertSource, body: bytes) -> dict[str, Any]:
        reply = self.alerts.post(source, body)
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer

    def channel_of(self, incident_id: str) -> str:
        """The incident's Slack channel id, once its pinned card is up."""
        self.fake.wait_for(lambda f: self._stored(incident_id) is not None, timeout=10)
        stored = self._stored(incident_id)
        assert stored is not None
        return stored.channel_id

    def _stored(self, incident_id: str) -> m.SlackChannel | None:
        with Session(self.server.ctx.engine) as s:
            row = s.get(m.SlackChannel, incident_id)
            return row if row is not None and row.summary_ts else None

    def card(self, incident_id: str) -> str:
        """The pinned summary card as Slack shows it now ("" until it is pinned)."""
        channel = self.channel_of(incident_id)
        pins = self.fake.channels[channel].pins
        if not pins:
            return ""
        assert len(pins) == 1
        (card,) = [x for x in self.fake.messages_in(channel) if x["ts"] == pins[0]]
        return json.dumps(card.get("blocks", []), ensure_ascii=False)

    def wait_for_card(self, incident_id: str, expected: str) -> None:
        self.fake.wait_for(lambda f: expected in self.card(incident_id), timeout=10)

    def wait_for_text(self, incident_id: str, needle: str) -> list[str]:
        """The channel's messages that contain `needle`, once there is one."""

        def found() -> list[str]:
            return [t for t in self.texts_in(incident_id) if needle in t]

        self.fake.wait_for(lambda f: bool(found()), timeout=10)
        return found()

    def texts_in(self, incident_id: str) -> list[str]:
        return [str(x.get("text", "")) for x in self.fake.messages_in(self.channel_of(incident_id))]

    def settled(self) -> None:
        """Every outbox item sent: what the app had to say, Slack has."""
        self.fake.wait_for(lambda f: self.undelivered() == 0, timeout=15)

    def undelivered(self) -> int:
        with Session(self.server.ctx.engine) as s:
            rows = s.exec(select(m.OutboxItem).where(col(m.OutboxItem.state) != "delivered"))
            return len(rows.all())


@pytest.fixture
def served(db_url: str, policy: Policy) -> Iterator[Served]:
    fake = start_fake()
    server = make_server(
        database_url=db_url,
        policy=policy,
        settings=slack_settings(fake),
        deliver_every=0.2,
        ingest=IngestSettings(environ=ENVIRON),
    ).start()
    try:
        yield Served(fake, server, AlertClient(f"http://127.0.0.1:{server.port}", server.ctx))
    finally:
        server.stop()
        fake.stop()
        server.ctx.engine.dispose()


def one(fingerprint: str, *, group: str, status: str = "firing", **extra: Any) -> bytes:
    return alertmanager([am_alert(fingerprint, status)], group=group, **extra)


def test_each_new_fingerprint_opens_one_incident_with_its_channel_and_card(
    served: Served,
) -> None:
    opened = [served.send(AM, one(f"fp-{n}", group=f"G{n}"))["opened"] for n in range(3)]
    assert all(len(ids) == 1 for ids in opened)
    ids = [i for (i,) in opened]
    served.fake.wait_for_calls("conversations.create", count=3, timeout=10)
    served.fake.wait_for_calls("pins.add", count=3, timeout=10)
    assert len({served.channel_of(i) for i in ids}) == 3
    for incident_id in ids:
        assert "Alerts" in served.card(incident_id)
        assert "1 received · 1 distinct · 1 still firing" in served.card(incident_id)
        served.wait_for_text(incident_id, "Opened from alertmanager")
    # The group's next notification, with a second alert: attached, announced, counted.
    body = alertmanager([am_alert("fp-0"), am_alert("fp-0b")], group="G0")
    answer = served.send(AM, body)
    assert answer["opened"] == [] and answer["attached"] == 2
    served.wait_for_card(ids[0], "3 received · 2 distinct · 2 still firing")
    served.wait_for_text(ids[0], "1 new alert(s) from alertmanager attached")
    assert len(served.fake.calls("conversations.create", ok=True)) == 3
    assert {k: len(v) for k, v in open_incidents_by_fingerprint(served.server.ctx).items()} == {
        ("alertmanager", fp): 1 for fp in ("fp-0", "fp-0b", "fp-1", "fp-2")
    }


def test_a_repeat_delivery_changes_nothing(served: Served) -> None:
    first = served.send(AM, fixture("alertmanager_firing"))
    (incident_id,) = first["opened"]
    served.channel_of(incident_id)
    served.settled()
    before = counts(served.server.ctx, ALL_TABLES)
    calls = len(served.fake.calls())
    again = served.send(AM, fixture("alertmanager_firing"))
    assert again["duplicate"] is True and again["delivery"] == first["delivery"]
    assert again["opened"] == [] and again["incidents"] == {}
    assert counts(served.server.ctx, ALL_TABLES) == before
    # Nothing was queued for Slack, so nothing more will be said there.
    assert served.undelivered() == 0
    assert len(served.fake.calls()) == calls
    assert "2 received · 2 distinct · 2 still firing" in served.card(incident_id)


def test_a_resolved_alert_is_noted_in_the_channel_and_the_incident_stays_open(
    served: Served,
) -> None:
    (incident_id,) = served.send(AM, fixture("alertmanager_firing"))["opened"]
    served.channel_of(incident_id)
    answer = served.send(AM, fixture("alertmanager_resolved"))
    assert answer["resolved_noted"] == 1 and answer["opened"] == []
    served.wait_for_text(incident_id, "Resolved at the source (alertmanager)")
    served.wait_for_card(incident_id, "3 received · 2 distinct · 1 still firing")
    with Session(served.server.ctx.engine) as s:
        incident = s.get(m.Incident, incident_id)
        assert incident is not None and incident.status == "declared"


def test_past_the_flood_limit_the_rest_go_under_one_storm_incident(served: Served) -> None:
    limit = served.server.ctx.policy.alerts.flood.max_incidents
    for n in range(limit):
        assert len(served.send(AM, one(f"fp-{n}", group=f"G{n}"))["opened"]) == 1
    storms = [served.send(AM, one(f"late-{n}", group=f"L{n}")) for n in range(3)]
    assert all(s["opened"] == [] for s in storms)
    assert storms[0]["storm"]["opened"] is True
    assert [s["storm"]["opened"] for s in storms[1:]] == [False, False]
    (storm_id,) = {s["storm"]["incident"] for s in storms}
    served.wait_for_card(storm_id, "3 received · 3 distinct · 3 still firing")
    served.settled()
    # One channel per incident the flood rule allowed, and one for the storm.
    assert len(served.fake.calls("conversations.create", ok=True)) == limit + 1
    grouped = [t for t in served.texts_in(storm_id) if "grouped here instead of opening" in t]
    assert len(grouped) == 3
    # The IC hears of the storm once, not once per alert.
    dms = served.fake.messages_in("D" + IC[1:])
    told = [x for x in dms if x["text"].startswith("Alert storm:")]
    assert len(told) == 1 and storm_id in told[0]["text"]
    homes = open_incidents_by_fingerprint(served.server.ctx)
    assert all(len(v) == 1 for v in homes.values()) and len(homes) == limit + 3
    assert {homes[("alertmanager", f"late-{n}")][0] for n in range(3)} == {storm_id}


@pytest.mark.parametrize(
    ("source", "headers"),
    [
        (AM, {}),
        (AM, {"Authorization": "Bearer not-the-token"}),
        (GENERIC, {"X-CommandPost-Timestamp": "1772442000", "X-CommandPost-Signature": "sha256=0"}),
        (GENERIC, "stale"),
        (GENERIC, "other secret"),
    ],
)
def test_wrong_credentials_get_401_and_write_nothing(
    served: Served, source: AlertSource, headers: dict[str, str] | str
) -> None:
    body = (
        alertmanager([am_alert("fp-x")])
        if source is AM
        else generic(generic_alert("fp-x", detector="pii", model="chat-v7"))
    )
    if headers == "stale":
        sent = served.alerts.auth_headers(source.value, body, age=10 * 60)
    elif headers == "other secret":
        stamp = str(int(served.server.ctx.now().timestamp()))
        sent = {
            "X-CommandPost-Timestamp": stamp,
            "X-CommandPost-Signature": sign("not-the-secret", timestamp=stamp, body=body),
        }
    else:
        assert isinstance(headers, dict)
        sent = headers
    reply = served.alerts.post(source, body, headers=sent, auth=False)
    assert reply.status_code == 401, reply.text
    assert reply.json()["error"] == "unauthenticated"
    assert set(counts(served.server.ctx, ALL_TABLES).values()) == {0}
    assert served.fake.calls("conversations.create") == []
    # The rest of the served app is unaffected, and a signed delivery is taken.
    assert httpx.get(f"{served.alerts.url}/healthz").status_code == 200
    assert served.alerts.post(source, body).status_code == 200
