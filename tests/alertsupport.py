"""Helpers for the alert tests: fixture payloads, payload builders, the served ingest app."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, select
from waitress.server import create_server

from commandpost.core.alerts import AlertSource
from commandpost.core.lifecycle import OPEN_STATUSES
from commandpost.ingest import IngestSettings, alert_ingest_app, sign
from commandpost.service.context import Context
from commandpost.storage import models as m
from commandpost.storage.alert_models import AlertFingerprint, AlertIncident

from .support import TABLES

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"
ALERT_TABLES = ("alert_deliveries", "alert_incidents", "alert_fingerprints")
ALL_TABLES = (*TABLES, *ALERT_TABLES)

# The secrets the shipped policy's alert sources name, as the tests set them.
TOKEN = "test-alertmanager-token"
GRAFANA_TOKEN = "test-grafana-token"
HMAC_SECRET = "test-alerts-hmac-secret"
ENVIRON = {
    "COMMANDPOST_ALERTMANAGER_TOKEN": TOKEN,
    "COMMANDPOST_GRAFANA_TOKEN": GRAFANA_TOKEN,
    "COMMANDPOST_ALERTS_HMAC_SECRET": HMAC_SECRET,
}


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


# -- payload builders --------------------------------------------------------------------------


def am_alert(fingerprint: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": f"Alert{fingerprint}", **labels},
        "annotations": {"summary": f"summary of {fingerprint}"},
        "startsAt": "2026-03-02T08:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example.com/graph?fp={fingerprint}",
        "fingerprint": fingerprint,
    }


def alertmanager(alerts: Sequence[dict[str, Any]], *, group: str = "{}:{}", **extra: Any) -> bytes:
    """An Alertmanager v4 body with these alerts in one group."""
    firing = any(a["status"] == "firing" for a in alerts)
    body = {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": "commandpost",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": list(alerts),
        **extra,
    }
    return json.dumps(body).encode()


def generic(*alerts: Mapping[str, Any], **top: Any) -> bytes:
    return json.dumps({"alerts": list(alerts), **top}).encode()


def generic_alert(
    fingerprint: str, status: str = "firing", *, title: str | None = None, **labels: str
) -> dict[str, Any]:
    return {
        "status": status,
        "title": title or f"alert {fingerprint}",
        "fingerprint": fingerprint,
        "labels": {"check": fingerprint, **labels},
    }


# -- what the database holds -------------------------------------------------------------------


def open_incidents_by_fingerprint(ctx: Context) -> dict[tuple[str, str], list[str]]:
    """(source, fingerprint) → the open incidents it is attached to."""
    open_values = [s.value for s in OPEN_STATUSES]
    with Session(ctx.engine) as s:
        rows = s.exec(
            select(AlertFingerprint.source, AlertFingerprint.fingerprint, m.Incident.id)
            .join(m.Incident, col(m.Incident.id) == col(AlertFingerprint.incident_id))
            .where(col(m.Incident.status).in_(open_values))
        ).all()
    found: dict[tuple[str, str], list[str]] = {}
    for source, fingerprint, incident_id in rows:
        found.setdefault((source, fingerprint), []).append(incident_id)
    return found


def alert_incident(ctx: Context, incident_id: str) -> AlertIncident:
    with Session(ctx.engine) as s:
        row = s.get(AlertIncident, incident_id)
        assert row is not None
        return row


def incidents(ctx: Context) -> list[m.Incident]:
    with Session(ctx.engine) as s:
        return list(s.exec(select(m.Incident).order_by(col(m.Incident.id))))


# -- the ingest app over real HTTP -------------------------------------------------------------


@dataclass
class AlertClient:
    url: str  # http://127.0.0.1:PORT
    ctx: Context

    def post(
        self,
        source: AlertSource | str,
        body: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> httpx.Response:
        name = source.value if isinstance(source, AlertSource) else source
        sent = {"Content-Type": "application/json"}
        if auth:
            sent.update(self.auth_headers(name, body))
        sent.update(headers or {})
        return httpx.post(f"{self.url}/alerts/{name}", content=body, headers=sent, timeout=30)

    def auth_headers(self, source: str, body: bytes, *, age: float = 0) -> dict[str, str]:
        """What a correctly configured sender of `source` sends (per the shipped policy)."""
        if source == "alertmanager":
            return {"Authorization": f"Bearer {TOKEN}"}
        if source == "grafana":
            return {"Authorization": f"Bearer {GRAFANA_TOKEN}"}
        stamp = int(self.ctx.now().timestamp() - age)
        return {
            "X-CommandPost-Timestamp": str(stamp),
            "X-CommandPost-Signature": sign(HMAC_SECRET, timestamp=stamp, body=body),
        }


@contextmanager
def serve_alerts(ctx: Context, environ: Mapping[str, str] = ENVIRON) -> Iterator[AlertClient]:
    """The ingest WSGI app on waitress, on a free port, in a background thread."""
    app = alert_ingest_app(ctx, IngestSettings(environ=dict(environ)))
    # A short select timeout: stopping waits for the loop's current wait to end.
    server = create_server(
        app, host="127.0.0.1", port=0, threads=4, ident="alerts-test", asyncore_loop_timeout=0.05
    )
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            # close() pulls the sockets out from under waitress's select loop.
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, name="alerts-http", daemon=True)
    thread.start()
    try:
        yield AlertClient(f"http://127.0.0.1:{server.effective_port}", ctx)
    finally:
        stopping.set()
        server.close()
        thread.join(timeout=5)
