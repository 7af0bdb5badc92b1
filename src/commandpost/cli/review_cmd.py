"""`commandpost review show|edit|done INC`: the post-incident review, as in chat."""

from __future__ import annotations

import typer

from commandpost.cli.app import app
from commandpost.cli.common import context, deliver, read_text
from commandpost.service import review
from commandpost.service.ids import parse_incident_id

review_app = typer.Typer(
    help="The post-incident review: opened at resolve, done by the IC before close.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")

ACTOR = typer.Option(..., "--as", help="Who is doing this (a person id from the policy).")
INCIDENT = typer.Argument(..., metavar="INC")


@review_app.command("show")
def show(incident_id: str = INCIDENT) -> None:
    """Print the review's Markdown; its state and version go to stderr."""
    row = review.get(context(), parse_incident_id(incident_id))
    state = f"done by {row.done_by} at {row.done_at:%Y-%m-%d %H:%M:%S}Z" if row.done_at else "draft"
    typer.echo(f"{row.incident_id} review: {state}, version {row.version}", err=True)
    typer.echo(row.text, nl=False)


@review_app.command("edit")
def edit(
    incident_id: str = INCIDENT,
    file: str = typer.Option(..., "--file", help="The new Markdown, exactly; - reads stdin."),
    actor: str = ACTOR,
) -> None:
    """Replace the review's text (anyone with a role in the incident); the diff is audited."""
    ctx = context()
    row = review.edit(ctx, parse_incident_id(incident_id), actor=actor, text=read_text(file))
    deliver(ctx)
    typer.echo(f"{row.incident_id} review is now version {row.version}")


@review_app.command("done")
def done(incident_id: str = INCIDENT, actor: str = ACTOR) -> None:
    """Mark the review done (the incident commander only); the incident can then be closed."""
    ctx = context()
    row = review.mark_done(ctx, parse_incident_id(incident_id), actor=actor)
    deliver(ctx)
    typer.echo(f"{row.incident_id} review done by {row.done_by}")
