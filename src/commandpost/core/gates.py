"""Gates: a pending human decision on something that leaves the system.

Pure rules for Approve / Reject / Escalate and for the decision deadline. The service layer
decides who holds which role; this module decides what that allows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from itertools import product
from typing import Any

from commandpost.core.audit import canonical_json
from commandpost.core.policy import GateRule
from commandpost.errors import Conflict, InvalidInput, NotAuthorised


class GateKind(StrEnum):
    CONTAINMENT = "containment"
    RESTORE = "restore"
    SEVERITY_DOWNGRADE = "severity_downgrade"
    NOTICE = "notice"


class GateState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FALLBACK = "fallback"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"

    @classmethod
    def parse(cls, text: str) -> Decision:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidInput(
                f"unknown decision {text!r}; use approve, reject or escalate"
            ) from None


@dataclass(frozen=True)
class Approval:
    """One approval, counted under `role`; `could_be` is every allowed role the approver held,
    so a later approver can still complete a dual gate when only a swap of roles makes the
    pair distinct."""

    person_id: str
    role: str
    could_be: frozenset[str] = field(default=frozenset(), compare=False)

    def options(self, allowed: Collection[str]) -> list[str]:
        # The role already counted comes first: a settled approval moves only when it must.
        others = sorted((self.could_be - {self.role}) & set(allowed))
        return ([self.role] if self.role in allowed else []) + others


@dataclass(frozen=True)
class GateView:
    """What the rules need to know about a gate."""

    state: GateState
    requester: str
    rule: GateRule
    tier: int
    approvals: tuple[Approval, ...]
    payload_hash: str


@dataclass(frozen=True)
class DecisionOutcome:
    decision: Decision
    role: str
    state: GateState
    tier: int
    approvals: tuple[Approval, ...]

    @property
    def approved(self) -> bool:
        return self.state is GateState.APPROVED


@dataclass(frozen=True)
class SilenceOutcome:
    """What the decision deadline does: escalate, or end the chain (expire or fall back)."""

    state: GateState
    tier: int


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def allowed_roles(rule: GateRule, tier: int) -> list[str]:
    return list(rule.tiers[tier].roles)


def decide(
    gate: GateView,
    *,
    decision: Decision,
    actor: str,
    actor_roles: frozenset[str],
    reason: str | None = None,
    seen_hash: str | None = None,
) -> DecisionOutcome:
    if gate.state is not GateState.PENDING:
        raise Conflict(f"this gate is already {gate.state.value}; nothing more to decide")
    if seen_hash is not None and seen_hash != gate.payload_hash:
        raise Conflict("the request changed after you saw it; look again before deciding")
    allowed = allowed_roles(gate.rule, gate.tier)
    eligible = sorted(actor_roles.intersection(allowed))
    if decision is Decision.APPROVE and actor == gate.requester:
        raise NotAuthorised("you asked for this; someone else must approve it")
    if not eligible:
        raise NotAuthorised(
            f"at tier {gate.tier + 1} only {', '.join(allowed)} may decide this gate; "
            "you hold none of those roles"
        )
    if decision is Decision.REJECT:
        if not reason or not reason.strip():
            raise InvalidInput("a rejection needs a reason")
        return DecisionOutcome(decision, eligible[0], GateState.REJECTED, gate.tier, gate.approvals)
    if decision is Decision.ESCALATE:
        if gate.tier + 1 >= len(gate.rule.tiers):
            raise Conflict("this gate is already at its last tier; approve or reject it")
        tier = gate.tier + 1
        return DecisionOutcome(
            decision, eligible[0], GateState.PENDING, tier, _carry(gate.approvals, gate.rule, tier)
        )
    if any(a.person_id == actor for a in gate.approvals):
        raise Conflict(
            "you have already approved this gate; dual approval needs a second, different person"
        )
    mine = Approval(actor, "", frozenset(eligible))
    approvals = assign_roles((*gate.approvals, mine), allowed)
    if approvals is None:
        used = ", ".join(sorted({a.role for a in gate.approvals}))
        raise NotAuthorised(f"the second approval must come from a different role than {used}")
    state = (
        GateState.APPROVED if len(approvals) >= gate.rule.required_approvals else GateState.PENDING
    )
    return DecisionOutcome(decision, approvals[-1].role, state, gate.tier, approvals)


def assign_roles(
    approvals: tuple[Approval, ...], allowed: Collection[str]
) -> tuple[Approval, ...] | None:
    """Count each approval under a different allowed role, or None when no assignment exists.

    Approvals per gate are one or two, so trying the combinations is the simple exact answer.
    """
    choices = [a.options(allowed) for a in approvals]
    for combo in product(*choices):
        if len(set(combo)) == len(combo):
            return tuple(replace(a, role=r) for a, r in zip(approvals, combo, strict=True))
    return None


def on_silence(gate: GateView) -> SilenceOutcome:
    """The tier's deadline passed with no decision. Silence never approves."""
    if gate.state is not GateState.PENDING:
        raise Conflict(f"this gate is already {gate.state.value}")
    if gate.tier + 1 < len(gate.rule.tiers):
        return SilenceOutcome(GateState.PENDING, gate.tier + 1)
    if gate.rule.fallback is not None:
        return SilenceOutcome(GateState.FALLBACK, gate.tier)
    return SilenceOutcome(GateState.EXPIRED, gate.tier)


def _carry(approvals: tuple[Approval, ...], rule: GateRule, tier: int) -> tuple[Approval, ...]:
    """An approval survives escalation only if its role may still decide at the new tier."""
    roles = rule.tiers[tier].roles
    return tuple(replace(a, role=a.options(roles)[0]) for a in approvals if a.options(roles))


def tier_deadline(rule: GateRule, *, tier: int, start: datetime) -> datetime:
    return start + rule.tiers[tier].deadline
