"""`commandpost policy check`: validate a policy file before anyone relies on it."""

from __future__ import annotations

import typer

from commandpost.cli.app import app
from commandpost.cli.common import settings
from commandpost.errors import PolicyInvalid
from commandpost.policy_file import load_policy

policy_app = typer.Typer(help="Work with the policy file.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def check(
    file: str = typer.Argument(None, help="Policy YAML (default: $COMMANDPOST_POLICY)."),
) -> None:
    """Print every problem with its YAML path and line (exit 2), or a summary and the version."""
    path = file or settings().policy
    try:
        policy = load_policy(path)
    except PolicyInvalid as exc:
        typer.echo(f"{exc.source}: {len(exc.problems)} problem(s)", err=True)
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2) from None
    rotations = ", ".join(f"{role}: {'→'.join(r.chain())}" for role, r in policy.rotations.items())
    typer.echo(f"{path}: ok")
    typer.echo(f"  name:       {policy.name}")
    typer.echo(f"  version:    {policy.version()}")
    typer.echo(f"  severities: {', '.join(policy.severities)}")
    typer.echo(f"  people:     {len(policy.people)}")
    typer.echo(f"  rotations:  {rotations}")
    typer.echo(f"  gates:      {', '.join(policy.gates)}")
    typer.echo(f"  actions:    {', '.join(policy.actions)}")
