"""Gates and timers from the command line: contain, decide, confirm, restore, fire-due."""

from __future__ import annotations

import typer

from commandpost.cli.app import app
from commandpost.cli.common import context, deliver
from commandpost.core.gates import Decision
from commandpost.errors import InvalidInput
from commandpost.service import gates
from commandpost.service.deadlines import fire_due, pending_deadlines
from commandpost.service.ids import parse_incident_id

ACTOR = typer.Option(..., "--as", help="Who is doing this (a person id from the policy).")


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`key=value` words into a dict; a word without `=` is a usage error, not a guess."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"parameters are key=value; got {pair!r}")
        if key.strip() in params:
            raise InvalidInput(f"parameter {key.strip()!r} given twice")
        params[key.strip()] = value.strip()
    return params


@app.command()
def contain(
    incident_id: str = typer.Argument(..., metavar="INC"),
    action: str = typer.Argument(..., help="A containment action from the policy catalogue."),
    params: list[str] = typer.Argument(None, metavar="KEY=VALUE…"),
    actor: str = ACTOR,
    reason: str = typer.Option(None, help="Why this action, for the approvers."),
) -> None:
    """Request a containment action: opens a gate for the people the policy names."""
    ctx = context()
    gate_id = gates.request_containment(
        ctx,
        parse_incident_id(incident_id),
        action=action,
        params=parse_params(params or []),
        requester=actor,
        reason=reason,
    )
    deliver(ctx)
    typer.echo(f"gate {gate_id} opened for {action}")


@app.command()
def decide(
    gate_id: int = typer.Argument(..., metavar="GATE"),
    decision: str = typer.Argument(..., help="approve, reject or escalate."),
    actor: str = ACTOR,
    reason: str = typer.Option(None, help="Required to reject."),
) -> None:
    """Decide a gate; whether you may is checked here, whatever a button showed."""
    try:
        chosen = Decision(decision.strip().lower())
    except ValueError:
        allowed = "approve, reject or escalate"
        raise InvalidInput(f"decision must be {allowed}; got {decision!r}") from None
    ctx = context()
    state = gates.decide(ctx, gate_id, actor=actor, decision=chosen, reason=reason)
    deliver(ctx)
    typer.echo(f"gate {gate_id}: {state}")


@app.command()
def confirm(
    gate_id: int = typer.Argument(..., metavar="GATE"),
    actor: str = ACTOR,
    note: str = typer.Option(None, help="What was done, where."),
) -> None:
    """Confirm that a manual containment step was carried out."""
    ctx = context()
    gates.confirm_manual(ctx, gate_id, actor=actor, note=note)
    deliver(ctx)


@app.command()
def restore(
    incident_id: str = typer.Argument(..., metavar="INC"),
    gate_id: int = typer.Argument(..., metavar="GATE", help="The executed containment gate."),
    actor: str = ACTOR,
    reason: str = typer.Option(None),
) -> None:
    """Request to undo a reversible containment action (a gate of its own)."""
    ctx = context()
    new_gate = gates.request_restore(
        ctx, parse_incident_id(incident_id), gate_id=gate_id, requester=actor, reason=reason
    )
    deliver(ctx)
    typer.echo(f"gate {new_gate} opened to restore gate {gate_id}")


@app.command("gates")
def list_gates(incident_id: str = typer.Argument(..., metavar="INC")) -> None:
    """List an incident's gates with their state and execution."""
    ctx = context()
    for gate in gates.list_gates(ctx, parse_incident_id(incident_id)):
        execution = gate.execution or "-"
        typer.echo(
            f"gate {gate.id:<4} {gate.kind:<12} {gate.subject:<22} {gate.state:<10} "
            f"tier {gate.tier}  execution {execution}  by {gate.requester}"
        )


@app.command()
def deadlines(incident_id: str = typer.Argument(None, metavar="[INC]")) -> None:
    """Pending deadlines (acks, gate decisions, mitigation SLA, update cadence)."""
    ctx = context()
    chosen = parse_incident_id(incident_id) if incident_id else None
    for row in pending_deadlines(ctx, chosen):
        typer.echo(
            f"{row.due_at:%Y-%m-%d %H:%M:%S}Z  {row.incident_id}  {row.kind:<16} "
            f"{row.subject} (step {row.step})"
        )


@app.command("fire-due")
def fire_due_cmd() -> None:
    """Fire every deadline that is due now, each once, and deliver what it produced."""
    ctx = context()
    fired = fire_due(ctx)
    deliver(ctx)
    for item in fired:
        typer.echo(f"fired {item.incident_id} {item.kind} {item.subject}: {item.outcome}")
    typer.echo(f"{len(fired)} deadline(s) fired")
