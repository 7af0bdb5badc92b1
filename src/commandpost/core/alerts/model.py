"""What an alert is once its source's payload has been read: one shape for every source."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AlertSource(StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    GENERIC = "generic"

    @classmethod
    def parse(cls, text: str) -> AlertSource:
        from commandpost.errors import InvalidInput

        try:
            return cls(text.strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise InvalidInput(f"unknown alert source {text!r}; use one of {allowed}") from None


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    """One alert, normalised. Times are timezone-aware UTC (None: the source did not say).

    `group_key` ties together alerts that arrived in one delivery and belong to one problem
    (Alertmanager's and Grafana's `groupKey`); alerts without one are their own group.
    """

    source: AlertSource
    fingerprint: str
    status: AlertStatus
    title: str
    group_key: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    summary: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str | None = None
    fingerprint_derived: bool = False

    @property
    def firing(self) -> bool:
        return self.status is AlertStatus.FIRING

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:12]


@dataclass(frozen=True)
class Delivery:
    """One webhook call's worth of alerts, in the order the source sent them."""

    source: AlertSource
    alerts: tuple[Alert, ...]
    # Alerts the source left out (Alertmanager's `max_alerts`): named in the channel note.
    truncated: int = 0


def derive_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable fingerprint from the labels alone, for sources that send none.

    The same label set always gives the same fingerprint, whatever the key order, so a
    monitor that re-sends an alert is recognised as the same alert.
    """
    canonical = json.dumps(dict(sorted(labels.items())), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
