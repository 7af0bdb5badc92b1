"""`serve` split in two: the acks in the served process, the work after them, the deliveries
and the deadlines in a work process of its own (chat/slack/workproc.py).

The served app and its work process are real (the work process is spawned, and calls the
same listeners with each forwarded request's route and parsed body); Slack is FakeSlack;
requests are signed as Slack signs them. Nothing of ours is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError

import pytest
from pydantic import ValidationError
from slack_sdk import WebClient

from commandpost.chat.slack.workproc import WORK_NICE, ReplayClient
from commandpost.core.policy import Policy
from commandpost.settings import Settings
from commandpost.storage import models as m
from commandpost.storage.migrate import upgrade

from .slacke2e import ALICE, Env, approve_ten_times_at_once, declare, served, start_fake
from .slackreq import SlackClient
from .support import POLICY_FILE


@pytest.fixture
def split(db_url: str, policy: Policy) -> Iterator[Env]:
    with served(db_url, policy, work_process=True) as served_env:
        yield served_env


def test_the_work_after_the_ack_runs_in_the_work_process(split: Env) -> None:
    assert split.server.after_ack is None  # nothing here could have done it
    stored = declare(split)  # channel ready, four pages delivered
    (incident,) = split.rows(m.Incident)
    assert stored.incident_id == incident.id
    declared = [e for e in split.rows(m.AuditEvent) if e.kind == "incident.declared"]
    assert [json.loads(e.data)["via"] for e in declared] == ["slack"]
    assert split.fake.channels[stored.channel_id].pins == [stored.summary_ts]


def test_commands_are_done_in_the_order_they_were_acked(split: Env) -> None:
    stored = declare(split)
    for n in range(15):
        reply = split.slack.command(f"note step {n}", user=ALICE, channel=stored.channel_id)
        assert reply.status == 200
    split.fake.wait_for(
        lambda f: sum("step 14" in x["text"] for x in f.messages_in(stored.channel_id)) == 1
    )
    notes = [e for e in split.rows(m.AuditEvent) if e.kind == "note.added"]
    assert [json.loads(e.data)["text"] for e in notes] == [f"step {n}" for n in range(15)]


def test_ten_concurrent_clicks_on_approve_execute_once(split: Env) -> None:
    approve_ten_times_at_once(split)
    assert split.count(m.GateDecision, m.GateDecision.decision == "approve") == 1
    assert split.count(m.OutboxItem, m.OutboxItem.kind == "execute") == 1


def test_a_refusal_is_shown_once(split: Env) -> None:
    stored = declare(split)
    # Dan holds no role here: the work process refuses, once, to him alone.
    reply = split.slack.command("sev sev3 calmer now", user="U0DAN", channel=stored.channel_id)
    assert reply.status == 200
    split.fake.wait_for(lambda f: any(e["user"] == "U0DAN" for e in f.ephemeral))
    split.server.stop()  # everything it was sent is done
    (shown,) = [e for e in split.fake.ephemeral if e["user"] == "U0DAN"]
    assert str(shown["text"]).startswith(":no_entry:")
    assert split.count(m.Gate) == 0


def test_stopping_finishes_the_work_already_acked(split: Env) -> None:
    stored = declare(split)
    for n in range(25):
        split.slack.command(f"note quick {n}", user=ALICE, channel=stored.channel_id)
    split.server.stop()
    notes = [e for e in split.rows(m.AuditEvent) if e.kind == "note.added"]
    assert len(notes) == 25


def test_a_forged_request_is_refused_before_anything_is_forwarded(split: Env) -> None:
    forged = SlackClient(split.slack.url, secret="not-the-secret")
    assert forged.command('declare sev1 harmful_content "x"', user=ALICE).status == 401
    split.server.stop()  # the work process has done everything it was sent
    assert split.count(m.Incident) == 0 and split.count(m.AuditEvent) == 0


def healthz(env: Env) -> int:
    try:
        with urllib.request.urlopen(f"{env.slack.url}/healthz", timeout=10) as answer:
            return int(answer.status)
    except HTTPError as refused:
        refused.close()
        return refused.code


def test_a_work_process_that_dies_is_replaced_and_the_next_commands_are_done(
    split: Env,
) -> None:
    work = split.server.work
    assert work is not None
    first = work._process
    first.kill()  # as the OOM killer would
    first.join(timeout=10)
    deadline = time.monotonic() + 60
    while not (work._process is not first and work.alive()):
        assert time.monotonic() < deadline, "the dead work process was not replaced"
        time.sleep(0.05)
    assert healthz(split) == 200
    stored = declare(split)  # done by the new process: channel ready, pages delivered
    assert split.fake.channels[stored.channel_id].pins == [stored.summary_ts]


def test_healthz_says_so_when_the_work_process_is_gone_for_good(split: Env) -> None:
    assert healthz(split) == 200
    work = split.server.work
    assert work is not None
    work.restarts = 0  # dies once too often: not replaced
    work._process.kill()
    work._process.join(timeout=10)
    assert work._sender is not None
    work._sender.join(timeout=30)  # the front gives up: its forwarding thread ends
    assert not work._sender.is_alive() and not work.alive()
    assert healthz(split) == 503
    # Acked, but not queued for a process that will never come: memory does not grow.
    assert split.slack.command("list", user=ALICE).status == 200
    assert work._outgoing.qsize() == 0


def test_the_work_process_gives_way_to_the_acks(split: Env) -> None:
    assert split.server.work is not None
    pid = split.server.work._process.pid
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    # Started (it said it was ready), so it has lowered its own priority by WORK_NICE.
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + WORK_NICE)
    assert WORK_NICE > 0


def test_the_work_priority_is_a_setting_within_nice_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMANDPOST_WORK_NICE", "5")
    assert Settings().work_nice == 5
    monkeypatch.setenv("COMMANDPOST_WORK_NICE", "25")
    with pytest.raises(ValidationError):
        Settings()


def test_a_replayed_listener_reaches_slack_only_after_its_ack() -> None:
    fake = start_fake()
    try:
        client = ReplayClient(muted=threading.get_ident(), token=fake.token, base_url=fake.base_url)
        # On the replaying thread: answered ok, and Slack never hears of it.
        assert client.chat_postMessage(channel="C0GENERAL", text="shown by the front")["ok"]
        assert fake.calls("chat.postMessage") == []
        # On any other thread (the work after the ack): made for real.
        worker = threading.Thread(
            target=lambda: client.chat_postMessage(channel="C0GENERAL", text="the work")
        )
        worker.start()
        worker.join(timeout=10)
        (call,) = fake.calls("chat.postMessage")
        assert call.params["text"] == "the work"
        assert isinstance(client, WebClient)
    finally:
        fake.stop()


def test_serve_from_the_command_line_runs_and_stops_both_processes(tmp_path: Path) -> None:
    """`python -m commandpost serve` (the work process imports the main module again), then
    SIGTERM as a container stop sends it: both processes end, the served one with status 0."""
    database = f"sqlite:///{tmp_path / 'serve.db'}"
    env = {
        **os.environ,
        "COMMANDPOST_DATABASE_URL": database,
        "COMMANDPOST_POLICY": str(POLICY_FILE),
        "SLACK_SIGNING_SECRET": "not-used-here",
        "SLACK_BOT_TOKEN": "xoxb-not-used",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "COMMANDPOST_LOG_LEVEL": "INFO",
    }
    upgrade(database)
    command = [sys.executable, "-m", "commandpost", "serve", "--host", "127.0.0.1", "--port", "0"]
    with subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) as serve:
        listening: list[int] = []
        heard = threading.Event()

        def read_log() -> None:  # all of it, so a full pipe never blocks serve
            assert serve.stderr is not None
            for line in serve.stderr:
                if "serving Slack on http://" in line:
                    listening.append(int(line.rsplit(":", 1)[1].split("/", 1)[0]))
                    heard.set()

        reader = threading.Thread(target=read_log, daemon=True)
        reader.start()
        try:
            assert heard.wait(60), "serve did not say where it listens"
            url = f"http://127.0.0.1:{listening[0]}/healthz"
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.status == 200  # the work process is up
            workers = _children(serve.pid)
            assert workers, "no work process"
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(timeout=60) == 0
            # The work process (and multiprocessing's resource tracker) end with it.
            deadline = time.monotonic() + 30
            while any(Path(f"/proc/{pid}").exists() for pid in workers):
                assert time.monotonic() < deadline, "a child of serve outlived it"
                time.sleep(0.1)
        finally:
            if serve.poll() is None:
                serve.kill()
            reader.join(timeout=10)


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []
