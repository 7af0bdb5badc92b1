"""`commandpost notice lint|render|templates` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from commandpost.cli.app import _register, app

from .support import run_cli
from .test_notice_templates import FACTS

CORPUS = Path(__file__).resolve().parent / "notices" / "corpus"


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    _register()


@pytest.fixture
def facts_file(tmp_path: Path) -> Path:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(FACTS), encoding="utf-8")
    return path


def invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["notice", *args], input=stdin, env=env)


def test_lint_prints_one_line_per_finding_and_exits_1_when_blocking() -> None:
    result = invoke("lint", str(CORPUS / "bad_pii_email.txt"), "--require", "none")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines == [
        'pii-email blocking 1:79 "jane.doe@gmail.com" an email address: personal data must '
        "not appear in a notice",
        'pii-email blocking 1:102 "r.singh+work@example.org" an email address: personal data '
        "must not appear in a notice",
        "unfounded-promise blocking 4:33 \"15:00 UTC\" commits to '15:00 UTC', which is not "
        "in the incident facts",
    ]
    assert "3 finding(s), 3 blocking" in result.stderr


def test_lint_exits_0_on_a_clean_notice_with_its_facts(tmp_path: Path) -> None:
    facts = tmp_path / "f.json"
    facts.write_text(json.dumps({"next_update_at": "16:00 UTC on 2 March 2026"}))
    result = invoke("lint", str(CORPUS / "good_customer_initial.txt"), "--facts", str(facts))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    # Without the facts, the promised update time is unfounded.
    unfounded = invoke("lint", str(CORPUS / "good_customer_initial.txt"))
    assert unfounded.exit_code == 1
    assert unfounded.stdout.startswith('unfounded-promise blocking 14:79 "16:00 UTC"')


def test_lint_reads_stdin_and_applies_severity_channel_and_root_cause() -> None:
    text = "A minor glitch, probably caused by a deploy. " * 8
    strict = invoke("lint", "-", "--require", "none", "--channel", "status_page", stdin=text)
    assert strict.exit_code == 1
    rules = [line.split()[0] for line in strict.stdout.splitlines()]
    assert {"minimising", "speculation", "too-long"} <= set(rules)
    relaxed = invoke(
        "lint", "-", "--require", "none", "--severity", "sev2", "--root-cause-known",
        "--channel", "email", stdin=text,
    )  # fmt: skip
    assert relaxed.exit_code == 0 and relaxed.stdout == ""


def test_lint_shows_advisory_findings_without_failing() -> None:
    text = "We observed a problem. " * 140
    result = invoke("lint", "-", "--channel", "chat", "--require", "none", stdin=text)
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    assert line.startswith('too-long advisory 1:3001 "')
    assert "…" in line  # long spans are cut short


def test_lint_names_missing_required_facts() -> None:
    result = invoke("lint", "-", "--require", "detected,next-steps", stdin="Hello.\n")
    assert result.exit_code == 1
    assert [line.split()[:3] for line in result.stdout.splitlines()] == [
        ["missing-fact-detected", "blocking", "2:1"],
        ["missing-fact-next-steps", "blocking", "2:1"],
    ]


@pytest.mark.parametrize("fmt", ["text", "mrkdwn", "html"])
def test_render_prints_the_notice(facts_file: Path, fmt: str) -> None:
    result = invoke("render", "customer_initial", "--facts", str(facts_file), "--format", fmt)
    assert result.exit_code == 0, result.output
    assert FACTS["detected_at"] in result.stdout
    assert ("<h2>" in result.stdout) is (fmt == "html")


def test_render_with_an_operator_directory(tmp_path: Path, facts_file: Path) -> None:
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "thanks.txt.j2").write_text("{#\nfacts: product\n#}\nThanks, {{ product }}.\n")
    result = invoke("render", "thanks", "--facts", str(facts_file), "--templates-dir", str(ops))
    assert result.exit_code == 0 and result.stdout == "Thanks, Harper Assistant.\n"
    listed = invoke("templates", "--templates-dir", str(ops))
    assert "thanks  (operator; text)" in listed.stdout
    assert "customer_initial  (built-in; text, mrkdwn, html)" in listed.stdout


def test_render_uses_the_policy_templates_dir(tmp_path: Path, facts_file: Path) -> None:
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "thanks.txt.j2").write_text("{#\nfacts: product\n#}\nThanks, {{ product }}.\n")
    policy = (Path(__file__).resolve().parent.parent / "policy.yml").read_text()
    policy = policy.replace(
        "legal_coapproval_classes:", "templates_dir: ops\n  legal_coapproval_classes:"
    )
    (tmp_path / "policy.yml").write_text(policy)
    env = {"COMMANDPOST_POLICY": str(tmp_path / "policy.yml")}
    result = invoke("render", "thanks", "--facts", str(facts_file), env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Thanks, Harper Assistant.\n"


def test_a_real_process_reports_missing_facts_and_bad_input(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"product": "Harper Assistant", "observed": ""}))
    missing = run_cli("notice", "render", "status_page", "--facts", str(facts), cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "error: notice status_page (text): missing fact(s): "
        "summary, detected_at, affected_summary, next_update_at"
    )
    facts.write_text("[1, 2]")
    not_object = run_cli("notice", "render", "status_page", "--facts", str(facts), cwd=tmp_path)
    assert not_object.returncode == 2 and "must be a JSON object" in not_object.stderr
    unreadable = run_cli("notice", "lint", str(tmp_path / "nope.txt"), cwd=tmp_path)
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr
    assert "Traceback" not in unreadable.stderr


def test_a_real_process_lints_stdin(tmp_path: Path) -> None:
    bad = (CORPUS / "bad_everything_wrong.txt").read_text()
    result = subprocess.run(
        [sys.executable, "-m", "commandpost", "notice", "lint", "-", "--severity", "SEV0"],
        input=bad, capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert len(result.stdout.splitlines()) == 20
    assert run_cli("notice", "lint", "--help", cwd=tmp_path).returncode == 0
