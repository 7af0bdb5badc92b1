"""`commandpost review show|edit|done` and `close` in a real process on a real database."""

from __future__ import annotations

from pathlib import Path

from commandpost.core.vocabulary import IncidentClass
from commandpost.service.incidents import resolve

from .conftest import MakeCtx
from .support import counts, declare_incident, run_cli, staff

TABLES = ("incidents", "audit_events", "reviews")


def test_review_from_the_command_line(make_ctx: MakeCtx, db_url: str, tmp_path: Path) -> None:
    ctx = make_ctx()
    incident = declare_incident(ctx, "Assistant invents refunds", IncidentClass.DECEPTIVE_OUTPUT)
    staff(ctx, incident, "alice", "carol")
    resolve(ctx, incident, actor="alice", summary="prompt reverted")

    shown = run_cli("review", "show", incident, db_url=db_url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"# Post-incident review: {incident}\n")
    assert f"{incident} review: draft, version 1" in shown.stderr

    before = counts(db_url, TABLES)
    refused = run_cli("close", incident, "--as", "alice", db_url=db_url)
    assert refused.returncode == 2 and "post-incident review is done" in refused.stderr
    not_ic = run_cli("review", "done", incident, "--as", "carol", db_url=db_url)
    assert not_ic.returncode == 2 and "cannot mark the review done" in not_ic.stderr
    missing = run_cli(
        "review", "edit", incident, "--file", str(tmp_path / "nope.md"), "--as", "carol",
        db_url=db_url,
    )  # fmt: skip
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert counts(db_url, TABLES) == before

    filled = tmp_path / "review.md"
    filled.write_text(shown.stdout.replace("_(to be written)_", "- written by carol", 1))
    edited = run_cli(
        "review", "edit", incident, "--file", str(filled), "--as", "carol", db_url=db_url
    )
    assert edited.returncode == 0, edited.stderr
    assert f"{incident} review is now version 2" in edited.stdout
    done = run_cli("review", "done", incident, "--as", "alice", db_url=db_url)
    assert done.returncode == 0 and f"{incident} review done by alice" in done.stdout
    closed = run_cli("close", incident, "--as", "alice", db_url=db_url)
    assert closed.returncode == 0, closed.stderr
    again = run_cli("review", "show", incident, db_url=db_url)
    assert "- written by carol" in again.stdout and "done by alice" in again.stderr
