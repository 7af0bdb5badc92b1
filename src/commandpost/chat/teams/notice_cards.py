"""The notice-review card for Teams (Adaptive Card 1.5): the exact text to be sent, its lint
findings, who must approve and who has, and one Approve / Reject link pair per reviewer.

Pure: from `NoticeView` (plain data) and strings the caller worked out. The text is shown in
a RichTextBlock of TextRuns, which Teams renders without Markdown, so what the reviewer
reads is the text itself; a text too long for the card is cut with a marker that says how
much is missing and where to read it all (the review page shows every character). Like
gate cards, a webhook-posted card cannot be edited: each change to the notice is the next
revision, which says it supersedes the earlier ones, whose links the review page then
refuses (the text hash, or the state, no longer matches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from commandpost.chat.slack.blocks_gate import short_hash
from commandpost.chat.teams.cards import MESSAGE_BUDGET, Stamp, link_set, open_url, stamp_block
from commandpost.chat.teams.cardtext import (
    Card,
    adaptive_card,
    body_bytes,
    envelope,
    esc,
    facts,
    heading,
    label,
    text,
)
from commandpost.service.notice_rows import NoticeView

TEXT_SHOWN = 12_000  # characters of the notice on the card before the cut marker
TEXT_FLOOR = 1_000  # never cut the text shorter than this to make room
FINDINGS_SHOWN = 25
CUT = "[… cut here]"
_FAILED = frozenset({"failed", "refused"})
_CONTROL = {c: " " for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)}

__all__ = ["ReviewerLinks", "notice_review_card", "where_to"]


@dataclass(frozen=True)
class ReviewerLinks:
    """One reviewer's signed links to the review page; no Approve link when they may only
    reject (an incident commander, or someone who already approved this text)."""

    name: str
    roles: Sequence[str]
    approve: str | None
    reject: str


def where_to(kind: str, recipient: str) -> str:
    """A recipient as the card shows it: a webhook URL may carry a credential, so only its
    scheme and host are shown."""
    if kind == "webhook":
        parts = urlsplit(recipient)
        return f"webhook {parts.scheme}://{parts.hostname or '?'}"
    return f"{kind} {recipient}"


def _plain_text(value: str, limit: int) -> tuple[str, int]:
    """The text as shown (control characters other than line ends made spaces) and how many
    characters were left out."""
    shown = value.translate(_CONTROL)
    if len(shown) <= limit:
        return shown, 0
    return shown[:limit], len(shown) - limit


def _text_blocks(value: str, limit: int) -> list[Card]:
    shown, left_out = _plain_text(value, limit)
    runs: list[Any] = [{"type": "TextRun", "text": shown or " "}]
    if left_out:
        runs.append(
            {"type": "TextRun", "text": f"\n{CUT}", "weight": "Bolder", "color": "Attention"}
        )
    blocks: list[Card] = [{"type": "RichTextBlock", "inlines": runs}]
    if left_out:
        blocks.append(
            text(
                f"**The text is cut on this card:** {left_out:,} more characters are not shown"
                " here. Open the review page (your link below) to read all of it before you"
                " decide; what is approved is the whole text.",
                color="Attention",
            )
        )
    return blocks


def _findings(view: NoticeView) -> list[Card]:
    blocking = len(view.blocking)
    if not view.findings:
        return [heading("Lint: no findings")]
    head = f"Lint: {len(view.findings)} finding(s), {blocking} blocking"
    if blocking:
        head += " (approving needs a written override reason)"
    body: list[Card] = [heading(head)]
    for finding in view.findings[:FINDINGS_SHOWN]:
        is_blocking = bool(finding.get("blocking"))
        span = str(finding.get("text") or "")
        quoted = f" “{esc(span, 200)}”" if span.strip() else ""
        kind = "BLOCKING" if is_blocking else "advisory"
        rule = esc(str(finding.get("rule", "?")), 80)
        body.append(
            text(
                f"**{kind}** `{rule}`{quoted}: {esc(str(finding.get('message', '')), 400)}",
                color="Attention" if is_blocking else None,
            )
        )
    if len(view.findings) > FINDINGS_SHOWN:
        more = len(view.findings) - FINDINGS_SHOWN
        body.append(
            text(f"… and {more} more finding(s): the review page lists them all.", subtle=True)
        )
    return body


def _approvals(view: NoticeView, names: Mapping[str, str]) -> list[Card]:
    required = sorted({a.role for a in view.approvals if not a.void} | set(view.still_needed))
    body: list[Card] = [heading("Approvals")]
    if required:
        body.append(text("Must approve: " + " and ".join(label(r) for r in required) + "."))
    lines = []
    for a in view.approvals:
        who = esc(names.get(a.person_id, a.person_id), 200)
        if a.void:
            lines.append(f"{who} as {esc(a.role, 40)}: voided (the text changed)")
            continue
        line = f"✅ {who} as **{esc(a.role, 40)}**"
        if a.override_reason:
            line += f"; overrode blocking findings: “{esc(a.override_reason, 500)}”"
        lines.append(line)
    body.append(text("\n\n".join(lines) if lines else "None yet.", subtle=not lines))
    if view.state == "draft":
        still = ", ".join(label(r) for r in view.still_needed) or "nothing"
        body.append(text(f"**Still needed:** {still}"))
    return body


def _deliveries(view: NoticeView) -> list[Card]:
    if not view.deliveries:
        return []
    failed = [d for d in view.deliveries if d.state in _FAILED]
    head = f"Deliveries: {len(failed)} recipient(s) FAILED" if failed else "Deliveries"
    pairs = [
        (
            where_to(d.kind, d.recipient),
            d.state + (f": {d.error}" if d.error and d.state != "delivered" else ""),
        )
        for d in sorted(view.deliveries, key=lambda d: d.state not in _FAILED)
    ]
    return [heading(head), facts(pairs)]


def _link_set(links: ReviewerLinks) -> Card:
    approve = [open_url("Approve", links.approve, style="positive")] if links.approve else []
    reject = open_url("Reject", links.reject, style="destructive")
    return link_set(links.name, roles=links.roles, actions=[*approve, reject])


def notice_review_card(
    view: NoticeView,
    stamp: Stamp,
    links: Sequence[ReviewerLinks],
    *,
    names: Mapping[str, str],
    sends_to: Sequence[str],
    latest: str = "",
) -> Card:
    """The review card. While the notice is a draft it carries each reviewer's links; a
    card too big for Teams first shows less of the text (never less than `TEXT_FLOOR`
    characters, always with the marker), then leaves link sets off and says whose."""
    limit, shown = TEXT_SHOWN, list(links)
    card = _card(
        view, stamp, shown, names=names, sends_to=sends_to, latest=latest, limit=limit, left_off=[]
    )
    while len(body_bytes(envelope(card))) >= MESSAGE_BUDGET and (limit > TEXT_FLOOR or shown):
        if limit > TEXT_FLOOR:
            limit = max(TEXT_FLOOR, limit * 3 // 4)
        else:
            shown.pop()
        left_off = [one.name for one in links[len(shown) :]]
        card = _card(
            view,
            stamp,
            shown,
            names=names,
            sends_to=sends_to,
            latest=latest,
            limit=limit,
            left_off=left_off,
        )
    return card


def _headline(view: NoticeView) -> str:
    return f"Notice #{view.id} · {view.template} · {view.state}"


def _card(
    view: NoticeView,
    stamp: Stamp,
    links: Sequence[ReviewerLinks],
    *,
    names: Mapping[str, str],
    sends_to: Sequence[str],
    latest: str,
    limit: int,
    left_off: Sequence[str],
) -> Card:
    color = {"draft": "Warning", "rejected": "Attention"}.get(view.state, "Good")
    body: list[Card] = [
        text(esc(_headline(view), 300), size="Large", weight="Bolder", color=color),
        stamp_block(stamp),
    ]
    if latest.strip():
        body.append(text(esc(latest, 1000)))
    body.append(
        facts(
            [
                ("Incident", view.incident_id),
                ("Audience", label(view.template)),
                ("Goes out as", view.channel),
                ("Sends to", ", ".join(sends_to) or "nobody: the policy names no channel"),
                ("Drafted by", names.get(view.created_by, view.created_by)),
                ("Subject", view.subject or ""),
            ]
        )
    )
    if view.state == "rejected" and view.reason:
        body.append(text(f"**Rejected:** {esc(view.reason, 1500)}", color="Attention"))
    body.append(heading(f"Text to be sent (version {view.version})"))
    body += _text_blocks(view.text, limit)
    body += _findings(view)
    body += _approvals(view, names)
    body += _deliveries(view)
    body.append(
        text(
            f"Text sha256 {short_hash(view.sha256)}… Approving approves exactly this text; an"
            " edit voids every approval of it and makes this card's links stop working.",
            subtle=True,
        )
    )
    if view.state == "draft":
        body.append(heading("Review"))
        if links:
            body.append(
                text(
                    "Use only the links under your own name: each is signed for one person and"
                    " this text, works once and expires. It opens Command Post's review page,"
                    " which shows the whole text and asks you to confirm.",
                    subtle=True,
                )
            )
            body += [_link_set(one) for one in links]
        if left_off:
            body.append(
                text(
                    f"No room on this card for the links of {esc(', '.join(left_off), 2000)}:"
                    f" review with `commandpost notice show {view.id}`.",
                    color="Attention",
                )
            )
        elif not links:
            body.append(
                text(
                    "Nobody holds comms, legal or incident commander in this incident yet: once"
                    " someone does, the next card carries their links.",
                    color="Attention",
                )
            )
    return adaptive_card(body, fallback=_headline(view))
