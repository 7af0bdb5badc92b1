"""Counting a transaction's alerts on their incidents, in memory (pure).

The service reads the rows once (`alert_store.Ledger`), counts every delivery of the
transaction here, and writes what changed once: `Spot` and `Tally` are those rows as the
transaction leaves them.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from commandpost.core.alerts.model import Alert, AlertStatus


@dataclass
class Tally:
    """An incident alerts opened or joined, and its counts as this transaction leaves them."""

    incident_id: str
    channel: str
    policy_version: str
    kind: str
    alerts: int
    fingerprints: int
    firing: int
    last_alert_at: datetime
    # Only for a row inserted by this transaction.
    source: str = ""
    rule: str = ""
    group_key: str = ""
    opened_at: datetime | None = None
    stored: bool = True
    changed: bool = False


@dataclass
class Spot:
    """A fingerprint on an open incident, as this transaction leaves it."""

    source: str
    fingerprint: str
    incident_id: str
    last_status: str
    last_seen_at: datetime
    row_id: int | None = None  # None: inserted by this transaction
    title: str = ""
    rule: str = ""
    added: int = 0  # alerts counted on it by this transaction
    first_seen_at: datetime | None = None  # only for a row this transaction inserts


@dataclass
class Touched:
    """What a delivery did to one incident's fingerprints."""

    new: list[Alert] = field(default_factory=list)  # first seen here, firing
    refired: list[Alert] = field(default_factory=list)  # had resolved, firing again
    repeated: list[Alert] = field(default_factory=list)  # still firing, or resolved again
    resolved: list[Alert] = field(default_factory=list)  # now resolved (or first seen resolved)

    @property
    def firing(self) -> list[Alert]:
        return [*self.new, *self.refired, *(a for a in self.repeated if a.firing)]


@dataclass(frozen=True)
class AlertTally:
    """For the incident's summary card: alerts received, distinct fingerprints, still firing."""

    alerts: int
    fingerprints: int
    firing: int

    @classmethod
    def of(cls, t: Tally) -> AlertTally:
        return cls(alerts=t.alerts, fingerprints=t.fingerprints, firing=t.firing)


def count_alerts(
    spots: MutableMapping[tuple[str, str], Spot],
    tally: Tally,
    *,
    source: str,
    alerts: Sequence[tuple[Alert, str]],
    at: datetime,
) -> Touched:
    """Count `(alert, rule)` pairs on `tally`'s incident; `spots`: (source, fingerprint) → its
    spot on an open incident (updated here); `rule` is kept for new fingerprints."""
    touched = Touched()
    for alert, rule in alerts:
        key = (source, alert.fingerprint)
        spot = spots.get(key)
        if spot is None or spot.incident_id != tally.incident_id:
            spots[key] = Spot(
                source,
                alert.fingerprint,
                tally.incident_id,
                alert.status.value,
                at,
                title=alert.title,
                rule=rule,
                added=1,
                first_seen_at=at,
            )
            tally.fingerprints += 1
            tally.firing += 1 if alert.firing else 0
            (touched.new if alert.firing else touched.resolved).append(alert)
            continue
        before = AlertStatus(spot.last_status)
        spot.added += 1
        spot.last_seen_at, spot.last_status = at, alert.status.value
        if alert.status is before:
            touched.repeated.append(alert)
        elif alert.firing:
            tally.firing += 1
            touched.refired.append(alert)
        else:
            tally.firing -= 1
            touched.resolved.append(alert)
    tally.alerts += len(alerts)
    tally.last_alert_at = at
    tally.changed = True
    return touched
