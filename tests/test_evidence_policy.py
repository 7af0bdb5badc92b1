"""`commandpost policy check` and the evidence rules: names, retention, each problem's path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from commandpost.core.vocabulary import IncidentClass
from commandpost.policy_file import load_policy

from .support import POLICY_FILE, problems_of, run_cli

SHIPPED_TEXT = POLICY_FILE.read_text(encoding="utf-8")


def with_evidence(section: str) -> str:
    assert "\nevidence:" not in SHIPPED_TEXT  # the shipped policy keeps the defaults
    return SHIPPED_TEXT + "\nevidence:\n" + section


def test_roles_groups_and_positive_retention_pass(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(
        with_evidence(
            "  readers: [incident_commander, legal, duty_director]\n"
            "  hold_releasers: [legal, duty_director]\n"
            "  retention: {functional: 90d, data_leakage: 3650d}\n"
        ),
        encoding="utf-8",
    )
    rules = load_policy(path).evidence
    assert rules.hold_releasers == ["legal", "duty_director"]
    assert rules.retention[IncidentClass.FUNCTIONAL] == timedelta(days=90)


def test_every_bad_name_and_retention_is_reported_with_its_path(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        with_evidence(
            "  readers: [legal, counsel]\n"
            "  hold_releasers: [general_counsel]\n"
            "  retention: {functional: -5, data_leakage: PT0S, harmful_content: 30d}\n"
        ),
    )
    where = {p.split(" (line ")[0]: p for p in problems}
    assert set(where) == {
        "evidence.readers.1",
        "evidence.hold_releasers.0",
        "evidence.retention.functional",
        "evidence.retention.data_leakage",
    }, problems
    assert "'counsel' is neither a role nor a group" in where["evidence.readers.1"]
    assert "longer than zero" in where["evidence.retention.functional"]


def test_empty_lists_are_refused(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, with_evidence("  hold_releasers: []\n  readers: []\n"))
    joined = "\n".join(problems)
    assert len(problems) == 2, problems
    assert "evidence.hold_releasers (line" in joined and "release a legal hold" in joined
    assert "evidence.readers (line" in joined and "read or export" in joined


def test_a_retention_key_that_is_not_a_class_is_refused(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, with_evidence("  retention: {bogus: 3d, functional: 1d}\n"))
    assert len(problems) == 1 and problems[0].startswith("evidence.retention.bogus (line ")
    assert "'functional'" in problems[0]  # the message lists the classes


def test_a_broken_groups_section_is_not_echoed_in_evidence(tmp_path: Path) -> None:
    # duty_director would be "neither a role nor a group" only because groups did not load.
    text = with_evidence("  readers: [duty_director]\n").replace(
        "duty_director: [mo, lena]", "duty_director: mo"
    )
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1 and problems[0].startswith("groups.duty_director"), problems


def test_policy_check_exits_2_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(with_evidence("  hold_releasers: [legal, counsel]\n"), encoding="utf-8")
    done = run_cli("policy", "check", str(path))
    assert done.returncode == 2
    assert "evidence.hold_releasers.1 (line" in done.stderr
    assert "'counsel' is neither a role nor a group" in done.stderr
