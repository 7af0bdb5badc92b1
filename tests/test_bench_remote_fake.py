"""bench/remote_fake.py: the fake Slack in a process of its own answers the Web API and tells
the benchmark what it recorded."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from slack_sdk import WebClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from remote_fake import RemoteFake


def test_the_remote_fake_records_calls_and_ready_channels() -> None:
    with RemoteFake(latency=0.0, channels=[("general", "C0GENERAL")]) as fake:
        assert fake.pid > 0 and fake.base_url.endswith("/api/")
        client = WebClient(token=fake.token, base_url=fake.base_url)
        ready = client.conversations_create(name="inc-2026-0001-leak")["channel"]["id"]
        waiting = client.conversations_create(name="inc-2026-0002-slow")["channel"]["id"]
        for channel in (ready, waiting, "C0GENERAL"):
            client.chat_postMessage(channel=channel, text="summary")
        ts = client.chat_postMessage(channel=ready, text="pinned")["ts"]
        client.pins_add(channel=ready, timestamp=ts)
        client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="only you")
        assert fake.pinned_incident_channels() == [ready]
        assert fake.count("conversations.create", ok=True) == 2
        assert [c.method for c in fake.calls("pins.add")] == ["pins.add"]
        assert len(fake.calls()) == 8
        assert [e["text"] for e in fake.ephemeral] == ["only you"]


def test_the_remote_fake_runs_at_the_priority_it_is_given() -> None:
    """Slack's servers take none of this machine's CPU: the bench runs the fake lowered."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    with RemoteFake(latency=0.0, channels=[], nice=7) as fake:
        assert os.getpriority(os.PRIO_PROCESS, fake.pid) == min(19, mine + 7)
        client = WebClient(token=fake.token, base_url=fake.base_url)
        assert client.auth_test()["ok"]  # lowered, it still answers
    with RemoteFake(latency=0.0, channels=[]) as fake:
        assert os.getpriority(os.PRIO_PROCESS, fake.pid) == mine
