"""The notice-review card on Teams: valid Adaptive Card 1.5 under 28 KB whatever the notice
holds; posted by TeamsChat with signed links per reviewer; superseded when the text changes;
and comms + legal approving through the links' page deliver through the outbox, as on Slack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from commandpost.chat.teams import TeamsChat, notice_links
from commandpost.chat.teams.approvals import LinkRefused, LinkSigner
from commandpost.chat.teams.cards import Stamp
from commandpost.chat.teams.cardtext import envelope
from commandpost.chat.teams.notice_cards import CUT, ReviewerLinks, notice_review_card
from commandpost.core.policy import Policy
from commandpost.notices.delivery import NoticeSender, SmtpSender
from commandpost.service import notices, outbox
from commandpost.service.context import Context
from commandpost.service.notice_rows import ApprovalView, NoticeView, sha256_of
from commandpost.service.ports import ManualClock

from .conftest import MakeCtx
from .noticesupport import NEXT_STEPS, WebhookLog, review_incident, sha256, with_channels
from .noticesupport import webhook_receiver as notice_webhook
from .support import START
from .teamsupport import (
    LINK_SECRET,
    Receiver,
    assert_fits,
    assert_valid_card,
    csrf_of,
    serve_teams,
    settings,
    submit_page,
    webhook_receiver,
)

MINIMISING = "Only a small number of users saw this, and it was a minor issue."
SECRET_ENV = "COMMANDPOST_TEST_TEAMS_NOTICE_SECRET"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


def teams(ctx: Context, receiver: Receiver, public: str = "http://teams.test") -> TeamsChat:
    config = settings(teams_webhook_url=SecretStr(receiver.url), teams_public_url=public)
    chat = TeamsChat(config, engine=ctx.engine, policy=ctx.policy, clock=ctx.clock)
    ctx.chat = chat
    return chat


def notice_cards(receiver: Receiver, notice_id: int) -> list[dict[str, Any]]:
    return [
        c
        for c in receiver.cards()
        if str(c["body"][0]["text"]).startswith(f"Notice #{notice_id} · ")
    ]


def links(card: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Reviewer name -> {button title: url}."""
    found: dict[str, dict[str, str]] = {}
    for block in card["body"]:
        if block["type"] != "Container":
            continue
        name = re.search(r"For \*\*(.+?)\*\*", block["items"][0]["text"])
        assert name is not None
        found[name.group(1)] = {a["title"]: a["url"] for a in block["items"][1]["actions"]}
    return found


def shown_text(card: dict[str, Any]) -> str:
    (rich,) = [b for b in card["body"] if b["type"] == "RichTextBlock"]
    return str(rich["inlines"][0]["text"])


def token_of(url: str) -> str:
    return httpx.URL(url).params["token"]


# -- the card alone ------------------------------------------------------------------------------
def test_a_huge_notice_is_cut_with_a_marker_and_still_fits() -> None:
    text = ("Ünïcode *stars* [link](http://x) <b>tags</b> 🚨 " * 900)[:40_000]
    finding = {"rule": "pii_email", "blocking": True, "text": "a@b.example", "message": "x" * 300}
    view = NoticeView(
        id=7,
        incident_id="INC-2026-0001",
        template="regulator_notification",
        channel="email",
        subject="Subject " * 20,
        text=text,
        sha256=sha256_of(text),
        version=3,
        state="draft",
        reason=None,
        created_by="grace",
        findings=tuple({**finding, "rule": f"rule_{i}"} for i in range(60)),
        approvals=(ApprovalView("ivan", "legal", sha256_of(text), START.isoformat(), "ok", False),),
        deliveries=(),
        still_needed=("comms",),
    )
    people = [
        ReviewerLinks(
            name=f"Reviewer {i}",
            roles=["comms"],
            approve=f"https://cp.example/teams/notice?token={'a' * 600}{i}&d=approve",
            reject=f"https://cp.example/teams/notice?token={'a' * 600}{i}&d=reject",
        )
        for i in range(20)
    ]
    card = notice_review_card(
        view, Stamp(4, START, "notice #7"), people, names={"ivan": "Ivan"}, sends_to=["email x"]
    )
    assert_valid_card(card)
    assert_fits(envelope(card))
    dumped = json.dumps(card, ensure_ascii=False)
    rich = next(b for b in card["body"] if b["type"] == "RichTextBlock")["inlines"]
    assert text.startswith(rich[0]["text"]) and len(rich[0]["text"]) >= 1000
    assert rich[1]["text"].endswith(CUT)  # never cut silently
    assert "more characters are not shown" in dumped
    assert "Revision 4" in dumped and "Newest card" in dumped
    assert "… and 35 more finding(s)" in dumped


# -- posted by TeamsChat -------------------------------------------------------------------------
def test_review_card_is_posted_with_links_and_superseded_on_edit(
    ctx: Context, receiver: Receiver
) -> None:
    teams(ctx, receiver)
    incident = review_incident(ctx)
    drafted = notices.draft(
        ctx, incident, template="customer_initial", actor="grace", facts={"next_steps": NEXT_STEPS}
    )
    outbox.deliver(ctx)  # the card shows the notice as it is when the message goes out
    text = drafted.text.replace("Who is affected\n", f"Who is affected\n{MINIMISING}\n")
    edited = notices.edit(ctx, drafted.id, actor="grace", text=text)
    outbox.deliver(ctx)
    first, second = notice_cards(receiver, drafted.id)
    for card in (first, second):
        assert_valid_card(card)
    for body in receiver.bodies:
        assert_fits(body)

    assert shown_text(first) == drafted.text and shown_text(second) == text
    one, two = json.dumps(first, ensure_ascii=False), json.dumps(second, ensure_ascii=False)
    assert "Revision 1" in one and drafted.sha256[:12] in one
    assert "Revision 2" in two and "Newest card" in two and "supersedes revision 1" in two
    assert edited.sha256[:12] in two and "Lint: no findings" in one
    # The finding: rule id, blocking, the span quoted.
    assert "**BLOCKING** `minimising` “a small number of”: plays down the harm" in two
    assert "3 finding(s), 3 blocking" in two
    assert "Must approve: Comms and Legal" in two

    # Grace (comms) and Ivan (legal) may approve or reject; Alice (commander) only reject.
    found = links(second)
    assert set(found) == {"Alice Ng", "Grace Liu", "Ivan Petrov"}, found
    assert set(found["Alice Ng"]) == {"Reject"}
    assert set(found["Grace Liu"]) == set(found["Ivan Petrov"]) == {"Approve", "Reject"}
    signer = LinkSigner(LINK_SECRET)
    claims = notice_links.read(signer, token_of(found["Ivan Petrov"]["Approve"]), now=ctx.now())
    assert (claims.notice_id, claims.person_id, claims.text_hash) == (
        drafted.id,
        "ivan",
        edited.sha256,
    )
    old = notice_links.read(signer, token_of(links(first)["Ivan Petrov"]["Approve"]), now=ctx.now())
    assert old.text_hash == drafted.sha256  # the old card's links are bound to the old text
    with pytest.raises(LinkRefused) as refused:  # a notice link is no gate link
        signer.read(token_of(found["Ivan Petrov"]["Approve"]), now=ctx.now())
    assert refused.value.why == "wrong_kind"


def approve_through(client: httpx.Client, url: str, base: str, reason: str = "") -> httpx.Response:
    local = url.replace("http://teams.test", base)
    page = client.get(local)
    assert page.status_code == 200, page.text
    return submit_page(
        client,
        f"{base}/teams/notice",
        token=token_of(url),
        csrf=csrf_of(page),
        decision="approve",
        reason=reason,
    )


def test_comms_and_legal_approve_from_the_cards_and_the_outbox_delivers(
    make_ctx: MakeCtx,
    policy: Policy,
    clock: ManualClock,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, "notice-secret")
    hooks = WebhookLog()
    with notice_webhook(hooks) as status_url:
        chosen = with_channels(
            policy,
            {
                "customer_initial": [
                    {"type": "webhook", "url": status_url, "secret_ref": f"env:{SECRET_ENV}"}
                ]
            },
        )
        ctx = make_ctx(use_policy=chosen)
        ctx.notice_sender = NoticeSender(smtp=SmtpSender(host="127.0.0.1", port=9), clock=clock)
        teams(ctx, receiver)
        incident = review_incident(ctx)
        drafted = notices.draft(
            ctx,
            incident,
            template="customer_initial",
            actor="grace",
            facts={"next_steps": NEXT_STEPS},
        )
        outbox.deliver(ctx)
        with serve_teams(ctx, settings()) as base, httpx.Client() as client:
            (card,) = notice_cards(receiver, drafted.id)
            assert "webhook http://127.0.0.1" in json.dumps(card)
            assert "/status" not in json.dumps(card)  # a webhook URL may be a credential
            done = approve_through(client, links(card)["Grace Liu"]["Approve"], base)
            assert done.status_code == 200 and "still needed: Legal" in done.text
            outbox.deliver(ctx)
            follow_up = notice_cards(receiver, drafted.id)[-1]
            assert_valid_card(follow_up)
            shown = json.dumps(follow_up, ensure_ascii=False)
            assert "Revision 2" in shown and "Grace Liu as **comms**" in shown
            assert "Still needed:** Legal" in shown
            assert set(links(follow_up)["Grace Liu"]) == {"Reject"}  # approved already
            assert hooks.requests == []  # legal has not approved: nothing is sent

            done = approve_through(client, links(follow_up)["Ivan Petrov"]["Approve"], base)
            assert done.status_code == 200 and 'data-state="approved"' in done.text
            outbox.deliver(ctx)

    approved = notices.get(ctx, drafted.id)
    assert approved.state == "sent"
    [(_headers, body)] = hooks.requests
    sent = json.loads(body)
    assert sha256(sent["text"].encode("utf-8")) == approved.sha256 == sent["sha256"]
    assert {(d.kind, d.state, d.delivered_sha256) for d in approved.deliveries} == {
        ("webhook", "delivered", approved.sha256)
    }
    newest = notice_cards(receiver, drafted.id)[-1]
    assert_valid_card(newest)
    assert str(newest["body"][0]["text"]).endswith("· sent")
    assert links(newest) == {}  # no links once the notice is decided
