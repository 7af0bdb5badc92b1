"""The review numbers match the drill's timeline: run the shipped drills through the drill
runner (simulated clock) and compare each milestone in the review with the times the drill
file itself implies (its start plus the `advance` steps before each action)."""

from __future__ import annotations

import io
import re
from datetime import datetime

import pytest

from commandpost.core.durations import format_duration
from commandpost.core.policy import ManualExecutor
from commandpost.drills import model as dm
from commandpost.drills.loader import load_drill
from commandpost.drills.runner import run_drill

from .support import POLICY_FILE, ROOT

ROW = re.compile(
    r"^\| (acknowledged|contained|notified|resolved) \| (.+?) \| (.+?) \| (.+?) \| (.+?) \|$"
)


def milestone_rows(review: str) -> dict[str, tuple[str, str, str, str]]:
    found = {}
    for line in review.splitlines():
        if hit := ROW.match(line):
            name, at, elapsed, sla, verdict = hit.groups()
            found[name] = (at, elapsed, sla, verdict)
    return found


def drill_times(drill: dm.Drill) -> dict[str, datetime]:
    """When the drill file says each milestone happens: the first ack; the first containment
    executed (a webhook action runs on its approval, a manual one when a person confirms it),
    or the status set to contained; the resolve."""
    now = drill.start
    seen: dict[str, datetime] = {}
    manual: dict[str, bool] = {}  # containment gate label -> is its action a manual step
    for step in drill.steps:
        if isinstance(step, dm.Advance):
            now += step.by
            continue
        if isinstance(step, dm.Expect) or step.expect_error is not None:
            continue
        if isinstance(step, dm.Declare):
            seen["declared"] = now
        elif isinstance(step, dm.Ack):
            seen.setdefault("acknowledged", now)
        elif isinstance(step, dm.Contain):
            executor = drill.policy.actions[step.action].executor
            manual[step.defines()] = isinstance(executor, ManualExecutor)
        elif isinstance(step, dm.Decide) and step.kind == "approve" and step.gate in manual:
            if not manual[step.gate]:
                seen.setdefault("contained", now)
        elif (isinstance(step, dm.ConfirmManual) and step.gate in manual) or (
            isinstance(step, dm.ChangeStatus) and step.to.value == "contained"
        ):
            seen.setdefault("contained", now)
        elif isinstance(step, dm.Resolve):
            seen["resolved"] = now
    return seen


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ")


@pytest.mark.parametrize(
    "name",
    sorted(path.name for path in (ROOT / "drills").glob("*.yml")),
)
def test_review_numbers_match_the_drill_timeline(name: str) -> None:
    drill = load_drill(ROOT / "drills" / name, default_policy=POLICY_FILE)
    report = run_drill(drill, out=io.StringIO())
    assert report.review is not None
    rows = milestone_rows(report.review)
    assert list(rows) == ["acknowledged", "contained", "notified", "resolved"]
    expected = drill_times(drill)
    declared = expected.pop("declared")
    policy = drill.policy
    severity = next(s for s in drill.steps if isinstance(s, dm.Declare)).severity
    spec = policy.severity(severity)
    slas = {
        "acknowledged": spec.ack_sla,
        "contained": spec.first_mitigation_sla,
        "notified": spec.notify_sla,
        "resolved": spec.resolve_sla,
    }
    assert {"acknowledged", "contained", "resolved"} <= set(expected)
    for milestone, at in expected.items():
        got_at, got_elapsed, got_sla, verdict = rows[milestone]
        assert got_at == stamp(at), milestone
        assert got_elapsed == format_duration(at - declared), milestone
        sla = slas[milestone]
        assert got_sla == (format_duration(sla) if sla else "none"), milestone
        late = sla is not None and at - declared > sla
        assert verdict == ("BREACHED" if late else "met" if sla else "no SLA"), milestone
    # No drill sends a notice: not reached, and not late when resolved inside the SLA.
    at, elapsed, _, verdict = rows["notified"]
    assert (at, elapsed) == ("not reached", "-")
    notify = slas["notified"]
    resolved_in = expected["resolved"] - declared
    late = notify is not None and resolved_in > notify
    assert verdict == ("BREACHED (not reached)" if late else "not reached")


def test_the_sev0_drill_in_numbers() -> None:
    """The same check written out by hand for one drill, so a bug shared by the helper above
    and the runner cannot hide: ack at 1m, rollback approved at 9m, resolved at 37m."""
    drill = load_drill(ROOT / "drills" / "sev0-data-leak.yml", default_policy=POLICY_FILE)
    rows = milestone_rows(run_drill(drill, out=io.StringIO()).review or "")
    assert rows["acknowledged"] == ("2026-03-02 14:01:00Z", "1m", "5m", "met")
    assert rows["contained"] == ("2026-03-02 14:09:00Z", "9m", "15m", "met")
    assert rows["resolved"] == ("2026-03-02 14:37:00Z", "37m", "1d", "met")
    # Resolved at 37m, inside SEV0's 1h notify SLA: not reached, and not late.
    assert rows["notified"] == ("not reached", "-", "1h", "not reached")
