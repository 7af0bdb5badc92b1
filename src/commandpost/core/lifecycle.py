"""The incident state machine.

The happy path is declared → investigating → contained → monitoring → resolved → closed.
Real incidents also skip ahead (a false alarm resolves straight from investigating) and fall
back (monitoring shows the harm again), so those edges are allowed; closed is final.
"""

from __future__ import annotations

from commandpost.core.vocabulary import Status
from commandpost.errors import InvalidTransition

TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.DECLARED: (Status.INVESTIGATING, Status.CONTAINED, Status.RESOLVED),
    Status.INVESTIGATING: (Status.CONTAINED, Status.RESOLVED),
    Status.CONTAINED: (Status.INVESTIGATING, Status.MONITORING, Status.RESOLVED),
    Status.MONITORING: (Status.INVESTIGATING, Status.RESOLVED),
    Status.RESOLVED: (Status.INVESTIGATING, Status.CLOSED),
    Status.CLOSED: (),
}

OPEN_STATUSES: frozenset[Status] = frozenset(
    {Status.DECLARED, Status.INVESTIGATING, Status.CONTAINED, Status.MONITORING}
)


def allowed_next(current: Status) -> tuple[Status, ...]:
    return TRANSITIONS[current]


def check_transition(current: Status, target: Status) -> None:
    """Refuse an illegal move with a message that names the allowed ones."""
    if target in TRANSITIONS[current]:
        return
    allowed = TRANSITIONS[current]
    if not allowed:
        raise InvalidTransition(f"the incident is {current.value}; no further status change")
    if target == current:
        raise InvalidTransition(
            f"the incident is already {current.value}; next can be "
            + ", ".join(s.value for s in allowed)
        )
    raise InvalidTransition(
        f"cannot go from {current.value} to {target.value}; from {current.value} the "
        "incident can go to " + ", ".join(s.value for s in allowed)
    )


def is_open(status: Status) -> bool:
    return status in OPEN_STATUSES
