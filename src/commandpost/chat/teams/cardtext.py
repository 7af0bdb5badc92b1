"""The small pieces every Teams card is made of: text blocks, fact sets, escaping, limits,
and the message envelope Workflows takes.

Teams renders a subset of Markdown in TextBlock and Fact values, so text that came from a
person (a title, a reason, a parameter) has its markup characters escaped: a title cannot
become a link or bold text. Long values are cut, so a card stays under Teams' message limit
(28 KB for the whole posted body) whatever people typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from commandpost.chat.slack.blocks import Who

Card = dict[str, Any]

ADAPTIVE_VERSION = "1.5"
SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_LIMIT = 28 * 1024  # bytes, the whole JSON body Teams accepts in one message
FACT_TITLE = 100
FACT_VALUE = 500

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_MARKUP = re.compile(r"([\\`*_\[\]<>])")


def clip(value: str, limit: int) -> str:
    value = _CONTROL.sub(" ", value)
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def esc(value: str, limit: int) -> str:
    """`value` cut to `limit` characters and with its Markdown characters escaped."""
    return _MARKUP.sub(r"\\\1", clip(value, limit))


def label(name: str) -> str:
    """A vocabulary name as people read it: `incident_commander` → `Incident commander`."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def name_of(person: Who | None) -> str:
    """A person's display name (Teams has no mention syntax for webhook cards); escaped."""
    return esc(person.name, 200) if person and person.name.strip() else "nobody"


def when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def text(
    value: str,
    *,
    size: str | None = None,
    weight: str | None = None,
    color: str | None = None,
    subtle: bool = False,
) -> Card:
    """A wrapping TextBlock; `value` is Markdown the caller already escaped."""
    block: Card = {"type": "TextBlock", "text": value or " ", "wrap": True}
    if size:
        block["size"] = size
    if weight:
        block["weight"] = weight
    if color:
        block["color"] = color
    if subtle:
        block["isSubtle"] = True
    return block


def heading(value: str) -> Card:
    return {**text(value, weight="Bolder"), "spacing": "Medium", "separator": True}


def facts(pairs: Sequence[tuple[str, str]]) -> Card:
    """A FactSet of plain (unescaped) pairs; pairs with an empty value are left out."""
    shown = [
        {"title": esc(title, FACT_TITLE), "value": esc(value, FACT_VALUE)}
        for title, value in pairs
        if value.strip()
    ]
    return {"type": "FactSet", "facts": shown}


def adaptive_card(body: list[Card], *, fallback: str, actions: list[Card] | None = None) -> Card:
    card: Card = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA_URL,
        "version": ADAPTIVE_VERSION,
        "fallbackText": esc(fallback, 300),
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def envelope(card: Card) -> dict[str, Any]:
    """The message body a Workflows "when a Teams webhook request is received" flow posts."""
    return {"type": "message", "attachments": [{"contentType": CONTENT_TYPE, "content": card}]}


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
