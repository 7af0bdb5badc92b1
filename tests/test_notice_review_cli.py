"""The notice review flow from the command line: draft, show, approve as comms and legal."""

from __future__ import annotations

import re
from pathlib import Path

from .support import run_cli

AFFECTED = "affected=Answers from the chat assistant on the web app"
NEXT = "next_steps=We are reviewing every affected conversation and will update you by 18:00 UTC."


def ok(*args: str, db_url: str) -> str:
    result = run_cli(*args, db_url=db_url)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def test_draft_show_and_approve_as_comms_then_legal(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    ok("db", "upgrade", db_url=db)
    declared = ok(
        "declare", "sev1", "harmful_content", "Self-harm advice", "--as", "alice", db_url=db
    )
    incident = re.search(r"INC-\d{4}-\d{4}", declared)
    assert incident is not None
    inc = incident.group(0)
    ok("ack", inc, "--as", "grace", db_url=db)  # comms, paged at SEV1
    ok("assign", inc, "legal", "ivan", "--as", "alice", db_url=db)  # SEV1 needs legal too
    ok("ack", inc, "--as", "ivan", db_url=db)

    missing = run_cli("notice", "draft", inc, "customer_initial", "--as", "grace", db_url=db)
    assert missing.returncode == 2 and "missing fact(s): affected, next_steps" in missing.stderr
    drafted = ok("notice", "draft", inc, "customer_initial", "--as", "grace", "--fact", NEXT,
                 "--fact", AFFECTED, db_url=db)  # fmt: skip
    found = re.search(r"notice (\d+) drafted", drafted)
    assert found is not None
    notice = found.group(1)
    shown = ok("notice", "show", notice, db_url=db)
    assert f"notice {notice} · {inc} · customer_initial · draft" in shown
    assert "needs approval: comms, legal" in shown

    assert "waiting for legal" in ok("notice", "approve", notice, "--as", "grace", db_url=db)
    twice = run_cli("notice", "approve", notice, "--as", "grace", "--role", "legal", db_url=db)
    assert twice.returncode == 2 and "Traceback" not in twice.stderr  # one person, one role
    done = ok("notice", "approve", notice, "--as", "ivan", "--role", "legal", db_url=db)
    assert "waiting for" not in done

    shown = ok("notice", "show", notice, db_url=db)
    assert re.search(r"approved .* by grace as comms", shown)
    assert re.search(r"approved .* by ivan as legal", shown)
    assert re.search(r"delivery chat:inc-\d{4}-\d{4}-self-harm-advice delivered", shown)
    # No SMTP server configured: that recipient waits, saying why, and is not dropped.
    assert "delivery email:customers-announce@example.com" in shown
    assert "COMMANDPOST_SMTP_HOST" in shown
    timeline = ok("timeline", inc, db_url=db)
    for kind in ("notice.drafted", "notice.approved"):
        assert kind in timeline
