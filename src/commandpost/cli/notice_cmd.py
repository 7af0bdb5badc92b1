"""`commandpost notice …`: lint, render and list templates without a database; draft, edit,
approve, reject and show stored notices (the review flow, as in chat)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from commandpost.cli.app import app
from commandpost.cli.common import context, deliver, read_text
from commandpost.cli.gate_cmd import parse_params
from commandpost.core.notice_lint import (
    REQUIRED_FACTS,
    Channel,
    Finding,
    LintContext,
    lint,
    position,
)
from commandpost.core.vocabulary import Severity
from commandpost.errors import InvalidInput
from commandpost.notices import Catalogue, Format
from commandpost.policy_file import load_policy
from commandpost.service import notices
from commandpost.service.ids import parse_incident_id
from commandpost.settings import Settings

notice_app = typer.Typer(
    help="Draft and check customer and regulator notices.", no_args_is_help=True
)
app.add_typer(notice_app, name="notice")

_SHOWN = 60  # characters of a finding's text printed before it is cut short


@notice_app.command("lint")
def lint_file(
    file: str = typer.Argument(..., help="Text file to check; - reads standard input."),
    severity: str = typer.Option("SEV1", "--severity", help="Incident severity (SEV0-SEV3)."),
    channel: str = typer.Option(
        "email", "--channel", help="status_page, email, chat or webhook (length limits)."
    ),
    root_cause_known: bool = typer.Option(
        False, "--root-cause-known", help="A root cause is recorded: speculation is allowed."
    ),
    facts: str = typer.Option(
        None, "--facts", help="JSON object of incident facts (founded promises, names)."
    ),
    require: str = typer.Option(
        "all", "--require", help="Required facts to look for: all, none, or a comma list."
    ),
) -> None:
    """Check a notice: one finding a line; exit 1 if any blocks, else 0.

    Each line reads: rule, blocking or advisory, line:column, the text, the message.
    """
    text = read_text(file)
    context = LintContext(
        severity=Severity.parse(severity),
        root_cause_known=root_cause_known,
        channel=Channel.parse(channel),
        facts=_read_facts(facts) if facts else {},
        required_facts=_required(require),
    )
    findings = lint(text, context)
    for found in findings:
        typer.echo(describe(found, text))
    blocking = sum(f.blocking for f in findings)
    typer.echo(f"{len(findings)} finding(s), {blocking} blocking", err=True)
    if blocking:
        raise typer.Exit(1)


@notice_app.command("render")
def render(
    template: str = typer.Argument(..., help="Template name, e.g. customer_initial."),
    facts: str = typer.Option(..., "--facts", help="JSON object of incident facts; - stdin."),
    fmt: str = typer.Option("text", "--format", help="text, mrkdwn or html."),
    templates_dir: str = typer.Option(
        None, "--templates-dir", help="Operator templates (default: the policy's, if any)."
    ),
) -> None:
    """Render a notice template from facts; every missing fact is named (exit 2)."""
    notice = _catalogue(templates_dir).render(template, _read_facts(facts), fmt=Format.parse(fmt))
    typer.echo(notice.text, nl=False)


@notice_app.command("templates")
def templates(
    templates_dir: str = typer.Option(
        None, "--templates-dir", help="Operator templates (default: the policy's, if any)."
    ),
) -> None:
    """List the notice templates, their formats and the facts each needs."""
    catalogue = _catalogue(templates_dir)
    for name in catalogue.names():
        formats = catalogue.formats(name)
        spec = catalogue.spec(name, formats[0])
        origin = "built-in" if catalogue.is_builtin(name) else "operator"
        typer.echo(f"{name}  ({origin}; {', '.join(f.value for f in formats)}) {spec.title}")
        typer.echo(f"  facts:    {', '.join(spec.facts)}")
        if spec.optional:
            typer.echo(f"  optional: {', '.join(spec.optional)}")


ACTOR = typer.Option(..., "--as", help="Who is doing this (a person id from the policy).")


@notice_app.command("draft")
def draft(
    incident_id: str = typer.Argument(..., metavar="INC"),
    template: str = typer.Argument(..., help="Template name, e.g. customer_initial."),
    actor: str = ACTOR,
    fact: list[str] = typer.Option(
        None, "--fact", help="name=value, repeatable; wins over the incident's own facts."
    ),
    facts: str = typer.Option(None, "--facts", help="JSON object of facts; - reads stdin."),
) -> None:
    """Render a notice from the incident's facts, lint it and store it for review."""
    given: dict[str, Any] = _read_facts(facts) if facts else {}
    given.update(parse_params(fact or []))
    ctx = context()
    made = notices.draft(ctx, parse_incident_id(incident_id), template=template, actor=actor,
                         facts=given)  # fmt: skip
    deliver(ctx)
    typer.echo(f"notice {made.id} drafted ({made.template}, sha256 {made.sha256[:12]}…)")
    _print_findings(made)


@notice_app.command("edit")
def edit(
    notice_id: int = typer.Argument(..., metavar="ID"),
    file: str = typer.Option(..., "--file", help="The new text, exactly; - reads stdin."),
    actor: str = ACTOR,
) -> None:
    """Replace a notice's text; approvals of the old text are voided."""
    ctx = context()
    made = notices.edit(ctx, notice_id, actor=actor, text=read_text(file))
    deliver(ctx)
    typer.echo(f"notice {made.id} is now version {made.version} (sha256 {made.sha256[:12]}…)")
    _print_findings(made)


@notice_app.command("approve")
def approve(
    notice_id: int = typer.Argument(..., metavar="ID"),
    actor: str = ACTOR,
    role: str = typer.Option("comms", "--role", help="comms or legal."),
    override: str = typer.Option(
        None, "--override", help="Why it may go out despite blocking lint findings."
    ),
) -> None:
    """Approve the notice's current text (bound to its hash); the last approval sends it."""
    ctx = context()
    made = notices.approve(ctx, notice_id, actor=actor, role=role, override_reason=override)
    deliver(ctx)
    made = notices.get(ctx, notice_id)
    waiting = f"; waiting for {', '.join(made.still_needed)}" if made.still_needed else ""
    typer.echo(f"notice {made.id}: {made.state}{waiting}")


@notice_app.command("reject")
def reject(
    notice_id: int = typer.Argument(..., metavar="ID"),
    actor: str = ACTOR,
    reason: str = typer.Option(..., "--reason", help="Why it must not go out."),
) -> None:
    """Turn a notice down; it is never sent."""
    ctx = context()
    made = notices.reject(ctx, notice_id, actor=actor, reason=reason)
    deliver(ctx)
    typer.echo(f"notice {made.id}: rejected")


@notice_app.command("show")
def show(notice_id: int = typer.Argument(..., metavar="ID")) -> None:
    """A notice's text, lint findings, approvals and deliveries."""
    made = notices.get(context(), notice_id)
    typer.echo(
        f"notice {made.id} · {made.incident_id} · {made.template} · {made.state} · "
        f"version {made.version} · by {made.created_by}"
    )
    if made.subject:
        typer.echo(f"subject: {made.subject}")
    typer.echo(f"sha256:  {made.sha256}")
    if made.reason:
        typer.echo(f"rejected: {made.reason}")
    typer.echo("-" * 72)
    typer.echo(made.text.rstrip("\n"))
    typer.echo("-" * 72)
    _print_findings(made)
    for a in made.approvals:
        void = "  VOID" if a.void else ""
        why = f"  override: {a.override_reason}" if a.override_reason else ""
        typer.echo(
            f"approved {a.at} by {a.person_id} as {a.role} sha256 {a.sha256[:12]}…{why}{void}"
        )
    if made.still_needed:
        typer.echo(f"needs approval: {', '.join(made.still_needed)}")
    for d in made.deliveries:
        said = d.error if d.state != "delivered" else d.detail
        typer.echo(
            f"delivery {d.kind}:{d.recipient} {d.state} (attempts {d.attempts})"
            + (f" {said}" if said else "")
        )


def _print_findings(made: notices.NoticeView) -> None:
    for found in made.findings:
        kind = "blocking" if found["blocking"] else "advisory"
        line, column = position(made.text, int(found["start"]))
        quoted = json.dumps(str(found["text"])[:_SHOWN], ensure_ascii=False)
        typer.echo(f"{found['rule']} {kind} {line}:{column} {quoted} {found['message']}")
    typer.echo(f"{len(made.findings)} finding(s), {len(made.blocking)} blocking")


def describe(found: Finding, text: str) -> str:
    """One line: `rule blocking|advisory line:col "text" message`."""
    line, column = position(text, found.span.start)
    shown = found.span.text
    if len(shown) > _SHOWN:
        shown = shown[: _SHOWN - 1] + "…"
    kind = "blocking" if found.blocking else "advisory"
    quoted = json.dumps(shown, ensure_ascii=False)
    return f"{found.rule} {kind} {line}:{column} {quoted} {found.message}"


def _read_facts(file: str) -> dict[str, Any]:
    raw = read_text(file)
    try:
        facts = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{file}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(facts, dict):
        raise InvalidInput(f"{file}: facts must be a JSON object of name: value")
    return facts


def _required(require: str) -> tuple[str, ...]:
    chosen = require.strip().lower()
    if chosen == "all":
        return REQUIRED_FACTS
    if chosen == "none":
        return ()
    return tuple(n.strip() for n in chosen.split(",") if n.strip())


def _catalogue(templates_dir: str | None) -> Catalogue:
    if templates_dir:
        return Catalogue(templates_dir)
    # The policy's templates_dir, relative to the policy file; built-ins alone without one.
    policy_path = Path(Settings().policy)
    if not policy_path.is_file():
        return Catalogue()
    return Catalogue.for_policy(load_policy(policy_path), base_dir=policy_path.parent)
