"""The `commandpost` command line: one Typer app, one sub-module per group of verbs."""

from __future__ import annotations

import importlib
import sys

import typer

from commandpost.errors import CommandPostError, UserError

app = typer.Typer(
    name="commandpost",
    help="Command Post: human-led incident response when AI models misbehave.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
