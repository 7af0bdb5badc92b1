"""Block Kit builders under hostile text: escaped, cut to Slack's limits, and round-trippable.

User text can neither ping nor forge a mention; too long text is cut with a marker, never
refused by Slack; button values round-trip; and all of it holds for any text hypothesis finds.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from commandpost.chat.slack import blocks as b
from commandpost.chat.slack import blocks_text as bt
from commandpost.core.gates import GateKind, GateState
from commandpost.core.vocabulary import Role, Severity

from .blockcheck import (
    NOW,
    check_message,
    check_modal,
    check_mrkdwn,
    gate,
    has_actions,
    summary,
    texts,
    units,
)


def test_user_text_cannot_ping_or_forge_mentions() -> None:
    nasty = "<!channel> <@U0CEO> &amp; <https://evil.example|click> @here"
    msg = b.summary_card(
        summary(title=nasty, surface=nasty, roles=(b.RoleLine(Role.COMMS, b.Who(nasty, "bad id")),))
    )
    check_message(msg)
    # plain_text (the header) is never parsed for mentions; mrkdwn and the fallback text are.
    parsed = [t["text"] for t in texts(msg.blocks) if t["type"] == "mrkdwn"] + [msg.text]
    whole = "\n".join(parsed)
    assert "<!channel>" not in whole and "<@U0CEO>" not in whole and "<https" not in whole
    assert "&lt;!channel&gt;" in whole and "&amp;amp;" in whole
    assert all(t.get("verbatim") for t in texts(msg.blocks) if t["type"] == "mrkdwn")


def test_long_text_is_cut_with_a_marker_not_rejected() -> None:
    huge = "Model tells users to " + "😀&<" * 5000
    msg = b.summary_card(summary(title=huge, roles=(b.RoleLine(Role.COMMS, b.Who(huge)),)))
    check_message(msg)
    header = msg.blocks[0]["text"]["text"]
    assert units(header) <= bt.HEADER_TEXT and header.endswith(b.MARKER)
    assert msg.blocks[1]["text"]["text"].endswith(b.MARKER + "*")
    assert msg.text.endswith(b.MARKER)
    card = b.gate_card(gate(action=huge, params={f"k{i}": huge for i in range(100)}))
    check_message(card)
    assert b.MARKER + " 9" in repr(card.blocks)  # "… 9x more" parameters not shown
    (approve, *_) = card.blocks[-1]["elements"]
    assert approve["confirm"]["text"]["text"].endswith(b.MARKER)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        b.summary_card(summary(declared_at=datetime(2026, 3, 2, 9, 0)))


def test_ids_that_would_break_button_values_are_refused() -> None:
    with pytest.raises(ValueError):
        b.ack_value("INC|2026", Role.COMMS)
    for garbage in ("", "12a", "-1", "1 2", "x" * 30):
        with pytest.raises(ValueError):
            b.parse_gate_value(garbage)
    for garbage in ("INC-1", "INC-1|ceo", "|comms", "a b|comms"):
        with pytest.raises(ValueError):
            b.parse_ack_value(garbage)


def test_message_keeps_to_50_blocks_and_keeps_the_buttons() -> None:
    many = [bt.section(f"line {i}") for i in range(80)]
    buttons = b.gate_card(gate()).blocks[-1]
    msg = bt.message([*many, *Block.parse_all([buttons])], "fallback")
    check_message(msg)
    assert len(msg.blocks) == bt.MESSAGE_BLOCKS
    assert msg.blocks[-1]["type"] == "actions"
    assert "32 more blocks not shown" in repr(msg.blocks[-2])


def test_cutting_never_splits_an_entity_or_a_token() -> None:
    text = bt.escape("&" * 10) + " <@U0ALICE>"
    for limit in range(1, len(text) + 2):
        cut = bt.cut_markup(text, limit)
        assert units(cut) <= limit
        check_mrkdwn(cut)


ODD = st.sampled_from(
    ["<", ">", "&", "&amp;", "<!channel>", "<@U1>", "*", "_", "`", "\n", "\t", "\x00", "\x1b",
     "😀", "👩‍👩‍👧", "e\u0301", "\u202e", "\ufeff", " ", "a"]
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(ODD, max_size=300).map("".join),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=12), st.integers(1, 800)),
)
WHO = st.builds(b.Who, TEXT, st.one_of(st.none(), st.just("U0ALICE"), TEXT))
TIMES = st.datetimes(
    min_value=datetime(1960, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
ROLE_LINES = st.tuples(st.sampled_from(list(Role)), st.one_of(st.none(), WHO), st.booleans())
GATE_LINES = st.tuples(st.integers(0, 10**9), TEXT, st.one_of(st.none(), TIMES))
INCIDENT_IDS = st.from_regex(r"INC-[0-9]{4}-[0-9]{4,6}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    title=TEXT,
    surface=TEXT,
    names=st.lists(ROLE_LINES, max_size=12),
    gates=st.lists(GATE_LINES, max_size=40),
    deadlines=st.lists(st.tuples(TEXT, TIMES), max_size=40),
)
def test_summary_and_role_page_hold_limits_for_any_text(
    title: str,
    surface: str,
    names: list[tuple[Role, b.Who | None, bool]],
    gates: list[tuple[int, str, datetime | None]],
    deadlines: list[tuple[str, datetime]],
) -> None:
    view = summary(
        title=title,
        surface=surface,
        model=title,
        tenant=surface,
        policy_version=title,
        roles=tuple(b.RoleLine(role, holder, ack) for role, holder, ack in names),
        open_gates=tuple(b.GateLine(i, action, due) for i, action, due in gates),
        deadlines=tuple(b.DeadlineLine(what, due) for what, due in deadlines),
    )
    check_message(b.summary_card(view))
    page = b.role_page(b.RolePageView(view, Role.COMMS, ack_by=NOW))
    check_message(page)
    (button,) = next(x for x in page.blocks if x["type"] == "actions")["elements"]
    assert b.parse_ack_value(button["value"]) == ("INC-2026-0042", Role.COMMS)


@settings(max_examples=60, deadline=None)
@given(
    gate_id=st.integers(0, 10**15),
    action=TEXT,
    params=st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.booleans()), max_size=30),
    requester=st.one_of(st.none(), WHO),
    deciders=st.lists(TEXT, max_size=8),
    reason=TEXT,
    kind=st.sampled_from(list(GateKind)),
)
def test_gate_cards_and_reject_modal_hold_limits_for_any_text(
    gate_id: int,
    action: str,
    params: dict[str, object],
    requester: b.Who | None,
    deciders: list[str],
    reason: str,
    kind: GateKind,
) -> None:
    view = gate(
        gate_id=gate_id,
        action=action,
        params=params,
        requester=requester,
        deciders=tuple(deciders),
        reason=reason,
        kind=kind,
        payload_hash=reason,
    )
    card = b.gate_card(view)
    check_message(card)
    actions = card.blocks[-1]
    assert actions["type"] == "actions"
    assert {b.parse_gate_value(e["value"]) for e in actions["elements"]} == {gate_id}
    decided = b.gate_card_decided(
        view, b.GateOutcomeView(GateState.REJECTED, NOW, (b.Who(reason),), reason=reason)
    )
    check_message(decided)
    assert not has_actions(decided.blocks)
    modal = b.reject_reason_modal(gate_id, action=action)
    check_modal(modal)
    assert b.parse_gate_value(modal["private_metadata"]) == gate_id


@settings(max_examples=40, deadline=None)
@given(fields=st.lists(TEXT, min_size=7, max_size=7), hint=TEXT, problem=TEXT)
def test_declare_modal_and_usage_hold_limits_for_any_text(
    fields: list[str], hint: str, problem: str
) -> None:
    title, model, version, surface, tenant, region, description = fields
    draft = b.DeclareForm(
        title, None, Severity.SEV2, model, version, surface, tenant, region, description
    )
    check_modal(b.declare_modal(draft=draft, severity_hints={s: hint for s in Severity}))
    line = b.usage_text("contain", problem)
    check_mrkdwn(line)
    assert units(line) <= bt.SECTION_TEXT


@given(incident_id=INCIDENT_IDS, role=st.sampled_from(list(Role)))
def test_ack_values_round_trip(incident_id: str, role: Role) -> None:
    value = b.ack_value(incident_id, role)
    assert len(value) <= bt.BUTTON_VALUE
    assert b.parse_ack_value(value) == (incident_id, role)


@given(gate_id=st.integers(0, 10**18 - 1))
def test_gate_values_round_trip(gate_id: int) -> None:
    assert b.parse_gate_value(b.gate_value(gate_id)) == gate_id


@given(text=TEXT, limit=st.integers(1, 400))
def test_cut_and_esc_respect_any_limit(text: str, limit: int) -> None:
    assert units(bt.cut(text, limit)) <= limit
    escaped = bt.esc(text, limit)
    assert units(escaped) <= limit
    check_mrkdwn(escaped)
    if units(bt.escape(bt.clean(text))) <= limit:
        assert escaped == bt.escape(bt.clean(text))  # nothing cut when it fits
    else:
        assert escaped.endswith(b.MARKER)
