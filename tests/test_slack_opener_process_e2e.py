"""Served as `serve` serves over HTTP, a new incident's channel is opened in a process of its
own (chat/slack/openerproc.py); without it, by the work process; nothing is lost between."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from commandpost.chat.slack.openerproc import DONE, READY, OpenerLink
from commandpost.chat.slack.workproc import WORK_NICE
from commandpost.core.policy import Policy
from commandpost.storage import models as m

from .slacke2e import ALICE, Env, declare, served


@pytest.fixture
def split(db_url: str, policy: Policy) -> Iterator[Env]:
    with served(db_url, policy, work_process=True) as served_env:
        yield served_env


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def settle(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_new_channels_are_opened_in_the_opener_process(split: Env) -> None:
    assert split.server.work is not None
    opener = split.server.work._opener
    assert opener is not None and opener.is_alive()
    before = cpu_ticks(opener.pid)
    for n in range(3):
        title = f"Leaked prompts, surface {n}"
        reply = split.slack.command(f'declare sev2 data_leakage "{title}"', user=ALICE)
        assert reply.status == 200
    split.fake.wait_for_calls("pins.add", count=3, timeout=20)
    assert len(split.fake.calls("conversations.create", ok=True)) == 3
    # Idle, its threads wait on a queue and use no CPU; it did the three set-ups.
    assert cpu_ticks(opener.pid) > before
    assert split.count(m.SlackChannel) == 3


def test_the_opener_process_gives_way_to_the_acks(split: Env) -> None:
    assert split.server.work is not None
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    # The work process said it was ready once the opener process had, and so had lowered
    # its priority.
    assert os.getpriority(os.PRIO_PROCESS, split.server.work._opener.pid) == min(
        19, ours + WORK_NICE
    )


def test_when_the_opener_process_is_gone_the_work_process_opens_channels(split: Env) -> None:
    assert split.server.work is not None
    split.server.work._opener.kill()
    split.server.work._opener.join(timeout=10)
    stored = declare(split)  # created, pinned and four pages sent all the same
    assert split.fake.channels[stored.channel_id].pins == [stored.summary_ts]
    assert len(split.fake.calls("conversations.create", ok=True)) == 1


def test_openings_the_opener_did_not_finish_are_opened_here_once_it_is_gone() -> None:
    ours, theirs = multiprocessing.Pipe()
    fell_back: list[str] = []
    kicks: list[int] = []
    theirs.send(READY)
    link = OpenerLink(ours, fallback=fell_back.append, opened=lambda: kicks.append(1))
    link.start(timeout=5)
    link.hand_over("INC-2026-0001")
    link.hand_over("INC-2026-0002")
    assert theirs.recv() == ("INC-2026-0001",)
    assert theirs.recv() == ("INC-2026-0002",)
    theirs.send((DONE, "INC-2026-0001"))
    settle(lambda: kicks == [1])  # the work process's deliverer is kicked for its pages
    theirs.close()  # the opener process dies with the second opening unfinished
    settle(lambda: fell_back == ["INC-2026-0002"])
    link.hand_over("INC-2026-0003")
    settle(lambda: fell_back == ["INC-2026-0002", "INC-2026-0003"])
    link.stop()
    assert fell_back == ["INC-2026-0002", "INC-2026-0003"]  # each once


def test_an_opener_process_that_never_starts_leaves_openings_here() -> None:
    ours, theirs = multiprocessing.Pipe()
    fell_back: list[str] = []
    link = OpenerLink(ours, fallback=fell_back.append, opened=lambda: None)
    link.start(timeout=0.1)  # nothing said ready
    link.hand_over("INC-2026-0004")
    settle(lambda: fell_back == ["INC-2026-0004"])
    assert not theirs.poll(0.2)  # nothing was sent to it
    link.stop()
    theirs.close()
