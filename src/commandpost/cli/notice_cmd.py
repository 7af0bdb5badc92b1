"""`commandpost notice lint|render|templates`: notices from a terminal, no database needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from commandpost.cli.app import app
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
    text = _read_text(file)
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


def describe(found: Finding, text: str) -> str:
    """One line: `rule blocking|advisory line:col "text" message`."""
    line, column = position(text, found.span.start)
    shown = found.span.text
    if len(shown) > _SHOWN:
        shown = shown[: _SHOWN - 1] + "…"
    kind = "blocking" if found.blocking else "advisory"
    quoted = json.dumps(shown, ensure_ascii=False)
    return f"{found.rule} {kind} {line}:{column} {quoted} {found.message}"


def _read_text(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{file} is not UTF-8 text") from None


def _read_facts(file: str) -> dict[str, Any]:
    raw = _read_text(file)
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
