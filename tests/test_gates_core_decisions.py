"""core.gates: who may Approve / Reject / Escalate, and what each decision does.

Single and dual approval, the requester and the roles kept out, reasons for a rejection,
escalation to the next tier; and, for any sequence of clicks, an approved gate is properly
approved. The rules used are listed in tests/gatecore.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commandpost.core.gates import Approval, Decision, GateState, decide, on_silence
from commandpost.errors import Conflict, InvalidInput, NotAuthorised, UserError

from .gatecore import COMMS, DD, IC, MO, POLICY, SL, approve, rule, view

# -- the policy the tests rely on --------------------------------------------------------------


def test_shipped_rules_are_what_these_tests_assume() -> None:
    assert rule("containment").approvals == "single"
    assert [t.roles for t in rule("containment").tiers] == [[IC, SL], [DD]]
    assert rule("containment").fallback is None
    assert rule("containment_dual").approvals == "dual"
    assert [t.roles for t in rule("containment_dual").tiers] == [[IC, SL, MO], [IC, DD]]
    fallback = rule("containment_with_fallback").fallback
    assert fallback is not None and fallback.action == "force_safety_filter"
    assert rule("restore").required_approvals == 2
    assert len(rule("severity_downgrade").tiers) == 1


# -- single approval ---------------------------------------------------------------------------


def test_single_approval_approves_at_once() -> None:
    outcome = decide(
        view("containment"), decision=Decision.APPROVE, actor="erin", actor_roles=frozenset({SL})
    )
    assert outcome.state is GateState.APPROVED
    assert outcome.approved
    assert outcome.role == SL
    assert outcome.tier == 0
    assert outcome.approvals == (Approval("erin", SL),)


def test_roles_outside_the_tier_are_ignored_when_recording_the_role() -> None:
    outcome = decide(
        view("containment"),
        decision=Decision.APPROVE,
        actor="bob",
        actor_roles=frozenset({COMMS, IC, "scribe"}),
    )
    assert outcome.approvals == (Approval("bob", IC),)


def test_group_member_decides_at_the_group_tier() -> None:
    outcome = decide(
        view("containment", tier=1),
        decision=Decision.APPROVE,
        actor="mo",
        actor_roles=frozenset({DD}),
    )
    assert outcome.state is GateState.APPROVED
    assert outcome.approvals == (Approval("mo", DD),)


# -- dual approval -----------------------------------------------------------------------------


def test_dual_needs_two_people_in_two_roles() -> None:
    gate = approve(view("containment_dual"), "bob", IC)
    assert gate.state is GateState.PENDING
    assert gate.approvals == (Approval("bob", IC),)
    gate = approve(gate, "erin", SL)
    assert gate.state is GateState.APPROVED
    assert gate.approvals == (Approval("bob", IC), Approval("erin", SL))


def test_dual_same_person_twice_is_refused() -> None:
    gate = approve(view("containment_dual"), "bob", IC, SL)
    assert gate.state is GateState.PENDING
    with pytest.raises(Conflict, match="already approved"):
        approve(gate, "bob", IC, SL)


def test_dual_one_person_holding_two_roles_is_not_enough() -> None:
    gate = approve(view("restore"), "bob", IC, SL, MO)
    assert gate.state is GateState.PENDING
    assert len(gate.approvals) == 1


def test_dual_two_people_in_the_same_role_is_refused() -> None:
    gate = approve(view("containment_dual"), "bob", IC)
    with pytest.raises(NotAuthorised, match="different role"):
        approve(gate, "mo", IC)


def test_dual_second_approver_is_counted_in_a_role_not_yet_used() -> None:
    gate = approve(view("containment_dual"), "bob", IC)
    gate = approve(gate, "carol", IC, MO)
    assert gate.state is GateState.APPROVED
    assert gate.approvals == (Approval("bob", IC), Approval("carol", MO))


def test_dual_is_completed_when_some_assignment_of_roles_works() -> None:
    gate = approve(view("containment_dual"), "bob", IC, SL)  # counted as incident_commander
    gate = approve(gate, "dan", IC)  # bob could count as safety_lead, dan as IC
    assert gate.state is GateState.APPROVED


# -- who may decide ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule_name", ["containment", "containment_dual", "severity_downgrade"])
def test_requester_never_approves_their_own_request(rule_name: str) -> None:
    gate = view(rule_name, requester="bob")
    with pytest.raises(NotAuthorised, match="someone else"):
        approve(gate, "bob", IC, SL, MO, DD)


def test_requester_cannot_be_the_second_approver_either() -> None:
    gate = approve(view("containment_dual", requester="erin"), "bob", IC)
    with pytest.raises(NotAuthorised, match="someone else"):
        approve(gate, "erin", SL)


@pytest.mark.parametrize("decision", list(Decision))
@pytest.mark.parametrize("roles", [frozenset(), frozenset({COMMS}), frozenset({DD, "legal"})])
def test_role_not_allowed_is_refused(decision: Decision, roles: frozenset[str]) -> None:
    with pytest.raises(NotAuthorised) as caught:
        decide(
            view("containment"),
            decision=decision,
            actor="grace",
            actor_roles=roles,
            reason="because",
        )
    message = str(caught.value)
    assert "incident_commander" in message and "safety_lead" in message
    assert "tier 1" in message


def test_role_allowed_only_at_the_next_tier_is_refused_now() -> None:
    with pytest.raises(NotAuthorised, match="duty_director"):
        approve(view("containment", tier=1), "bob", IC)


# -- reject ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   ", "\n\t"])
def test_reject_needs_a_reason(reason: str | None) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        decide(
            view("containment"),
            decision=Decision.REJECT,
            actor="bob",
            actor_roles=frozenset({IC}),
            reason=reason,
        )


def test_reject_with_reason_is_final_and_keeps_approvals() -> None:
    gate = approve(view("containment_dual"), "bob", IC)
    outcome = decide(
        gate,
        decision=Decision.REJECT,
        actor="erin",
        actor_roles=frozenset({SL}),
        reason="rollback target is also affected",
    )
    assert outcome.state is GateState.REJECTED
    assert outcome.role == SL
    assert outcome.approvals == (Approval("bob", IC),)


# -- escalate ----------------------------------------------------------------------------------


def test_escalate_moves_to_the_next_tier() -> None:
    outcome = decide(
        view("containment"), decision=Decision.ESCALATE, actor="bob", actor_roles=frozenset({IC})
    )
    assert outcome.state is GateState.PENDING
    assert outcome.tier == 1
    assert outcome.approvals == ()


def test_escalate_keeps_only_approvals_whose_role_still_decides() -> None:
    gate = approve(view("containment_dual"), "bob", IC)
    outcome = decide(gate, decision=Decision.ESCALATE, actor="erin", actor_roles=frozenset({SL}))
    assert outcome.tier == 1
    assert outcome.approvals == (Approval("bob", IC),)

    gate = approve(view("containment_dual"), "erin", SL)
    outcome = decide(gate, decision=Decision.ESCALATE, actor="bob", actor_roles=frozenset({IC}))
    assert outcome.approvals == ()


def test_escalated_dual_gate_can_be_completed_at_the_next_tier() -> None:
    gate = approve(view("containment_dual"), "bob", IC)
    outcome = decide(gate, decision=Decision.ESCALATE, actor="erin", actor_roles=frozenset({SL}))
    gate = replace(gate, tier=outcome.tier, approvals=outcome.approvals)
    gate = approve(gate, "lena", DD)
    assert gate.state is GateState.APPROVED
    assert gate.approvals == (Approval("bob", IC), Approval("lena", DD))


@pytest.mark.parametrize("rule_name", ["containment", "severity_downgrade"])
def test_escalate_at_the_last_tier_is_refused(rule_name: str) -> None:
    last = len(rule(rule_name).tiers) - 1
    with pytest.raises(Conflict, match="last tier"):
        decide(
            view(rule_name, tier=last),
            decision=Decision.ESCALATE,
            actor="mo",
            actor_roles=frozenset({DD, SL}),
        )


# -- property: whatever people click, an approved gate is properly approved --------------------

PEOPLE = ["alice", "bob", "carol", "dan", "erin", "lena", "mo"]
DECIDERS = [IC, SL, MO, COMMS, DD, "legal"]

people_roles = st.fixed_dictionaries(
    {p: st.frozensets(st.sampled_from(DECIDERS), min_size=1, max_size=3) for p in PEOPLE}
)
# Approve is drawn most often so that dual gates do get approved; refusals are still common.
steps = st.lists(
    st.one_of(
        st.tuples(st.just(Decision.APPROVE), st.sampled_from(PEOPLE), st.none()),
        st.tuples(st.just(Decision.APPROVE), st.sampled_from(PEOPLE), st.none()),
        st.tuples(
            st.sampled_from(list(Decision)),
            st.sampled_from(PEOPLE),
            st.sampled_from([None, "", "not safe"]),
        ),
        st.just(("silence", "", None)),
    ),
    max_size=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule_name=st.sampled_from(sorted(POLICY.gates)),
    requester=st.sampled_from(PEOPLE),
    roles=people_roles,
    script=steps,
)
def test_approved_gates_are_always_properly_approved(
    rule_name: str,
    requester: str,
    roles: dict[str, frozenset[str]],
    script: list[tuple[object, str, str | None]],
) -> None:
    gate = view(rule_name, requester=requester)
    the_rule = gate.rule
    for action, actor, reason in script:
        final = gate.state is not GateState.PENDING
        if action == "silence":
            if final:
                with pytest.raises(Conflict):
                    on_silence(gate)
                continue
            silence = on_silence(gate)
            assert silence.state is not GateState.APPROVED
            tier_roles = set(the_rule.tiers[silence.tier].roles)
            # As the service rebuilds the view: approvals count only while their role decides.
            kept = tuple(a for a in gate.approvals if a.role in tier_roles)
            gate = replace(gate, state=silence.state, tier=silence.tier, approvals=kept)
            continue
        assert isinstance(action, Decision)
        try:
            outcome = decide(
                gate, decision=action, actor=actor, actor_roles=roles[actor], reason=reason
            )
        except UserError:
            continue
        assert not final, "a decision was accepted on a final gate"
        assert outcome.role in roles[actor]
        assert outcome.role in the_rule.tiers[gate.tier].roles
        if action is Decision.APPROVE:
            assert actor != requester
        if action is Decision.REJECT:
            assert reason and reason.strip()
        gate = replace(gate, state=outcome.state, tier=outcome.tier, approvals=outcome.approvals)

        if gate.state is GateState.APPROVED:
            people = [a.person_id for a in gate.approvals]
            used_roles = [a.role for a in gate.approvals]
            assert requester not in people
            assert len(set(people)) == len(people)
            assert len(gate.approvals) >= the_rule.required_approvals
            if the_rule.approvals == "dual":
                assert len(set(people)) >= 2
                assert len(set(used_roles)) == len(used_roles) >= 2
            current = set(the_rule.tiers[gate.tier].roles)
            for approval in gate.approvals:
                assert approval.role in current
                assert approval.role in roles[approval.person_id]
