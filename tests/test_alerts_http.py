"""POST /alerts/<source> over real HTTP (waitress on a free port), on each database lane."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from commandpost.core.alerts import AlertSource
from commandpost.ingest import is_alert_path
from commandpost.runtime import build_context
from commandpost.service.context import Context
from commandpost.service.incidents import get_incident

from .alertsupport import (
    ALL_TABLES,
    ENVIRON,
    AlertClient,
    fixture,
    generic,
    generic_alert,
    open_incidents_by_fingerprint,
    serve_alerts,
)
from .support import counts

AM, GRAFANA, GENERIC = AlertSource.ALERTMANAGER, AlertSource.GRAFANA, AlertSource.GENERIC


@pytest.fixture
def alerts(ctx: Context) -> Iterator[AlertClient]:
    with serve_alerts(ctx) as client:
        yield client


def rejected(source: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "commandpost_alert_payloads_rejected_total", {"source": source, "reason": reason}
    )
    return value or 0.0


def refused(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["ok"] is False and body["error"] == error
    return str(body["reason"])


def test_the_path_predicate() -> None:
    assert is_alert_path("/alerts/alertmanager") and is_alert_path("/alerts/x")
    assert not is_alert_path("/slack/events") and not is_alert_path("/alertsx")


@pytest.mark.parametrize(
    ("source", "headers", "reason"),
    [
        (AM, {}, "missing bearer token"),
        (AM, {"Authorization": "Bearer not-the-token"}, "wrong bearer token"),
        (AM, {"Authorization": "Basic dXNlcjpwYXNz"}, "missing bearer token"),
        (GRAFANA, {"Authorization": "Bearer test-alertmanager-token"}, "wrong bearer token"),
        (GENERIC, {}, "missing X-CommandPost-Timestamp or X-CommandPost-Signature"),
        (
            GENERIC,
            {"X-CommandPost-Timestamp": "1772442000", "X-CommandPost-Signature": "sha256=00"},
            "signature does not match",
        ),
        (
            GENERIC,
            {"X-CommandPost-Timestamp": "soon", "X-CommandPost-Signature": "sha256=00"},
            "whole seconds",
        ),
    ],
)
def test_unauthenticated_deliveries_get_401_and_write_nothing(
    alerts: AlertClient, ctx: Context, source: AlertSource, headers: dict[str, str], reason: str
) -> None:
    body = fixture(f"{source.value}_firing")
    before = counts(ctx, ALL_TABLES)
    seen = rejected(source.value, "unauthenticated")
    response = alerts.post(source, body, headers=headers, auth=False)
    assert reason in refused(response, 401, "unauthenticated")
    assert counts(ctx, ALL_TABLES) == before
    assert rejected(source.value, "unauthenticated") == seen + 1


def test_a_signature_is_bound_to_its_body_and_its_time(alerts: AlertClient, ctx: Context) -> None:
    body = fixture("generic_firing")
    before = counts(ctx, ALL_TABLES)
    other = alerts.auth_headers("generic", fixture("generic_minimal"))
    assert refused(alerts.post(GENERIC, body, headers=other, auth=False), 401, "unauthenticated")
    stale = alerts.auth_headers("generic", body, age=301)
    reason = refused(alerts.post(GENERIC, body, headers=stale, auth=False), 401, "unauthenticated")
    assert "outside the accepted window" in reason
    assert counts(ctx, ALL_TABLES) == before
    fresh = alerts.auth_headers("generic", body, age=299)
    assert alerts.post(GENERIC, body, headers=fresh, auth=False).status_code == 200


def test_too_large_is_413_by_content_length_and_by_what_is_read(
    alerts: AlertClient, ctx: Context
) -> None:
    limit = ctx.policy.alerts.max_body_bytes
    big = generic(generic_alert("big", title="x" * 10), padding="y" * limit)
    before = counts(ctx, ALL_TABLES)
    seen = rejected("alertmanager", "too_large")
    refused(alerts.post(AM, big), 413, "too_large")
    assert rejected("alertmanager", "too_large") == seen + 1

    # Chunked, so no Content-Length to go by: the read itself is capped.
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    response = httpx.post(
        f"{alerts.url}/alerts/alertmanager",
        content=chunks(),
        headers={"Authorization": "Bearer test-alertmanager-token"},
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    refused(response, 413, "too_large")
    assert counts(ctx, ALL_TABLES) == before


def test_malformed_is_400_with_the_reason(alerts: AlertClient, ctx: Context) -> None:
    before = counts(ctx, ALL_TABLES)
    seen = rejected("grafana", "malformed")
    reason = refused(alerts.post(GRAFANA, b'{"status": "firing"'), 400, "malformed")
    assert reason.startswith("the body is not JSON")
    reason = refused(alerts.post(AM, fixture("grafana_firing")), 400, "malformed")
    assert reason.startswith("not a alertmanager payload: version: Input should be '4'")
    reason = refused(alerts.post(GRAFANA, b"[]"), 400, "malformed")
    assert reason == "the body must be a JSON object, not an array"
    assert rejected("grafana", "malformed") == seen + 2
    assert counts(ctx, ALL_TABLES) == before


def test_unknown_sources_methods_and_missing_secrets(ctx: Context) -> None:
    environ = {k: v for k, v in ENVIRON.items() if "GRAFANA" not in k}
    with serve_alerts(ctx, environ) as alerts:
        refused(alerts.post("pagerduty", b"{}"), 404, "unknown_source")
        got = httpx.get(f"{alerts.url}/alerts/alertmanager")
        refused(got, 405, "method_not_allowed")
        assert got.headers["allow"] == "POST"
        reason = refused(alerts.post(GRAFANA, fixture("grafana_firing")), 503, "not_configured")
        assert reason == "alert source grafana has no secret set"
        assert rejected("unknown", "unknown_source") >= 1


def test_a_source_left_out_of_the_policy_has_no_endpoint(ctx: Context) -> None:
    rules = ctx.policy.alerts.model_copy(update={"sources": {}})
    narrowed = ctx.policy.model_copy(update={"alerts": rules})
    limited = Context(ctx.engine, narrowed, ctx.clock, ctx.chat, ctx.executor)
    with serve_alerts(limited) as alerts:
        reason = refused(alerts.post(AM, fixture("alertmanager_firing")), 404, "source_disabled")
    assert reason == "alert source alertmanager is not enabled in the policy"


def test_deliveries_end_to_end(alerts: AlertClient, ctx: Context) -> None:
    first = alerts.post(AM, fixture("alertmanager_firing"))
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["ok"] and answer["opened"] == ["INC-2026-0001"] and not answer["duplicate"]
    assert answer["incidents"] == {"INC-2026-0001": {"alerts": 2, "fingerprints": 2, "firing": 2}}

    # A repeat delivery (a sender's retry) changes nothing.
    before = counts(ctx, ALL_TABLES)
    again = alerts.post(AM, fixture("alertmanager_firing")).json()
    assert again["duplicate"] and again["opened"] == [] and again["delivery"] == answer["delivery"]
    assert counts(ctx, ALL_TABLES) == before

    # Resolved: noted, and the incident stays open.
    resolved = alerts.post(AM, fixture("alertmanager_resolved")).json()
    assert resolved["resolved_noted"] == 1 and resolved["opened"] == []
    assert get_incident(ctx, "INC-2026-0001").status == "declared"

    # Each source's fixture; every fingerprint has one open incident.
    for source in (GRAFANA, GENERIC):
        assert alerts.post(source, fixture(f"{source.value}_firing")).status_code == 200
    assert alerts.post(GENERIC, fixture("generic_several")).status_code == 200
    homes = open_incidents_by_fingerprint(ctx)
    assert len(homes) == 2 + 2 + 1 + 3
    assert all(len(v) == 1 for v in homes.values())


def test_the_flood_limit_over_http(alerts: AlertClient, ctx: Context) -> None:
    answers = [alerts.post(GENERIC, generic(generic_alert(f"flood-{n}"))).json() for n in range(8)]
    assert sum(len(a["opened"]) for a in answers) == ctx.policy.alerts.flood.max_incidents == 5
    storms = {a["storm"]["incident"] for a in answers[5:]}
    assert len(storms) == 1 and None not in storms
    assert [a["storm"]["opened"] for a in answers[5:]] == [True, False, False]
    (storm,) = storms
    assert answers[-1]["incidents"][storm] == {"alerts": 3, "fingerprints": 3, "firing": 3}
    assert len(open_incidents_by_fingerprint(ctx)) == 8


def test_the_answer_is_json_with_a_length(alerts: AlertClient) -> None:
    response = alerts.post(GENERIC, fixture("generic_minimal"))
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert json.loads(response.content)["source"] == "generic"


def test_a_failure_inside_is_500_without_details(ctx: Context, tmp_path: Path) -> None:
    # A database without the schema: the ingestion fails after authentication.
    broken = build_context(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
        policy=ctx.policy,
        clock=ctx.clock,
        chat=ctx.chat,
        check_schema=False,
    )
    try:
        with serve_alerts(broken) as alerts:
            response = alerts.post(AM, fixture("alertmanager_firing"))
    finally:
        broken.engine.dispose()
    assert response.status_code == 500
    assert response.json() == {
        "ok": False,
        "error": "internal",
        "reason": "the delivery was not handled",
    }
