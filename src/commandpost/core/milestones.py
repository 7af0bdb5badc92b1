"""Milestones of an incident measured against the policy's SLAs.

The four milestones, in order, and what reaches each (the service reads them from storage):

- ``acknowledged``: the first acknowledgement of any paged role (the incident's
  ``acknowledged_at``): from then on a named human is on it. SLA: the severity's ``ack_sla``.
- ``contained``: the first executed containment action, or the status set to contained,
  whichever came first. SLA: ``first_mitigation_sla``.
- ``notified``: the first notice delivered to any recipient. SLA: ``notify_sla``.
- ``resolved``: the incident resolved. SLA: ``resolve_sla``.

Elapsed times count from ``declared_at``. The SLAs are those of the incident's current
severity under the policy it runs on: a downgrade is a gate, so the severity at the end is
the one the responders agreed the incident was.

A milestone not (yet) reached is breached once its SLA has passed. For a resolved incident
the clock stops at resolution: a SEV2 resolved in an hour without a notice is not breaching
a notify SLA more with every day that passes afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from commandpost.core.policy import SeverityPolicy

ACKNOWLEDGED = "acknowledged"
CONTAINED = "contained"
NOTIFIED = "notified"
RESOLVED = "resolved"
MILESTONE_NAMES: tuple[str, ...] = (ACKNOWLEDGED, CONTAINED, NOTIFIED, RESOLVED)


@dataclass(frozen=True)
class Milestone:
    name: str
    at: datetime | None
    elapsed: timedelta | None
    sla: timedelta | None
    breached: bool


def slas(spec: SeverityPolicy) -> dict[str, timedelta | None]:
    """The policy's target per milestone for one severity (None: the policy sets none)."""
    return {
        ACKNOWLEDGED: spec.ack_sla,
        CONTAINED: spec.first_mitigation_sla,
        NOTIFIED: spec.notify_sla,
        RESOLVED: spec.resolve_sla,
    }


def milestones(
    *,
    declared_at: datetime,
    reached: Mapping[str, datetime | None],
    spec: SeverityPolicy,
    now: datetime,
) -> list[Milestone]:
    """Each milestone in order; `reached` maps a name to when it was reached (absent: not)."""
    unknown = set(reached) - set(MILESTONE_NAMES)
    if unknown:
        raise ValueError(f"unknown milestone(s): {', '.join(sorted(unknown))}")
    targets = slas(spec)
    # A milestone still missing when the incident ended stays measured up to that end.
    end = reached.get(RESOLVED) or now
    out: list[Milestone] = []
    for name in MILESTONE_NAMES:
        at = reached.get(name)
        sla = targets[name]
        elapsed = at - declared_at if at is not None else None
        if sla is None:
            breached = False
        elif elapsed is not None:
            breached = elapsed > sla
        else:
            breached = end - declared_at > sla
        out.append(Milestone(name=name, at=at, elapsed=elapsed, sla=sla, breached=breached))
    return out
