"""The policy: every number and every name the incident process runs on.

Pure data (pydantic) with cross-reference checks; reading the YAML file and pointing at lines
lives in `commandpost.policy_file`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from commandpost.core.alerts.config import AlertRules, alert_problems
from commandpost.core.durations import parse_duration
from commandpost.core.vocabulary import CORE_ROLES, IncidentClass, Role, Severity
from commandpost.errors import InvalidInput


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        # ISO 8601 ("PT5M") is what a stored policy snapshot holds; pydantic parses that.
        if value.startswith("P"):
            return value
        try:
            return parse_duration(value)
        except InvalidInput as exc:
            # pydantic only collects ValueErrors into its report.
            raise ValueError(str(exc)) from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    slack_id: str | None = None
    teams_id: str | None = None


class SeverityPolicy(_Strict):
    description: str = ""
    ack_sla: Duration
    first_mitigation_sla: Duration | None = None
    # Targets the post-incident review and the metrics measure against; nothing fires on them.
    notify_sla: Duration | None = None
    resolve_sla: Duration | None = None
    update_cadence: Duration
    page: list[Role] = Field(min_length=1)


class Rotation(_Strict):
    """Escalation chain for one role: primary first, then secondary, then manager."""

    primary: str
    secondary: str | None = None
    manager: str | None = None

    def chain(self) -> list[str]:
        return [p for p in (self.primary, self.secondary, self.manager) if p]


class Tier(_Strict):
    roles: list[str] = Field(min_length=1)
    deadline: Duration


class Fallback(_Strict):
    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class GateRule(_Strict):
    """Who may decide one kind of gate, and what happens on silence.

    `tiers[0]` decides first; Escalate (or its deadline) moves to the next tier. After the
    last tier the gate expires, or runs `fallback` when the policy pre-authorises one.
    """

    approvals: Literal["single", "dual"] = "single"
    tiers: list[Tier] = Field(min_length=1)
    fallback: Fallback | None = None

    @property
    def required_approvals(self) -> int:
        return 2 if self.approvals == "dual" else 1


ParamType = Literal["string", "integer", "number", "boolean"]


class ActionParam(_Strict):
    type: ParamType = "string"
    required: bool = True
    choices: list[str] | None = None
    description: str = ""


class WebhookExecutor(_Strict):
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret_ref: str = Field(pattern=r"^env:[A-Z_][A-Z0-9_]*$")
    timeout_seconds: float = 10.0


class ManualExecutor(_Strict):
    type: Literal["manual"]
    instructions: str = ""


class ContainmentAction(_Strict):
    description: str
    params: dict[str, ActionParam] = Field(default_factory=dict)
    reversible: bool
    executor: WebhookExecutor | ManualExecutor = Field(discriminator="type")
    gate: str = "containment"
    restore_checks: list[str] = Field(default_factory=list)


_ADDRESS = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ChatNoticeDestination(_Strict):
    """Post the approved text to a chat channel; `incident` means the incident's own."""

    type: Literal["chat"]
    channel: str = Field(min_length=1)

    def recipients(self) -> list[str]:
        return [self.channel]


class EmailNoticeDestination(_Strict):
    """Email the approved text (SMTP settings: COMMANDPOST_SMTP_*), one message per address."""

    type: Literal["email"]
    to: list[Annotated[str, Field(pattern=_ADDRESS)]] = Field(min_length=1)

    def recipients(self) -> list[str]:
        return list(dict.fromkeys(self.to))


class WebhookNoticeDestination(_Strict):
    """POST the approved text, signed like the webhook executor (a status page, a ticket)."""

    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret_ref: str = Field(pattern=r"^env:[A-Z_][A-Z0-9_]*$")
    timeout_seconds: float = 10.0

    def recipients(self) -> list[str]:
        return [self.url]


NoticeDestination = Annotated[
    ChatNoticeDestination | EmailNoticeDestination | WebhookNoticeDestination,
    Field(discriminator="type"),
]


class NoticeRules(_Strict):
    # Where each template's approved notices go, by template name; none named: nowhere (the
    # approval is recorded and the text can be sent by hand).
    channels: dict[str, list[NoticeDestination]] = Field(default_factory=dict)
    # Standing facts every notice may use (company, product, contact, regulator, ...); the
    # incident's own facts and a drafter's values win over these.
    facts: dict[str, str] = Field(default_factory=dict)
    legal_coapproval_severities: list[Severity] = Field(
        default_factory=lambda: [Severity.SEV0, Severity.SEV1]
    )
    legal_coapproval_classes: list[IncidentClass] = Field(
        default_factory=lambda: [IncidentClass.DATA_LEAKAGE]
    )
    # Operators' own notice templates; a name found here replaces the built-in of that name.
    templates_dir: str | None = None

    def needs_legal(self, severity: Severity, klass: IncidentClass) -> bool:
        return severity in self.legal_coapproval_severities or klass in (
            self.legal_coapproval_classes
        )


def _default_retention() -> dict[IncidentClass, timedelta]:
    # Leaks and harm are what regulators and courts ask about, and later: keep them longer.
    longer = {IncidentClass.DATA_LEAKAGE, IncidentClass.HARMFUL_CONTENT}
    return {k: timedelta(days=730 if k in longer else 365) for k in IncidentClass}


class EvidenceRules(_Strict):
    """Sealed evidence: who may read originals, how long they are kept, who lifts a hold.

    `readers` and `hold_releasers` name roles or groups; a role counts when the person
    holds it in the incident or stands in its rotation (counsel reads long after the
    incident, without being paged). A class missing from `retention` is kept until
    someone adds it. `redact` adds operator regular expressions to the personal-data
    rules of the notice lint for the channel's copy.
    """

    readers: list[str] = Field(
        default_factory=lambda: ["incident_commander", "legal", "safety_lead"]
    )
    hold_releasers: list[str] = Field(default_factory=lambda: ["legal"])
    retention: dict[IncidentClass, Duration] = Field(default_factory=_default_retention)
    redact: list[str] = Field(default_factory=list)

    @field_validator("redact")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redact pattern {pattern!r} is not a regex: {exc}") from None
        return patterns


class Policy(_Strict):
    name: str = "default"
    timezone_note: str = "all times are UTC"
    announcements_channel: str = "#incidents"
    severities: dict[Severity, SeverityPolicy]
    people: list[Person] = Field(min_length=1)
    rotations: dict[Role, Rotation]
    groups: dict[str, list[str]] = Field(default_factory=dict)
    gates: dict[str, GateRule]
    actions: dict[str, ContainmentAction] = Field(default_factory=dict)
    notices: NoticeRules = Field(default_factory=NoticeRules)
    alerts: AlertRules = Field(default_factory=AlertRules)
    evidence: EvidenceRules = Field(default_factory=EvidenceRules)

    @model_validator(mode="after")
    def _cross_references(self) -> Policy:
        problems = cross_reference_problems(self)
        if problems:
            raise PolicyCrossReferenceError(problems)
        return self

    # -- lookups -------------------------------------------------------------------------

    def person(self, person_id: str) -> Person | None:
        for p in self.people:
            if p.id == person_id:
                return p
        return None

    def severity(self, sev: Severity) -> SeverityPolicy:
        return self.severities[sev]

    def version(self) -> str:
        return self.content_version

    @cached_property
    def content_version(self) -> str:
        # Hashing the whole policy costs a dump and a JSON encoding; every firing asks.
        return policy_version(self)


def cross_reference_problems(policy: Policy) -> list[tuple[tuple[str | int, ...], str]]:
    """Names that must point at something: people, roles, groups, gates, actions."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    ids = [p.id for p in policy.people]
    known = set(ids)
    for index, pid in enumerate(ids):
        if ids.index(pid) != index:
            problems.append((("people", index, "id"), f"duplicate person id {pid!r}"))
    for sev in Severity:
        if sev not in policy.severities:
            problems.append((("severities",), f"missing severity {sev.value}"))
    for sev, spec in policy.severities.items():
        for index, role in enumerate(spec.page):
            if role not in policy.rotations:
                problems.append(
                    (
                        ("severities", sev.value, "page", index),
                        f"role {role.value} is paged but has no rotation",
                    )
                )
    for role in CORE_ROLES:
        if role not in policy.rotations:
            problems.append((("rotations",), f"missing rotation for core role {role.value}"))
    for role, rotation in policy.rotations.items():
        for step in ("primary", "secondary", "manager"):
            pid = getattr(rotation, step)
            if pid is not None and pid not in known:
                problems.append((("rotations", role.value, step), f"unknown person {pid!r}"))
    role_names = {r.value for r in Role}
    for group, members in policy.groups.items():
        if group in role_names:
            problems.append((("groups", group), "a group cannot reuse a role name"))
        for index, pid in enumerate(members):
            if pid not in known:
                problems.append((("groups", group, index), f"unknown person {pid!r}"))
    decider_names = role_names | set(policy.groups)
    for gname, rule in policy.gates.items():
        for tindex, tier in enumerate(rule.tiers):
            for rindex, rname in enumerate(tier.roles):
                if rname not in decider_names:
                    problems.append(
                        (
                            ("gates", gname, "tiers", tindex, "roles", rindex),
                            f"{rname!r} is neither a role nor a group",
                        )
                    )
            if rule.approvals == "dual" and len(set(tier.roles)) < 2:
                problems.append(
                    (
                        ("gates", gname, "tiers", tindex, "roles"),
                        "dual approval needs at least two distinct roles in every tier",
                    )
                )
        if rule.fallback is not None and rule.fallback.action not in policy.actions:
            problems.append(
                (
                    ("gates", gname, "fallback", "action"),
                    f"unknown action {rule.fallback.action!r}",
                )
            )
    for required in ("containment", "severity_downgrade", "restore"):
        if required not in policy.gates:
            problems.append((("gates",), f"missing gate rule {required!r}"))
    for aname, action in policy.actions.items():
        if action.gate not in policy.gates:
            problems.append((("actions", aname, "gate"), f"unknown gate rule {action.gate!r}"))
    problems += alert_problems(policy.alerts, rotations=policy.rotations.keys())
    problems += evidence_problems(policy.evidence, deciders=decider_names)
    return problems


def evidence_problems(
    rules: EvidenceRules, *, deciders: set[str]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Readers and releasers must name roles or groups, or no one could ever match them;
    retention must be positive, or evidence would be due the moment an incident ends."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    empty = {
        "readers": "no one could ever read or export a sealed original",
        "hold_releasers": "no one could ever release a legal hold",
    }
    for field, consequence in empty.items():
        names: list[str] = getattr(rules, field)
        if not names:
            problems.append((("evidence", field), f"{field} is empty: {consequence}"))
        for index, name in enumerate(names):
            if name not in deciders:
                problems.append(
                    (("evidence", field, index), f"{name!r} is neither a role nor a group")
                )
    for klass, keep in rules.retention.items():
        if keep <= timedelta(0):
            problems.append(
                (("evidence", "retention", klass.value), "retention must be longer than zero")
            )
    return problems


class PolicyCrossReferenceError(ValueError):
    """Raised inside validation so pydantic reports it; carries the paths of every problem."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, p))}: {m}" for p, m in problems))


def policy_version(policy: Policy) -> str:
    """A content hash: the same rules give the same version whatever the comments or order."""
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
