"""The policy check and the alerts section: problems it causes are shown, echoes are not."""

from __future__ import annotations

from pathlib import Path

from .support import POLICY_FILE, problems_of

SHIPPED_TEXT = POLICY_FILE.read_text(encoding="utf-8")
LEGAL = "legal: {primary: ivan, secondary: jo, manager: lena}"
FLOOD = "flood: {max_incidents: 5, window: 10m}"


def edit(old: str, new: str, *, text: str = SHIPPED_TEXT) -> str:
    assert text.count(old) >= 1, f"{old!r} is not in the policy"
    return text.replace(old, new, 1)


def test_a_broken_rotations_section_is_not_echoed_in_alerts(tmp_path: Path) -> None:
    # The alert routes page legal; with rotations unreadable, "legal has no rotation" would be
    # a second report of the same typo.
    text = edit(LEGAL, LEGAL.replace("}", ", colour: red}"))
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    assert problems[0].startswith("rotations.legal.colour (line ")


def test_a_route_paging_a_role_without_rotation_is_still_reported(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, edit(f"  {LEGAL}\n", ""))
    assert any(p.startswith("alerts.routes.0.page.0 (line ") for p in problems), problems
    assert all("legal" in p for p in problems), problems


def test_a_broken_alerts_section_does_not_hide_other_cross_references(tmp_path: Path) -> None:
    text = edit(FLOOD, FLOOD.replace("5", "many"))
    text = edit("primary: alice", "primary: zed", text=text)
    problems = problems_of(tmp_path, text)
    assert len(problems) == 2, problems
    assert any(p.startswith("alerts.flood.max_incidents (line ") for p in problems)
    assert any(p.startswith("rotations.incident_commander.primary (line ") for p in problems)


def test_a_broken_alerts_section_alone_is_reported_once(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, edit(FLOOD, FLOOD.replace("10m", "soon")))
    assert len(problems) == 1, problems
    assert problems[0].startswith("alerts.flood.window (line ")
