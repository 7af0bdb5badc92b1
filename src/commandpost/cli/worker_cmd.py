"""`commandpost worker`: a process that runs deadlines only, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer

from commandpost.cli.app import app
from commandpost.cli.common import context, settings


@app.command()
def worker(
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics on this port at /metrics."
    ),
    metrics_host: str = typer.Option("0.0.0.0", "--metrics-host", help="Metrics interface."),
    safety_poll: float = typer.Option(
        30.0, "--safety-poll", help="Seconds between checks for deadlines written elsewhere."
    ),
    deliver: bool = typer.Option(
        False,
        "--deliver/--no-deliver",
        help="Also deliver the outbox here, as a transcript on stdout (default: leave it to "
        "`serve`, which delivers through Slack).",
    ),
) -> None:
    """Fire deadlines as they fall due (acks, gates, SLA, cadence); several may share a database."""
    from prometheus_client import start_http_server

    from commandpost.scheduling import start_runner

    logging.basicConfig(
        level=settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it logs every job run
    ctx = context()
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if metrics_port is not None:
        server, _thread = start_http_server(metrics_port, addr=metrics_host)
        typer.echo(f"worker: metrics on http://{metrics_host}:{server.server_port}/metrics")
    runner = start_runner(ctx, safety_poll=safety_poll, deliver=deliver)
    typer.echo("worker: running deadlines", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        runner.shutdown(wait=True)
        ctx.engine.dispose()
        typer.echo("worker: stopped", err=True)
