"""The milestone chart's geometry: one row per milestone, its bar the time from declaration to
the milestone as a share of that milestone's SLA, so every SLA falls on one line (100%).

A time scale would not do: a SEV1's 10-minute acknowledgement and 3-day resolution targets on
one axis leave the first bars a pixel wide. Each row also says the times in words ("4m of
10m"). A milestone without an SLA gets a marker at the start and its time in words. The
template draws it as inline SVG; this is pure arithmetic in SVG user units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from commandpost.core.durations import format_duration
from commandpost.core.milestones import Milestone

WIDTH = 760
LEFT = 130  # room for the milestone names
PLOT = 430
TOP = 30  # room for the axis labels
ROW = 42
BAR = 20
MAX_SHARE = 3.0  # bars past three times their SLA are cut there, and say so
_MIN_SHARE = 1.25  # the axis always shows some room past the SLA line


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Row:
    name: str
    y: float  # top of the row
    state: str  # met, breached, pending, overdue (not reached, past its SLA), missed, untimed
    bar_width: float  # 0: no bar (nothing reached, or no SLA to measure against)
    clipped: bool  # the bar goes on past the axis
    value: str  # the times in words
    at: str  # when reached, UTC, or ""

    @property
    def bar_y(self) -> float:
        return self.y + (ROW - BAR) / 2

    @property
    def mid_y(self) -> float:
        return self.y + ROW / 2


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    plot_width: int
    top: int
    sla_x: float  # where 100% of every SLA falls
    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]

    @property
    def bottom(self) -> float:
        return self.top + ROW * len(self.rows)

    @property
    def text_x(self) -> float:
        return self.left + self.plot_width + 14


def _measured(milestone: Milestone, open_for: timedelta | None) -> timedelta | None:
    return milestone.elapsed if milestone.elapsed is not None else open_for


def milestone_chart(milestones: list[Milestone], *, open_for: timedelta | None) -> Chart:
    """`open_for`: how long the incident has been open, when it still is; a milestone not
    reached yet is drawn as a pale bar up to now."""
    shares = []
    for milestone in milestones:
        measured = _measured(milestone, open_for)
        if measured is not None and milestone.sla:
            shares.append(measured / milestone.sla)
    span = min(max([_MIN_SHARE, *shares]), MAX_SHARE)
    # Whole quarter steps below 150%, halves above: a handful of labels either way.
    step = 0.25 if span <= 1.5 else 0.5
    span = step * -(-span // step)

    def x_of(share: float) -> float:
        return round(PLOT * min(share, span) / span, 1)

    rows = tuple(
        _row(milestone, y=TOP + index * ROW, x_of=x_of, span=span, open_for=open_for)
        for index, milestone in enumerate(milestones)
    )
    count = round(span / step)
    ticks = tuple(
        Tick(x=x_of(step * i), label="SLA" if step * i == 1 else f"{step * i:.0%}")
        for i in range(count + 1)
    )
    return Chart(
        width=WIDTH,
        height=int(TOP + ROW * len(rows) + 10),
        left=LEFT,
        plot_width=PLOT,
        top=TOP,
        sla_x=x_of(1.0),
        rows=rows,
        ticks=ticks,
    )


def _row(
    milestone: Milestone,
    *,
    y: float,
    x_of: Callable[[float], float],
    span: float,
    open_for: timedelta | None,
) -> Row:
    sla = milestone.sla
    measured = _measured(milestone, open_for)
    reached = milestone.elapsed is not None
    if measured is None:
        state = "missed"
        value = "not reached" + (f" (SLA {format_duration(sla)})" if sla else "")
    elif not sla:
        state = "untimed" if reached else "pending"
        value = f"{'' if reached else 'open '}{format_duration(measured)} (no SLA)"
    else:
        if reached:
            state = "breached" if milestone.breached else "met"
        else:
            state = "overdue" if milestone.breached else "pending"
        shown = format_duration(measured)
        value = f"{shown if reached else 'open ' + shown} of {format_duration(sla)}"
    measurable = measured is not None and bool(sla)
    share = measured / sla if measured is not None and sla else 0.0
    return Row(
        name=milestone.name,
        y=y,
        state=state,
        # A sliver at least: reached at once is still reached.
        bar_width=max(x_of(share), 2.0) if measurable else 0.0,
        clipped=share > span,
        value=value,
        at=milestone.at.strftime("%Y-%m-%d %H:%M:%SZ") if milestone.at else "",
    )
