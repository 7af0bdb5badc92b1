"""Drills end to end: the shipped scenarios pass through the real CLI, a wrong expectation
fails naming the step, a malformed drill is refused naming file, step and field, and no run
leaves a database or temporary file behind."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml

from commandpost.cli.app import main

from .support import POLICY_FILE, ROOT, run_cli

DRILLS = sorted((ROOT / "drills").glob("*.yml"))
POLICY = POLICY_FILE
REQUIRED = {
    "sev0-data-leak",
    "sev1-harmful-content-regression",
    "sev2-prompt-injection",
    "sev1-unauthorised-tool-use",
    "narrative-viral-screenshot",
}


class Sandbox:
    """A working directory and a private TMPDIR, so a test can see anything left behind.

    `run` starts a real `python -m commandpost` process; `cli` calls the same entry point,
    `main()`, in this process (much faster), with the same environment.
    """

    def __init__(
        self, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.cwd = root / "cwd"
        self.tmp = root / "tmp"
        self.cwd.mkdir()
        self.tmp.mkdir()
        self.database = self.cwd / "should-not-exist.db"
        self.env = {
            "TMPDIR": str(self.tmp),
            "COMMANDPOST_DATABASE_URL": f"sqlite:///{self.database}",
            "COMMANDPOST_POLICY": str(POLICY),
        }
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("drill", *args, env=self.env, cwd=self.cwd, timeout=300)

    def cli(self, *args: str) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of `commandpost drill ARGS` run in this process."""
        patch = self._monkeypatch
        for name, value in self.env.items():
            patch.setenv(name, value)
        patch.setattr(tempfile, "tempdir", str(self.tmp))
        patch.chdir(self.cwd)
        patch.setattr(sys, "argv", ["commandpost", "drill", *args])
        self._capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            main()
        out = self._capsys.readouterr()
        code = stop.value.code
        return (code if isinstance(code, int) else 1), out.out, out.err

    def write(self, name: str, body: str) -> Path:
        path = self.cwd / name
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        return path

    def leftovers(self) -> list[str]:
        """Anything a drill wrote: temp files, a database next to the drill, the configured DB."""
        found = [str(p) for p in self.tmp.rglob("*")]
        found += [str(p) for p in self.cwd.rglob("*") if p.suffix != ".yml"]
        return found


@pytest.fixture
def sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Sandbox:
    return Sandbox(tmp_path, monkeypatch, capsys)


# A small, valid drill the error cases below break one thing at a time.
BASE = f"""\
policy: {POLICY}
start: 2026-03-02T09:00:00Z
steps:
  - declare: {{by: dan, severity: SEV2, class: prompt_injection, title: Jailbreak in docs}}
  - ack: {{who: alice}}
  - ack: {{who: erin}}
  - contain:
      {{by: erin, action: block_prompt_pattern, params: {{pattern: ignore previous}}, as: block}}
  - approve: {{who: alice, gate: block}}
  - advance: 10m
  - expect: {{status: declared, gates: {{block: approved}}, audit_valid: true}}
"""


def test_the_five_required_scenarios_ship_with_comments_and_end_checking_the_audit_chain() -> None:
    assert {d.stem for d in DRILLS} >= REQUIRED
    for drill in DRILLS:
        text = drill.read_text(encoding="utf-8")
        assert text.startswith("# "), f"{drill.name} should open with a comment saying what it is"
        last = yaml.safe_load(text)["steps"][-1]
        assert last.get("expect", {}).get("audit_valid") is True, drill.name


@pytest.mark.parametrize("drill", DRILLS, ids=[d.stem for d in DRILLS])
def test_every_shipped_drill_passes_through_the_cli(drill: Path, sandbox: Sandbox) -> None:
    result = sandbox.run(str(drill))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert f"PASS {drill}" in result.stdout
    assert "expect FAILED" not in result.stdout
    assert "audit_valid: valid" in result.stdout
    assert "Traceback" not in result.stderr
    assert sandbox.leftovers() == []


def test_the_transcripts_show_what_the_scenarios_promise(sandbox: Sandbox) -> None:
    by_name = {d.stem: d for d in DRILLS}
    code, out, err = sandbox.cli("--quiet", *(str(by_name[n]) for n in sorted(REQUIRED)))
    assert code == 0, err
    assert out.count("PASS ") == len(REQUIRED) and "expect ok" not in out
    # Without --quiet a transcript shows who typed what, the bot, and the control plane.
    leak = sandbox.cli(str(by_name["sev0-data-leak"]))[1]
    assert "<alice>" in leak and "/incident ack" in leak
    assert "DM @ivan" in leak and "You are paged as legal" in leak
    assert "control-plane" in leak and "rollback_model(" in leak
    assert "refused, as expected: you asked for this" in leak
    tools = sandbox.cli(str(by_name["sev1-unauthorised-tool-use"]))[1]
    assert "refused, as expected: you have already approved this gate" in tools
    assert "approved by alice (incident_commander) and erin (safety_lead)" in tools
    story = sandbox.cli(str(by_name["narrative-viral-screenshot"]))[1]
    order = ["reminded alice", "paged bob", "paged mo", "Mo Rahman acknowledged incident_commander"]
    positions = [story.index(text) for text in order]
    assert positions == sorted(positions)


def test_a_wrong_expectation_fails_with_exit_1_naming_step_and_expectation(
    sandbox: Sandbox,
) -> None:
    source = (ROOT / "drills" / "sev0-data-leak.yml").read_text(encoding="utf-8")
    broken = source.replace("policy: ../policy.yml", f"policy: {POLICY}")
    last = "        legal: ivan\n      gates:\n        rollback: approved"
    assert last in broken
    broken = broken.replace(last, last.replace("legal: ivan", "legal: jo"))
    drill = sandbox.write("sev0-wrong.yml", broken)
    steps = len(yaml.safe_load(broken)["steps"])

    result = sandbox.run(str(drill))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        f"{drill}: step {steps} (expect): roles.legal: expected jo (acknowledged), "
        "found ivan (acknowledged)"
    ) in result.stderr
    assert "FAIL " in result.stdout
    assert sandbox.leftovers() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("- approve: {who: alice, gate: block}", "- approve: {who: erin, gate: block}"),
            "step 5 (approve): refused: you asked for this; someone else must approve it",
        ),
        (
            (
                "- approve: {who: alice, gate: block}",
                "- approve: {who: alice, gate: block}\n    expect_error: not allowed",
            ),
            "step 5 (approve): expected a refusal containing 'not allowed', but it went through",
        ),
        (
            ("status: declared,", "status: contained,"),
            "step 7 (expect): status: expected contained, found declared",
        ),
        (
            ("gates: {block: approved}", "gates: {block: {state: approved, tier: 2}}"),
            "step 7 (expect): gates.block.tier: expected 2, found 1",
        ),
    ],
    ids=["unexpected-refusal", "expected-refusal-missing", "status", "gate-tier"],
)
def test_drill_failures_name_the_step(
    sandbox: Sandbox, change: tuple[str, str], message: str
) -> None:
    assert change[0] in BASE
    drill = sandbox.write("d.yml", BASE.replace(change[0], change[1]))
    code, out, err = sandbox.cli(str(drill))
    assert code == 1, out + err
    assert f"error: {drill}: {message}" in err
    assert f"FAILED: {drill}: {message}" in out  # the transcript says where it stopped
    assert sandbox.leftovers() == []


def test_the_base_drill_passes(sandbox: Sandbox) -> None:
    code, out, err = sandbox.cli(str(sandbox.write("d.yml", BASE)))
    assert code == 0, out + err
    assert sandbox.leftovers() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("- ack: {who: alice}", "- acknowledge: {who: alice}"),
            "step 2: unknown step kind 'acknowledge'",
        ),
        (
            ("- approve: {who: alice, gate: block}", "- approve: {who: alice}"),
            "step 5 (approve): field 'gate': Field required (line 9)",
        ),
        (
            ("- ack: {who: erin}", "- ack: {who: zed}"),
            "step 3 (ack): field 'who': unknown person 'zed'; the policy has alice, bob",
        ),
        (
            ("- advance: 10m", "- advance: ten minutes"),
            "step 6 (advance): field 'by': bad duration 'ten minutes'",
        ),
        (
            ("- ack: {who: alice}", "- ack: {who: alice"),
            "step 2: not valid YAML",
        ),
        (
            ("- ack: {who: erin}", "- ack: {who: erin, rol: safety}"),
            "step 3 (ack): field 'rol': unknown field; ack takes who, role, expect_error",
        ),
        (
            ("gate: block}", "gate: blok}"),
            "step 5 (approve): field 'gate': no gate labelled 'blok' before this step",
        ),
        (
            ("action: block_prompt_pattern", "action: block_prompts"),
            "step 4 (contain): field 'action': unknown action 'block_prompts'",
        ),
        (
            ("params: {pattern: ignore previous}", "params: {patern: ignore previous}"),
            "step 4 (contain): field 'params': block_prompt_pattern has no parameter patern",
        ),
        (
            ("severity: SEV2", "severity: SEV7"),
            "step 1 (declare): field 'severity': unknown severity 'SEV7'",
        ),
        (
            ("status: declared,", "status: open,"),
            "step 7 (expect): field 'status': unknown status 'open'",
        ),
        (
            ("start: 2026-03-02T09:00:00Z", "start: 2026-03-02T09:00:00"),
            "field 'start': give a UTC time with its zone",
        ),
    ],
    ids=[
        "unknown-kind",
        "missing-field",
        "unknown-person",
        "bad-duration",
        "invalid-yaml",
        "unknown-field",
        "unknown-gate-label",
        "unknown-action",
        "bad-params",
        "bad-severity",
        "bad-status",
        "naive-start",
    ],
)
def test_malformed_drills_exit_2_naming_file_step_and_field(
    sandbox: Sandbox, change: tuple[str, str], message: str
) -> None:
    assert change[0] in BASE
    good = sandbox.write("a-good.yml", BASE)
    bad = sandbox.write("broken.yml", BASE.replace(change[0], change[1]))
    # Every file is checked before any runs: the good one first must not run either.
    code, out, err = sandbox.cli(str(good), str(bad))
    assert code == 2, out + err
    assert f"error: {bad}: {message}" in err
    assert out == ""
    assert sandbox.leftovers() == []


def test_a_malformed_drill_in_a_real_process_gets_a_message_not_a_traceback(
    sandbox: Sandbox,
) -> None:
    bad = sandbox.write("broken.yml", BASE.replace("- ack: {who: alice}", "- ack: {who: alice"))
    result = sandbox.run(str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {bad}: step 2: not valid YAML")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert sandbox.leftovers() == []


def test_the_default_policy_comes_from_the_setting(sandbox: Sandbox) -> None:
    no_policy = BASE.replace(f"policy: {POLICY}\n", "")
    drill = sandbox.write("d.yml", no_policy)
    assert sandbox.cli(str(drill))[0] == 0
    sandbox.env["COMMANDPOST_POLICY"] = str(sandbox.cwd / "nope.yml")
    code, _, err = sandbox.cli(str(drill))
    assert code == 2 and "nope.yml" in err
    # An explicit --policy wins over the setting.
    assert sandbox.cli("--policy", str(POLICY), str(drill))[0] == 0


def test_deadlines_fire_at_their_due_time_or_late_after_downtime(sandbox: Sandbox) -> None:
    body = f"""\
    policy: {POLICY}
    start: 2026-03-02T09:00:00Z
    steps:
      - declare: {{by: grace, severity: SEV1, class: narrative, title: Screenshot}}
      - advance: 15m
      - expect:
          fired: ["ack incident_commander: reminded alice"]
          paged: {{incident_commander: alice}}
      # Command Post is down for 10 minutes: the next step fires late, at once, on return.
      - advance: {{by: 10m, down: true}}
      - expect:
          fired: ["ack incident_commander: paged bob"]
          paged: {{incident_commander: bob}}
          audit_valid: true
    """
    code, out, err = sandbox.cli(str(sandbox.write("d.yml", body)))
    assert code == 0, out + err
    assert "[2026-03-02 09:10:00Z] deadline" in out  # the reminder at its due time
    assert "[2026-03-02 09:25:00Z] deadline" in out
    assert "ack incident_commander: paged bob (due 09:20:00Z, 5m late)" in out


def test_several_drills_run_in_order_and_the_summary_names_each_failure(sandbox: Sandbox) -> None:
    good = sandbox.write("a-good.yml", BASE)
    bad = sandbox.write("b-bad.yml", BASE.replace("status: declared,", "status: resolved,"))
    code, out, err = sandbox.cli("--quiet", str(good), str(bad))
    assert code == 1
    assert f"PASS {good}" in out and f"FAIL {bad}" in out
    assert "expect ok" not in out  # --quiet keeps the transcripts out
    assert err.startswith("error: 1 of 2 drills failed:")
    assert f"{bad}: step 7 (expect): status: expected resolved, found declared" in err
    assert sandbox.leftovers() == []
