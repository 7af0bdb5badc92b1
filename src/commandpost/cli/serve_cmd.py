"""`commandpost serve`: the Slack app over HTTP (or Socket Mode with SLACK_APP_TOKEN)."""

from __future__ import annotations

import logging
import os
import signal
import sys

import typer

from commandpost.chat.slack.app import SlackSettings, missing_settings
from commandpost.cli.app import app
from commandpost.cli.common import policy, settings
from commandpost.serving import build_server


@app.command()
def serve(
    host: str = typer.Option("0.0.0.0", "--host", help="Interface to listen on."),
    port: int = typer.Option(
        int(os.environ.get("PORT") or 3000), "--port", help="Port (default $PORT or 3000)."
    ),
    one_process: bool = typer.Option(
        False,
        "--one-process",
        help="Do the work after each ack in this process too, not in a work process.",
    ),
) -> None:
    """Serve the Slack app (POST /slack/events), alert webhooks (POST /alerts/<source>), GET
    /healthz and /metrics, and the Teams approval page and commands when Teams is configured."""
    missing = missing_settings()
    if missing:
        typer.echo(
            "error: cannot serve Slack; missing environment variable(s): " + ", ".join(missing),
            err=True,
        )
        sys.exit(2)
    logging.basicConfig(level=settings().log_level)
    server = build_server(
        database_url=settings().database_url,
        policy=policy(),
        slack=SlackSettings.from_env(),
        settings=settings(),
        one_process=one_process,
    )
    # A container is stopped with SIGTERM: stop as on Ctrl-C, so the work process finishes
    # what was acked and the outbox keeps the rest.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server.serve_forever(host, port)
