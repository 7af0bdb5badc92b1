"""Checks that a Block Kit payload is valid and within Slack's limits, and views to build.

`check_message` and `check_modal` assert what Slack would refuse or render wrongly: block
and text limits, control characters, `<`/`>`/`&` outside our own tokens, and slack_sdk's own
validation. `summary()` and `gate()` are complete sample views; tests override fields.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from commandpost.chat.slack import blocks as b
from commandpost.chat.slack import blocks_text as bt
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOKEN = re.compile(r"<@[UW][A-Z0-9]+>|<#[CG][A-Z0-9]+>|<!date\^\d+\^[^|<>]*\|[^<>]*>")
ENTITY = re.compile(r"&(?:amp|lt|gt);")


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def texts(node: Any) -> Iterator[dict[str, Any]]:
    """Every text object in a payload."""
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
            yield node
        for value in node.values():
            yield from texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from texts(item)


def within(obj: dict[str, Any] | None, limit: int) -> None:
    if obj is not None:
        assert 1 <= units(obj["text"]) <= limit, (limit, obj["text"][:80])


def check_mrkdwn(text: str) -> None:
    """Only our own tokens carry `<`/`>`; every `&` starts an entity."""
    rest = TOKEN.sub("", text)
    assert "<" not in rest and ">" not in rest, text[:200]
    assert rest.count("&") == len(ENTITY.findall(rest)), text[:200]


def check_element(element: dict[str, Any]) -> None:
    kind = element["type"]
    if kind == "button":
        within(element["text"], bt.BUTTON_TEXT)
        assert len(element.get("value", "")) <= bt.BUTTON_VALUE
        if "confirm" in element:
            confirm = element["confirm"]
            within(confirm["title"], bt.CONFIRM_TITLE)
            within(confirm["text"], bt.CONFIRM_TEXT)
            within(confirm["confirm"], bt.CONFIRM_BUTTON)
            within(confirm["deny"], bt.CONFIRM_BUTTON)
    if "placeholder" in element:
        within(element["placeholder"], bt.PLACEHOLDER)
    if kind == "static_select":
        assert 1 <= len(element["options"]) <= bt.SELECT_OPTIONS
        for option in element["options"]:
            within(option["text"], bt.OPTION_TEXT)
            within(option.get("description"), bt.OPTION_TEXT)
            assert 1 <= len(option["value"]) <= bt.OPTION_VALUE
    if kind == "plain_text_input" and "initial_value" in element:
        assert len(element["initial_value"]) <= element.get("max_length", 3000)


def check_blocks(blocks: list[dict[str, Any]], *, max_blocks: int = bt.MESSAGE_BLOCKS) -> None:
    assert 1 <= len(blocks) <= max_blocks
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            within(block["text"], bt.HEADER_TEXT)
        elif kind == "section":
            within(block.get("text"), bt.SECTION_TEXT)
            assert len(block.get("fields", [])) <= bt.SECTION_FIELDS
            for field in block.get("fields", []):
                within(field, bt.SECTION_FIELD)
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                within(element, bt.CONTEXT_TEXT)
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for element in block["elements"]:
                check_element(element)
        elif kind == "input":
            within(block["label"], bt.INPUT_LABEL)
            check_element(block["element"])
    for obj in texts(blocks):
        within(obj, 3000)
        assert all(unicodedata.category(ch) != "Cc" or ch in "\n\t" for ch in obj["text"])
        if obj["type"] == "mrkdwn":
            check_mrkdwn(obj["text"])
    # slack_sdk parses our JSON back and validates it again.
    for parsed in Block.parse_all(blocks):
        parsed.validate_json()
        assert parsed.to_dict() is not None


def check_message(msg: b.SlackMessage) -> None:
    check_blocks(msg.blocks)
    assert 1 <= units(msg.text) <= bt.FALLBACK_TEXT
    check_mrkdwn(msg.text)


def check_modal(view: dict[str, Any]) -> None:
    assert view["type"] == "modal"
    within(view["title"], bt.MODAL_TITLE)
    within(view.get("submit"), bt.MODAL_BUTTON)
    within(view.get("close"), bt.MODAL_BUTTON)
    assert len(view.get("private_metadata", "")) <= bt.PRIVATE_METADATA
    check_blocks(view["blocks"], max_blocks=bt.MODAL_BLOCKS)
    View(**view).validate_json()


def has_actions(blocks: list[dict[str, Any]]) -> bool:
    return any(block["type"] == "actions" for block in blocks) or '"button"' in repr(blocks)


def summary(**overrides: Any) -> b.SummaryView:
    fields: dict[str, Any] = {
        "incident_id": "INC-2026-0042",
        "title": "Self-harm advice in chat assistant",
        "severity": Severity.SEV1,
        "status": Status.INVESTIGATING,
        "incident_class": IncidentClass.HARMFUL_CONTENT,
        "model": "chat-assistant",
        "model_version": "2026-02-27",
        "surface": "/v1/chat",
        "tenant": "all",
        "region": "eu-west",
        "channel_id": "C0INC42",
        "roles": (
            b.RoleLine(Role.INCIDENT_COMMANDER, b.Who("Alice Ng", "U0ALICE"), acknowledged=True),
            b.RoleLine(Role.MODEL_OWNER, b.Who("Carol Diaz", "U0CAROL")),
            b.RoleLine(Role.SAFETY_LEAD, b.Who("Erin Park")),
            b.RoleLine(Role.COMMS),
        ),
        "open_gates": (b.GateLine(12, "rollback_model", NOW + timedelta(minutes=15), dual=True),),
        "deadlines": (
            b.DeadlineLine("first mitigation", NOW + timedelta(minutes=30)),
            b.DeadlineLine("ack: comms", NOW + timedelta(minutes=10)),
        ),
        "declared_at": NOW,
        "updated_at": NOW + timedelta(minutes=2),
        "policy_version": "3f9a2c",
    }
    fields.update(overrides)
    return b.SummaryView(**fields)


def gate(**overrides: Any) -> b.GateCardView:
    fields: dict[str, Any] = {
        "gate_id": 12,
        "incident_id": "INC-2026-0042",
        "action": "rollback_model",
        "params": {"to_version": "2026-01-30", "tenant": "acme"},
        "reversible": False,
        "requester": b.Who("Bob Okafor", "U0BOB"),
        "deciders": ("incident_commander", "safety_lead"),
        "approvals_required": 2,
        "approvals": (b.Who("Alice Ng", "U0ALICE"),),
        "deadline": NOW + timedelta(minutes=15),
        "payload_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    }
    fields.update(overrides)
    return b.GateCardView(**fields)
