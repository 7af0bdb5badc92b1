"""`commandpost alerts route FILE.json`: which route each alert in a saved payload would take."""

from __future__ import annotations

from pathlib import Path

import typer

from commandpost.cli.app import app
from commandpost.cli.common import policy as load_policy
from commandpost.core.alerts import (
    AlertSource,
    Routed,
    group_alerts,
    guess_source,
    parse_delivery,
    route,
)
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import Role
from commandpost.errors import InvalidInput

alerts_app = typer.Typer(help="Alerts from monitors.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("route")
def route_cmd(
    file: Path = typer.Argument(..., metavar="FILE.json", help="A saved webhook body."),
    source: str = typer.Option(
        None, "--source", help="alertmanager, grafana or generic (default: guessed)."
    ),
    policy_file: str = typer.Option(
        None, "--policy", help="Policy YAML (default: $COMMANDPOST_POLICY)."
    ),
) -> None:
    """Print, for each alert, the route it takes and the incident that route would open.

    Nothing is written: this reads the file and the policy only.
    """
    try:
        body = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None
    chosen = AlertSource.parse(source) if source else guess_source(body)
    policy = load_policy(policy_file)
    delivery = parse_delivery(chosen, body)
    guessed = "" if source else " (guessed; pass --source to choose)"
    typer.echo(f"{file}: {len(delivery.alerts)} alert(s) from {chosen.value}{guessed}")
    typer.echo(f"policy {policy.name} {policy.version()}")
    if delivery.truncated:
        typer.echo(f"the source left out {delivery.truncated} more alert(s)")
    number = 0
    for group in group_alerts(delivery.alerts):
        if len(group.alerts) > 1:
            typer.echo(
                f"\ngroup {group.key}: {len(group.alerts)} alerts, one incident "
                "(routed by its most severe firing alert)"
            )
        for alert in group.alerts:
            number += 1
            _print(number, route(alert, policy.alerts), policy)


def _print(number: int, routed: Routed, policy: Policy) -> None:
    alert = routed.alert
    derived = " (derived from the labels)" if alert.fingerprint_derived else ""
    typer.echo(f"\n{number}. {alert.title} [{alert.status.value}]")
    typer.echo(f"   fingerprint: {alert.fingerprint}{derived}")
    typer.echo(f"   route:       {routed.rule}")
    typer.echo(f"   class:       {routed.klass.value}")
    typer.echo(f"   severity:    {routed.severity.value}")
    typer.echo(f"   title:       {routed.title}")
    surface = [
        f"{name} {value}"
        for name, value in (
            ("model", routed.model),
            ("version", routed.model_version),
            ("endpoint", routed.endpoint),
            ("tenant", routed.tenant),
            ("region", routed.region),
        )
        if value
    ]
    typer.echo(f"   surface:     {' | '.join(surface) or '-'}")
    typer.echo(f"   pages:       {', '.join(r.value for r in _paged(routed, policy))}")
    if routed.missing:
        typer.echo(f"   missing labels: {', '.join(routed.missing)}")
    if not alert.firing:
        typer.echo("   (resolved: noted on its incident if it has one; never opens one)")


def _paged(routed: Routed, policy: Policy) -> list[Role]:
    """The severity's roles, then the route's own additions."""
    roles = list(policy.severity(routed.severity).page)
    return roles + [r for r in routed.page if r not in roles]
