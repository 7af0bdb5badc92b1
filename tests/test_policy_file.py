"""policy.yml → Policy: the shipped file, its version, every malformed file, and the CLI check."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from commandpost.core.policy import Policy
from commandpost.errors import PolicyInvalid, UserError
from commandpost.policy_file import load_policy

from .support import POLICY_FILE, run_cli

SHIPPED = POLICY_FILE
SHIPPED_TEXT = SHIPPED.read_text(encoding="utf-8")
PROBLEM_SHAPE = re.compile(r"^\S+ \(line \d+\): \S.*", re.DOTALL)


def write(tmp_path: Path, text: str, name: str = "policy.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str, *, text: str = SHIPPED_TEXT) -> str:
    assert text.count(old) >= 1, f"{old!r} is not in the policy"
    return text.replace(old, new, 1)


def line_with(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not found")


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(write(tmp_path, text))
    assert isinstance(caught.value, UserError)
    assert caught.value.problems, "PolicyInvalid without problems"
    for problem in caught.value.problems:
        assert PROBLEM_SHAPE.match(problem), f"{problem!r} is not 'path (line N): message'"
    return caught.value.problems


# -- the shipped policy ------------------------------------------------------------------------


def test_shipped_policy_loads(policy: Policy) -> None:
    assert policy.name == "example-ai-platform"
    assert {p.id for p in policy.people} >= {"alice", "mo", "lena"}
    assert {"containment", "restore", "severity_downgrade"} <= set(policy.gates)
    assert policy.severities  # every severity present (checked by the model)


def test_version_is_a_stable_content_hash(policy: Policy) -> None:
    version = policy.version()
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", version)
    assert load_policy(SHIPPED).version() == version


def test_version_survives_a_stored_snapshot(policy: Policy) -> None:
    """Incidents keep their policy as a JSON snapshot; reloading it must give the same version."""
    body = json.dumps(policy.model_dump(mode="json"), sort_keys=True)
    assert Policy.model_validate(json.loads(body)).version() == policy.version()


def _reordered_without_comments() -> str:
    """The same rules: comments gone, every mapping's keys in reverse order, block style."""

    def reverse(node: object) -> object:
        if isinstance(node, dict):
            return {k: reverse(node[k]) for k in reversed(list(node))}
        if isinstance(node, list):
            return [reverse(v) for v in node]
        return node

    data = reverse(yaml.safe_load(SHIPPED_TEXT))
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=200)


def test_version_ignores_comments_and_key_order(tmp_path: Path, policy: Policy) -> None:
    text = _reordered_without_comments()
    assert "#" not in text.replace('"#incidents"', "").replace("'#incidents'", "")
    assert text.splitlines()[0] != SHIPPED_TEXT.splitlines()[0]
    assert load_policy(write(tmp_path, text)).version() == policy.version()


def test_version_ignores_how_a_duration_is_written(tmp_path: Path, policy: Policy) -> None:
    text = edit("ack_sla: 5m", "ack_sla: 300s")
    assert load_policy(write(tmp_path, text)).version() == policy.version()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("ack_sla: 5m", "ack_sla: 6m"),
        (
            "incident_commander: {primary: alice, secondary: bob",
            "incident_commander: {primary: bob, secondary: alice",
        ),
        (
            "- {roles: [duty_director], deadline: 15m}",
            "- {roles: [duty_director, legal], deadline: 15m}",
        ),
        (
            "  severity_downgrade:\n    approvals: single",
            "  severity_downgrade:\n    approvals: dual",
        ),
        ("params: {level: strict, surface: all}", "params: {level: elevated, surface: all}"),
        (
            "legal_coapproval_classes: [data_leakage]",
            "legal_coapproval_classes: [data_leakage, narrative]",
        ),
        ("name: example-ai-platform", "name: another-platform"),
    ],
)
def test_version_changes_when_a_rule_changes(
    tmp_path: Path, policy: Policy, old: str, new: str
) -> None:
    changed = load_policy(write(tmp_path, edit(old, new)))
    assert changed.version() != policy.version()
    assert changed.version().startswith("sha256:")


# -- malformed policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    text: str
    path: str
    line_needle: str  # the expected line is the first line of `text` containing this
    message: str


def _drop_gate(name: str) -> str:
    pattern = re.compile(rf"^  {name}:\n(?:    .*\n|      .*\n)+", re.MULTILINE)
    text, count = pattern.subn("", SHIPPED_TEXT, count=1)
    assert count == 1
    return text


CASES: dict[str, Callable[[], Bad]] = {
    "bad duration": lambda: Bad(
        edit("ack_sla: 5m", "ack_sla: 5 fortnights"),
        "severities.SEV0.ack_sla",
        "ack_sla: 5 fortnights",
        "bad duration",
    ),
    "zero duration": lambda: Bad(
        edit("update_cadence: 2h", "update_cadence: 0m"),
        "severities.SEV2.update_cadence",
        "update_cadence: 0m",
        "longer than zero",
    ),
    "huge duration": lambda: Bad(
        edit("deadline: 30m", "deadline: 99999999999999d"),
        "gates.restore.tiers.0.deadline",
        "deadline: 99999999999999d",
        "too long",
    ),
    "unknown person in a rotation": lambda: Bad(
        edit("comms: {primary: grace, secondary: hana", "comms: {primary: grace, secondary: zed"),
        "rotations.comms.secondary",
        "secondary: zed",
        "unknown person 'zed'",
    ),
    "unknown person in a group": lambda: Bad(
        edit("duty_director: [mo, lena]", "duty_director: [mo, lina]"),
        "groups.duty_director.1",
        "duty_director: [mo, lina]",
        "unknown person 'lina'",
    ),
    "unknown role in a gate tier": lambda: Bad(
        edit(
            "- {roles: [safety_lead, duty_director], deadline: 30m}",
            "- {roles: [safety_lead, janitor], deadline: 30m}",
        ),
        "gates.severity_downgrade.tiers.0.roles.1",
        "roles: [safety_lead, janitor]",
        "'janitor' is neither a role nor a group",
    ),
    "dual gate with one role": lambda: Bad(
        edit(
            "- {roles: [incident_commander, duty_director], deadline: 1h}",
            "- {roles: [duty_director], deadline: 1h}",
        ),
        "gates.restore.tiers.1.roles",
        "- {roles: [duty_director], deadline: 1h}",
        "dual approval needs at least two distinct roles",
    ),
    "dual gate with one role twice": lambda: Bad(
        edit(
            "- {roles: [incident_commander, duty_director], deadline: 15m}",
            "- {roles: [duty_director, duty_director], deadline: 15m}",
        ),
        "gates.containment_dual.tiers.1.roles",
        "- {roles: [duty_director, duty_director], deadline: 15m}",
        "two distinct roles",
    ),
    "missing required gate": lambda: Bad(
        _drop_gate("severity_downgrade"),
        "gates",
        "gates:",
        "missing gate rule 'severity_downgrade'",
    ),
    "unknown action in fallback": lambda: Bad(
        edit("action: force_safety_filter", "action: unplug_the_datacentre"),
        "gates.containment_with_fallback.fallback.action",
        "action: unplug_the_datacentre",
        "unknown action 'unplug_the_datacentre'",
    ),
    "action names an unknown gate": lambda: Bad(
        edit("gate: containment_with_fallback", "gate: containment_triple"),
        "actions.disable_endpoint.gate",
        "gate: containment_triple",
        "unknown gate rule 'containment_triple'",
    ),
    "extra unknown key at the top": lambda: Bad(
        edit("announcements_channel:", "colour: red\nannouncements_channel:"),
        "colour",
        "colour: red",
        "Extra inputs are not permitted",
    ),
    "extra unknown key nested": lambda: Bad(
        edit("    update_cadence: 30m\n", "    update_cadence: 30m\n    escalate_to_ceo: true\n"),
        "severities.SEV1.escalate_to_ceo",
        "escalate_to_ceo: true",
        "Extra inputs are not permitted",
    ),
    "unknown severity": lambda: Bad(
        edit("  SEV3:\n", "  SEV9:\n"),
        "severities.SEV9",
        "SEV9:",
        "'SEV0', 'SEV1', 'SEV2' or 'SEV3'",
    ),
    "bad email": lambda: Bad(
        edit("email: bob@example.com", "email: bob-at-example"),
        "people.1.email",
        "email: bob-at-example",
        "pattern",
    ),
    "invalid YAML": lambda: Bad(
        edit("people:\n", "people: [\n"),
        "(top)",
        "- {id: alice",
        "not valid YAML",
    ),
    "duplicate key": lambda: Bad(
        edit("announcements_channel:", "name: again\nannouncements_channel:"),
        "(top)",
        "name: again",
        "duplicate key",
    ),
    "not a mapping": lambda: Bad("- just\n- a list\n", "(top)", "- just", "must be a YAML mapping"),
    "a scalar": lambda: Bad("hello\n", "(top)", "hello", "must be a YAML mapping"),
    "empty file": lambda: Bad("", "(top)", "", "must be a YAML mapping"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_policy_names_path_and_line(tmp_path: Path, case: str) -> None:
    bad = CASES[case]()
    problems = problems_of(tmp_path, bad.text)
    line = line_with(bad.text, bad.line_needle) if bad.text else 1
    expected_prefix = f"{bad.path} (line {line}): "
    matching = [p for p in problems if p.startswith(expected_prefix)]
    assert matching, f"no problem starts with {expected_prefix!r}: {problems}"
    assert any(bad.message in p for p in matching), problems


def test_every_cross_reference_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edit("primary: alice", "primary: zed")
    text = edit("action: force_safety_filter", "action: nope", text=text)
    text = edit("duty_director: [mo, lena]", "duty_director: [mo, nobody]", text=text)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 3
    assert any(p.startswith("rotations.incident_commander.primary (line ") for p in problems)
    assert any(p.startswith("gates.containment_with_fallback.fallback.action") for p in problems)
    assert any(p.startswith("groups.duty_director.1") for p in problems)


def test_every_field_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edit("ack_sla: 5m", "ack_sla: soon")
    text = edit("email: carol@example.com", "email: nope", text=text)
    text = edit("announcements_channel:", "colour: red\nannouncements_channel:", text=text)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 3


def test_field_and_cross_reference_problems_are_reported_together(tmp_path: Path) -> None:
    text = edit("ack_sla: 5m", "ack_sla: soon")
    text = edit("primary: alice", "primary: zed", text=text)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 2


def test_missing_file_is_a_policy_problem(tmp_path: Path) -> None:
    with pytest.raises(PolicyInvalid, match="cannot read"):
        load_policy(tmp_path / "absent.yml")


def test_policy_invalid_message_names_the_source(tmp_path: Path) -> None:
    path = write(tmp_path, edit("primary: alice", "primary: zed"))
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(path)
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    assert "1 problem(s)" in str(caught.value)


# -- `commandpost policy check` ----------------------------------------------------------------


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("policy", "check", str(path), cwd=path.parent)


def test_cli_check_accepts_the_shipped_policy(policy: Policy) -> None:
    result = run_check(SHIPPED)
    assert result.returncode == 0, result.stderr
    assert policy.version() in result.stdout


def test_cli_check_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    text = edit("primary: alice", "primary: zed")
    text = edit("action: force_safety_filter", "action: nope", text=text)
    path = write(tmp_path, text)
    with pytest.raises(PolicyInvalid) as caught:
        load_policy(path)
    result = run_check(path)
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert len(caught.value.problems) == 2
    for problem in caught.value.problems:
        assert problem in output
    assert "sha256:" not in output


def test_cli_check_invalid_yaml_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "people: [\n")
    result = run_check(path)
    assert result.returncode == 2
    assert "not valid YAML" in result.stdout + result.stderr


def test_cross_references_that_read_a_broken_section_are_not_echoed(tmp_path: Path) -> None:
    # A broken people section would make every rotation "unknown"; only the cause is shown.
    text = edit("- {id: alice,", "- {id: Alice!,")
    problems = problems_of(tmp_path, text)
    assert problems and all(p.startswith("people.") for p in problems)
