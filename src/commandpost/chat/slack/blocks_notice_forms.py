"""The modals behind a notice card's buttons: edit the text, give a reason to reject,
override a blocking finding; and reading what was submitted. Each modal carries the notice id,
the hash of the text the reviewer saw and the channel in its private metadata."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    PlainTextInputElement,
)
from slack_sdk.models.views import View

from commandpost.chat.slack.blocks_gate import short_hash
from commandpost.chat.slack.blocks_notice import (
    EDIT_CALLBACK,
    EDITABLE,
    OVERRIDE_CALLBACK,
    REASON_BLOCK,
    REASON_MAX,
    REJECT_CALLBACK,
    TEXT_BLOCK,
    editable,
    parse_notice_value,
    span_text,
)
from commandpost.chat.slack.blocks_text import (
    INPUT_ACTION,
    INPUT_LABEL,
    MODAL_BUTTON,
    MODAL_TITLE,
    PLACEHOLDER,
    PRIVATE_METADATA,
    SECTION_TEXT,
    context,
    cut,
    esc,
    join_lines,
    plain,
    section,
    state_value,
)
from commandpost.service.notice_rows import NoticeView


def modal_metadata(view: NoticeView, *, channel: str | None) -> str:
    """Which text the modal is about, and the channel to answer in, for the submission."""
    meta = {"notice": view.id, "sha": view.sha256, "channel": channel}
    body = json.dumps(meta, separators=(",", ":"))
    if len(body) > PRIVATE_METADATA:  # ids from Slack are short; this is a bug, not input
        raise ValueError("modal metadata too long")
    return body


def read_metadata(raw: str) -> tuple[int, str, str | None] | None:
    """(notice id, sha256, channel) from `modal_metadata`; None for anything else."""
    try:
        meta = json.loads(raw or "{}")
        notice_id, sha = parse_notice_value(f"{meta.get('notice')}:{meta.get('sha')}")
    except (ValueError, AttributeError):
        return None
    channel = meta.get("channel")
    return notice_id, sha, channel if isinstance(channel, str) else None


def _modal(
    *, callback: str, title: str, submit: str, metadata: str, blocks: Sequence[Block]
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback,
        private_metadata=metadata,
        title=plain(title, MODAL_TITLE),
        submit=plain(submit, MODAL_BUTTON),
        close=plain("Cancel", MODAL_BUTTON),
        blocks=list(blocks),
    )
    return view.to_dict()


def _reason_input(prompt: str, placeholder: str) -> InputBlock:
    return InputBlock(
        block_id=REASON_BLOCK,
        label=plain(prompt, INPUT_LABEL),
        element=PlainTextInputElement(
            action_id=INPUT_ACTION,
            multiline=True,
            min_length=1,
            max_length=REASON_MAX,
            placeholder=plain(placeholder, PLACEHOLDER),
        ),
    )


def edit_modal(view: NoticeView, *, metadata: str) -> dict[str, Any]:
    """The text in a multiline input. Only for a text that fits whole (see `editable`)."""
    if not editable(view):
        raise ValueError(f"notice #{view.id} is too long to edit in a modal")
    return _modal(
        callback=EDIT_CALLBACK,
        title=f"Edit notice #{view.id}",
        submit="Save",
        metadata=metadata,
        blocks=[
            context(
                f"Editing version {view.version} (sha256 `{short_hash(view.sha256)}`…)."
                " Saving re-runs the lint and voids every approval of the current text."
            ),
            InputBlock(
                block_id=TEXT_BLOCK,
                label=plain("Notice text, exactly as it will be sent", INPUT_LABEL),
                element=PlainTextInputElement(
                    action_id=INPUT_ACTION,
                    multiline=True,
                    initial_value=view.text,
                    min_length=1,
                    max_length=EDITABLE,
                ),
            ),
        ],
    )


def reject_modal(view: NoticeView, *, metadata: str) -> dict[str, Any]:
    return _modal(
        callback=REJECT_CALLBACK,
        title=f"Reject notice #{view.id}",
        submit="Reject",
        metadata=metadata,
        blocks=[
            section(
                f"You are rejecting notice #{view.id} (*{esc(view.template, 100)}*). "
                "It will never be sent; a new draft is needed."
            ),
            _reason_input("Reason (recorded in the audit trail)", "Why this must not go out"),
        ],
    )


def override_modal(view: NoticeView, *, metadata: str) -> dict[str, Any]:
    """Approve despite blocking findings: the findings, and a required written reason."""
    lines = [
        f"Notice #{view.id} has {len(view.blocking)} blocking lint finding(s). "
        "Approving it anyway is an override, recorded with your reason:"
    ]
    for finding in view.blocking:
        span = span_text(finding)
        quoted = f" “{esc(span, 200)}”" if span.strip() else ""
        lines.append(
            f":no_entry: `{esc(str(finding.get('rule', '?')), 80)}`{quoted}: "
            f"{esc(str(finding.get('message', '')), 300)}"
        )
    return _modal(
        callback=OVERRIDE_CALLBACK,
        title=f"Override #{view.id}",
        submit="Approve",
        metadata=metadata,
        blocks=[
            section(join_lines(lines, SECTION_TEXT)),
            context(f"You approve the text with sha256 `{short_hash(view.sha256)}`… only."),
            _reason_input("Why it should go out as written", "The reason for the override"),
        ],
    )


def read_reason(values: Mapping[str, Any]) -> str:
    """The reason typed into the reject or override modal ("" when absent)."""
    return cut(state_value(values, REASON_BLOCK), REASON_MAX)


def read_text(values: Mapping[str, Any]) -> str:
    """The edited text as typed: not stripped or cut, since these are the bytes approved
    next; only Windows line ends are made Unix ones, as the templates write them."""
    entry = values.get(TEXT_BLOCK)
    value = entry.get(INPUT_ACTION) if isinstance(entry, Mapping) else None
    raw = value.get("value") if isinstance(value, Mapping) else None
    return raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
