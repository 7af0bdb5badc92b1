"""Shared Block Kit helpers: Slack's limits, safe text, times, people, and messages.

Slack's limits are met by cutting text with a visible marker ("…"), never by letting Slack
reject the message: an incident whose title is a pasted paragraph must still get its card.
Lengths are counted in UTF-16 code units, which is never less than Python's `len()`, so text
that fits here fits slack_sdk's checks and any stricter count on Slack's side.

All user text that lands in mrkdwn goes through `esc` (escapes `&`, `<`, `>`), so nobody can
smuggle a `<!channel>` ping or a fake `<@U…>` mention into a card; mrkdwn objects are
`verbatim` so Slack does not auto-link a typed `@here` either. Only this package's own
tokens (mentions of validated ids, date tokens) carry a raw `<`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

# Slack's published limits (Block Kit reference pages), in characters.
MESSAGE_BLOCKS = 50
MODAL_BLOCKS = 100
SECTION_TEXT = 3000
SECTION_FIELD = 2000
SECTION_FIELDS = 10
CONTEXT_TEXT = 3000  # a context element is a text object: 3000 like any text object
HEADER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
OPTION_TEXT = 75
OPTION_VALUE = 150
SELECT_OPTIONS = 100
MODAL_TITLE = 24
MODAL_BUTTON = 24
PRIVATE_METADATA = 3000
INPUT_LABEL = 2000
PLACEHOLDER = 150
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
FALLBACK_TEXT = 4000  # chat.postMessage `text`: Slack advises at most 4,000 characters
MARKER = "…"

INPUT_ACTION = "value"  # the action_id of every input in our modals

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,30}")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
# One unit of escaped mrkdwn: our own token (<@U1>, <!date^…>), an entity, or one character.
_ATOM = re.compile(r"<[^<>]*>|&(?:amp|lt|gt);|.", re.DOTALL)
_MORE_RESERVE = 24  # room for "\n… 12345 more" after cut lines


# ---------------------------------------------------------------------------- text helpers
def units(text: str) -> int:
    """Length as Slack may count it: UTF-16 code units (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def clean(text: str) -> str:
    """Drop control characters (but newline and tab) and lone surrogates: JSON can't carry
    them to Slack faithfully and they render as nothing useful."""
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )


def cut(text: str, limit: int) -> str:
    """Plain text (for plain_text objects) cut to `limit` units with the marker."""
    text = clean(text)
    if units(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for ch in text:
        if used + units(ch) > limit - units(MARKER):
            break
        kept.append(ch)
        used += units(ch)
    return "".join(kept) + MARKER


def cut_markup(text: str, limit: int) -> str:
    """Already-safe mrkdwn cut to `limit`, never inside an entity or one of our tokens."""
    if units(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for match in _ATOM.finditer(text):
        atom = match.group()
        if used + units(atom) > limit - units(MARKER):
            break
        kept.append(atom)
        used += units(atom)
    return "".join(kept) + MARKER


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc(text: str, limit: int) -> str:
    """User text made safe for mrkdwn and cut to `limit`."""
    return cut_markup(escape(clean(text)), limit)


def join_lines(lines: Sequence[str], limit: int) -> str:
    """Join safe mrkdwn lines within `limit`; whole lines are dropped (and counted) rather
    than one cut in half, unless even the first line alone is too long."""
    text = "\n".join(lines)
    if units(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = units(line) + (1 if kept else 0)
        if used + cost > limit - _MORE_RESERVE:
            break
        kept.append(line)
        used += cost
    if not kept:
        return cut_markup(lines[0], limit)
    return "\n".join(kept) + f"\n{MARKER} {len(lines) - len(kept)} more"


def when(at: datetime) -> str:
    """A time each reader sees in their own time zone, with a UTC fallback."""
    utc = _utc(at)
    fallback = utc.strftime("%Y-%m-%d %H:%M UTC")
    stamp = int(utc.timestamp())
    if stamp < 0:  # Slack's date token takes no negative epochs
        return fallback
    return f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>"


def plain_when(at: datetime) -> str:
    return _utc(at).strftime("%Y-%m-%d %H:%M UTC")


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("times given to Block Kit builders must be timezone-aware")
    return at.astimezone(UTC)


def label(name: str) -> str:
    """`incident_commander` -> `Incident commander`."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text, verbatim=True)


def plain(text: str, limit: int, *, default: str = "—") -> PlainTextObject:
    return PlainTextObject(text=cut(text, limit).strip() or default, emoji=True)


def section(text: str, *, limit: int = SECTION_TEXT) -> SectionBlock:
    return SectionBlock(text=mrkdwn(cut_markup(text, limit)))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(cut_markup(text, CONTEXT_TEXT))])


def safe_id(value: str) -> str:
    """Ids we put in button values and metadata are ours, so a bad one is a bug, not input."""
    if not _SAFE_ID.fullmatch(value):
        raise ValueError(f"not a safe id for a Slack payload: {value!r}")
    return value


# ------------------------------------------------------------------------------- messages
@dataclass(frozen=True)
class SlackMessage:
    """What chat.postMessage / chat.update / chat.postEphemeral take: fallback text + blocks."""

    text: str
    blocks: list[dict[str, Any]]

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def message(blocks: Sequence[Block], fallback: str) -> SlackMessage:
    """Serialise (and so validate) blocks, keeping the message within 50 blocks. A trailing
    actions block survives the cut: a card without its buttons would strand a decision."""
    kept = list(blocks)
    if len(kept) > MESSAGE_BLOCKS:
        tail = [kept[-1]] if isinstance(kept[-1], ActionsBlock) else []
        head = kept[: MESSAGE_BLOCKS - 1 - len(tail)]
        dropped = len(kept) - len(head) - len(tail)
        kept = [*head, context(f"{MARKER} {dropped} more blocks not shown"), *tail]
    text = cut_markup(fallback.strip() or "Command Post", FALLBACK_TEXT)
    return SlackMessage(text=text, blocks=[block.to_dict() for block in kept])


# --------------------------------------------------------------------------------- people
@dataclass(frozen=True)
class Who:
    """A person as chat shows them: a mention when the Slack id is known, else the name."""

    name: str
    slack_id: str | None = None


def who(person: Who | None) -> str:
    if person is None:
        return "_nobody_"
    if person.slack_id and _USER_ID.fullmatch(person.slack_id):
        return f"<@{person.slack_id}>"
    return esc(person.name, 200) or "_unnamed_"


def channel_ref(channel_id: str | None) -> str:
    """A channel link for a valid channel id, else nothing."""
    if channel_id and _CHANNEL_ID.fullmatch(channel_id):
        return f"<#{channel_id}>"
    return ""


def state_value(values: Mapping[str, Any], block: str) -> str:
    """The text typed or the option chosen in one input of a view_submission's
    `view.state.values` (our inputs all use INPUT_ACTION); "" when absent."""
    # Payloads come from outside: every level may be missing or of the wrong type.
    entry_block = values.get(block)
    entry = entry_block.get(INPUT_ACTION) if isinstance(entry_block, Mapping) else None
    if not isinstance(entry, Mapping):
        return ""
    raw = entry.get("value")
    selected = entry.get("selected_option")
    if raw is None and isinstance(selected, Mapping):
        raw = selected.get("value")
    return clean(raw).strip() if isinstance(raw, str) else ""
