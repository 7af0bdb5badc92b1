"""The `commandpost` command line: one Typer app, one sub-module per group of verbs."""

from __future__ import annotations

import importlib
import sys
from contextlib import ExitStack

import typer

from commandpost.errors import CommandPostError, UserError
from commandpost.service.origin import acting_from

app = typer.Typer(
    name="commandpost",
    help="Command Post: human-led incident response when AI models misbehave.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Long-running servers act for the people and systems that reach them, who set their own
# origin; anything else run from the command line is a person at a terminal.
SERVERS = frozenset({"serve", "worker"})


@app.callback()
def _acting_from_cli(context: typer.Context) -> None:
    if context.invoked_subcommand in SERVERS:
        return
    scope = ExitStack()
    scope.enter_context(acting_from("cli"))
    context.call_on_close(scope.close)


VERB_MODULES = (
    "policy_cmd",
    "db_cmd",
    "incident_cmd",
    "gate_cmd",
    "audit_cmd",
    "drill_cmd",
    "serve_cmd",
    "worker_cmd",
    "notice_cmd",
    "alerts_cmd",
    "evidence_cmd",
    "web_cmd",
    "review_cmd",
    "metrics_cmd",
)


def _register() -> None:
    # Imported here so each verb module registers itself on `app` without import cycles.
    for name in VERB_MODULES:
        importlib.import_module(f"commandpost.cli.{name}")


def main() -> None:
    _register()
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except CommandPostError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
