"""Block Kit payloads for notices: the review card with Edit / Approve / Reject (the modals
behind those buttons are in `blocks_notice_forms`).

The card shows the exact text in plain_text sections, so what a reviewer reads is the text
itself, with no mrkdwn formatting applied to it. Every button carries the notice id and the
SHA-256 of the text on the card: an approval is refused when the notice's text no longer
hashes to that, so nobody approves words they did not see. Who may act is decided on the
server; nothing in a button's value grants anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    HeaderBlock,
    PlainTextObject,
    SectionBlock,
)

from commandpost.chat.slack.blocks_gate import short_hash
from commandpost.chat.slack.blocks_text import (
    CONFIRM_BUTTON,
    CONFIRM_TEXT,
    CONFIRM_TITLE,
    HEADER_TEXT,
    MARKER,
    SECTION_TEXT,
    SlackMessage,
    Who,
    clean,
    context,
    cut,
    esc,
    escape,
    join_lines,
    label,
    message,
    plain,
    section,
    units,
    when,
    who,
)
from commandpost.service.notice_rows import NoticeView

NOTICE_EDIT = "cp_notice_edit"
NOTICE_APPROVE = "cp_notice_approve"
NOTICE_REJECT = "cp_notice_reject"
NOTICE_ACTIONS = (NOTICE_EDIT, NOTICE_APPROVE, NOTICE_REJECT)
EDIT_CALLBACK = "cp_notice_edit_modal"
REJECT_CALLBACK = "cp_notice_reject_modal"
OVERRIDE_CALLBACK = "cp_notice_override_modal"
TEXT_BLOCK = "cp_notice_text"
REASON_BLOCK = "cp_notice_reason"
EDITABLE = 3000  # a plain_text_input holds at most 3,000 characters
REASON_MAX = 2000
_TEXT_PIECE = SECTION_TEXT - 100  # room for the marker after the last piece
_TEXT_PIECES = 4  # about 12,000 characters on the card; the CLI shows any length
_VALUE = re.compile(r"([0-9]{1,18}):([0-9a-f]{64})")
_FAILED = frozenset({"failed", "refused"})
_DELIVERY_ICON = {
    "delivered": ":white_check_mark:",
    "queued": ":hourglass_flowing_sand:",
    "retrying": ":repeat:",
    "failed": ":x:",
    "refused": ":no_entry:",
    "cancelled": ":heavy_minus_sign:",
}


# ----------------------------------------------------------------------------- values
def notice_value(notice_id: int, sha256: str) -> str:
    """A button's value: the notice and the hash of the text the card shows."""
    value = f"{notice_id}:{sha256.lower()}"
    if not _VALUE.fullmatch(value):
        raise ValueError(f"not a notice id and sha256: {notice_id!r}, {sha256!r}")
    return value


def parse_notice_value(value: str) -> tuple[int, str]:
    """Inverse of `notice_value`; ValueError for anything we did not produce."""
    match = _VALUE.fullmatch(value)
    if match is None:
        raise ValueError(f"not a notice value: {value!r}")
    return int(match.group(1)), match.group(2)


def editable(view: NoticeView) -> bool:
    """Whether the whole text fits the edit modal; a cut text must never be saved back."""
    return units(view.text) <= EDITABLE


# ------------------------------------------------------------------------------- card
def notice_card(
    view: NoticeView,
    *,
    people: Mapping[str, Who] | None = None,
    fallback: str | None = None,
) -> SlackMessage:
    """The review card; buttons while the notice is a draft. `people` maps person ids to
    how chat shows them; `fallback` is the message's notification text (safe mrkdwn)."""
    known = people or {}
    blocks: list[Block] = [
        HeaderBlock(text=plain(_headline(view), HEADER_TEXT)),
        section(_intro(view, known)),
        *_text_blocks(view.text),
        section(_findings(view)),
        section(_approvals(view, known)),
    ]
    if view.deliveries:
        blocks.append(section(_deliveries(view)))
    blocks.append(
        context(
            f"Text sha256 `{short_hash(view.sha256)}`… (version {view.version})."
            " Approving approves exactly this text; an edit voids every approval of it."
        )
    )
    if view.state == "draft":
        if not editable(view):
            blocks.append(
                context(
                    "Too long to edit in Slack: use "
                    f"`commandpost notice edit {view.id} --file FILE`."
                )
            )
        blocks.append(_buttons(view))
    return message(blocks, fallback or escape(_headline(view)))


def _headline(view: NoticeView) -> str:
    return f"Notice #{view.id} · {view.template} · {view.state}"


def _person(known: Mapping[str, Who], person_id: str) -> str:
    return who(known.get(person_id) or Who(name=person_id))


def _intro(view: NoticeView, known: Mapping[str, Who]) -> str:
    lines = [
        f"*{esc(label(view.template), 200)}* for *{escape(view.incident_id)}*, drafted by "
        f"{_person(known, view.created_by)}; goes out by {esc(view.channel, 50)}",
    ]
    if view.subject:
        lines.append(f"*Subject:* {esc(view.subject, 500)}")
    if view.state == "rejected" and view.reason:
        lines.append(f":no_entry: *Rejected:* {esc(view.reason, 1500)}")
    return "\n".join(lines)


def _text_blocks(text: str) -> list[Block]:
    pieces, left_out = _pieces(clean(text))
    blocks: list[Block] = [
        # plain_text: shown as written, so *stars* or <links> in a notice read as they will.
        SectionBlock(text=PlainTextObject(text=piece, emoji=False))
        for piece in pieces
    ]
    if left_out:
        blocks.append(
            context(f"{MARKER} {left_out} more characters not shown here: see `notice show`.")
        )
    return blocks


def _pieces(text: str) -> tuple[list[str], int]:
    """Up to `_TEXT_PIECES` pieces of the text, broken at a line end where one is near;
    and how many characters did not fit (the last piece then ends with the marker)."""
    pieces: list[str] = []
    rest = text
    while rest and len(pieces) < _TEXT_PIECES:
        piece = cut(rest, _TEXT_PIECE)
        if piece == rest:
            pieces.append(rest)
            rest = ""
            break
        piece = piece[: -len(MARKER)]
        newline = piece.rfind("\n")
        if newline > len(piece) // 2:
            piece = piece[: newline + 1]
        pieces.append(piece)
        rest = rest[len(piece) :]
    if rest:
        pieces[-1] = pieces[-1].rstrip() + MARKER
    return [p for p in pieces if p.strip()] or [MARKER], len(rest)


def _findings(view: NoticeView) -> str:
    if not view.findings:
        return ":white_check_mark: *Lint:* no findings"
    blocking = len(view.blocking)
    head = f"*Lint:* {len(view.findings)} finding(s), {blocking} blocking"
    if blocking:
        head = ":no_entry: " + head + " (approving needs a written override)"
    lines = [head]
    for finding in view.findings:
        kind = "blocking" if finding.get("blocking") else "advisory"
        icon = ":no_entry:" if finding.get("blocking") else ":information_source:"
        span = span_text(finding)
        quoted = f" “{esc(span, 200)}”" if span.strip() else ""
        lines.append(
            f"{icon} `{esc(str(finding.get('rule', '?')), 80)}` ({kind}){quoted}: "
            f"{esc(str(finding.get('message', '')), 500)}"
        )
    return join_lines(lines, SECTION_TEXT)


def span_text(finding: Mapping[str, Any]) -> str:
    # Finding.to_dict() is flat (start, end, text); a nested "span" is read too.
    span = finding.get("span")
    nested = span.get("text") if isinstance(span, Mapping) else None
    return str(finding.get("text") or nested or "")


def _approvals(view: NoticeView, known: Mapping[str, Who]) -> str:
    lines = ["*Approvals*"]
    for approval in view.approvals:
        person = _person(known, approval.person_id)
        role = esc(approval.role, 50)
        if approval.void:
            lines.append(f":heavy_minus_sign: ~{person} as {role}~ (voided: the text changed)")
            continue
        line = f":white_check_mark: {person} as *{role}* at {_at(approval.at)}"
        if approval.override_reason:
            line += f"; overrode blocking findings: “{esc(approval.override_reason, 500)}”"
        lines.append(line)
    if len(lines) == 1:
        lines.append("_none yet_")
    if view.still_needed:
        lines.append("*Still needed:* " + ", ".join(esc(r, 50) for r in view.still_needed))
    elif view.state == "draft":
        lines.append("*Still needed:* nothing")
    else:
        lines.append(f"*State:* {esc(view.state, 50)}")
    return join_lines(lines, SECTION_TEXT)


def _at(stamp: str) -> str:
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return esc(stamp, 40)
    return when(at if at.tzinfo else at.replace(tzinfo=UTC))


def _deliveries(view: NoticeView) -> str:
    failed = [d for d in view.deliveries if d.state in _FAILED]
    head = "*Deliveries*"
    if failed:
        head = f":warning: *Deliveries: {len(failed)} recipient(s) failed*"
    # Failed first: they are what somebody has to act on.
    ordered = sorted(view.deliveries, key=lambda d: d.state not in _FAILED)
    lines = [head]
    for d in ordered:
        icon = _DELIVERY_ICON.get(d.state, ":grey_question:")
        target = f"{esc(d.kind, 30)} to `{esc(d.recipient, 200)}`"
        if d.state in _FAILED:
            line = f"{icon} *{target}: FAILED* after {d.attempts} attempt(s)"
        else:
            line = f"{icon} {target}: {esc(d.state, 30)}"
        if d.error and d.state != "delivered":
            line += f": {esc(d.error, 300)}"
        if d.delivered_sha256 and d.delivered_sha256 != view.sha256:
            line += f" (:warning: sent sha256 `{short_hash(d.delivered_sha256)}`…)"
        lines.append(line)
    return join_lines(lines, SECTION_TEXT)


def _buttons(view: NoticeView) -> ActionsBlock:
    value = notice_value(view.id, view.sha256)
    # With a blocking finding the override modal is the second look; without one, this.
    confirm = None
    if not view.blocking:
        confirm = ConfirmObject(
            title=plain(f"Approve notice #{view.id}?", CONFIRM_TITLE),
            text=plain(
                f"You approve the text on this card, sha256 {short_hash(view.sha256)}…",
                CONFIRM_TEXT,
            ),
            confirm=plain("Approve", CONFIRM_BUTTON),
            deny=plain("Cancel", CONFIRM_BUTTON),
        )
    approve = ButtonElement(
        text="Approve", action_id=NOTICE_APPROVE, value=value, style="primary", confirm=confirm
    )
    elements = [approve, ButtonElement(text="Reject", action_id=NOTICE_REJECT, value=value)]
    if editable(view):
        elements.insert(0, ButtonElement(text="Edit", action_id=NOTICE_EDIT, value=value))
    return ActionsBlock(block_id=f"cp_notice_{view.id}", elements=elements)


# ----------------------------------------------------------------------------- modals
