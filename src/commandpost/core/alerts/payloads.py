"""The payloads each source sends, as its documentation names the fields.

- Alertmanager: the `webhook_config` receiver's JSON, version "4" (prometheus.io, "Alerting
  configuration", webhook_config).
- Grafana: the alerting webhook contact point's JSON (grafana.com, "Configure the webhook
  notifier for Alerting"); its deprecated `title`, `state` and `message` are ignored.
- Generic: our own shape for in-house monitors, documented by docs/alerts/generic.schema.json.

The two vendors' shapes ignore fields they may add later; the generic shape is ours, so an
unknown field there is a typo worth a 400.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from commandpost.core.alerts.model import AlertStatus


def _utc_or_none(value: datetime) -> datetime | None:
    # Go's zero time ("0001-01-01T00:00:00Z") is how both vendors say "not ended yet".
    if value.year <= 1:
        return None
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_utc_or_none)]
Labels = dict[str, str]


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Ours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertmanagerAlert(_Vendor):
    status: AlertStatus
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: Timestamp | None = None
    endsAt: Timestamp | None = None
    generatorURL: str | None = None
    fingerprint: str | None = Field(default=None, max_length=128)


class AlertmanagerPayload(_Vendor):
    version: Literal["4"]
    groupKey: str
    truncatedAlerts: int = Field(default=0, ge=0)
    status: AlertStatus
    receiver: str | None = None
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[AlertmanagerAlert]


class GrafanaAlert(AlertmanagerAlert):
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    imageURL: str | None = None


class GrafanaPayload(_Vendor):
    status: AlertStatus
    alerts: list[GrafanaAlert]
    receiver: str | None = None
    orgId: int | None = None
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: str | None = None
    version: str | None = None
    groupKey: str | None = None
    truncatedAlerts: int = Field(default=0, ge=0)


class GenericAlert(_Ours):
    status: AlertStatus
    title: str = Field(min_length=1, max_length=200)
    fingerprint: str | None = Field(default=None, min_length=1, max_length=128)
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    summary: str | None = Field(default=None, max_length=2000)
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    group_key: str | None = Field(default=None, min_length=1, max_length=500)
    url: str | None = None


class GenericPayload(_Ours):
    version: Literal["1"] = "1"
    group_key: str | None = Field(default=None, min_length=1, max_length=500)
    alerts: list[GenericAlert]
