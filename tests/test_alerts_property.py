"""Property: whatever deliveries arrive, in whatever order, with repeats, resolves and waits in
between, a fingerprint never has more than one open incident, and a firing alert that was
handled always ends up on exactly one (SQLite, through the service layer)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commandpost.chat.console import ConsoleChat
from commandpost.core.alerts import AlertSource
from commandpost.core.policy import Policy
from commandpost.runtime import build_context
from commandpost.service.alerts import ingest
from commandpost.service.context import Context
from commandpost.service.incidents import list_incidents, resolve
from commandpost.service.ports import ManualClock
from commandpost.storage.migrate import upgrade

from .alertsupport import alertmanager, am_alert, generic, open_incidents_by_fingerprint
from .support import START

_examples = itertools.count()


@dataclass(frozen=True)
class Deliver:
    source: AlertSource
    alerts: tuple[tuple[int, bool, int], ...]  # (fingerprint, firing, group)
    variant: int  # the same variant and alerts give the same body: a repeat delivery


@dataclass(frozen=True)
class Resolve:
    pick: int


@dataclass(frozen=True)
class Wait:
    minutes: int


alert = st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 2))
steps = st.lists(
    st.one_of(
        st.builds(
            Deliver,
            st.sampled_from([AlertSource.ALERTMANAGER, AlertSource.GENERIC]),
            st.lists(alert, min_size=1, max_size=4).map(tuple),
            st.integers(0, 1),
        ),
        st.builds(Resolve, st.integers(0, 10)),
        st.builds(Wait, st.integers(0, 15)),
    ),
    max_size=12,
)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, policy: Policy) -> Iterator[Context]:
    path: Path = tmp_path_factory.mktemp("alerts-property") / "commandpost.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    clock = ManualClock(START)
    ctx = build_context(database_url=url, policy=policy, clock=clock, chat=ConsoleChat(clock))
    yield ctx
    ctx.engine.dispose()


def body_of(step: Deliver, namespace: str) -> bytes:
    if step.source is AlertSource.ALERTMANAGER:
        # Alertmanager sends one group per delivery: the first alert's group names it.
        items = [
            am_alert(f"{namespace}-{fp}", "firing" if firing else "resolved")
            for fp, firing, _ in step.alerts
        ]
        group = f"{namespace}-g{step.alerts[0][2]}"
        return alertmanager(items, group=group, receiver=f"v{step.variant}")
    return generic(
        *(
            {
                "status": "firing" if firing else "resolved",
                "title": f"alert {fp}",
                "fingerprint": f"{namespace}-{fp}",
                "group_key": f"{namespace}-g{group}",
            }
            for fp, firing, group in step.alerts
        ),
        version="1",
        **({"group_key": f"{namespace}-v{step.variant}"} if step.variant else {}),
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps)
def test_at_most_one_open_incident_per_fingerprint(lab: Context, plan: list[object]) -> None:
    namespace = f"ex{next(_examples)}"
    clock = lab.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=1))  # each example starts outside the last one's flood window
    for step in plan:
        if isinstance(step, Wait):
            clock.advance(timedelta(minutes=step.minutes))
        elif isinstance(step, Resolve):
            mine = [
                i for i in list_incidents(lab) if i.declared_at >= clock.now() - timedelta(hours=1)
            ]
            if mine:
                target = mine[step.pick % len(mine)]
                resolve(lab, target.id, actor="alice", summary="handled in the property test")
        else:
            assert isinstance(step, Deliver)
            result = ingest(lab, source=step.source, body=body_of(step, namespace))
            homes = open_incidents_by_fingerprint(lab)
            if not result.duplicate:
                firing = {f"{namespace}-{fp}" for fp, on, _ in step.alerts if on}
                # The last state of a fingerprint repeated in a delivery is what counts.
                last = {f"{namespace}-{fp}": on for fp, on, _ in step.alerts}
                for fingerprint in firing:
                    if last[fingerprint]:
                        assert len(homes[(step.source.value, fingerprint)]) == 1
        homes = open_incidents_by_fingerprint(lab)
        assert all(len(incidents) == 1 for incidents in homes.values()), homes
