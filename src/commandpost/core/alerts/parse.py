"""Request bodies → a `Delivery` of normalised alerts, or InvalidInput saying what is wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from commandpost.core.alerts.model import Alert, AlertSource, Delivery, derive_fingerprint
from commandpost.core.alerts.payloads import (
    AlertmanagerAlert,
    AlertmanagerPayload,
    GenericPayload,
    GrafanaPayload,
)
from commandpost.errors import InvalidInput

_SHAPES: dict[AlertSource, type[BaseModel]] = {
    AlertSource.ALERTMANAGER: AlertmanagerPayload,
    AlertSource.GRAFANA: GrafanaPayload,
    AlertSource.GENERIC: GenericPayload,
}
_REPORTED = 5  # a payload of the wrong shape fails everywhere; the first few say enough


def parse_delivery(source: AlertSource, body: bytes) -> Delivery:
    document = _json(body)
    try:
        payload = _SHAPES[source].model_validate(document)
    except ValidationError as exc:
        raise InvalidInput(f"not a {source.value} payload: {_reasons(exc)}") from None
    if isinstance(payload, AlertmanagerPayload):
        return _vendor(source, payload.alerts, payload.groupKey, payload.truncatedAlerts)
    if isinstance(payload, GrafanaPayload):
        return _vendor(source, payload.alerts, payload.groupKey, payload.truncatedAlerts)
    assert isinstance(payload, GenericPayload)
    return _generic(payload)


def guess_source(body: bytes) -> AlertSource:
    """Which source a saved payload most likely came from (for `commandpost alerts route`)."""
    document = _json(body)
    if document.get("version") == "4" and "groupKey" in document:
        return AlertSource.ALERTMANAGER
    # The generic shape has no top-level status; both vendors always send one.
    if "status" in document or "orgId" in document or "groupKey" in document:
        return AlertSource.GRAFANA
    return AlertSource.GENERIC


def _json(body: bytes) -> Any:
    if not body.strip():
        raise InvalidInput("the body is empty; send a JSON object")
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(document, dict):
        raise InvalidInput(f"the body must be a JSON object, not {_kind(document)}")
    return document


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _reasons(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = []
    for error in errors[:_REPORTED]:
        where = ".".join(str(p) for p in error["loc"]) or "(top)"
        parts.append(f"{where}: {error['msg']}")
    more = len(errors) - _REPORTED
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _vendor(
    source: AlertSource,
    alerts: Sequence[AlertmanagerAlert],
    group_key: str | None,
    truncated: int,
) -> Delivery:
    parsed = []
    for item in alerts:
        fingerprint = item.fingerprint or derive_fingerprint(item.labels)
        parsed.append(
            Alert(
                source=source,
                fingerprint=fingerprint,
                status=item.status,
                title=_title(item.labels, item.annotations, fingerprint),
                summary=item.annotations.get("summary") or item.annotations.get("description"),
                # Without a group key each alert is its own group.
                group_key=group_key or f"fingerprint:{fingerprint}",
                labels=dict(item.labels),
                annotations=dict(item.annotations),
                starts_at=item.startsAt,
                ends_at=item.endsAt,
                generator_url=item.generatorURL or None,
                fingerprint_derived=not item.fingerprint,
            )
        )
    return Delivery(source=source, alerts=tuple(parsed), truncated=truncated)


def _title(labels: Mapping[str, str], annotations: Mapping[str, str], fingerprint: str) -> str:
    for candidate in (labels.get("alertname"), annotations.get("summary")):
        if candidate and candidate.strip():
            return candidate.strip()[:200]
    return f"alert {fingerprint[:12]}"


def _generic(payload: GenericPayload) -> Delivery:
    parsed = []
    for index, item in enumerate(payload.alerts):
        if item.fingerprint is None and not item.labels:
            raise InvalidInput(
                f"not a generic payload: alerts.{index}: give a fingerprint or at least one label"
            )
        fingerprint = item.fingerprint or derive_fingerprint(item.labels)
        group = item.group_key or payload.group_key or f"fingerprint:{fingerprint}"
        parsed.append(
            Alert(
                source=AlertSource.GENERIC,
                fingerprint=fingerprint,
                status=item.status,
                title=item.title.strip() or f"alert {fingerprint[:12]}",
                summary=item.summary,
                group_key=group,
                labels=dict(item.labels),
                annotations=dict(item.annotations),
                starts_at=item.starts_at,
                ends_at=item.ends_at,
                generator_url=item.url,
                fingerprint_derived=item.fingerprint is None,
            )
        )
    return Delivery(source=AlertSource.GENERIC, alerts=tuple(parsed))
