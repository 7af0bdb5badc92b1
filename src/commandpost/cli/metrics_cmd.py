"""`commandpost metrics`: time to acknowledge, contain, notify and resolve by class and
severity, SLA breaches and gates by outcome, read from the database (as `/metrics` does)."""

from __future__ import annotations

import json
from datetime import timedelta

import typer

from commandpost.cli.app import app
from commandpost.cli.common import context
from commandpost.core.durations import format_duration
from commandpost.core.milestones import MILESTONE_NAMES
from commandpost.service import review_metrics

_SHORT = {
    "acknowledged": "ack",
    "contained": "contain",
    "notified": "notify",
    "resolved": "resolve",
}


@app.command()
def metrics(
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of tables."),
) -> None:
    """Incident response times against the policy's SLAs, and gates by outcome.

    Times count from the declaration: n reached, mean and median; "late" counts the incidents
    that missed that milestone's SLA (or are past it without reaching it).
    """
    made = review_metrics.report(context())
    if as_json:
        typer.echo(json.dumps(made.to_json(), indent=2, sort_keys=True))
        return
    header = f"{'class':<22} {'sev':<5} {'n':>4}"
    for name in MILESTONE_NAMES:
        header += f"  {'time to ' + _SHORT[name] + ' (n mean/median late)':<36}"
    typer.echo(header.rstrip())
    for group in made.groups:
        line = f"{group.klass:<22} {group.severity:<5} {group.incidents:>4}"
        for name in MILESTONE_NAMES:
            line += f"  {_cell(group, name):<36}"
        typer.echo(line.rstrip())
    if not made.groups:
        typer.echo("(no incidents recorded)")
    breaches = made.breaches()
    typer.echo("")
    typer.echo("SLA breaches: " + ", ".join(f"{n} {breaches[n]}" for n in MILESTONE_NAMES))
    typer.echo("")
    typer.echo(f"{'gate kind':<22} {'outcome':<10} {'count':>5}")
    for (kind, outcome), count in sorted(made.gates.items()):
        typer.echo(f"{kind:<22} {outcome:<10} {count:>5}")
    if not made.gates:
        typer.echo("(no gates recorded)")


def _cell(group: review_metrics.Group, name: str) -> str:
    found = group.summary(name)
    mean, median = found["mean_seconds"], found["median_seconds"]
    if mean is None or median is None:
        return f"0 -/- {group.breaches[name]}"
    return f"{found['count']} {_span(mean)}/{_span(median)} {group.breaches[name]}"


def _span(seconds: float) -> str:
    return format_duration(timedelta(seconds=round(seconds)))
