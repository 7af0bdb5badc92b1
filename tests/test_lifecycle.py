"""The incident state machine: every (from, to) pair, and random walks through it."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from commandpost.core import lifecycle
from commandpost.core.vocabulary import Status
from commandpost.errors import InvalidTransition, UserError

D, INV, C, M, R, X = (
    Status.DECLARED,
    Status.INVESTIGATING,
    Status.CONTAINED,
    Status.MONITORING,
    Status.RESOLVED,
    Status.CLOSED,
)

# The specification, written out independently of core.lifecycle.TRANSITIONS: the happy path
# declared → investigating → contained → monitoring → resolved → closed, skipping ahead
# (contain or resolve straight from declared, resolve a false alarm from investigating or
# contained) and falling back to investigating when the harm comes back. Closed is final.
LEGAL: frozenset[tuple[Status, Status]] = frozenset(
    {
        (D, INV),
        (D, C),
        (D, R),
        (INV, C),
        (INV, R),
        (C, INV),
        (C, M),
        (C, R),
        (M, INV),
        (M, R),
        (R, INV),
        (R, X),
    }
)
OPEN = frozenset({D, INV, C, M})
ALL_PAIRS = list(itertools.product(Status, Status))


def _allowed_from(current: Status) -> list[Status]:
    return [to for (frm, to) in sorted(LEGAL) if frm is current]


def test_every_status_is_in_the_table() -> None:
    assert set(lifecycle.TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_transition_pair(current: Status, target: Status) -> None:
    if (current, target) in LEGAL:
        lifecycle.check_transition(current, target)
        assert target in lifecycle.allowed_next(current)
        return
    assert target not in lifecycle.allowed_next(current)
    with pytest.raises(InvalidTransition) as caught:
        lifecycle.check_transition(current, target)
    message = str(caught.value)
    assert isinstance(caught.value, UserError)
    assert current.value in message
    allowed = _allowed_from(current)
    if not allowed:
        assert "no further status change" in message
    for status in allowed:
        assert status.value in message, f"{message!r} does not name {status.value}"
    # The message names only allowed next statuses (besides the current one and the target).
    named_after = message.split(";", 1)[1]
    for status in Status:
        if status not in allowed and status not in (current, target):
            assert status.value not in named_after, f"{message!r} names {status.value}"


@pytest.mark.parametrize("status", list(Status))
def test_allowed_next_matches_specification(status: Status) -> None:
    assert set(lifecycle.allowed_next(status)) == set(_allowed_from(status))


@pytest.mark.parametrize("status", list(Status))
def test_is_open(status: Status) -> None:
    assert lifecycle.is_open(status) is (status in OPEN)


def test_no_status_moves_to_itself() -> None:
    for status in Status:
        with pytest.raises(InvalidTransition, match=f"already {status.value}|no further"):
            lifecycle.check_transition(status, status)


def test_closed_is_only_reachable_from_resolved() -> None:
    sources = [s for s in Status if X in lifecycle.allowed_next(s)]
    assert sources == [R]


def test_every_status_is_reachable_from_declared() -> None:
    seen = {D}
    frontier = [D]
    while frontier:
        current = frontier.pop()
        for nxt in lifecycle.allowed_next(current):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Status)


class IncidentWalk(RuleBasedStateMachine):
    """Random status changes: only legal moves succeed; closed is terminal."""

    def __init__(self) -> None:
        super().__init__()
        self.status = Status.DECLARED
        self.closed_seen = False

    @rule(wanted=st.sampled_from(list(Status)))
    def move(self, wanted: Status) -> None:
        legal = (self.status, wanted) in LEGAL
        try:
            lifecycle.check_transition(self.status, wanted)
        except InvalidTransition:
            assert not legal, f"{self.status} -> {wanted} refused but is legal"
            return
        assert legal, f"{self.status} -> {wanted} accepted but is illegal"
        assert not self.closed_seen, "a closed incident changed status"
        self.status = wanted
        if wanted is Status.CLOSED:
            self.closed_seen = True

    @invariant()
    def open_is_consistent(self) -> None:
        assert lifecycle.is_open(self.status) is (self.status in OPEN)
        assert self.closed_seen is (self.status is Status.CLOSED)
        if self.status is Status.CLOSED:
            assert lifecycle.allowed_next(self.status) == ()
        else:
            assert lifecycle.allowed_next(self.status)


IncidentWalk.TestCase.settings = settings(max_examples=200, stateful_step_count=40)
TestIncidentWalk = IncidentWalk.TestCase
