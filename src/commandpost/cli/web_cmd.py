"""`commandpost web link PERSON`: a signed link into the read-only incident pages."""

from __future__ import annotations

import typer

from commandpost.cli.app import app
from commandpost.cli.common import policy, settings
from commandpost.core.durations import parse_duration
from commandpost.service.ports import SystemClock
from commandpost.web.links import viewer_link

web_app = typer.Typer(help="The read-only incident pages on `serve`.", no_args_is_help=True)
app.add_typer(web_app, name="web")


@web_app.command("link")
def link(
    person: str = typer.Argument(..., help="A person id from the policy."),
    ttl: str = typer.Option(
        None, "--ttl", help="How long the link works, like 15m or 1h (default: the setting)."
    ),
) -> None:
    """Print a signed viewer link for PERSON; opening it starts a session in the browser.

    The link is a credential until it expires: send it to that person only."""
    url = viewer_link(
        settings=settings(),
        policy=policy(),
        person_id=person,
        now=SystemClock().now(),
        ttl=parse_duration(ttl) if ttl else None,
    )
    typer.echo(url)
