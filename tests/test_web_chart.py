"""The milestone chart's geometry: bars are time taken as a share of each milestone's SLA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commandpost.core.milestones import Milestone
from commandpost.web.chart import MAX_SHARE, PLOT, milestone_chart

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _m(name: str, elapsed: float | None, sla: float | None, *, breached: bool = False) -> Milestone:
    """Times in minutes."""
    return Milestone(
        name=name,
        at=T0 + timedelta(minutes=elapsed) if elapsed is not None else None,
        elapsed=timedelta(minutes=elapsed) if elapsed is not None else None,
        sla=timedelta(minutes=sla) if sla is not None else None,
        breached=breached,
    )


def test_bars_are_shares_of_their_own_sla_on_one_axis() -> None:
    chart = milestone_chart(
        [_m("acknowledged", 5, 10), _m("resolved", 60 * 36, 60 * 72)], open_for=None
    )
    # Axis up to 125%: the SLA line sits at 100% of it; half an SLA is half of that.
    assert chart.sla_x == PLOT * 0.8
    assert [r.bar_width for r in chart.rows] == [PLOT * 0.4, PLOT * 0.4]
    assert [r.value for r in chart.rows] == ["5m of 10m", "1d12h of 3d"]
    assert [r.state for r in chart.rows] == ["met", "met"]
    assert [t.label for t in chart.ticks] == ["0%", "25%", "50%", "75%", "SLA", "125%"]


def test_a_breach_widens_the_axis_and_a_wild_one_is_cut_at_the_edge() -> None:
    chart = milestone_chart(
        [_m("acknowledged", 15, 10, breached=True), _m("contained", 600, 30, breached=True)],
        open_for=None,
    )
    late, wild = chart.rows
    assert [t.label for t in chart.ticks][-1] == f"{MAX_SHARE:.0%}"
    assert late.state == "breached" and late.bar_width == round(PLOT * 1.5 / MAX_SHARE, 1)
    assert wild.clipped and wild.bar_width == PLOT and wild.value == "10h of 30m"


def test_milestones_not_reached_show_how_long_the_incident_has_been_open() -> None:
    chart = milestone_chart(
        [
            _m("acknowledged", 2, 10),
            _m("contained", None, 30, breached=True),
            _m("notified", None, None),
        ],
        open_for=timedelta(minutes=45),
    )
    reached, overdue, untimed = chart.rows
    assert reached.state == "met"
    assert overdue.state == "overdue" and overdue.value == "open 45m of 30m"
    assert untimed.state == "pending" and untimed.bar_width == 0 and "no SLA" in untimed.value


def test_a_resolved_incident_marks_what_never_happened_and_keeps_a_sliver_for_zero() -> None:
    chart = milestone_chart(
        [_m("acknowledged", 0, 10), _m("notified", None, 120, breached=True)], open_for=None
    )
    instant, missed = chart.rows
    assert instant.bar_width == 2.0 and instant.state == "met"
    assert missed.state == "missed" and missed.bar_width == 0
    assert missed.value == "not reached (SLA 2h)"
