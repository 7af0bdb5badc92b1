"""The notice review card and its modals: valid Block Kit within Slack's limits, whatever the
notice holds, and buttons that bind the notice id to the hash of the text shown."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandpost.chat.slack import blocks_notice as bn
from commandpost.chat.slack import blocks_notice_forms as forms
from commandpost.chat.slack.blocks_text import INPUT_ACTION, MARKER, Who
from commandpost.service.notice_rows import ApprovalView, DeliveryView, NoticeView

from .blockcheck import check_message, check_modal

TEXT = "We are writing to tell you about a problem with Harper Assistant.\n\nThank you.\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def finding(rule: str, text: str, *, blocking: bool) -> dict[str, Any]:
    return {
        "rule": rule,
        "message": f"{rule} says <no> & means it",
        "start": 0,
        "end": len(text),
        "text": text,  # Finding.to_dict() is flat
        "blocking": blocking,
    }


def notice(**overrides: Any) -> NoticeView:
    text = overrides.pop("text", TEXT)
    fields: dict[str, Any] = {
        "id": 7,
        "incident_id": "INC-2026-0042",
        "template": "customer_initial",
        "channel": "email",
        "subject": "Harper Assistant: incident <INC-2026-0042>",
        "text": text,
        "sha256": sha(text),
        "version": 2,
        "state": "draft",
        "reason": None,
        "created_by": "grace",
        "findings": (
            finding("minimising", "a small number of", blocking=True),
            finding("missing_fact", "", blocking=False),
        ),
        "approvals": (
            ApprovalView("grace", "comms", "0" * 64, "2026-03-02T09:00:00", None, True),
            ApprovalView(
                "ivan", "legal", sha(text), "2026-03-02T09:05:00+00:00", "ok <!here>", False
            ),
        ),
        "deliveries": (),
        "still_needed": ("comms",),
    }
    fields.update(overrides)
    return NoticeView(**fields)


PEOPLE = {"grace": Who("Grace Liu", "U0GRACE"), "ivan": Who("Ivan Petrov")}


def blocks_json(view: NoticeView) -> str:
    return json.dumps(bn.notice_card(view, people=PEOPLE).blocks, ensure_ascii=False)


def buttons(view: NoticeView) -> dict[str, dict[str, Any]]:
    card = bn.notice_card(view, people=PEOPLE)
    return {e["action_id"]: e for b in card.blocks if b["type"] == "actions" for e in b["elements"]}


def test_the_card_shows_text_findings_approvals_and_hash_with_three_buttons() -> None:
    view = notice()
    card = bn.notice_card(view, people=PEOPLE, fallback="Notice #7 drafted")
    check_message(card)
    shown = json.dumps(card.blocks, ensure_ascii=False)
    assert card.text == "Notice #7 drafted"
    assert card.blocks[0]["text"]["text"] == "Notice #7 · customer_initial · draft"
    # The text itself, as plain text (no mrkdwn applied to a notice).
    texts = [b["text"] for b in card.blocks if b["type"] == "section"]
    assert {"type": "plain_text", "text": TEXT, "emoji": False} in texts
    assert "`minimising` (blocking) “a small number of”" in shown
    assert "`missing_fact` (advisory)" in shown and "&lt;no&gt; &amp; means" in shown
    assert "~<@U0GRACE> as comms~ (voided" in shown and "Ivan Petrov as *legal*" in shown
    assert "ok &lt;!here&gt;" in shown  # an override reason cannot ping the channel
    assert "*Still needed:* comms" in shown
    assert f"`{view.sha256[:12]}`" in shown
    assert "&lt;INC-2026-0042&gt;" in shown
    got = buttons(view)
    assert list(got) == [bn.NOTICE_EDIT, bn.NOTICE_APPROVE, bn.NOTICE_REJECT]
    for button in got.values():
        assert bn.parse_notice_value(button["value"]) == (7, view.sha256)
    # A blocking finding: the override modal is the second look, not a confirm dialog.
    assert "confirm" not in got[bn.NOTICE_APPROVE]


def test_a_clean_notice_confirms_approval_and_a_decided_one_has_no_buttons() -> None:
    clean = notice(findings=(), approvals=())
    assert "confirm" in buttons(clean)[bn.NOTICE_APPROVE]
    assert "no findings" in blocks_json(clean) and "_none yet_" in blocks_json(clean)
    for state in ("approved", "sent", "failed", "rejected"):
        decided = notice(state=state, still_needed=(), reason="wrong tone")
        check_message(bn.notice_card(decided))
        assert buttons(decided) == {}
    assert "*Rejected:* wrong tone" in blocks_json(notice(state="rejected", reason="wrong tone"))


def test_failed_recipients_are_listed_first_and_highlighted() -> None:
    deliveries = (
        DeliveryView("chat", "#incident", "delivered", 1, "a" * 64, "a" * 64, None, "posted"),
        DeliveryView("email", "x@example.com", "failed", 5, "a" * 64, None, "SMTP 550 <no>", None),
        DeliveryView("webhook", "https://s/p", "retrying", 2, "a" * 64, None, "HTTP 503", None),
    )
    view = notice(state="failed", still_needed=(), deliveries=deliveries)
    card = bn.notice_card(view)
    check_message(card)
    shown = json.dumps(card.blocks, ensure_ascii=False)
    assert "1 recipient(s) failed" in shown
    assert shown.index("x@example.com") < shown.index("#incident")
    assert "*email to `x@example.com`: FAILED* after 5 attempt(s): SMTP 550 &lt;no&gt;" in shown
    assert ":repeat: webhook to `https://s/p`: retrying: HTTP 503" in shown


def test_a_long_text_is_cut_with_a_marker_and_cannot_be_edited_in_slack() -> None:
    long = ("A line of the notice that goes on. " * 30 + "\n") * 60  # ~63,000 characters
    view = notice(text=long)
    card = bn.notice_card(view)
    check_message(card)
    shown = json.dumps(card.blocks, ensure_ascii=False)
    assert MARKER in shown and "more characters not shown" in shown
    assert bn.NOTICE_EDIT not in buttons(view) and "commandpost notice edit 7" in shown
    with pytest.raises(ValueError):
        forms.edit_modal(view, metadata="{}")


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(min_size=1, max_size=9000).filter(str.strip),
    rule=st.text(max_size=300),
    span=st.text(max_size=300),
    reason=st.text(max_size=3000),
    findings=st.integers(min_value=0, max_value=80),
)
def test_any_notice_makes_a_valid_card(
    text: str, rule: str, span: str, reason: str, findings: int
) -> None:
    many = tuple(finding(rule or "r", span, blocking=i % 2 == 0) for i in range(findings))
    view = notice(text=text, findings=many, reason=reason, template=rule or "t")
    check_message(bn.notice_card(view, people=PEOPLE, fallback=MARKER))
    meta = forms.modal_metadata(view, channel="C0INC")
    check_modal(forms.reject_modal(view, metadata=meta))
    if view.blocking:
        check_modal(forms.override_modal(view, metadata=meta))
    if bn.editable(view):
        check_modal(forms.edit_modal(view, metadata=meta))


def test_modals_carry_the_hash_and_read_back_what_was_typed() -> None:
    view = notice()
    meta = forms.modal_metadata(view, channel="C0INC")
    assert forms.read_metadata(meta) == (7, view.sha256, "C0INC")
    assert forms.read_metadata("not json") is None
    assert forms.read_metadata(json.dumps({"notice": 7, "sha": "abc"})) is None
    edit = forms.edit_modal(view, metadata=meta)
    check_modal(edit)
    (text_input,) = [b for b in edit["blocks"] if b["type"] == "input"]
    assert text_input["element"]["initial_value"] == TEXT
    assert edit["callback_id"] == bn.EDIT_CALLBACK and edit["private_metadata"] == meta
    override = forms.override_modal(view, metadata=meta)
    assert "a small number of" in json.dumps(override) and "missing_fact" not in json.dumps(
        override
    )
    typed = {bn.TEXT_BLOCK: {INPUT_ACTION: {"type": "plain_text_input", "value": " a\r\nb "}}}
    assert forms.read_text(typed) == " a\nb "  # the bytes as typed: not stripped
    assert forms.read_text({}) == ""
    reason = {bn.REASON_BLOCK: {INPUT_ACTION: {"type": "plain_text_input", "value": " why "}}}
    assert forms.read_reason(reason) == "why"


def test_notice_values_are_strict() -> None:
    value = bn.notice_value(12, "AB" * 32)
    assert value == "12:" + "ab" * 32 and bn.parse_notice_value(value) == (12, "ab" * 32)
    for bad in ("12", "12:abc", "x:" + "a" * 64, "12:" + "g" * 64, ""):
        with pytest.raises(ValueError):
            bn.parse_notice_value(bad)
    with pytest.raises(ValueError):
        bn.notice_value(-1, "a" * 64)
