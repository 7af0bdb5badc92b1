"""Adaptive Cards (version 1.5) for Teams: incident summary, role page, gate card and the
card that follows a decision, wrapped in the message envelope Teams Workflows expects.

Pure functions from the read models in `chat.slack.views` (plain dataclasses) to JSON-ready
dicts. A card posted through a webhook cannot be edited afterwards, so every card names its
revision; a re-post says which revision it supersedes, and the newest card is the one to
act on. `connector.message_card` turns any card here into the MessageCard form for old
Office 365 connector URLs. Limits and escaping live in `cardtext`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from commandpost.chat.slack.blocks import GateCardView, GateOutcomeView, RolePageView, SummaryView
from commandpost.chat.slack.blocks_gate import short_hash
from commandpost.chat.teams.cardtext import (
    MESSAGE_LIMIT,
    Card,
    adaptive_card,
    body_bytes,
    envelope,
    esc,
    facts,
    heading,
    label,
    name_of,
    text,
    when,
)
from commandpost.core.gates import GateState

# Room left under Teams' limit for what a connector or Workflows adds around the card.
MESSAGE_BUDGET = MESSAGE_LIMIT - 2048

__all__ = [
    "ApproverLinks",
    "Stamp",
    "gate_card",
    "gate_decided_card",
    "link_set",
    "open_url",
    "role_page_card",
    "stamp_block",
    "summary_card",
    "text_card",
]


@dataclass(frozen=True)
class Stamp:
    """Which revision of an object's card this is, and when it was posted."""

    revision: int
    at: datetime
    subject: str  # what the revisions are of: "the summary of INC-2026-0001", "gate #12"


@dataclass(frozen=True)
class ApproverLinks:
    """One eligible approver's signed links (Approve, Reject, Escalate) to the approval page."""

    name: str
    roles: Sequence[str]
    approve: str
    reject: str
    escalate: str


def stamp_block(stamp: Stamp) -> Card:
    line = f"Revision {stamp.revision}, posted {when(stamp.at)}."
    if stamp.revision > 1:
        # The old cards cannot be edited: the new one says plainly that it replaces them.
        line += (
            f" **Newest card** for {esc(stamp.subject, 120)}: it supersedes revision"
            f" {stamp.revision - 1} and every earlier card, which are out of date."
        )
    return text(line, subtle=stamp.revision == 1, color=None if stamp.revision == 1 else "Accent")


# ------------------------------------------------------------------------ incident summary
def _headline(view: SummaryView) -> str:
    title = " ".join(view.title.split()) or "untitled"
    return f"{view.incident_id} · {view.severity.value} · {title}"


def _summary_body(view: SummaryView) -> list[Card]:
    model = " ".join(part for part in (view.model, view.model_version) if part.strip())
    body: list[Card] = [
        facts(
            [
                ("Severity", view.severity.value),
                ("Status", view.status.value),
                ("Class", label(view.incident_class.value)),
                ("Model", model),
                ("Surface", view.surface),
                ("Tenant", view.tenant),
                ("Region", view.region),
                ("Policy", view.policy_version),
            ]
        ),
        heading("Roles"),
    ]
    roles = [
        (
            label(line.role.value),
            "UNFILLED"
            if line.holder is None
            else f"{line.holder.name}: {'acknowledged' if line.acknowledged else 'pending'}",
        )
        for line in view.roles
    ]
    body.append(facts(roles) if roles else text("No roles staffed yet.", subtle=True))
    body.append(heading("Open gates"))
    gates = [
        f"#{g.gate_id} {esc(g.action, 200)}" + (" (dual)" if g.dual else "")
        for g in view.open_gates
    ]
    body.append(text("\n\n".join(gates) if gates else "None.", subtle=not gates))
    body.append(heading("Next deadlines"))
    due = [(line.what, when(line.due)) for line in sorted(view.deadlines, key=lambda d: d.due)]
    body.append(facts(due) if due else text("None.", subtle=True))
    stamps = []
    if view.declared_at:
        stamps.append(f"Declared {when(view.declared_at)}")
    if view.updated_at:
        stamps.append(f"updated {when(view.updated_at)}")
    if stamps:
        body.append(text(", ".join(stamps) + ".", subtle=True))
    return body


def summary_card(view: SummaryView, stamp: Stamp) -> Card:
    """The incident at a glance; re-posted (next revision) when what it shows changes."""
    body = [text(esc(_headline(view), 300), size="Large", weight="Bolder"), stamp_block(stamp)]
    body += _summary_body(view)
    return adaptive_card(body, fallback=_headline(view))


# ------------------------------------------------------------------------------ role pages
def role_page_card(page: RolePageView, stamp: Stamp, *, person: str) -> Card:
    """A page for one person. A webhook cannot DM, so it names who it is for; the
    acknowledgement is typed to the bot (`@CommandPost <incident> ack`)."""
    incident = page.summary.incident_id
    due = f" by {when(page.ack_by)}" if page.ack_by else ""
    body = [
        text(f"Paged: {esc(_headline(page.summary), 300)}", size="Large", weight="Bolder"),
        stamp_block(stamp),
        text(
            f"**{esc(person, 200)}**, you are paged as **{label(page.role.value)}** for"
            f" **{esc(incident, 30)}**. Acknowledge{due} to take the role: type"
            f" `@CommandPost {esc(incident, 30)} ack` in a channel with Command Post. Until"
            " then the role shows as pending.",
            color="Attention",
        ),
        *_summary_body(page.summary),
    ]
    return adaptive_card(body, fallback=f"Paged as {label(page.role.value)}: {incident}")


# ------------------------------------------------------------------------------ gate cards
def _gate_headline(view: GateCardView, state: str) -> str:
    action = " ".join(view.action.split()) or "unnamed action"
    return f"Gate #{view.gate_id} {state}: {action}"


def _approval_text(view: GateCardView) -> str:
    if view.approvals_required <= 1:
        line = "Single: one person"
    else:
        line = f"Dual: {view.approvals_required} people in {view.approvals_required} roles"
    if view.approvals:
        names = ", ".join(p.name for p in view.approvals)
        line += f"; {len(view.approvals)} of {view.approvals_required} approved: {names}"
    return line


def _gate_body(view: GateCardView) -> list[Card]:
    intro = (
        f"**{label(view.kind.value)}** for **{esc(view.incident_id, 30)}**, requested by"
        f" {name_of(view.requester)}."
    )
    body: list[Card] = [text(intro), text(f"**Action:** {esc(view.action, 300)}")]
    if view.reason.strip():
        body.append(text(f"**Reason:** {esc(view.reason, 1500)}"))
    params = [(str(k), str(v)) for k, v in view.params.items()]
    body += [heading("Parameters"), facts(params) if params else text("None.", subtle=True)]
    body.append(
        facts(
            [
                (
                    "Reversible",
                    "Yes: system state, can be restored"
                    if view.reversible
                    else "NO: changes the world outside",
                ),
                ("Approval", _approval_text(view)),
                ("Who may decide", ", ".join(label(r) for r in view.deciders) or "nobody named"),
                ("Decide by", when(view.deadline) if view.deadline else "no deadline"),
                ("Escalation tier", str(view.tier + 1)),
                ("Payload", short_hash(view.payload_hash)),
            ],
        )
    )
    return body


def link_set(name: str, *, roles: Sequence[str], actions: Sequence[Card]) -> Card:
    """One person's signed links, under their name and the roles they hold."""
    held = ", ".join(label(r) for r in roles)
    return {
        "type": "Container",
        "separator": True,
        "items": [
            text(f"For **{esc(name, 200)}**" + (f" ({esc(held, 200)})" if held else "")),
            {"type": "ActionSet", "actions": list(actions)},
        ],
    }


def open_url(title: str, url: str, *, style: str) -> Card:
    return {"type": "Action.OpenUrl", "title": title, "url": url, "style": style}


def _link_set(links: ApproverLinks) -> Card:
    return link_set(
        links.name,
        roles=links.roles,
        actions=[
            open_url("Approve", links.approve, style="positive"),
            open_url("Reject", links.reject, style="destructive"),
            open_url("Escalate", links.escalate, style="default"),
        ],
    )


def gate_card(view: GateCardView, stamp: Stamp, links: Sequence[ApproverLinks]) -> Card:
    """A pending gate with one Approve / Reject / Escalate link set per eligible approver.

    Each link is a bearer credential for one person: the card says so, and says that the
    page checks everything again (payload, roles, dual approval) before anything is recorded.
    Link sets that would take the message past Teams' limit are left off, and the card says
    who must decide in chat instead.
    """
    shown = list(links)
    card = _gate_card(view, stamp, shown, left_off=[])
    while shown and len(body_bytes(envelope(card))) >= MESSAGE_BUDGET:
        shown.pop()
        card = _gate_card(view, stamp, shown, left_off=[one.name for one in links[len(shown) :]])
    return card


def _gate_card(
    view: GateCardView, stamp: Stamp, links: Sequence[ApproverLinks], *, left_off: list[str]
) -> Card:
    headline = _gate_headline(view, "needs a decision")
    body: list[Card] = [
        text(esc(headline, 300), size="Large", weight="Bolder", color="Warning"),
        stamp_block(stamp),
        *_gate_body(view),
        text(
            f"Approving approves exactly this payload (sha256 {short_hash(view.payload_hash)}…)."
            " The requester cannot approve their own request. Silence never approves: at the"
            " deadline the gate escalates.",
            subtle=True,
        ),
        heading("Decide"),
    ]
    if links:
        body.append(
            text(
                "Use only the links under your own name: each is signed for one person, works"
                " once and expires. It opens Command Post's approval page, which asks you to"
                " confirm.",
                subtle=True,
            )
        )
        body += [_link_set(one) for one in links]
    if left_off:
        names = esc(", ".join(left_off), 2000)
        body.append(
            text(
                f"No room on this card for the links of {names}: decide by typing"
                f" `@CommandPost {esc(view.incident_id, 30)} approve {view.gate_id}`.",
                color="Attention",
            )
        )
    else:
        body.append(
            text(
                "No approver holds a deciding role yet. Once one does, decide by typing"
                f" `@CommandPost {esc(view.incident_id, 30)} approve {view.gate_id}`.",
                color="Attention",
            )
        )
    return adaptive_card(body, fallback=headline)


_OUTCOME: dict[GateState, tuple[str, str, str]] = {
    GateState.APPROVED: ("approved", "Approved", "Good"),
    GateState.REJECTED: ("rejected", "Rejected", "Attention"),
    GateState.EXPIRED: ("expired", "Expired: nobody decided before the chain ended", "Warning"),
    GateState.FALLBACK: ("fell back", "Fallback: the policy's fallback ran", "Warning"),
}


def gate_decided_card(view: GateCardView, outcome: GateOutcomeView, stamp: Stamp) -> Card:
    """The follow-up after a decision: what happened, who, when. No links: the gate is
    final, and every link on earlier cards of it now gets a refusal page."""
    if outcome.state not in _OUTCOME:
        raise ValueError(f"a gate in state {outcome.state.value!r} has not been decided")
    word, headline, color = _OUTCOME[outcome.state]
    people = ", ".join(name_of(p) for p in outcome.by)
    line = f"**{headline}**" + (f" by {people}" if people else "") + f" at {when(outcome.at)}."
    body: list[Card] = [
        text(esc(_gate_headline(view, word), 300), size="Large", weight="Bolder", color=color),
        stamp_block(stamp),
        text(line),
    ]
    if outcome.reason.strip():
        body.append(text(f"**Reason:** {esc(outcome.reason, 2000)}"))
    body += _gate_body(view)
    body.append(
        text(
            f"Decision recorded against payload sha256 {short_hash(view.payload_hash)}….",
            subtle=True,
        )
    )
    return adaptive_card(body, fallback=_gate_headline(view, word))


# ------------------------------------------------------------------------------ plain text
def text_card(message: str, *, incident_id: str | None, at: datetime) -> Card:
    """A service message (a note, an update, a decision line) as a small card."""
    body: list[Card] = [text(esc(message, 6000))]
    footer = f"{incident_id} · {when(at)}" if incident_id else when(at)
    body.append(text(esc(footer, 100), subtle=True))
    return adaptive_card(body, fallback=message[:300])
