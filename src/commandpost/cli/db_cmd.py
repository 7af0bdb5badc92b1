"""`commandpost db`: migrations."""

from __future__ import annotations

import typer

from commandpost.cli.app import app
from commandpost.cli.common import settings
from commandpost.storage.engine import make_engine
from commandpost.storage.migrate import current_revision, head_revision, upgrade

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Run the Alembic migrations up to the code's schema."""
    url = settings().database_url
    upgrade(url)
    typer.echo(f"database at revision {head_revision()}")


@db_app.command("status")
def db_status() -> None:
    """Show the database's schema revision next to the code's; exit 1 when behind."""
    current = current_revision(make_engine(settings().database_url))
    head = head_revision()
    typer.echo(f"database: {current or 'not migrated'}; code: {head}")
    if current != head:
        raise typer.Exit(1)
