"""Block Kit payloads: the incident summary card and role pages, and the public face of the
package's builders.

Pure functions from plain view dataclasses (defined alongside; no database, no service
layer) to the JSON Slack takes. Every payload is built from slack_sdk model classes and
serialised with `to_dict()`, which runs slack_sdk's validators, so a malformed payload fails
in our tests rather than at Slack. Limits and escaping: see `blocks_text`. Gate cards and the
reject modal live in `blocks_gate`, the declare modal and help in `blocks_forms`; everything
is re-exported here so callers import one module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock, SectionBlock

from commandpost.chat.slack.blocks_forms import (
    DECLARE_CALLBACK,
    USAGE,
    DeclareForm,
    declare_form_errors,
    declare_modal,
    help_message,
    read_declare_form,
    usage_text,
)
from commandpost.chat.slack.blocks_gate import (
    GATE_ACTIONS,
    GATE_APPROVE,
    GATE_ESCALATE,
    GATE_REJECT,
    REJECT_CALLBACK,
    GateCardView,
    GateOutcomeView,
    gate_card,
    gate_card_decided,
    gate_value,
    parse_gate_value,
    read_reject_reason,
    reject_reason_modal,
)
from commandpost.chat.slack.blocks_text import (
    HEADER_TEXT,
    MARKER,
    SECTION_FIELD,
    SECTION_FIELDS,
    SECTION_TEXT,
    SlackMessage,
    Who,
    channel_ref,
    clean,
    context,
    cut_markup,
    esc,
    escape,
    join_lines,
    label,
    message,
    mrkdwn,
    plain,
    safe_id,
    section,
    when,
    who,
)
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status

__all__ = [
    "ACK_ACTION",
    "DECLARE_CALLBACK",
    "GATE_ACTIONS",
    "GATE_APPROVE",
    "GATE_ESCALATE",
    "GATE_REJECT",
    "MARKER",
    "REJECT_CALLBACK",
    "USAGE",
    "AlertsLine",
    "DeadlineLine",
    "DeclareForm",
    "GateCardView",
    "GateLine",
    "GateOutcomeView",
    "RoleLine",
    "RolePageView",
    "SlackMessage",
    "SummaryView",
    "Who",
    "ack_value",
    "declare_form_errors",
    "declare_modal",
    "gate_card",
    "gate_card_decided",
    "gate_value",
    "help_message",
    "parse_ack_value",
    "parse_gate_value",
    "read_declare_form",
    "read_reject_reason",
    "reject_reason_modal",
    "role_page",
    "role_page_acknowledged",
    "summary_card",
    "usage_text",
]

ACK_ACTION = "cp_ack"


# ------------------------------------------------------------------------ incident summary
@dataclass(frozen=True)
class RoleLine:
    role: Role
    holder: Who | None = None
    acknowledged: bool = False

    @property
    def state(self) -> str:
        if self.holder is None:
            return "UNFILLED"
        return "acknowledged" if self.acknowledged else "pending"


@dataclass(frozen=True)
class GateLine:
    gate_id: int
    action: str
    deadline: datetime | None = None
    dual: bool = False


@dataclass(frozen=True)
class DeadlineLine:
    what: str
    due: datetime


@dataclass(frozen=True)
class AlertsLine:
    """Alerts from monitors on an incident they opened or joined."""

    alerts: int  # deliveries' alerts counted, repeats included
    fingerprints: int  # distinct alerts
    firing: int  # fingerprints whose latest alert was firing

    def text(self) -> str:
        return f"{self.alerts} received · {self.fingerprints} distinct · {self.firing} still firing"


@dataclass(frozen=True)
class SummaryView:
    incident_id: str
    title: str
    severity: Severity
    status: Status
    incident_class: IncidentClass
    model: str = ""
    model_version: str = ""
    surface: str = ""
    tenant: str = ""
    region: str = ""
    channel_id: str | None = None
    roles: Sequence[RoleLine] = ()
    open_gates: Sequence[GateLine] = ()
    deadlines: Sequence[DeadlineLine] = ()
    declared_at: datetime | None = None
    updated_at: datetime | None = None
    policy_version: str = ""
    alerts: AlertsLine | None = None


_ROLE_STATE = {
    "acknowledged": ":white_check_mark: acknowledged",
    "pending": ":hourglass_flowing_sand: pending",
    "UNFILLED": ":red_circle: *UNFILLED*",
}


def _headline(view: SummaryView) -> str:
    title = " ".join(clean(view.title).split()) or "untitled"
    return f"{view.incident_id} · {view.severity.value} · {title}"


def _role_line(line: RoleLine) -> str:
    holder = f"{who(line.holder)} " if line.holder else ""
    return f"• {label(line.role.value)}: {holder}{_ROLE_STATE[line.state]}"


def _summary_body(view: SummaryView) -> list[Block]:
    model = " ".join(part for part in (view.model, view.model_version) if part.strip())
    facts = [
        ("Severity", escape(view.severity.value)),
        ("Status", escape(view.status.value)),
        ("Class", escape(label(view.incident_class.value))),
        ("Model", esc(model, 500)),
        ("Surface", esc(view.surface, 500)),
        ("Tenant", esc(view.tenant, 500)),
        ("Region", esc(view.region, 500)),
    ]
    if channel_ref(view.channel_id):
        facts.append(("Channel", channel_ref(view.channel_id)))
    if view.alerts is not None:
        facts.append(("Alerts", escape(view.alerts.text())))
    fields = [
        mrkdwn(cut_markup(f"*{name}*\n{value}", SECTION_FIELD))
        for name, value in facts
        if value.strip()
    ][:SECTION_FIELDS]
    roles = [_role_line(line) for line in view.roles] or ["_no roles staffed yet_"]
    gates = [
        f"• #{gate.gate_id} {esc(gate.action, 200)}"
        + (" (dual)" if gate.dual else "")
        + (f" — decide by {when(gate.deadline)}" if gate.deadline else "")
        for gate in view.open_gates
    ] or ["_none_"]
    deadlines = [
        f"• {esc(line.what, 300)} — {when(line.due)}"
        for line in sorted(view.deadlines, key=lambda d: d.due)
    ] or ["_none_"]
    stamps = []
    if view.declared_at:
        stamps.append(f"Declared {when(view.declared_at)}")
    if view.updated_at:
        stamps.append(f"updated {when(view.updated_at)}")
    if view.policy_version:
        stamps.append(f"policy {esc(view.policy_version, 64)}")
    return [
        SectionBlock(text=mrkdwn(f"*{esc(view.title, 2000) or '_untitled_'}*"), fields=fields),
        section(join_lines(["*Roles*", *roles], SECTION_TEXT)),
        section(join_lines(["*Open gates*", *gates], SECTION_TEXT)),
        section(join_lines(["*Next deadlines*", *deadlines], SECTION_TEXT)),
        context(" · ".join(stamps) or escape(view.incident_id)),
    ]


def summary_card(view: SummaryView) -> SlackMessage:
    """The pinned card in the incident channel, updated in place on every change."""
    blocks: list[Block] = [HeaderBlock(text=plain(_headline(view), HEADER_TEXT))]
    blocks += _summary_body(view)
    return message(blocks, escape(_headline(view)))


# ------------------------------------------------------------------------------ role pages
@dataclass(frozen=True)
class RolePageView:
    summary: SummaryView
    role: Role
    ack_by: datetime | None = None


def ack_value(incident_id: str, role: Role) -> str:
    return f"{safe_id(incident_id)}|{role.value}"


def parse_ack_value(value: str) -> tuple[str, Role]:
    """Inverse of `ack_value`; ValueError for anything we did not produce."""
    incident_id, sep, role = value.partition("|")
    if not sep:
        raise ValueError(f"not an acknowledge value: {value!r}")
    return safe_id(incident_id), Role(role)


def _page_intro(page: RolePageView) -> str:
    incident = escape(page.summary.incident_id)
    channel = channel_ref(page.summary.channel_id)
    where = f" in {channel}" if channel else ""
    return f"You are paged as *{label(page.role.value)}* for *{incident}*{where}."


def role_page(page: RolePageView) -> SlackMessage:
    """The DM a paged person gets; the role stays pending until they press Acknowledge."""
    due = f"Acknowledge by {when(page.ack_by)}" if page.ack_by else "Acknowledge"
    blocks: list[Block] = [
        HeaderBlock(text=plain(f"Paged: {_headline(page.summary)}", HEADER_TEXT)),
        section(f"{_page_intro(page)}\n{due} to take the role; until then it shows as pending."),
        *_summary_body(page.summary),
        ActionsBlock(
            block_id="cp_ack_actions",
            elements=[
                ButtonElement(
                    text="Acknowledge",
                    action_id=ACK_ACTION,
                    value=ack_value(page.summary.incident_id, page.role),
                    style="primary",
                )
            ],
        ),
    ]
    fallback = f"Paged as {label(page.role.value)}: {escape(_headline(page.summary))}"
    return message(blocks, fallback)


def role_page_acknowledged(page: RolePageView, at: datetime) -> SlackMessage:
    """The same DM after the press: no button left to press twice."""
    blocks: list[Block] = [
        HeaderBlock(text=plain(f"Acknowledged: {_headline(page.summary)}", HEADER_TEXT)),
        section(f"{_page_intro(page)}\n:white_check_mark: You acknowledged at {when(at)}."),
        *_summary_body(page.summary),
    ]
    return message(blocks, f"Acknowledged: {escape(_headline(page.summary))}")
