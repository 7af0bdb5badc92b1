"""The MessageCard form, for tenants still posting to an Office 365 connector URL.

Connectors take the older "MessageCard" JSON, not Adaptive Cards in the Workflows envelope.
Rather than keep a second set of builders, each Adaptive Card from `cards` is walked and
re-expressed with pymsteams: the first TextBlock becomes the title, FactSets become section
facts, other text becomes section text, and each Action.OpenUrl becomes a link button
(named after the approver its link set is for). What is lost: colours, and anything a
MessageCard cannot show.
"""

from __future__ import annotations

from typing import Any

import pymsteams

from commandpost.chat.teams.cardtext import Card, clip

# Connector URLs Microsoft issued: Teams' own webhook hosts, or a path in their style.
_CONNECTOR_MARKERS = ("webhook.office.com", "outlook.office.com/webhook", "/webhookb2/")
MAX_BUTTONS = 30  # a generous cap; Teams stops rendering buttons long before the size limit


def is_connector_url(url: str) -> bool:
    return any(marker in url for marker in _CONNECTOR_MARKERS)


def _walk(items: list[Card], section: Any, buttons: list[tuple[str, str]], owner: str) -> None:
    for item in items:
        kind = item.get("type")
        if kind == "TextBlock":
            value = str(item.get("text", "")).strip()
            if value.startswith("For **"):
                owner = value.removeprefix("For ").split(" (")[0].replace("**", "")
            section.text((section.payload.get("text", "") + "\n\n" + value).strip())
        elif kind == "FactSet":
            for fact in item.get("facts", []):
                section.addFact(fact["title"], fact["value"])
        elif kind == "Container":
            _walk(list(item.get("items", [])), section, buttons, owner)
            owner = ""
        elif kind == "ActionSet":
            for action in item.get("actions", []):
                if action.get("type") == "Action.OpenUrl":
                    title = f"{action['title']}: {owner}" if owner else str(action["title"])
                    buttons.append((clip(title, 60), str(action["url"])))


def message_card(card: Card, *, color: str = "0078D7") -> dict[str, Any]:
    """The MessageCard payload saying what `card` says."""
    body: list[Card] = list(card.get("body", []))
    title = str(body[0].get("text", "")) if body and body[0].get("type") == "TextBlock" else ""
    # pymsteams needs a hook URL to build a card; it is never sent through pymsteams (the
    # port posts the payload itself, so errors map to DeliveryFailed like every transport).
    message = pymsteams.connectorcard("https://invalid.example/")
    message.title(title or "Command Post")
    message.summary(clip(str(card.get("fallbackText") or title or "Command Post"), 200))
    message.color(color)
    section = pymsteams.cardsection()
    buttons: list[tuple[str, str]] = []
    _walk(body[1:], section, buttons, "")
    message.addSection(section)
    for text, url in buttons[:MAX_BUTTONS]:
        message.addLinkButton(text, url)
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        **message.payload,
    }
