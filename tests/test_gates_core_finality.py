"""core.gates: what ends a gate, and what a decision may no longer change.

Decisions on a final gate are refused, as are decisions on a payload that changed after it
was seen; silence escalates, then expires the gate or runs its preauthorised fallback. The
rules used are listed in tests/gatecore.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from commandpost.core.gates import (
    Decision,
    GateState,
    decide,
    on_silence,
    payload_hash,
    tier_deadline,
)
from commandpost.errors import Conflict, InvalidInput

from .gatecore import HASH, IC, PAYLOAD, SL, approve, rule, view

# -- finality and the payload hash -------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [GateState.APPROVED, GateState.REJECTED, GateState.EXPIRED, GateState.FALLBACK]
)
@pytest.mark.parametrize("decision", list(Decision))
def test_decisions_after_the_gate_is_final_are_refused(
    state: GateState, decision: Decision
) -> None:
    with pytest.raises(Conflict, match=f"already {state.value}"):
        decide(
            view("containment", state=state),
            decision=decision,
            actor="erin",
            actor_roles=frozenset({SL}),
            reason="late",
        )


def test_a_second_click_on_an_approved_gate_is_refused() -> None:
    gate = approve(view("containment"), "erin", SL)
    assert gate.state is GateState.APPROVED
    with pytest.raises(Conflict):
        approve(gate, "bob", IC)


@pytest.mark.parametrize("decision", list(Decision))
def test_payload_changed_after_it_was_seen_is_refused(decision: Decision) -> None:
    seen = payload_hash({**PAYLOAD, "params": {"model": "m", "to_version": "v0"}})
    assert seen != HASH
    with pytest.raises(Conflict, match="changed"):
        decide(
            view("containment"),
            decision=decision,
            actor="erin",
            actor_roles=frozenset({SL}),
            reason="r",
            seen_hash=seen,
        )


def test_matching_seen_hash_is_accepted() -> None:
    outcome = decide(
        view("containment"),
        decision=Decision.APPROVE,
        actor="erin",
        actor_roles=frozenset({SL}),
        seen_hash=payload_hash(
            {"params": {"to_version": "v1", "model": "m"}, "action": "rollback_model"}
        ),
    )
    assert outcome.approved


def test_payload_hash_ignores_key_order_but_not_values() -> None:
    assert payload_hash({"a": 1, "b": [1, 2]}) == payload_hash({"b": [1, 2], "a": 1})
    assert payload_hash({"a": 1, "b": [1, 2]}) != payload_hash({"a": 1, "b": [2, 1]})
    assert payload_hash({"a": 1}) != payload_hash({"a": "1"})
    assert len(HASH) == 64


def test_decision_parse() -> None:
    assert Decision.parse(" Approve ") is Decision.APPROVE
    with pytest.raises(InvalidInput, match="approve, reject or escalate"):
        Decision.parse("yes")


# -- silence -----------------------------------------------------------------------------------


def test_silence_escalates_then_expires() -> None:
    gate = view("containment")
    first = on_silence(gate)
    assert (first.state, first.tier) == (GateState.PENDING, 1)
    second = on_silence(replace(gate, tier=first.tier))
    assert (second.state, second.tier) == (GateState.EXPIRED, 1)


def test_silence_at_the_end_runs_the_preauthorised_fallback() -> None:
    gate = view("containment_with_fallback")
    first = on_silence(gate)
    assert (first.state, first.tier) == (GateState.PENDING, 1)
    second = on_silence(replace(gate, tier=1))
    assert second.state is GateState.FALLBACK


def test_silence_never_approves_even_with_a_partial_dual_approval() -> None:
    gate = approve(view("containment_dual", tier=1), "bob", IC)
    outcome = on_silence(gate)
    assert outcome.state is GateState.EXPIRED


def test_single_tier_rule_expires_on_first_silence() -> None:
    assert on_silence(view("severity_downgrade")).state is GateState.EXPIRED


@pytest.mark.parametrize(
    "state", [GateState.APPROVED, GateState.REJECTED, GateState.EXPIRED, GateState.FALLBACK]
)
def test_silence_on_a_final_gate_is_refused(state: GateState) -> None:
    with pytest.raises(Conflict):
        on_silence(view("containment_with_fallback", state=state))


def test_tier_deadline_uses_the_tier_of_the_rule() -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert tier_deadline(rule("containment"), tier=0, start=start) == start + timedelta(minutes=10)
    assert tier_deadline(rule("restore"), tier=1, start=start) == start + timedelta(hours=1)
