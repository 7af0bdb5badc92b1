"""`commandpost drill FILE.yml…`: scripted incidents through the real service, on a fake clock."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import typer

from commandpost.cli.app import app
from commandpost.cli.common import settings
from commandpost.drills.loader import load_drill
from commandpost.drills.runner import run_drill
from commandpost.errors import DrillFailed

# One line per paragraph: the help formatter keeps line breaks as written.
HELP = "\n\n".join(
    [
        "Run incident drills: declare, page, ack, contain, approve, let the clock run, check.",
        "Each drill runs through the real service layer and storage, on a fresh SQLite "
        "database in a temporary directory (removed afterwards), with deadlines firing on a "
        "simulated clock that starts at the drill's `start:`. Containment actions go to a "
        "stand-in control plane that records what it was asked to do. The transcript shows "
        "what each person typed and what the bot posted, with timestamps.",
        "Every file is checked before any runs: a malformed drill (bad YAML, unknown step "
        "kind, missing field, unknown person, bad duration) exits 2 naming the file, step and "
        "field. A drill whose expectations do not hold exits 1 naming the step and what was "
        "expected and found.",
    ]
)


@app.command("drill", help=HELP)
def drill(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE.yml...", help="Drill files to run, in order (see drills/)."
    ),
    policy: str | None = typer.Option(
        None,
        "--policy",
        help="Run under this policy file instead of the drill's own `policy:` "
        "(default when a drill names none: $COMMANDPOST_POLICY or ./policy.yml).",
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Print only each drill's result, not its transcript."
    ),
) -> None:
    """Run drill files; see HELP."""
    default_policy = settings().policy
    drills = [load_drill(f, policy_path=policy, default_policy=default_policy) for f in files]
    failures: list[str] = []
    for loaded in drills:
        out = io.StringIO() if quiet else sys.stdout
        try:
            report = run_drill(loaded, out=out)
        except DrillFailed as exc:
            failures.append(str(exc))
            typer.echo(f"FAIL {loaded.source}")
            continue
        typer.echo(
            f"PASS {report.source}: {report.name} ({report.steps} steps, {report.checks} checks)"
        )
    if len(failures) == 1 and len(drills) == 1:
        raise DrillFailed(failures[0])
    if failures:
        summary = f"{len(failures)} of {len(drills)} drills failed:"
        raise DrillFailed("\n".join([summary, *failures]))
