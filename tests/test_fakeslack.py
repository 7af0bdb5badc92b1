"""The fake Slack Web API behaves like Slack for a real slack_sdk WebClient."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .fakeslack import ANY, FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(users={"alice@example.com": ("U0ALICE", "Alice Ng")}) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    # No retry handlers: each test sees exactly what the fake answered.
    return WebClient(token=slack.token, base_url=slack.base_url, retry_handlers=[], timeout=5)


def error_of(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def test_base_url_is_local_and_ends_with_api(slack: FakeSlack) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", slack.base_url)


def test_post_message_answers_like_slack_and_is_recorded(
    slack: FakeSlack, client: WebClient
) -> None:
    announcements = slack.add_channel("incidents")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = client.chat_postMessage(channel=announcements.id, text="hello", blocks=blocks)
    second = client.chat_postMessage(channel="#incidents", text="again")
    assert first["ok"] and first["channel"] == announcements.id
    assert first["ts"] == "1700000000.000100" and second["ts"] == "1700000000.000200"
    assert first["message"]["blocks"] == blocks
    (call, _) = slack.calls("chat.postMessage")
    assert call.ok and call.status == 200
    assert call.params == {"channel": announcements.id, "text": "hello", "blocks": blocks}
    assert call.token == slack.token
    assert call.headers["authorization"] == f"Bearer {slack.token}"
    assert [m["text"] for m in slack.messages_in(announcements.id)] == ["hello", "again"]


def test_posting_to_a_user_id_lands_in_the_apps_dm(slack: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postMessage(channel="U0ALICE", text="You are paged")
    assert answer["channel"].startswith("D")
    assert slack.messages_in(answer["channel"])[0]["text"] == "You are paged"


def test_channel_name_collision_is_name_taken(slack: FakeSlack, client: WebClient) -> None:
    created = client.conversations_create(name="inc-2026-0042-self-harm-advice")
    assert created["channel"]["name"] == "inc-2026-0042-self-harm-advice"
    assert re.fullmatch(r"C[0-9A-Z]+", created["channel"]["id"])
    with pytest.raises(SlackApiError) as exc:
        client.conversations_create(name="inc-2026-0042-self-harm-advice")
    assert error_of(exc) == "name_taken"
    # conversations.create goes as a form body: recorded decoded all the same.
    assert slack.calls("conversations.create")[1].params["name"].startswith("inc-2026")
    assert slack.calls("conversations.create", ok=False)[0].error == "name_taken"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("x" * 81, "invalid_name_maxlength"),
        ("Inc 1", "invalid_name_specials"),
    ],
)
def test_invalid_channel_names_are_refused(client: WebClient, name: str, error: str) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.conversations_create(name=name)
    assert error_of(exc) == error


def test_channel_set_up_invite_topic_purpose_pin(slack: FakeSlack, client: WebClient) -> None:
    channel = client.conversations_create(name="inc-2026-0001-x")["channel"]["id"]
    client.conversations_invite(channel=channel, users="U0ALICE,U0BOB")
    with pytest.raises(SlackApiError) as exc:
        client.conversations_invite(channel=channel, users="U0ALICE")
    assert error_of(exc) == "already_in_channel"
    assert exc.value.response["errors"][0]["user"] == "U0ALICE"
    forced = client.conversations_invite(channel=channel, users="U0ALICE,U0CAROL", force=True)
    assert forced["ok"] and forced["errors"][0]["error"] == "already_in_channel"
    assert slack.channels[channel].members >= {"U0ALICE", "U0BOB", "U0CAROL", slack.bot_user_id}
    client.conversations_setTopic(channel=channel, topic="SEV1 · investigating")
    client.conversations_setPurpose(channel=channel, purpose="INC-2026-0001")
    with pytest.raises(SlackApiError) as exc:
        client.conversations_setTopic(channel=channel, topic="x" * 251)
    assert error_of(exc) == "too_long"
    posted = client.chat_postMessage(channel=channel, text="summary")
    client.pins_add(channel=channel, timestamp=posted["ts"])
    with pytest.raises(SlackApiError) as exc:
        client.pins_add(channel=channel, timestamp=posted["ts"])
    assert error_of(exc) == "already_pinned"
    state = slack.channels[channel]
    assert (state.topic, state.purpose, state.pins) == (
        "SEV1 · investigating",
        "INC-2026-0001",
        [posted["ts"]],
    )


def test_not_in_channel_when_the_bot_was_never_invited(slack: FakeSlack, client: WebClient) -> None:
    general = slack.add_channel("general")
    general.members.discard(slack.bot_user_id)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=general.id, text="hi")
    assert error_of(exc) == "not_in_channel"
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C9NOSUCH", text="hi")
    assert error_of(exc) == "channel_not_found"


def test_chat_update_edits_in_place(slack: FakeSlack, client: WebClient) -> None:
    channel = slack.add_channel("inc").id
    posted = client.chat_postMessage(channel=channel, text="v1", blocks=[{"type": "divider"}])
    client.chat_update(channel=channel, ts=posted["ts"], text="v2")
    (message,) = slack.messages_in(channel)
    assert message["text"] == "v2" and "blocks" not in message and message["ts"] == posted["ts"]
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel=channel, ts="1.000000", text="v3")
    assert error_of(exc) == "message_not_found"


def test_ephemeral_views_and_lookup(slack: FakeSlack, client: WebClient) -> None:
    channel = slack.add_channel("inc").id
    answer = client.chat_postEphemeral(channel=channel, user="U0ALICE", text="Usage: …")
    assert answer["message_ts"]
    assert slack.ephemeral[0]["user"] == "U0ALICE"
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    opened = client.views_open(trigger_id="123.456.abc", view=view)
    assert opened["view"]["id"].startswith("V") and opened["view"]["title"]["text"] == "Declare"
    with pytest.raises(SlackApiError) as exc:
        client.views_open(trigger_id="expired.1", view=view)
    assert error_of(exc) == "invalid_trigger_id"
    user = client.users_lookupByEmail(email="Alice@Example.com")["user"]
    assert (user["id"], user["profile"]["email"]) == ("U0ALICE", "alice@example.com")
    with pytest.raises(SlackApiError) as exc:
        client.users_lookupByEmail(email="nobody@example.com")
    assert error_of(exc) == "users_not_found"
    assert client.auth_test()["user_id"] == slack.bot_user_id


def test_form_bodies_with_json_fields_are_decoded(slack: FakeSlack, client: WebClient) -> None:
    channel = slack.add_channel("inc").id
    blocks = [{"type": "divider"}]
    client.api_call(
        "chat.postMessage", params={"channel": channel, "text": "t", "blocks": json.dumps(blocks)}
    )
    call = slack.calls("chat.postMessage")[0]
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert call.params["blocks"] == blocks


def test_tokens_are_checked(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as exc:
        WebClient(token="xoxb-wrong", base_url=slack.base_url).auth_test()
    assert error_of(exc) == "invalid_auth"
    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=slack.base_url).api_call("auth.test")
    assert error_of(exc) == "not_authed"


def test_unknown_methods_are_unknown(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc:
        client.api_call("files.upload")
    assert error_of(exc) == "unknown_method"


# ------------------------------------------------------------------------------ scripting
def test_rate_limit_surfaces_as_429_with_retry_after(slack: FakeSlack, client: WebClient) -> None:
    channel = slack.add_channel("inc").id
    slack.rate_limit_next("chat.postMessage", retry_after=7, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel=channel, text="x")
        assert exc.value.response.status_code == 429
        assert exc.value.response.headers["Retry-After"] == "7"
        assert error_of(exc) == "ratelimited"
    assert client.chat_postMessage(channel=channel, text="x")["ok"]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 429, 200]
    assert slack.messages_in(channel)[0]["text"] == "x"  # the rate-limited ones did nothing


def test_fail_next_and_status_next_then_recover(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("conversations.create", "restricted_action", times=2)
    slack.status_next("auth.test", 500)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.conversations_create(name="inc-a")
        assert error_of(exc) == "restricted_action"
    assert client.conversations_create(name="inc-a")["ok"]
    with pytest.raises(SlackApiError) as exc:
        client.auth_test()
    assert exc.value.response.status_code == 500
    assert client.auth_test()["ok"]


def test_any_matches_every_method(slack: FakeSlack, client: WebClient) -> None:
    slack.rate_limit_next(ANY, retry_after=1, times=2)
    for call in (client.auth_test, lambda: client.conversations_create(name="inc-b")):
        with pytest.raises(SlackApiError):
            call()
    assert client.auth_test()["ok"]


def test_latency_is_honoured_per_method(slack: FakeSlack, client: WebClient) -> None:
    slack.set_latency(0.3, "auth.test")
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.3
    assert slack.calls("auth.test")[0].elapsed >= 0.3
    started = time.monotonic()
    client.conversations_create(name="inc-fast")
    assert time.monotonic() - started < 0.3
    slack.set_latency(0.0, "auth.test")
    slack.set_latency(0.2)
    started = time.monotonic()
    client.conversations_create(name="inc-slow")
    assert time.monotonic() - started >= 0.2


def test_down_answers_503_until_it_comes_up(slack: FakeSlack, client: WebClient) -> None:
    slack.go_down()
    for _ in range(3):
        with pytest.raises(SlackApiError) as exc:
            client.auth_test()
        assert exc.value.response.status_code == 503
    slack.come_up()
    assert client.auth_test()["ok"]
    assert [c.status for c in slack.calls("auth.test")] == [503, 503, 503, 200]


def test_down_refusing_drops_the_connection(slack: FakeSlack, client: WebClient) -> None:
    slack.go_down(refuse=True)
    with pytest.raises(OSError):  # RemoteDisconnected / ConnectionResetError / URLError
        client.auth_test()
    assert slack.calls("auth.test")[0].status == 0
    slack.come_up()
    assert client.auth_test()["ok"]


def test_default_client_retries_a_dropped_connection_once(slack: FakeSlack) -> None:
    # slack_sdk's default retry handler retries connection errors once: the fake sees both.
    default = WebClient(token=slack.token, base_url=slack.base_url, timeout=5)
    slack.go_down(refuse=True)
    with pytest.raises(OSError):
        default.auth_test()
    assert len(slack.calls("auth.test")) == 2


def test_concurrent_calls_are_all_recorded_with_unique_ts(
    slack: FakeSlack, client: WebClient
) -> None:
    channel = slack.add_channel("inc").id
    slack.set_latency(0.05)
    results: list[str] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        ts = client.chat_postMessage(channel=channel, text=str(i))["ts"]
        with lock:
            results.append(ts)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 20
    assert len(slack.calls("chat.postMessage", ok=True)) == 20
    assert sorted(m["text"] for m in slack.messages_in(channel)) == sorted(map(str, range(20)))


def test_wait_for_calls_waits_for_background_work(slack: FakeSlack, client: WebClient) -> None:
    channel = slack.add_channel("inc").id
    worker = threading.Timer(0.2, lambda: client.chat_postMessage(channel=channel, text="late"))
    worker.start()
    (call,) = slack.wait_for_calls("chat.postMessage", timeout=5)
    assert call.params["text"] == "late"
    worker.join()
    with pytest.raises(AssertionError, match="timed out"):
        slack.wait_for_calls("pins.add", timeout=0.2)
