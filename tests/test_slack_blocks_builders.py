"""Block Kit builders: each card, page and modal shows what it should and validates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from commandpost.chat.slack import blocks as b
from commandpost.core.gates import GateState
from commandpost.core.vocabulary import IncidentClass, Role, Severity

from .blockcheck import NOW, check_message, check_modal, check_mrkdwn, gate, has_actions, summary


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
