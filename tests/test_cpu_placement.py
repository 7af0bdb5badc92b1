"""`serve`'s two processes each on a CPU of its own (chat/slack/placement.py): which CPUs,
that every thread of each process runs there, and that stopping gives the CPUs back."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from commandpost.chat.slack.placement import Placement, pin_process, placement, restore
from commandpost.core.policy import Policy
from commandpost.serving import build_server
from commandpost.settings import Settings

from .slacke2e import served, slack_settings, start_fake

ALLOWED = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
two_cpus = pytest.mark.skipif(len(ALLOWED) < 2, reason="needs two CPUs (Linux)")


def affinities(pid: int) -> dict[int, set[int]]:
    """Each thread of `pid`, and the CPUs it may run on."""
    found = {}
    for entry in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[int(entry.name)] = os.sched_getaffinity(int(entry.name))
        except ProcessLookupError:
            continue
    return found


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        ([0], None),
        ([], None),
        ([0, 1], Placement(front=0, work=1)),
        ([5, 2, 7, 3], Placement(front=5, work=7)),
    ],
)
def test_the_front_and_the_work_get_a_cpu_each_where_there_are_two(
    allowed: list[int], expected: Placement | None
) -> None:
    assert placement(allowed) == expected


@two_cpus
def test_pinning_covers_every_thread_and_later_ones_and_restore_undoes_it() -> None:
    cpu = ALLOWED[-1]
    started = threading.Event()
    stop = threading.Event()

    def wait() -> None:
        started.set()
        stop.wait(30)

    later = threading.Thread(target=wait)  # started while pinned: inherits it
    before = pin_process({cpu})
    try:
        assert before
        assert all(cpus == {cpu} for cpus in affinities(os.getpid()).values())
        later.start()
        assert started.wait(10)
        assert later.native_id is not None
        assert os.sched_getaffinity(later.native_id) == {cpu}
        restore(before)
        # Every thread, the one started while pinned too, may run anywhere again.
        assert all(cpus == set(ALLOWED) for cpus in affinities(os.getpid()).values())
    finally:
        restore(before)
        stop.set()
        if later.is_alive():
            later.join(timeout=10)


def sqlite(db_url: str) -> bool:
    return db_url.startswith("sqlite")


@two_cpus
def test_served_split_on_sqlite_each_process_runs_on_its_own_cpu(
    db_url: str, policy: Policy
) -> None:
    with served(db_url, policy, work_process=True, pin_cpus=True) as env:
        assert env.server.work is not None
        spot = env.server.work.spec.placement
        work = affinities(env.server.work._process.pid)
        front = affinities(os.getpid())
        if not sqlite(db_url):
            # PostgreSQL's own processes may share the cores: the kernel places ours.
            assert spot is None
            assert all(cpus == set(ALLOWED) for cpus in [*work.values(), *front.values()])
            return
        assert spot == Placement(front=ALLOWED[-2], work=ALLOWED[-1])
        assert work and all(cpus == {spot.work} for cpus in work.values())
        assert all(cpus == {spot.front} for cpus in front.values())
        # It still serves: a command is acked and answered.
        assert env.slack.command("help", user="U0ALICE").status == 200
    assert all(cpus == set(ALLOWED) for cpus in affinities(os.getpid()).values())


@two_cpus
def test_serve_pins_on_sqlite_by_default_and_the_setting_turns_it_off(
    db_url: str, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake()
    try:
        pinned = placement() if sqlite(db_url) else None
        for value, expected in (("true", pinned), ("false", None)):
            monkeypatch.setenv("COMMANDPOST_PIN_CPUS", value)
            server = build_server(
                database_url=db_url, policy=policy, slack=slack_settings(fake), settings=Settings()
            )
            assert server.work is not None
            assert server.work.spec.placement == expected
            server.ctx.engine.dispose()
        monkeypatch.delenv("COMMANDPOST_PIN_CPUS")
        assert Settings().pin_cpus is True
    finally:
        fake.stop()
