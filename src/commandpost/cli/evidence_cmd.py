"""Sealed evidence, legal holds, retention and exports from the command line.

`evidence-store add|show|list|verify`, `hold place|release`, `retention run`, `export`,
`export-verify`. (`commandpost evidence INC TEXT` stays the responder's quick verb.)
"""

from __future__ import annotations

import mimetypes
import sys
from pathlib import Path

import typer

from commandpost.cli.app import app
from commandpost.cli.common import context, deliver, settings
from commandpost.errors import InvalidInput
from commandpost.evidence.archive import verify_archive
from commandpost.service import evidence
from commandpost.service.evidence_export import export as export_incident
from commandpost.service.evidence_retention import place_hold, release_hold, run_retention
from commandpost.service.ids import parse_incident_id

ACTOR = typer.Option(..., "--as", help="Who is doing this (a person id from the policy).")
REASON = typer.Option(..., "--reason", help="Why: recorded in the chain of custody.")

store_app = typer.Typer(help="Sealed evidence: add, read (logged), verify.", no_args_is_help=True)
hold_app = typer.Typer(
    help="Legal holds: nothing is deleted while one stands.", no_args_is_help=True
)
retention_app = typer.Typer(help="Delete evidence past its retention.", no_args_is_help=True)
app.add_typer(store_app, name="evidence-store")
app.add_typer(hold_app, name="hold")
app.add_typer(retention_app, name="retention")


def _secret() -> bytes:
    secret = settings().export_signing_secret
    if secret is None or not secret.get_secret_value():
        raise InvalidInput("set COMMANDPOST_EXPORT_SIGNING_SECRET (the export signing key)")
    return secret.get_secret_value().encode()


@store_app.command("add")
def add(
    incident_id: str = typer.Argument(..., metavar="INC"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The file to seal."),
    actor: str = ACTOR,
    kind: str = typer.Option("other", help="prompt, output, trace, config or other."),
    label: str = typer.Option(None, help="A short description (default: the file name)."),
    media_type: str = typer.Option(None, "--media-type", help="Default: guessed from the name."),
) -> None:
    """Seal a file as evidence; the channel gets a redacted copy."""
    ctx = context()
    guessed = media_type or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    added = evidence.add(
        ctx,
        parse_incident_id(incident_id),
        actor=actor,
        content=file.read_bytes(),
        kind=kind,
        label=label or file.name,
        media_type=guessed,
    )
    deliver(ctx)
    typer.echo(f"sealed evidence #{added.id} sha256:{added.sha256} ({added.size} bytes)")


@store_app.command("show")
def show(
    evidence_id: int = typer.Argument(..., metavar="ID"),
    actor: str = ACTOR,
    reason: str = REASON,
) -> None:
    """Write a sealed original to stdout: needs a reader role and a reason; logged."""
    content = evidence.read_original(context(), evidence_id, actor=actor, reason=reason)
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()


@store_app.command("list")
def list_(incident_id: str = typer.Argument(..., metavar="INC")) -> None:
    """An incident's evidence: hashes and the redacted copies, never the originals."""
    for item in evidence.list_evidence(context(), parse_incident_id(incident_id)):
        state = f"deleted {item.deleted_at:%Y-%m-%d}" if item.deleted_at else "sealed"
        typer.echo(
            f"#{item.id} {item.kind} {item.sha256} {item.size}B {state} "
            f"by {item.added_by} at {item.added_at:%Y-%m-%d %H:%M}Z: {item.label}"
        )


@store_app.command("verify")
def verify() -> None:
    """Re-hash every stored object; exit 1 naming any changed or missing."""
    report = evidence.verify(context())
    for sha in report.changed:
        typer.echo(f"CHANGED {sha}", err=True)
    for sha in report.missing:
        typer.echo(f"MISSING {sha}", err=True)
    if not report.ok:
        raise typer.Exit(1)
    typer.echo(f"evidence store ok: {report.checked} object(s)")


@hold_app.command("place")
def hold_place(
    incident_id: str = typer.Argument(..., metavar="INC"), actor: str = ACTOR, reason: str = REASON
) -> None:
    """Place a legal hold: retention deletes nothing of this incident until released."""
    ctx = context()
    place_hold(ctx, parse_incident_id(incident_id), actor=actor, reason=reason)
    deliver(ctx)
    typer.echo(f"legal hold placed on {parse_incident_id(incident_id)}")


@hold_app.command("release")
def hold_release(
    incident_id: str = typer.Argument(..., metavar="INC"), actor: str = ACTOR, reason: str = REASON
) -> None:
    """Release a legal hold (only the role the policy names, legal by default)."""
    ctx = context()
    release_hold(ctx, parse_incident_id(incident_id), actor=actor, reason=reason)
    deliver(ctx)
    typer.echo(f"legal hold released on {parse_incident_id(incident_id)}")


@retention_app.command("run")
def retention_run() -> None:
    """Delete evidence past its class's retention (never under a legal hold)."""
    ctx = context()
    done = run_retention(ctx)
    for item in done:
        typer.echo(f"deleted #{item.evidence_id} {item.incident_id} {item.sha256}: {item.reason}")
    typer.echo(f"retention: {len(done)} record(s) deleted")


@app.command("export")
def export(
    incident_id: str = typer.Argument(..., metavar="INC"),
    out: Path = typer.Option(..., "--out", dir_okay=False, help="The zip to write."),
    actor: str = ACTOR,
    reason: str = REASON,
) -> None:
    """One signed zip: record, audit chain and its verification, evidence, notices."""
    manifest = export_incident(
        context(), parse_incident_id(incident_id), out=out, actor=actor, reason=reason,
        secret=_secret(),
    )  # fmt: skip
    typer.echo(f"wrote {out}: {len(manifest['files'])} file(s), signed")


@app.command("export-verify")
def export_verify(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Check an export's files against its manifest and the manifest's signature (exit 1)."""
    report = verify_archive(file, secret=_secret())
    if report.problem:
        typer.echo(f"export BROKEN: {report.problem}", err=True)
    if not report.signature_ok and not report.problem:
        typer.echo("export BROKEN: the manifest's signature does not match", err=True)
    for label, names in (
        ("CHANGED", report.changed),
        ("MISSING", report.missing),
        ("UNLISTED", report.unlisted),
    ):
        for name in names:
            typer.echo(f"{label} {name}", err=True)
    if not report.ok:
        raise typer.Exit(1)
    typer.echo(f"export ok: {file}")
