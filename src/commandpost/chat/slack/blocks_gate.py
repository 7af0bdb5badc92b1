"""Block Kit payloads for gates: the card with Approve / Reject / Escalate, its decided form,
and the modal that asks a rejecter for the reason.

A card shows exactly what would be approved (action, parameters and the start of the
payload hash that the decision is recorded against), so an approver never approves
something other than what they read. Buttons carry only the gate id: who may click is
decided on the server from the database, never from anything in the payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    HeaderBlock,
    InputBlock,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from commandpost.chat.slack.blocks_text import (
    CONFIRM_BUTTON,
    CONFIRM_TEXT,
    CONFIRM_TITLE,
    HEADER_TEXT,
    INPUT_ACTION,
    INPUT_LABEL,
    MODAL_BUTTON,
    MODAL_TITLE,
    PLACEHOLDER,
    SECTION_FIELD,
    SECTION_FIELDS,
    SECTION_TEXT,
    SlackMessage,
    Who,
    context,
    cut,
    cut_markup,
    esc,
    escape,
    join_lines,
    label,
    message,
    mrkdwn,
    plain,
    section,
    state_value,
    when,
    who,
)
from commandpost.core.gates import GateKind, GateState

GATE_APPROVE = "cp_gate_approve"
GATE_REJECT = "cp_gate_reject"
GATE_ESCALATE = "cp_gate_escalate"
GATE_ACTIONS = (GATE_APPROVE, GATE_REJECT, GATE_ESCALATE)
REJECT_CALLBACK = "cp_reject_modal"
REASON_BLOCK = "cp_reason"
HASH_SHOWN = 12  # enough to compare by eye with the audit record, short enough to read

_GATE_ID = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(r"[^0-9a-fA-F]")
_PARAM_KEY = 100
_PARAM_VALUE = 500


@dataclass(frozen=True)
class GateCardView:
    gate_id: int
    incident_id: str
    action: str
    kind: GateKind = GateKind.CONTAINMENT
    params: Mapping[str, object] = field(default_factory=dict)
    reversible: bool = True
    requester: Who | None = None
    deciders: Sequence[str] = ()  # roles whose holders may decide at this tier
    approvals_required: int = 1  # 1 single, 2 dual
    approvals: Sequence[Who] = ()  # approvals already given (a dual gate half-way)
    deadline: datetime | None = None
    payload_hash: str = ""
    tier: int = 0
    reason: str = ""


@dataclass(frozen=True)
class GateOutcomeView:
    """How a gate ended: approved, rejected (with the reason), expired or fell back."""

    state: GateState
    at: datetime
    by: Sequence[Who] = ()
    reason: str = ""


def gate_value(gate_id: int) -> str:
    if gate_id < 0:
        raise ValueError(f"gate ids are not negative: {gate_id}")
    return str(gate_id)


def parse_gate_value(value: str) -> int:
    """Inverse of `gate_value`; ValueError for anything we did not produce."""
    if not _GATE_ID.fullmatch(value):
        raise ValueError(f"not a gate value: {value!r}")
    return int(value)


def short_hash(payload_hash: str) -> str:
    return _HEX.sub("", payload_hash)[:HASH_SHOWN].lower() or "unknown"


def _param_lines(params: Mapping[str, object]) -> list[str]:
    return [
        f"• *{esc(str(key), _PARAM_KEY)}*: {esc(str(value), _PARAM_VALUE) or '_empty_'}"
        for key, value in params.items()
    ] or ["_no parameters_"]


def _approval_text(view: GateCardView) -> str:
    if view.approvals_required <= 1:
        text = "Single: one person"
    else:
        text = f"Dual: {view.approvals_required} people in {view.approvals_required} roles"
    if view.approvals:
        names = ", ".join(who(person) for person in view.approvals)
        text += f"\n{len(view.approvals)} of {view.approvals_required} approved: {names}"
    return text


def _facts(view: GateCardView) -> SectionBlock:
    reversible = (
        "Yes: system state, can be restored"
        if view.reversible
        else ":warning: *No*: changes the world outside"
    )
    deciders = ", ".join(esc(label(role), 100) for role in view.deciders) or "_nobody named_"
    facts = [
        ("Reversible", reversible),
        ("Approval", _approval_text(view)),
        ("Who may decide", deciders),
        ("Decide by", when(view.deadline) if view.deadline else "_no deadline_"),
        ("Escalation tier", str(view.tier + 1)),
        ("Payload", f"`{short_hash(view.payload_hash)}`"),
    ]
    fields = [mrkdwn(cut_markup(f"*{name}*\n{value}", SECTION_FIELD)) for name, value in facts]
    return SectionBlock(fields=fields[:SECTION_FIELDS])


def _body(view: GateCardView) -> list[Block]:
    intro = [
        f"*{esc(label(view.kind.value), 100)}* for *{escape(view.incident_id)}*, "
        f"requested by {who(view.requester)}",
        f"*Action:* {esc(view.action, 500) or '_unnamed_'}",
    ]
    if view.reason.strip():
        intro.append(f"*Reason:* {esc(view.reason, 1500)}")
    return [
        section("\n".join(intro)),
        section(join_lines(["*Parameters*", *_param_lines(view.params)], SECTION_TEXT)),
        _facts(view),
    ]


def _headline(view: GateCardView, state: str) -> str:
    action = " ".join(view.action.split()) or "unnamed action"
    return f"Gate #{view.gate_id} {state}: {action}"


def gate_card(view: GateCardView) -> SlackMessage:
    """A pending gate, with its three buttons."""
    value = gate_value(view.gate_id)
    approve_text = f"{view.action}: " + ", ".join(f"{k}={v}" for k, v in view.params.items())
    buttons = ActionsBlock(
        block_id=f"cp_gate_{value}",
        elements=[
            ButtonElement(
                text="Approve",
                action_id=GATE_APPROVE,
                value=value,
                style="primary",
                # A second look before something leaves the system; plain text, so no escaping.
                confirm=ConfirmObject(
                    title=plain(f"Approve gate #{value}?", CONFIRM_TITLE),
                    text=plain(approve_text, CONFIRM_TEXT),
                    confirm=plain("Approve", CONFIRM_BUTTON),
                    deny=plain("Cancel", CONFIRM_BUTTON),
                ),
            ),
            ButtonElement(text="Reject", action_id=GATE_REJECT, value=value, style="danger"),
            ButtonElement(text="Escalate", action_id=GATE_ESCALATE, value=value),
        ],
    )
    blocks: list[Block] = [
        HeaderBlock(text=plain(_headline(view, "needs a decision"), HEADER_TEXT)),
        *_body(view),
        context(
            f"Approving approves exactly this payload (sha256 `{short_hash(view.payload_hash)}`…)."
            " The requester cannot approve their own request."
            " Silence never approves: at the deadline the gate escalates."
        ),
        buttons,
    ]
    return message(blocks, escape(_headline(view, "needs a decision")))


_OUTCOME = {
    GateState.APPROVED: ("approved", ":white_check_mark: *Approved*"),
    GateState.REJECTED: ("rejected", ":no_entry: *Rejected*"),
    GateState.EXPIRED: ("expired", ":hourglass: *Expired*: nobody decided before the chain ended"),
    GateState.FALLBACK: ("fell back", ":rotating_light: *Fallback*: the policy's fallback ran"),
}


def gate_card_decided(view: GateCardView, outcome: GateOutcomeView) -> SlackMessage:
    """The same card after the decision: what happened, who, when; no buttons left."""
    if outcome.state not in _OUTCOME:
        raise ValueError(f"a gate in state {outcome.state.value!r} has not been decided")
    word, headline = _OUTCOME[outcome.state]
    people = ", ".join(who(person) for person in outcome.by)
    lines = [headline + (f" by {people}" if people else "") + f" at {when(outcome.at)}"]
    if outcome.reason.strip():
        lines.append(f"*Reason:* {esc(outcome.reason, 2000)}")
    blocks: list[Block] = [
        HeaderBlock(text=plain(_headline(view, word), HEADER_TEXT)),
        section("\n".join(lines)),
        *_body(view),
        context(f"Decision recorded against payload sha256 `{short_hash(view.payload_hash)}`…"),
    ]
    return message(blocks, escape(_headline(view, word)))


def reject_reason_modal(gate_id: int, *, action: str = "") -> dict[str, Any]:
    """Opened by Reject: a reason is required, and is recorded in the audit trail."""
    value = gate_value(gate_id)
    what = f" *{esc(action, 500)}*" if action.strip() else ""
    view = View(
        type="modal",
        callback_id=REJECT_CALLBACK,
        private_metadata=value,
        title=plain(f"Reject gate #{value}", MODAL_TITLE),
        submit=plain("Reject", MODAL_BUTTON),
        close=plain("Cancel", MODAL_BUTTON),
        blocks=[
            section(f"You are rejecting gate #{value}{what}. Nothing will be executed."),
            InputBlock(
                block_id=REASON_BLOCK,
                label=plain("Reason (recorded in the audit trail)", INPUT_LABEL),
                element=PlainTextInputElement(
                    action_id=INPUT_ACTION,
                    multiline=True,
                    min_length=1,
                    max_length=2000,
                    placeholder=plain("Why this must not happen", PLACEHOLDER),
                ),
            ),
        ],
    )
    return view.to_dict()


def read_reject_reason(values: Mapping[str, Any]) -> str:
    """The reason typed into the reject modal ("" when absent; the caller refuses that)."""
    return cut(state_value(values, REASON_BLOCK), 2000)
