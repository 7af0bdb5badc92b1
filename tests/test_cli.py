"""The command line end to end: a real process, a real database, exit codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import counts, run_cli

VERBS = [
    "declare", "ack", "assign", "handover", "sev", "status", "update", "note", "evidence",
    "resolve", "close", "list", "show", "contain", "decide", "confirm", "restore", "gates",
    "deadlines", "fire-due", "timeline", "drill",
]  # fmt: skip


CLI_TABLES = ("incidents", "gates", "audit_events", "deadlines", "role_assignments")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_every_verb_has_help(sqlite_url: str) -> None:
    groups = ["db upgrade", "db status", "policy check", "audit verify", "audit export"]
    notice = ["lint", "render", "templates", "draft", "edit", "approve", "reject", "show"]
    groups += [f"notice {v}" for v in notice]
    groups += ["alerts route", "serve", "worker"]
    for verb in [*VERBS, *groups]:
        result = run_cli(*verb.split(), "--help", db_url=sqlite_url)
        assert result.returncode == 0, (verb, result.stderr)
        assert "Usage:" in result.stdout


def test_unmigrated_database_is_refused_with_what_to_run(sqlite_url: str) -> None:
    result = run_cli("list", db_url=sqlite_url)
    assert result.returncode != 0
    assert "commandpost db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
    status = run_cli("db", "status", db_url=sqlite_url)
    assert status.returncode == 1 and "not migrated" in status.stdout


def test_an_incident_from_declare_to_close(db_url: str) -> None:
    assert run_cli("db", "upgrade", db_url=db_url).returncode == 0
    declared = run_cli(
        "declare", "sev2", "prompt_injection", "Jailbreak prompt leaks system prompt",
        "--as", "alice", "--model", "chat-7", db_url=db_url,
    )  # fmt: skip
    assert declared.returncode == 0, declared.stderr
    incident = declared.stdout.strip().splitlines()[-1].split()[1]
    assert incident.startswith("INC-") and len(incident) == len("INC-2026-0001")
    assert "You are paged as incident_commander" in declared.stdout

    assert run_cli("ack", incident, "--as", "alice", db_url=db_url).returncode == 0
    contain = run_cli(
        "contain", incident, "block_prompt_pattern", "pattern=ignore previous instructions",
        "--as", "alice", "--reason", "stop the jailbreak", db_url=db_url,
    )  # fmt: skip
    assert contain.returncode == 0, contain.stderr
    gate = contain.stdout.strip().splitlines()[-1].split()[1]

    own = run_cli("decide", gate, "approve", "--as", "alice", db_url=db_url)
    assert own.returncode == 2 and "someone else must approve" in own.stderr

    unstaffed = run_cli("decide", gate, "approve", "--as", "erin", db_url=db_url)
    assert unstaffed.returncode == 2 and "acknowledge first" in unstaffed.stderr

    assert run_cli("ack", incident, "--as", "erin", db_url=db_url).returncode == 0
    approved = run_cli("decide", gate, "approve", "--as", "erin", db_url=db_url)
    assert approved.returncode == 0, approved.stderr
    assert f"gate {gate}: approved" in approved.stdout

    again = run_cli("decide", gate, "approve", "--as", "femi", db_url=db_url)
    assert again.returncode == 2 and "already approved" in again.stderr

    listed = run_cli("gates", incident, db_url=db_url).stdout
    assert "approved" in listed and "block_prompt_pattern" in listed

    timeline = run_cli("timeline", incident, db_url=db_url)
    assert timeline.returncode == 0
    assert "gate.requested" in timeline.stdout and "gate.approve" in timeline.stdout

    exported = run_cli("audit", "export", incident, "--format", "jsonl", db_url=db_url)
    assert exported.returncode == 0
    assert len(exported.stdout.strip().splitlines()) == counts(db_url, CLI_TABLES)["audit_events"]

    verified = run_cli("audit", "verify", db_url=db_url)
    assert verified.returncode == 0 and "audit chain ok" in verified.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["declare", "sev9", "harmful_content", "x", "--as", "alice"], "unknown severity"),
        (["declare", "sev1", "gremlins", "x", "--as", "alice"], "gremlins"),
        (["declare", "sev1", "harmful_content", "x", "--as", "nobody"], "nobody"),
        (["declare", "sev1", "harmful_content", "   ", "--as", "alice"], "title"),
        (["show", "INC-26-1"], "INC-"),
        (["decide", "1", "maybe", "--as", "alice"], "approve, reject or escalate"),
        (["contain", "INC-2026-0001", "rollback_model", "oops", "--as", "alice"], "key=value"),
    ],
)
def test_bad_input_is_a_clear_message_exit_2_and_writes_nothing(
    sqlite_url: str, args: list[str], message: str
) -> None:
    assert run_cli("db", "upgrade", db_url=sqlite_url).returncode == 0
    before = counts(sqlite_url, CLI_TABLES)
    result = run_cli(*args, db_url=sqlite_url)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert counts(sqlite_url, CLI_TABLES) == before
