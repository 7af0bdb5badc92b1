"""The Web API client keeps its connections alive (chat/slack/webclient.py), and Slack's
answers reach the outbox as they did through slack_sdk's stock transport."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from commandpost.chat.slack.app import SlackSettings, web_client
from commandpost.chat.slack.slack_calls import OUTAGE_BACKOFF, slack_call
from commandpost.chat.slack.webclient import PooledWebClient, _closed_by_peer
from commandpost.errors import DeliveryFailed

from .fakeslack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_channel("general", channel_id="C0GENERAL")
        yield fake


def pooled(slack: FakeSlack) -> WebClient:
    token, url = slack.token or "", slack.base_url
    settings = SlackSettings(signing_secret="s", bot_token=token, api_url=url)
    return web_client(settings)


def test_the_served_app_calls_slack_through_the_pooled_client(slack: FakeSlack) -> None:
    assert isinstance(pooled(slack), PooledWebClient)


def test_calls_from_one_thread_share_one_connection(slack: FakeSlack) -> None:
    client = pooled(slack)
    for n in range(20):
        assert client.chat_postMessage(channel="C0GENERAL", text=f"hello {n}")["ok"]
    assert slack.connections == 1
    assert [c.params["text"] for c in slack.calls("chat.postMessage")] == [
        f"hello {n}" for n in range(20)
    ]


def test_the_stock_client_opens_a_connection_per_call(slack: FakeSlack) -> None:
    # What the pooled client saves: the same calls with slack_sdk's own transport.
    client = WebClient(token=slack.token, base_url=slack.base_url)
    for n in range(5):
        client.chat_postMessage(channel="C0GENERAL", text=f"hello {n}")
    assert slack.connections == 5


class Counted(str):
    """A message text that counts how often it is put into text by repr() (as slack_sdk's
    debug line does), while it goes out as the plain string it is."""

    built = 0

    def __repr__(self) -> str:
        Counted.built += 1
        return super().__repr__()


SDK_LOGGER = "slack_sdk.web.base_client"


@pytest.fixture
def counted() -> Iterator[type[Counted]]:
    Counted.built = 0
    yield Counted


def test_no_debug_text_is_built_for_a_call_while_debug_logging_is_off(
    slack: FakeSlack, counted: type[Counted], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)  # the usual level; slack_sdk's logger left unset
    assert logging.getLogger(SDK_LOGGER).level == logging.NOTSET
    assert pooled(slack).chat_postMessage(channel="C0GENERAL", text=counted("hello"))["ok"]
    assert counted.built == 0
    assert slack.calls("chat.postMessage")[0].params["text"] == "hello"


def test_the_stock_client_builds_its_debug_text_for_every_call(
    slack: FakeSlack, counted: type[Counted], caplog: pytest.LogCaptureFixture
) -> None:
    # What the pooled client saves: slack_sdk asks its logger's own level, which is unset.
    caplog.set_level(logging.WARNING)
    WebClient(token=slack.token, base_url=slack.base_url).chat_postMessage(
        channel="C0GENERAL", text=counted("hello")
    )
    assert counted.built > 0
    assert not [r for r in caplog.records if r.name == SDK_LOGGER]


def test_debug_logging_of_calls_still_works_and_hides_the_token(
    slack: FakeSlack, counted: type[Counted], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=SDK_LOGGER)
    pooled(slack).chat_postMessage(channel="C0GENERAL", text=counted("hello"))
    sent = [r.getMessage() for r in caplog.records if r.name == SDK_LOGGER]
    assert any("Sending a request" in line and "'hello'" in line for line in sent)
    assert counted.built > 0
    assert all((slack.token or "xoxb") not in line for line in sent)
    assert any("(redacted)" in line for line in sent)


def test_each_thread_keeps_its_own_connection(slack: FakeSlack) -> None:
    client = pooled(slack)

    def post(n: int) -> None:
        for k in range(5):
            client.chat_postMessage(channel="C0GENERAL", text=f"{n}.{k}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slack.connections == 4
    assert len(slack.calls("chat.postMessage", ok=True)) == 20


def test_rate_limit_reaches_the_outbox_with_its_retry_after(slack: FakeSlack) -> None:
    client = pooled(slack)
    slack.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(DeliveryFailed) as failed, slack_call("chat.postMessage"):
        client.chat_postMessage(channel="C0GENERAL", text="too fast")
    assert failed.value.retry_after == 7  # 429's Retry-After header came through
    # The 429 was a whole answer: the connection is still good for the next call.
    assert client.chat_postMessage(channel="C0GENERAL", text="later")["ok"]
    assert slack.connections == 1


def test_an_error_answer_is_a_slack_api_error(slack: FakeSlack) -> None:
    client = pooled(slack)
    slack.status_next("chat.postMessage", 500)
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel="C0GENERAL", text="oops")
    assert raised.value.response.status_code == 500
    assert client.chat_postMessage(channel="C0GENERAL", text="again")["ok"]


def test_a_dropped_answer_is_an_outage_the_outbox_retries(slack: FakeSlack) -> None:
    client = pooled(slack)
    assert client.chat_postMessage(channel="C0GENERAL", text="before")["ok"]
    slack.go_down(refuse=True)  # the fake closes each connection without answering
    with pytest.raises(DeliveryFailed) as failed, slack_call("chat.postMessage"):
        client.chat_postMessage(channel="C0GENERAL", text="during")
    assert failed.value.retry_after == OUTAGE_BACKOFF
    slack.come_up()
    assert client.chat_postMessage(channel="C0GENERAL", text="after")["ok"]
    assert [c.params["text"] for c in slack.calls("chat.postMessage", ok=True)] == [
        "before",
        "after",
    ]


def test_an_answer_too_slow_is_an_outage_and_is_not_sent_again(slack: FakeSlack) -> None:
    # A timeout after sending is raised as itself (as urllib raises it), which slack_sdk
    # does not retry: the message may have been posted, so only the outbox decides.
    client = PooledWebClient(token=slack.token, base_url=slack.base_url, timeout=0.5)
    slack.set_latency(1.5, "chat.postMessage")
    with pytest.raises(DeliveryFailed) as failed, slack_call("chat.postMessage"):
        client.chat_postMessage(channel="C0GENERAL", text="slow")
    assert failed.value.retry_after == OUTAGE_BACKOFF
    assert len(slack.wait_for_calls("chat.postMessage", count=1, timeout=5)) == 1
    time.sleep(1.6)  # a second try would have arrived by now
    assert len(slack.calls("chat.postMessage")) == 1


# ---------------------------------------------------- a server that closes idle connections
class _ClosesAfterEachAnswer(BaseHTTPRequestHandler):
    """Answers on HTTP/1.1 without saying it will close, then closes: what a server does to
    a connection left idle past its keep-alive timeout."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    served: ClassVar[list[str]] = []  # each test's subclass brings its own list

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.served.append(self.path)
        data = b'{"ok": true, "channel": "C0GENERAL", "ts": "1.0"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def closing_server() -> Iterator[tuple[str, list[str]]]:
    class Handler(_ClosesAfterEachAnswer):
        served: ClassVar[list[str]] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/", Handler.served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed() -> None:
    with closing_server() as (url, served):
        client = PooledWebClient(token="xoxb-test", base_url=url, retry_handlers=[])
        for n in range(3):
            # No retry handler: a call on the closed connection would raise here.
            assert client.chat_postMessage(channel="C0GENERAL", text=f"m{n}")["ok"]
            _wait_until_closed(client)
        assert served == ["/api/chat.postMessage"] * 3


def _wait_until_closed(client: PooledWebClient) -> None:
    # The server closes right after answering; give its FIN a moment to arrive.
    kept = list(client._local.kept.values())
    deadline = time.monotonic() + 5
    while kept and not all(_closed_by_peer(c) for c in kept):
        assert time.monotonic() < deadline, "the server never closed the connection"
        time.sleep(0.01)


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_closing_the_client_and_the_fake_leaves_no_connection_open() -> None:
    # Kept alive, a connection outlives its call: without closing, a long test run (or a
    # server) ran out of descriptors below 1024, where waitress's select() works.
    before = _open_descriptors()
    with FakeSlack() as fake:
        fake.add_channel("general", channel_id="C0GENERAL")
        client = PooledWebClient(token=fake.token, base_url=fake.base_url)
        threads = [
            threading.Thread(target=lambda: client.chat_postMessage(channel="C0GENERAL", text="hi"))
            for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert fake.connections == 5
        client.close()
    deadline = time.monotonic() + 5
    while _open_descriptors() > before and time.monotonic() < deadline:
        time.sleep(0.02)  # the fake's connection threads end as their sockets close
    assert _open_descriptors() <= before
