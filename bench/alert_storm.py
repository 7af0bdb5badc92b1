"""An alert storm against the served app: how many alerts a second, how slow the answers,
and whether the flood rule held.

    .venv/bin/python bench/alert_storm.py [--alerts 10000] [--fingerprints 50]
        [--concurrency 8] [--latency-ms 50] [--skip-postgres] [--py-spy FILE.svg]

`--alerts` Alertmanager deliveries (POST /alerts/alertmanager, bearer token), one alert each,
over `--fingerprints` fingerprints in turn, each its own group. Every body differs (an
annotation carries the running number), so none is dropped as a retry. `--concurrency`
client threads send them, each on one kept-alive connection.

Per database (SQLite in a temporary directory; PostgreSQL from tests/pgserver.py) the served
app (`make_server`: waitress, 8 threads, runner and deliverer) runs in a child process against
tests/fakeslack.py; the baseline is the same server with an alerts app that does nothing.

Printed: alerts a second, p50/p99/max time to the response, and what the database holds
afterwards: incidents opened (the flood rule's `max_incidents` plus one storm), every
fingerprint on exactly one open incident, every alert counted once. A missed target (500
alerts a second on SQLite) or a wrong count is printed, not an error. `--py-spy FILE`: a
py-spy profile (--gil) of the SQLite app while it is timed (FILE.txt: collapsed stacks).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from waitress.server import create_server

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT / "tests", ROOT):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from child_app import app_process, postgres_database, profiled  # noqa: E402
from keepalive import KeepAlive  # noqa: E402
from tests.fakeslack import FakeSlack  # noqa: E402
from tests.slackreq import SECRET  # noqa: E402

from commandpost.chat.slack.app import SlackSettings  # noqa: E402
from commandpost.chat.slack.server import StartResponse, health_app, make_server  # noqa: E402
from commandpost.core.lifecycle import OPEN_STATUSES  # noqa: E402
from commandpost.ingest import IngestSettings  # noqa: E402
from commandpost.policy_file import load_policy  # noqa: E402
from commandpost.storage.migrate import upgrade  # noqa: E402

POLICY = ROOT / "policy.yml"
TOKEN = "bench-alertmanager-token"
ENVIRON = {"COMMANDPOST_ALERTMANAGER_TOKEN": TOKEN}
WARMUP = 16  # requests to /healthz before timing: imports, first connections
TARGET_RATE = 500.0  # alerts a second, SQLite


# ---------------------------------------------------------------------------- the payloads
def body(n: int, fingerprints: int) -> bytes:
    """Alert n: fingerprint n mod `fingerprints`, alone in its group, firing."""
    fp = f"storm{n % fingerprints:04d}"
    alert = {
        "status": "firing",
        "labels": {"alertname": f"Storm{fp}", "detector": "bench", "model": "chat-v7"},
        "annotations": {"summary": f"{fp} is firing", "value": str(n)},
        "startsAt": "2026-03-02T08:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.example.com/graph?fp={fp}",
        "fingerprint": fp,
    }
    delivery = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="Storm{fp}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "commandpost",
        "groupLabels": {"alertname": f"Storm{fp}"},
        "commonLabels": alert["labels"],
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": [alert],
    }
    return json.dumps(delivery).encode()


# ---------------------------------------------------------------------- the served apps
def noop_alerts(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """The baseline's alerts app: read the body, answer 200, do nothing."""
    stream = environ.get("wsgi.input")
    if stream is not None:
        stream.read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "12")])
    return [b'{"ok": true}']


def serve_child(kind: str, *, api_url: str, token: str, database_url: str) -> None:
    """Run one app until stdin closes; print its port first (the parent reads that line)."""
    logging.basicConfig(level=logging.ERROR)
    policy = load_policy(str(POLICY))
    settings = SlackSettings(signing_secret=SECRET, bot_token=token, api_url=api_url)
    if kind == "baseline":
        from slack_bolt import App
        from slack_bolt.adapter.wsgi import SlackRequestHandler

        bolt = App(signing_secret=SECRET, token=token, token_verification_enabled=False)
        wsgi = health_app(SlackRequestHandler(bolt), noop_alerts)
        server: Any = create_server(wsgi, host="127.0.0.1", port=0, threads=8, ident="base")
        thread = threading.Thread(target=server.run, name="baseline-http", daemon=True)
        thread.start()
        print(server.effective_port, flush=True)
        sys.stdin.read()
        server.close()
        return
    app = make_server(
        database_url=database_url,
        policy=policy,
        settings=settings,
        ingest=IngestSettings(environ=ENVIRON),
    ).start()
    try:
        print(app.port, flush=True)
        sys.stdin.read()
    finally:
        app.stop()
        app.ctx.engine.dispose()


# ---------------------------------------------------------------------------- the client
@dataclass
class Sample:
    seconds: float
    status: int


def send_all(port: int, bodies: Sequence[bytes], threads: int) -> tuple[list[Sample], float]:
    """Send every body from `threads` threads (one kept-alive connection each): the samples
    and the wall time from the first send to the last answer."""
    client = KeepAlive(port)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}

    def warm(_: int) -> None:
        if client.request("GET", "/healthz")[0] != 200:
            raise RuntimeError("the app is not healthy")

    def one(payload: bytes) -> Sample:
        started = time.perf_counter()
        status, _ = client.request("POST", "/alerts/alertmanager", payload, headers)
        return Sample(time.perf_counter() - started, status)

    try:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="storm") as pool:
            list(pool.map(warm, range(WARMUP)))
            started = time.perf_counter()
            samples = list(pool.map(one, bodies))
            return samples, time.perf_counter() - started
    finally:
        client.close()


# --------------------------------------------------------------------------- measurements
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


@dataclass
class Figures:
    rate: float
    p50: float
    p99: float
    top: float
    non_200: int

    @classmethod
    def of(cls, samples: Sequence[Sample], wall: float) -> Figures:
        seconds = [s.seconds for s in samples]
        return cls(
            rate=len(samples) / wall if wall > 0 else math.inf,
            p50=percentile(seconds, 0.5),
            p99=percentile(seconds, 0.99),
            top=max(seconds),
            non_200=sum(1 for s in samples if s.status != 200),
        )

    def line(self, label: str) -> str:
        return (
            f"  {label:<30} {self.rate:8.0f}/s {ms(self.p50)} {ms(self.p99)} {ms(self.top)}"
            f"   non-200: {self.non_200}"
        )


def accounting(url: str, *, alerts: int, fingerprints: int) -> list[str]:
    """What the database holds, and whether it is what the flood rule allows."""
    flood = load_policy(str(POLICY)).alerts.flood
    open_values = ", ".join(f"'{v.value}'" for v in OPEN_STATUSES)
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            incidents = int(db.execute(text("SELECT count(*) FROM incidents")).scalar_one())
            kinds = {
                str(kind): int(n)
                for kind, n in db.execute(
                    text("SELECT kind, count(*) FROM alert_incidents GROUP BY kind")
                )
            }
            counted = int(db.execute(text("SELECT sum(alerts) FROM alert_incidents")).scalar() or 0)
            deliveries = int(db.execute(text("SELECT count(*) FROM alert_deliveries")).scalar_one())
            homes = db.execute(
                text(
                    "SELECT f.fingerprint, count(*) FROM alert_fingerprints f JOIN incidents i "
                    f"ON i.id = f.incident_id WHERE i.status IN ({open_values}) "
                    "GROUP BY f.fingerprint"
                )
            ).all()
    finally:
        engine.dispose()
    allowed = min(fingerprints, flood.max_incidents)
    expected = allowed + (1 if fingerprints > allowed else 0)
    on_one = sum(1 for _, n in homes if n == 1)
    ok = (
        incidents == expected
        and kinds.get("alert", 0) == allowed
        and kinds.get("storm", 0) == expected - allowed
        and on_one == len(homes) == fingerprints
        and counted == deliveries == alerts
    )
    return [
        f"  incidents opened: {incidents} ({kinds.get('alert', 0)} from alerts, "
        f"{kinds.get('storm', 0)} storm); the flood rule ({flood.max_incidents} per "
        f"{flood.window}) allows {allowed} + {expected - allowed} storm",
        f"  fingerprints on exactly one open incident: {on_one} of {fingerprints}",
        f"  alerts counted on incidents: {counted}; deliveries recorded: {deliveries}; "
        f"sent: {alerts}",
        f"  accounting: {'right' if ok else 'WRONG'}",
    ]


# -------------------------------------------------------------------------------- phases
def phase(
    name: str, url: str | None, *, fake: FakeSlack, args: argparse.Namespace, profile: str | None
) -> Figures:
    """Time the served app on `url`, then count what it stored; no `url`: the baseline."""
    bodies = [body(n, args.fingerprints) for n in range(args.alerts)]
    token = fake.token or "xoxb-bench"
    if url is not None:
        upgrade(url)
    kind = "commandpost" if url is not None else "baseline"
    served = app_process(__file__, kind, api_url=fake.base_url, token=token, database_url=url or "")
    with served as app, profiled(app.pid, profile):
        samples, wall = send_all(app.port, bodies, args.concurrency)
    figures = Figures.of(samples, wall)
    print(figures.line(name), flush=True)
    if url is not None:
        for line in accounting(url, alerts=args.alerts, fingerprints=args.fingerprints):
            print(line, flush=True)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--fingerprints", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="fake Slack, each call")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--py-spy", metavar="FILE", help="profile the SQLite app to FILE")
    parser.add_argument("--child", choices=("baseline", "commandpost"), help=argparse.SUPPRESS)
    for hidden in ("--api-url", "--token", "--database-url"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        serve_child(
            args.child, api_url=args.api_url, token=args.token, database_url=args.database_url
        )
        return 0
    if args.alerts < 1 or args.fingerprints < 1 or args.concurrency < 1:
        parser.error("--alerts, --fingerprints and --concurrency must be at least 1")
    logging.basicConfig(level=logging.ERROR)
    print(
        f"alert storm: {args.alerts} Alertmanager deliveries of one alert over "
        f"{args.fingerprints} fingerprints, {args.concurrency} client threads, "
        f"fake Slack {args.latency_ms:g} ms a call ({os.cpu_count()} CPUs)",
        flush=True,
    )
    print(f"\n  {'':<30} {'alerts':>10} {'p50':>11} {'p99':>11} {'max':>11}", flush=True)
    with tempfile.TemporaryDirectory(prefix="alert-storm-") as tmp, FakeSlack() as fake:
        fake.add_channel("incidents")
        fake.add_channel("general", channel_id="C0GENERAL")
        fake.set_latency(args.latency_ms / 1000)
        base = phase("baseline (200, nothing done)", None, fake=fake, args=args, profile=None)
        url = f"sqlite:///{Path(tmp) / 'commandpost.db'}"
        sqlite = phase("Command Post, SQLite", url, fake=fake, args=args, profile=args.py_spy)
        if not args.skip_postgres:
            found = postgres_database("alertstorm")
            if found is None:
                print("  PostgreSQL: not installed, skipped", flush=True)
            else:
                url, server = found
                try:
                    phase("Command Post, PostgreSQL", url, fake=fake, args=args, profile=None)
                finally:
                    server.stop()
    print("\ntarget")
    verdict = "yes" if sqlite.rate > TARGET_RATE and sqlite.non_200 == 0 else "NO"
    print(
        f"  over {TARGET_RATE:.0f} alerts/s on SQLite: {verdict} ({sqlite.rate:.0f}/s; the "
        f"baseline server answers {base.rate:.0f}/s, p99 {ms(base.p99).strip()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
