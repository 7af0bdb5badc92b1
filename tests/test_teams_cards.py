"""Every Teams card validates against the vendored Adaptive Card 1.5 schema, fits Teams'
28 KB message limit whatever people typed, says its revision, and escapes people's text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commandpost.chat.slack.blocks import (
    DeadlineLine,
    GateCardView,
    GateLine,
    GateOutcomeView,
    RoleLine,
    RolePageView,
    SummaryView,
    Who,
)
from commandpost.chat.teams import cards
from commandpost.chat.teams.cardtext import CONTENT_TYPE, envelope
from commandpost.chat.teams.connector import is_connector_url, message_card
from commandpost.core.gates import GateKind, GateState
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status

from .teamsupport import assert_fits, assert_valid_card

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HUGE = "x*_[link](http://evil.example) " * 400  # 12,000 characters of markup


def summary(text: str = "Chat model leaks other users' prompts") -> SummaryView:
    return SummaryView(
        incident_id="INC-2026-0001",
        title=text,
        severity=Severity.SEV1,
        status=Status.INVESTIGATING,
        incident_class=IncidentClass.DATA_LEAKAGE,
        model="chat-large",
        model_version=text[:40] or "2026-03-01",
        surface=text,
        tenant=text,
        region="eu-west",
        roles=[
            RoleLine(Role.INCIDENT_COMMANDER, Who("Alice Ng"), acknowledged=True),
            RoleLine(Role.MODEL_OWNER, Who(text or "Carol")),
            RoleLine(Role.COMMS, None),
        ],
        open_gates=[GateLine(gate_id=n, action=text or "rollback", dual=True) for n in range(20)],
        deadlines=[
            DeadlineLine(what=text or "ack", due=AT + timedelta(minutes=n)) for n in range(5)
        ],
        declared_at=AT,
        updated_at=AT,
        policy_version="abc123",
    )


def gate(text: str = "roll back to 2026-02-01") -> GateCardView:
    return GateCardView(
        gate_id=12,
        incident_id="INC-2026-0001",
        action="rollback_model",
        kind=GateKind.CONTAINMENT,
        params={f"key{n}": text for n in range(10)} if len(text) > 100 else {"to": text},
        reversible=False,
        requester=Who("Carol Diaz"),
        deciders=["incident_commander", "safety_lead"],
        approvals_required=2,
        approvals=[Who("Erin Park")],
        deadline=AT + timedelta(minutes=10),
        payload_hash="ab" * 32,
        reason=text,
    )


def links(n: int) -> list[cards.ApproverLinks]:
    token = "t" * 400  # a real token is about 300 characters
    return [
        cards.ApproverLinks(
            name=f"Approver {i}",
            roles=["incident_commander", "duty_director"],
            approve=f"https://cp.example/teams/approve?token={token}&d=approve",
            reject=f"https://cp.example/teams/approve?token={token}&d=reject",
            escalate=f"https://cp.example/teams/approve?token={token}&d=escalate",
        )
        for i in range(n)
    ]


def every_card(text: str, approvers: int) -> dict[str, dict[str, Any]]:
    stamp = cards.Stamp(3, AT, "gate #12")
    page = RolePageView(summary(text), Role.LEGAL, ack_by=AT + timedelta(minutes=5))
    outcome = GateOutcomeView(GateState.REJECTED, AT, by=[Who("Erin Park")], reason=text)
    return {
        "summary": cards.summary_card(summary(text), cards.Stamp(1, AT, "the summary")),
        "summary_rev2": cards.summary_card(summary(text), cards.Stamp(2, AT, "the summary")),
        "role_page": cards.role_page_card(page, stamp, person="Ivan Petrov"),
        "gate": cards.gate_card(gate(text), stamp, links(approvers)),
        "gate_no_links": cards.gate_card(gate(text), stamp, []),
        "decided": cards.gate_decided_card(gate(text), outcome, stamp),
        "text": cards.text_card(text or "note", incident_id="INC-2026-0001", at=AT),
    }


@pytest.mark.parametrize(("text", "approvers"), [("ordinary words", 2), (HUGE, 12), ("", 0)])
def test_every_card_validates_and_fits(text: str, approvers: int) -> None:
    for name, card in every_card(text, approvers).items():
        try:
            assert_valid_card(card)
            assert_fits(envelope(card))
            assert_fits(message_card(card))
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_the_schema_check_can_fail() -> None:
    card = cards.text_card("hi", incident_id=None, at=AT)
    card["body"][0]["colour"] = "Good"  # not a TextBlock property
    with pytest.raises(AssertionError):
        assert_valid_card(card)
    with pytest.raises(AssertionError):
        assert_valid_card({**card, "version": "1.6"})


def test_envelope_is_what_workflows_expects() -> None:
    card = cards.text_card("hi", incident_id=None, at=AT)
    body = envelope(card)
    assert body == {
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "content": card}],
    }
    assert CONTENT_TYPE == "application/vnd.microsoft.card.adaptive"


def test_revisions_say_which_card_is_newest() -> None:
    first = json.dumps(cards.summary_card(summary(), cards.Stamp(1, AT, "the summary")))
    second = json.dumps(cards.summary_card(summary(), cards.Stamp(2, AT, "the summary")))
    assert "Revision 1" in first and "supersedes" not in first
    assert "Revision 2" in second and "Newest card" in second
    assert "supersedes revision 1" in second


def test_gate_card_has_one_link_set_per_approver() -> None:
    card = cards.gate_card(gate(), cards.Stamp(1, AT, "gate #12"), links(3))
    sets = [
        item
        for block in card["body"]
        if block["type"] == "Container"
        for item in block["items"]
        if item["type"] == "ActionSet"
    ]
    assert len(sets) == 3
    for one in sets:
        assert [a["title"] for a in one["actions"]] == ["Approve", "Reject", "Escalate"]
        assert {a["type"] for a in one["actions"]} == {"Action.OpenUrl"}
    text = json.dumps(card)
    assert "Approver 0" in text and "1 of 2 approved: Erin Park" in text


def test_people_text_cannot_become_markup() -> None:
    card = cards.summary_card(
        summary("[click](http://evil.example) **now**"), cards.Stamp(1, AT, "s")
    )
    text = json.dumps(card)
    assert "[click](" not in text and "**now**" not in text
    assert r"\\[click\\]" in text


def test_decided_card_has_outcome_and_no_links() -> None:
    outcome = GateOutcomeView(GateState.APPROVED, AT, by=[Who("Erin Park"), Who("Alice Ng")])
    card = cards.gate_decided_card(gate(), outcome, cards.Stamp(2, AT, "gate #12"))
    text = json.dumps(card)
    assert "Approved" in text and "Erin Park, Alice Ng" in text
    assert "Action.OpenUrl" not in text
    with pytest.raises(ValueError):
        cards.gate_decided_card(
            gate(), GateOutcomeView(GateState.PENDING, AT), cards.Stamp(1, AT, "g")
        )


def test_message_card_form_for_connectors() -> None:
    card = cards.gate_card(gate(), cards.Stamp(1, AT, "gate #12"), links(2))
    payload = message_card(card)
    assert payload["@type"] == "MessageCard"
    assert "Gate #12 needs a decision" in payload["title"]
    buttons = [a["name"] for a in payload["potentialAction"]]
    assert buttons[:3] == ["Approve: Approver 0", "Reject: Approver 0", "Escalate: Approver 0"]
    assert len(buttons) == 6
    facts = {f["name"] for s in payload["sections"] for f in s.get("facts", [])}
    assert {"Reversible", "Payload"} <= facts
    assert is_connector_url("https://contoso.webhook.office.com/webhookb2/abc/IncomingWebhook/x")
    assert not is_connector_url("https://prod-1.westus.logic.azure.com/workflows/abc/triggers")
