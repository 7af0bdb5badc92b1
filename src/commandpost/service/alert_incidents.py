"""What the audit trail records of alerts, inside an ingestion's own transaction.

Alerts open incidents with `incidents.declare_in` (called from `service.alerts`), the same
steps `declare` takes, so an alert-opened incident pages and times exactly like a declared
one. Why that is not a call to `declare`:
- it runs in the caller's transaction, so a delivery's bookkeeping and the incidents it opens
  commit together or not at all;
- the declarer is the monitor ("alert:<source>"), not a person in the policy, which `declare`
  (rightly, for people) refuses.

`AuditBatch` gathers what the transaction's deliveries did to each incident and writes one
`alert.attached` event (and one `alert.resolved`) per incident and source at its end: in a
storm each delivery is a repeat of a known alert, and an event apiece would be most of the
transaction's writing while saying nothing the counts do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from commandpost.core.alerts import AlertSource
from commandpost.core.alerts.ledger import Tally, Touched
from commandpost.service.audit_append import record
from commandpost.service.context import Context

ATTACHED, RESOLVED = "alert.attached", "alert.resolved"


@dataclass
class _Event:
    tally: Tally
    source: AlertSource
    deliveries: list[int] = field(default_factory=list)
    alerts: int = 0
    fingerprints: dict[str, None] = field(default_factory=dict)  # ordered, once each
    new: list[str] = field(default_factory=list)
    refired: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def data(self, kind: str) -> dict[str, Any]:
        common = {
            "source": self.source.value,
            "deliveries": self.deliveries,
            "alerts": self.alerts,
            "fingerprints": list(self.fingerprints),
        }
        if kind == RESOLVED:
            return common
        return {**common, "new": self.new, "refired": self.refired, **self.extra}


@dataclass
class AuditBatch:
    """The transaction's alert events, one per (incident, source, kind), in first-seen order."""

    events: dict[tuple[str, str, str], _Event] = field(default_factory=dict)

    def add(
        self, tally: Tally, *, source: AlertSource, delivery: int, touched: Touched, **extra: Any
    ) -> None:
        """What one delivery did to `tally`'s incident; `extra`: opened, rule, storm."""
        firing = touched.firing
        if firing:
            event = self._event(tally, source, ATTACHED)
            event.alerts += len(firing)
            event.fingerprints.update(dict.fromkeys(a.fingerprint for a in firing))
            event.new.extend(a.fingerprint for a in touched.new)
            event.refired.extend(a.fingerprint for a in touched.refired)
            event.extra.update(extra)
            _once(event.deliveries, delivery)
        ended = [*touched.resolved, *(a for a in touched.repeated if not a.firing)]
        if ended:
            event = self._event(tally, source, RESOLVED)
            event.alerts += len(ended)
            event.fingerprints.update(dict.fromkeys(a.fingerprint for a in ended))
            _once(event.deliveries, delivery)

    def _event(self, tally: Tally, source: AlertSource, kind: str) -> _Event:
        key = (tally.incident_id, source.value, kind)
        if key not in self.events:
            self.events[key] = _Event(tally, source)
        return self.events[key]

    def write(self, session: Session, ctx: Context) -> None:
        at = ctx.now()
        for (incident_id, source, kind), event in self.events.items():
            record(
                session,
                at=at,
                actor=f"alert:{source}",
                kind=kind,
                data=event.data(kind),
                incident_id=incident_id,
                policy_version=event.tally.policy_version,
            )
        self.events.clear()


def _once(deliveries: list[int], delivery: int) -> None:
    if not deliveries or deliveries[-1] != delivery:
        deliveries.append(delivery)
