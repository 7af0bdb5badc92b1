"""Running an incident from the command line: the verbs a responder types in chat."""

from __future__ import annotations

import typer

from commandpost.cli.app import app
from commandpost.cli.common import context, deliver
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.service import incidents, roles
from commandpost.service.deadlines import pending_deadlines
from commandpost.service.ids import parse_incident_id

ACTOR = typer.Option(..., "--as", help="Who is doing this (a person id from the policy).")


def _id(text: str) -> str:
    return parse_incident_id(text)


@app.command()
def declare(
    severity: str = typer.Argument(..., help="SEV0…SEV3 (or 0…3)."),
    klass: str = typer.Argument(..., metavar="CLASS", help="e.g. data_leakage, harmful_content."),
    title: str = typer.Argument(..., help="One line: what is happening."),
    actor: str = ACTOR,
    model: str = typer.Option(None, help="Affected model."),
    model_version: str = typer.Option(None, "--model-version", help="Affected model version."),
    surface: str = typer.Option(None, help="Affected product surface."),
    tenant: str = typer.Option(None, help="Affected tenant."),
) -> None:
    """Declare an incident: opens its channel and pages the roles its severity needs."""
    ctx = context()
    spec = incidents.Declaration(
        title=title,
        klass=IncidentClass.parse(klass),
        severity=Severity.parse(severity),
        declared_by=actor,
        model=model,
        model_version=model_version,
        surface=surface,
        tenant=tenant,
    )
    incident = incidents.declare(ctx, spec)
    deliver(ctx)
    typer.echo(f"declared {incident.id} ({incident.severity}, policy {incident.policy_version})")


@app.command()
def ack(
    incident_id: str = typer.Argument(..., metavar="INC"),
    actor: str = ACTOR,
    role: str = typer.Option(None, help="Only this role (default: every role you were paged for)."),
) -> None:
    """Acknowledge a page: stops the reminder and escalation timers for your role."""
    ctx = context()
    taken = roles.acknowledge(
        ctx, _id(incident_id), person_id=actor, role=Role.parse(role) if role else None
    )
    deliver(ctx)
    typer.echo(f"{actor} acknowledged {', '.join(taken)}")


@app.command()
def assign(
    incident_id: str = typer.Argument(..., metavar="INC"),
    role: str = typer.Argument(..., help="ic, model_owner, safety_lead, comms, legal, …"),
    person: str = typer.Argument(..., help="Person id."),
    actor: str = ACTOR,
) -> None:
    """Give a role to someone (the incident commander assigns)."""
    ctx = context()
    roles.assign(ctx, _id(incident_id), role=Role.parse(role), person_id=person, actor=actor)
    deliver(ctx)


@app.command()
def handover(
    incident_id: str = typer.Argument(..., metavar="INC"),
    role: str = typer.Argument(...),
    person: str = typer.Argument(...),
    actor: str = ACTOR,
) -> None:
    """Hand your role over to someone else; the record shows both sides."""
    ctx = context()
    roles.assign(
        ctx, _id(incident_id), role=Role.parse(role), person_id=person, actor=actor, handover=True
    )
    deliver(ctx)


@app.command()
def sev(
    incident_id: str = typer.Argument(..., metavar="INC"),
    severity: str = typer.Argument(...),
    actor: str = ACTOR,
    reason: str = typer.Option(None, help="Why (needed for a downgrade)."),
) -> None:
    """Change severity; downgrading a SEV0/SEV1 opens a gate instead of applying at once."""
    ctx = context()
    gate_id = incidents.change_severity(
        ctx, _id(incident_id), severity=Severity.parse(severity), actor=actor, reason=reason
    )
    deliver(ctx)
    if gate_id is not None:
        typer.echo(f"severity downgrade needs approval: gate {gate_id}")


@app.command()
def status(
    incident_id: str = typer.Argument(..., metavar="INC"),
    to: str = typer.Argument(..., metavar="STATUS"),
    actor: str = ACTOR,
    note: str = typer.Option(None),
) -> None:
    """Move the incident along its lifecycle (illegal moves name the allowed ones)."""
    ctx = context()
    incidents.change_status(ctx, _id(incident_id), status=Status.parse(to), actor=actor, note=note)
    deliver(ctx)


@app.command()
def update(
    incident_id: str = typer.Argument(..., metavar="INC"),
    text: str = typer.Argument(...),
    actor: str = ACTOR,
) -> None:
    """Post a status update (restarts the update-cadence timer)."""
    ctx = context()
    incidents.post_update(ctx, _id(incident_id), actor=actor, text=text)
    deliver(ctx)


@app.command()
def note(
    incident_id: str = typer.Argument(..., metavar="INC"),
    text: str = typer.Argument(...),
    actor: str = ACTOR,
) -> None:
    """Add a note to the timeline."""
    ctx = context()
    incidents.add_note(ctx, _id(incident_id), actor=actor, text=text)
    deliver(ctx)


@app.command()
def evidence(
    incident_id: str = typer.Argument(..., metavar="INC"),
    text: str = typer.Argument(..., help="The evidence text (prompt, output, log excerpt)."),
    actor: str = ACTOR,
) -> None:
    """Attach evidence text; it is hash-chained into the audit trail like everything else."""
    ctx = context()
    incidents.add_note(ctx, _id(incident_id), actor=actor, text=text, evidence=True)
    deliver(ctx)


@app.command()
def resolve(
    incident_id: str = typer.Argument(..., metavar="INC"),
    summary: str = typer.Argument(...),
    actor: str = ACTOR,
) -> None:
    """Resolve: refused while gates are pending; stops every timer."""
    ctx = context()
    incidents.resolve(ctx, _id(incident_id), actor=actor, summary=summary)
    deliver(ctx)


@app.command()
def close(incident_id: str = typer.Argument(..., metavar="INC"), actor: str = ACTOR) -> None:
    """Close a resolved incident."""
    ctx = context()
    incidents.close(ctx, _id(incident_id), actor=actor)
    deliver(ctx)


@app.command("list")
def list_(all_: bool = typer.Option(False, "--all", help="Include resolved and closed.")) -> None:
    """List incidents (open ones by default)."""
    ctx = context()
    for inc in incidents.list_incidents(ctx, open_only=not all_):
        typer.echo(f"{inc.id}  {inc.severity}  {inc.status:<13} {inc.klass:<22} {inc.title}")


@app.command()
def show(incident_id: str = typer.Argument(..., metavar="INC")) -> None:
    """Show one incident: fields, role holders and pending deadlines."""
    ctx = context()
    inc = incidents.get_incident(ctx, _id(incident_id))
    typer.echo(f"{inc.id}: {inc.title}")
    for label, value in (
        ("severity", inc.severity),
        ("class", inc.klass),
        ("status", inc.status),
        ("model", f"{inc.model or '-'} {inc.model_version or ''}".strip()),
        ("channel", f"#{inc.channel}"),
        ("declared", f"{inc.declared_at:%Y-%m-%d %H:%M:%S}Z by {inc.declared_by}"),
        ("policy", inc.policy_version),
    ):
        typer.echo(f"  {label:<9} {value}")
    for row in roles.role_holders(ctx, inc.id):
        state = "acknowledged" if row.acknowledged_at else ("UNFILLED" if row.unfilled else "paged")
        typer.echo(f"  {row.role:<18} {row.person_id:<8} {state}")
    for deadline in pending_deadlines(ctx, inc.id):
        typer.echo(f"  due {deadline.due_at:%H:%M:%S}Z  {deadline.kind} {deadline.subject}")
