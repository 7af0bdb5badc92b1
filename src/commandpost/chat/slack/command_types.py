"""The `/incident` subcommands: one frozen dataclass each, their usage, and UsageError.

`Command` is the union of them all; `USAGE[sub]` and `SUMMARY[sub]` give each subcommand's
usage line and purpose, in help order. Pure, like the parser in `commands` that builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.errors import InvalidInput

# Each subcommand's usage line (after `/incident `) and purpose, in help order.
_HELP: dict[str, tuple[str, str]] = {
    "declare": (
        'declare [sev] [class] ["title"]',
        "declare an incident (no arguments: a form)",
    ),
    "ack": ("ack [role]", "acknowledge the role you were paged for"),
    "assign": ("assign <role> @user", "give a role to someone"),
    "handover": ("handover <role> @user", "hand your role over"),
    "sev": ("sev <level> [reason]", "change severity (a downgrade asks for approval)"),
    "status": ("status <status> [note]", "move the incident on"),
    "contain": (
        "contain <action> key=value… [-- reason]",
        "request a containment action (a gate)",
    ),
    "notify": (
        "notify <template> [key=value…]",
        "draft a customer or regulator notice for review (facts as key=value)",
    ),
    "note": ("note <text>", "add a note to the timeline"),
    "update": (
        "update <text>",
        "post a status update (restarts the update-cadence timer)",
    ),
    "evidence": ("evidence <text or link>", "record evidence (sealed; redacted here)"),
    "hold": (
        "hold <reason> | hold release <reason>",
        "legal hold: keep the evidence until the policy's hold releasers release it",
    ),
    "timeline": ("timeline", "show the timeline"),
    "roles": ("roles", "who holds which role"),
    "resolve": ("resolve <summary>", "resolve the incident"),
    "review": (
        "review | review done",
        "show the post-incident review draft (only you see it) | mark it done (the IC)",
    ),
    "close": ("close", "close after the post-incident review"),
    "approve": ("approve <gate> [reason]", "approve a gate (the button does the same)"),
    "reject": ("reject <gate> <reason>", "reject a gate, saying why"),
    "escalate": (
        "escalate <gate> [reason]",
        "pass a gate to the next tier of deciders",
    ),
    "confirm": ("confirm <gate> [note]", "confirm a manual containment step was done"),
    "list": ("list", "open incidents (works anywhere)"),
    "help": ("help [subcommand]", "this message (works anywhere)"),
}
USAGE: dict[str, str] = {name: line for name, (line, _) in _HELP.items()}
SUMMARY: dict[str, str] = {name: purpose for name, (_, purpose) in _HELP.items()}


class UsageError(InvalidInput):
    """Malformed `/incident` text. `subcommand` is always a key of USAGE (for an unknown
    subcommand: the closest one, else "help"); `usage` is its usage line; `problem` says
    what is wrong; the message is both, fit to show as it is."""

    def __init__(self, subcommand: str, problem: str) -> None:
        self.subcommand = subcommand if subcommand in USAGE else "help"
        self.usage = USAGE[self.subcommand]
        self.problem = problem
        super().__init__(f"{problem}\nUsage: /incident {self.usage}")


@dataclass(frozen=True)
class Declare:
    subcommand: ClassVar[str] = "declare"
    severity: Severity
    klass: IncidentClass
    title: str


@dataclass(frozen=True)
class DeclareModal:
    """`declare` without a title: open the form, with whatever was given chosen."""

    subcommand: ClassVar[str] = "declare"
    severity: Severity | None = None
    klass: IncidentClass | None = None


@dataclass(frozen=True)
class Ack:
    subcommand: ClassVar[str] = "ack"
    role: Role | None = None


@dataclass(frozen=True)
class Assign:
    subcommand: ClassVar[str] = "assign"
    role: Role
    user_id: str


@dataclass(frozen=True)
class Handover:
    subcommand: ClassVar[str] = "handover"
    role: Role
    user_id: str


@dataclass(frozen=True)
class Sev:
    subcommand: ClassVar[str] = "sev"
    severity: Severity
    reason: str | None = None


@dataclass(frozen=True)
class StatusChange:
    subcommand: ClassVar[str] = "status"
    status: Status
    note: str | None = None


@dataclass(frozen=True)
class Contain:
    subcommand: ClassVar[str] = "contain"
    action: str
    params: dict[str, str] = field(default_factory=dict, hash=False)
    reason: str | None = None


@dataclass(frozen=True)
class Notify:
    """Draft a notice from a template; `facts` fill (or override) the incident's facts."""

    subcommand: ClassVar[str] = "notify"
    template: str
    facts: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Note:
    subcommand: ClassVar[str] = "note"
    text: str


@dataclass(frozen=True)
class Update:
    subcommand: ClassVar[str] = "update"
    text: str


@dataclass(frozen=True)
class Evidence:
    subcommand: ClassVar[str] = "evidence"
    text: str


@dataclass(frozen=True)
class Hold:
    """Place a legal hold on the incident's evidence."""

    subcommand: ClassVar[str] = "hold"
    reason: str


@dataclass(frozen=True)
class HoldRelease:
    """`hold release <reason>`: lift the legal hold (the policy's hold_releasers only)."""

    subcommand: ClassVar[str] = "hold"
    reason: str


@dataclass(frozen=True)
class Timeline:
    subcommand: ClassVar[str] = "timeline"


@dataclass(frozen=True)
class Roles:
    subcommand: ClassVar[str] = "roles"


@dataclass(frozen=True)
class Resolve:
    subcommand: ClassVar[str] = "resolve"
    summary: str


@dataclass(frozen=True)
class Review:
    """Show the post-incident review to the person asking."""

    subcommand: ClassVar[str] = "review"


@dataclass(frozen=True)
class ReviewDone:
    """`review done`: the incident commander marks the review done, so close can go ahead."""

    subcommand: ClassVar[str] = "review"


@dataclass(frozen=True)
class Close:
    subcommand: ClassVar[str] = "close"


@dataclass(frozen=True)
class Approve:
    subcommand: ClassVar[str] = "approve"
    gate_id: int
    reason: str | None = None


@dataclass(frozen=True)
class Reject:
    subcommand: ClassVar[str] = "reject"
    gate_id: int
    reason: str


@dataclass(frozen=True)
class Escalate:
    subcommand: ClassVar[str] = "escalate"
    gate_id: int
    reason: str | None = None


@dataclass(frozen=True)
class Confirm:
    subcommand: ClassVar[str] = "confirm"
    gate_id: int
    note: str | None = None


@dataclass(frozen=True)
class List:
    subcommand: ClassVar[str] = "list"


@dataclass(frozen=True)
class Help:
    subcommand: ClassVar[str] = "help"
    topic: str | None = None


Command: TypeAlias = (
    Declare | DeclareModal | Ack | Assign | Handover | Sev | StatusChange | Contain | Notify
    | Note | Update | Evidence | Hold | HoldRelease | Timeline | Roles | Resolve | Review
    | ReviewDone | Close | Approve | Reject | Escalate
    | Confirm | List | Help
)  # fmt: skip
