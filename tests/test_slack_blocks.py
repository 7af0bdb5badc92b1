"""Block Kit builders: valid for slack_sdk, within Slack's limits, escaped, and round-trippable."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from commandpost.chat.slack import blocks as b
from commandpost.chat.slack import blocks_text as bt
from commandpost.core.gates import GateKind, GateState
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOKEN = re.compile(r"<@[UW][A-Z0-9]+>|<#[CG][A-Z0-9]+>|<!date\^\d+\^[^|<>]*\|[^<>]*>")
ENTITY = re.compile(r"&(?:amp|lt|gt);")


# ------------------------------------------------------------------------------ checkers
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


# ------------------------------------------------------------------------------ fixtures
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


# ------------------------------------------------------------------- every builder validates
def test_summary_card_is_valid_and_shows_each_role_state() -> None:
    msg = b.summary_card(summary())
    check_message(msg)
    assert msg.blocks[0]["type"] == "header"
    assert msg.blocks[0]["text"]["text"].startswith("INC-2026-0042 · SEV1 · Self-harm")
    roles = next(
        x["text"]["text"] for x in msg.blocks if "*Roles*" in x.get("text", {}).get("text", "")
    )
    assert "<@U0ALICE> :white_check_mark: acknowledged" in roles
    assert "<@U0CAROL> :hourglass_flowing_sand: pending" in roles
    assert "Erin Park :hourglass_flowing_sand: pending" in roles
    assert "Comms: :red_circle: *UNFILLED*" in roles
    whole = repr(msg.blocks)
    assert "#12 rollback_model (dual)" in whole and "first mitigation" in whole
    assert "<#C0INC42>" in whole and "eu-west" in whole
    # Deadlines are listed soonest first.
    assert whole.index("ack: comms") < whole.index("first mitigation")


def test_summary_card_with_nothing_open() -> None:
    msg = b.summary_card(summary(roles=(), open_gates=(), deadlines=(), channel_id=None))
    check_message(msg)
    assert "_no roles staffed yet_" in repr(msg.blocks)
    assert "<#" not in repr(msg.blocks)


def test_role_page_has_an_acknowledge_button_that_names_incident_and_role() -> None:
    page = b.RolePageView(summary(), Role.SAFETY_LEAD, ack_by=NOW + timedelta(minutes=10))
    msg = b.role_page(page)
    check_message(msg)
    actions = [x for x in msg.blocks if x["type"] == "actions"]
    assert len(actions) == 1
    (button,) = actions[0]["elements"]
    assert button["action_id"] == b.ACK_ACTION == "cp_ack"
    assert button["style"] == "primary"
    assert b.parse_ack_value(button["value"]) == ("INC-2026-0042", Role.SAFETY_LEAD)
    assert "Safety lead" in repr(msg.blocks)


def test_acknowledged_role_page_has_no_button() -> None:
    msg = b.role_page_acknowledged(b.RolePageView(summary(), Role.COMMS), NOW)
    check_message(msg)
    assert not has_actions(msg.blocks)
    assert "You acknowledged" in repr(msg.blocks)


def test_gate_card_names_everything_an_approver_needs() -> None:
    msg = b.gate_card(gate())
    check_message(msg)
    whole = repr(msg.blocks)
    for expected in (
        "rollback_model",
        "to_version",
        "2026-01-30",
        "<@U0BOB>",
        "Incident commander, Safety lead",
        "Dual: 2 people in 2 roles",
        "1 of 2 approved: <@U0ALICE>",
        ":warning: *No*",
        "`9f86d081884c`",
    ):
        assert expected in whole, expected
    (actions,) = [x for x in msg.blocks if x["type"] == "actions"]
    assert msg.blocks[-1] is actions
    by_id = {e["action_id"]: e for e in actions["elements"]}
    assert list(by_id) == ["cp_gate_approve", "cp_gate_reject", "cp_gate_escalate"]
    assert by_id["cp_gate_approve"]["style"] == "primary"
    assert by_id["cp_gate_reject"]["style"] == "danger"
    assert "style" not in by_id["cp_gate_escalate"]
    assert {b.parse_gate_value(e["value"]) for e in actions["elements"]} == {12}


@pytest.mark.parametrize(
    "state", [GateState.APPROVED, GateState.REJECTED, GateState.EXPIRED, GateState.FALLBACK]
)
def test_decided_gate_card_has_no_buttons_and_says_who_and_when(state: GateState) -> None:
    by = (
        (b.Who("Erin Park", "U0ERIN"),) if state in (GateState.APPROVED, GateState.REJECTED) else ()
    )
    outcome = b.GateOutcomeView(state, NOW, by, reason="too risky" if by else "")
    msg = b.gate_card_decided(gate(), outcome)
    check_message(msg)
    assert not has_actions(msg.blocks)
    whole = repr(msg.blocks)
    assert "2026-03-02 09:00 UTC" in whole
    if by:
        assert "<@U0ERIN>" in whole and "too risky" in whole


def test_a_pending_gate_cannot_be_rendered_as_decided() -> None:
    with pytest.raises(ValueError):
        b.gate_card_decided(gate(), b.GateOutcomeView(GateState.PENDING, NOW))


def test_reject_modal_requires_a_reason_and_carries_the_gate_id() -> None:
    view = b.reject_reason_modal(12, action="rollback_model")
    check_modal(view)
    assert view["callback_id"] == b.REJECT_CALLBACK == "cp_reject_modal"
    assert b.parse_gate_value(view["private_metadata"]) == 12
    (field,) = [x for x in view["blocks"] if x["type"] == "input"]
    assert field.get("optional") is not True
    assert field["element"]["type"] == "plain_text_input"
    assert field["element"]["min_length"] == 1
    state = {field["block_id"]: {field["element"]["action_id"]: {"value": "  too risky "}}}
    assert b.read_reject_reason(state) == "too risky"
    assert b.read_reject_reason({}) == ""


def test_declare_modal_offers_every_class_and_severity() -> None:
    view = b.declare_modal(
        severity_hints={Severity.SEV0: "harm likely or ongoing at scale"},
        private_metadata="C0RETURN",
    )
    check_modal(view)
    assert view["callback_id"] == "cp_declare_modal"
    assert view["private_metadata"] == "C0RETURN"
    inputs = {x["block_id"]: x for x in view["blocks"] if x["type"] == "input"}
    assert set(inputs) == {
        "cp_title",
        "cp_incident_class",
        "cp_severity",
        "cp_model",
        "cp_model_version",
        "cp_surface",
        "cp_tenant",
        "cp_region",
        "cp_description",
    }
    classes = [o["value"] for o in inputs["cp_incident_class"]["element"]["options"]]
    assert classes == [c.value for c in IncidentClass]
    severities = inputs["cp_severity"]["element"]["options"]
    assert [o["value"] for o in severities] == [s.value for s in Severity]
    assert severities[0]["description"]["text"] == "harm likely or ongoing at scale"
    required = {k for k, x in inputs.items() if not x.get("optional")}
    assert required == {"cp_title", "cp_incident_class", "cp_severity", "cp_model"}


def test_declare_modal_prefills_a_draft_and_reads_a_submission_back() -> None:
    draft = b.DeclareForm(
        title="Leaks other users' chats",
        incident_class=IncidentClass.DATA_LEAKAGE,
        severity=Severity.SEV0,
        model="chat-assistant",
    )
    view = b.declare_modal(draft=draft)
    check_modal(view)
    inputs = {x["block_id"]: x["element"] for x in view["blocks"] if x["type"] == "input"}
    assert inputs["cp_title"]["initial_value"] == draft.title
    assert inputs["cp_severity"]["initial_option"]["value"] == "SEV0"
    assert inputs["cp_incident_class"]["initial_option"]["value"] == "data_leakage"
    state = {
        "cp_title": {"value": {"type": "plain_text_input", "value": draft.title}},
        "cp_incident_class": {"value": {"selected_option": {"value": "data_leakage"}}},
        "cp_severity": {"value": {"selected_option": {"value": "SEV0"}}},
        "cp_model": {"value": {"value": "chat-assistant"}},
        "cp_region": {"value": {"value": None}},
    }
    form = b.read_declare_form(state)
    assert form == draft
    assert b.declare_form_errors(form) == {}


def test_a_forged_declare_submission_reads_as_errors_not_a_crash() -> None:
    state: dict[str, Any] = {
        "cp_title": {"value": {"value": 42}},
        "cp_incident_class": {"value": {"selected_option": {"value": "not_a_class"}}},
        "cp_severity": "garbage",
    }
    form = b.read_declare_form(state)
    assert form.incident_class is None and form.severity is None and form.title == ""
    assert set(b.declare_form_errors(form)) == {
        "cp_title",
        "cp_model",
        "cp_incident_class",
        "cp_severity",
    }


def test_help_and_usage_are_escaped_mrkdwn() -> None:
    msg = b.help_message()
    check_message(msg)
    whole = repr(msg.blocks)
    for subcommand in b.USAGE:
        assert f"/incident {subcommand}" in whole
    line = b.usage_text("assign", "unknown role <ceo>")
    check_mrkdwn(line)
    assert "unknown role &lt;ceo&gt;" in line
    assert "/incident assign &lt;role&gt; @user" in line
    assert "/incident help" in b.usage_text("no-such-subcommand")


# ----------------------------------------------------------------------- escaping, injection
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


# ------------------------------------------------------------------------------ properties
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
