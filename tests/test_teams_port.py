"""TeamsChat posting to a local webhook receiver (port 0): summary, gate card with one link
set per eligible approver, a new revision after a decision, retries on 429 and 5xx, the
connector form, and pages for people who only have Teams."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from commandpost.chat.teams import TeamsChat
from commandpost.chat.teams.approvals import LinkSigner
from commandpost.core.gates import Decision
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.errors import DeliveryFailed
from commandpost.service import gates, outbox
from commandpost.service.context import Context
from commandpost.settings import Settings

from .support import contain, declare_incident, staff
from .teamsupport import (
    LINK_SECRET,
    Receiver,
    assert_fits,
    assert_valid_card,
    settings,
    webhook_receiver,
)


@pytest.fixture
def receiver() -> Any:
    with webhook_receiver() as r:
        yield r


def teams(ctx: Context, config: Settings) -> TeamsChat:
    chat = TeamsChat(config, engine=ctx.engine, policy=ctx.policy, clock=ctx.clock)
    ctx.chat = chat
    return chat


def headline(card: dict[str, Any]) -> str:
    return str(card["body"][0]["text"])


def test_incident_cards_flow_to_the_webhook(ctx: Context, receiver: Receiver) -> None:
    chat = teams(ctx, settings(teams_webhook_url=SecretStr(receiver.url + "/flow")))
    incident = declare_incident(ctx, "Chat model leaks prompts", IncidentClass.DATA_LEAKAGE)
    staff(ctx, incident)
    gate_id = contain(ctx, incident)
    outbox.deliver(ctx)
    received = receiver.cards()
    assert received, "nothing was posted"
    for card in received:
        assert_valid_card(card)
    for body in receiver.bodies:
        assert_fits(body)
    heads = [headline(c) for c in received]
    assert any(h.startswith(incident) for h in heads)  # the summary
    assert any(h.startswith("Paged:") for h in heads)  # role pages
    gate_cards = [c for c in received if f"Gate #{gate_id} needs a decision" in headline(c)]
    assert len(gate_cards) == 1
    text = json.dumps(gate_cards[0])
    # IC alice and safety lead erin may decide; carol asked, so she gets no links.
    assert "For **Alice Ng**" in text and "For **Erin Park**" in text
    assert "Carol Diaz**" not in text
    urls = [
        a["url"]
        for block in gate_cards[0]["body"]
        if block["type"] == "Container"
        for item in block["items"]
        if item["type"] == "ActionSet"
        for a in item["actions"]
    ]
    assert len(urls) == 6 and all(u.startswith("http://teams.test/teams/approve?") for u in urls)
    token = urls[0].split("token=")[1].split("&")[0]
    claims = LinkSigner(LINK_SECRET).read(token, now=ctx.now())
    assert claims.gate_id == gate_id and claims.person_id in {"alice", "erin"}

    before = len(receiver.bodies)
    gates.decide(ctx, gate_id, actor="erin", decision=Decision.APPROVE)
    outbox.deliver(ctx)
    later = receiver.cards()[before:]
    decided = [c for c in later if f"Gate #{gate_id} approved:" in headline(c)]
    assert len(decided) == 1
    assert "Revision 2" in json.dumps(decided[0]) and "Newest card" in json.dumps(decided[0])
    assert_valid_card(decided[0])
    chat.settle()
    assert sum(f"Gate #{gate_id} approved:" in headline(c) for c in receiver.cards()) == 1


def test_rate_limit_and_outage_defer(ctx: Context, receiver: Receiver) -> None:
    chat = teams(ctx, settings(teams_webhook_url=SecretStr(receiver.url)))
    receiver.script = [(429, {"Retry-After": "7"}), (503, {}), (400, {})]
    with pytest.raises(DeliveryFailed) as limited:
        chat.post(channel="#incidents", text="hello", incident_id=None)
    assert limited.value.retry_after == 7
    with pytest.raises(DeliveryFailed) as outage:
        chat.post(channel="#incidents", text="hello", incident_id=None)
    assert outage.value.retry_after is not None
    with pytest.raises(DeliveryFailed) as bad:
        chat.post(channel="#incidents", text="hello", incident_id=None)
    assert bad.value.retry_after is None and receiver.url not in str(bad.value)
    chat.post(channel="#incidents", text="hello", incident_id=None)
    assert len(receiver.bodies) == 1


def test_unreachable_webhook_is_an_outage(ctx: Context) -> None:
    chat = teams(ctx, settings(teams_webhook_url=SecretStr("http://127.0.0.1:9/")))
    with pytest.raises(DeliveryFailed) as down:
        chat.post(channel="#incidents", text="hello", incident_id=None)
    assert down.value.retry_after is not None


def test_connector_urls_get_message_cards(ctx: Context, receiver: Receiver) -> None:
    url = receiver.url + "/webhookb2/abc/IncomingWebhook/def"
    chat = teams(ctx, settings(teams_channel_urls={"#incidents": SecretStr(url)}))
    chat.post(channel="#incidents", text="Heads up", incident_id=None)
    assert receiver.bodies[0]["@type"] == "MessageCard"
    assert "Heads up" in json.dumps(receiver.bodies[0])


def test_teams_only_person_is_paged_on_their_own_url(ctx: Context, receiver: Receiver) -> None:
    # Ivan (legal primary) has only a Teams id: a SEV0 pages legal.
    teams(
        ctx,
        settings(
            teams_webhook_url=SecretStr(receiver.url + "/channel"),
            teams_person_urls={"ivan": SecretStr(receiver.url + "/ivan")},
        ),
    )
    declare_incident(ctx, "Leak at scale", IncidentClass.DATA_LEAKAGE, Severity.SEV0)
    outbox.deliver(ctx)
    pages = [b for b, p in zip(receiver.bodies, receiver.paths, strict=True) if p == "/ivan"]
    assert len(pages) == 1
    assert "Ivan Petrov" in json.dumps(pages[0]) and "Legal" in json.dumps(pages[0])
