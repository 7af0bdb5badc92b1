"""`serve`'s work process on a CPU of its own (chat/slack/placement.py): which CPU, that every
thread of the work process runs there, and that the served process (the acks) is left free."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from commandpost.chat.slack.placement import work_cpu
from commandpost.chat.slack.workproc import PINNED_NICE, WORK_NICE
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
    [([0], None), ([], None), ([0, 1], 1), ([5, 2, 7, 3], 7)],
)
def test_the_work_gets_the_last_cpu_where_there_are_two(
    allowed: list[int], expected: int | None
) -> None:
    assert work_cpu(allowed) == expected


# Run in a process of its own: pinning this one would pin the rest of the test run.
PINNING = textwrap.dedent(
    """
    import json, os, sys, threading
    from commandpost.chat.slack.placement import pin_process

    cpu = int(sys.argv[1])
    started, stop = threading.Event(), threading.Event()
    earlier = threading.Thread(target=stop.wait)  # running before: moved too
    earlier.start()
    done = pin_process({cpu})
    later = threading.Thread(target=lambda: (started.set(), stop.wait()))  # inherits it
    later.start()
    started.wait(10)
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    print(json.dumps({"done": done, "threads": len(tids),
                      "cpus": sorted({c for t in tids for c in os.sched_getaffinity(t)})}))
    stop.set()
    """
)


@two_cpus
def test_pinning_covers_threads_started_before_and_after() -> None:
    cpu = ALLOWED[-1]
    out = subprocess.run(
        [sys.executable, "-c", PINNING, str(cpu)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen == {"done": True, "threads": 3, "cpus": [cpu]}


def sqlite(db_url: str) -> bool:
    return db_url.startswith("sqlite")


@two_cpus
def test_served_split_on_sqlite_the_work_runs_on_its_own_cpu_and_the_front_anywhere(
    db_url: str, policy: Policy
) -> None:
    with served(db_url, policy, work_process=True, pin_cpus=True) as env:
        assert env.server.work is not None
        spot = env.server.work.spec.work_cpu
        pid = env.server.work._process.pid
        work, front = affinities(pid), affinities(os.getpid())
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        # The front is never pinned: it takes whichever core is idle.
        assert front and all(cpus == set(ALLOWED) for cpus in front.values())
        if not sqlite(db_url):
            # PostgreSQL's own processes may share the cores: the kernel places ours, and
            # the work process yields any core to the acks.
            assert spot is None
            assert all(cpus == set(ALLOWED) for cpus in work.values())
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + WORK_NICE)
            return
        assert spot == ALLOWED[-1]
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + PINNED_NICE)
        assert len(work) > 1 and all(cpus == {spot} for cpus in work.values())
        # It still serves: a command is acked and answered.
        assert env.slack.command("help", user="U0ALICE").status == 200


@two_cpus
def test_serve_pins_on_sqlite_by_default_and_the_setting_turns_it_off(
    db_url: str, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake()
    try:
        pinned = work_cpu() if sqlite(db_url) else None
        for value, expected in (("true", pinned), ("false", None)):
            monkeypatch.setenv("COMMANDPOST_PIN_CPUS", value)
            server = build_server(
                database_url=db_url, policy=policy, slack=slack_settings(fake), settings=Settings()
            )
            assert server.work is not None
            assert server.work.spec.work_cpu == expected
            # On a CPU of its own the work process lowers its priority less.
            lowered = Settings().work_nice if expected is None else PINNED_NICE
            assert server.work.spec.nice == lowered
            server.ctx.engine.dispose()
        monkeypatch.delenv("COMMANDPOST_PIN_CPUS")
        assert Settings().pin_cpus is True
    finally:
        fake.stop()
