"""The record: `audit verify`, `audit export`, `timeline`."""

from __future__ import annotations

import json
from typing import Any

import typer

from commandpost.cli.app import app
from commandpost.cli.common import context
from commandpost.errors import InvalidInput
from commandpost.service import audit_log
from commandpost.service.ids import parse_incident_id
from commandpost.service.incidents import get_incident
from commandpost.templating import render

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify() -> None:
    """Re-hash the whole chain; name the first altered, removed or reordered event (exit 1)."""
    report = audit_log.verify(context())
    if report.ok:
        typer.echo(f"audit chain ok: {report.count} event(s), head {report.head_hash}")
        return
    typer.echo(f"audit chain BROKEN at seq {report.first_bad_seq}: {report.reason}", err=True)
    raise typer.Exit(1)


@audit_app.command("export")
def export(
    incident_id: str = typer.Argument(..., metavar="INC"),
    fmt: str = typer.Option("jsonl", "--format", help="Only jsonl for now."),
) -> None:
    """Write an incident's events, one JSON object per line, with their hashes."""
    if fmt != "jsonl":
        raise InvalidInput(f"unknown format {fmt!r}; use jsonl")
    for line in audit_log.export_jsonl(context(), parse_incident_id(incident_id)):
        typer.echo(line)


@app.command()
def timeline(incident_id: str = typer.Argument(..., metavar="INC")) -> None:
    """A readable timeline of everything recorded for one incident."""
    ctx = context()
    chosen = parse_incident_id(incident_id)
    incident = get_incident(ctx, chosen)
    rows = audit_log.incident_events(ctx, chosen)
    events = []
    for r in rows:
        data: dict[str, Any] = json.loads(r.data)
        via = data.pop("via", None)  # shown beside the actor, not among the details
        events.append(
            {
                "seq": r.seq,
                "at": r.at,
                "actor": r.actor,
                "via": via,
                "kind": r.kind,
                "summary": summary(json.dumps(data)),
            }
        )
    head = rows[-1].hash if rows else ""
    text = render("timeline.txt.j2", incident=incident, events=events, head_hash=head)
    typer.echo(text, nl=False)


def summary(raw: str) -> str:
    """The event's data as `key=value` pairs, short enough for one line."""
    data: dict[str, Any] = json.loads(raw)
    parts = []
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={text if len(text) <= 80 else text[:77] + '…'}")
    return " ".join(parts)
