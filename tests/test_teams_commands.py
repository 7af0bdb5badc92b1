"""Teams outgoing-webhook commands over real HTTP: correctly signed requests run through the
shared parser and dispatcher; wrongly signed or unsigned ones get 401 and write nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from commandpost.chat.teams.outgoing import command_text, signature
from commandpost.core.vocabulary import IncidentClass
from commandpost.service.context import Context

from .support import TABLES, counts, declare_incident
from .teamsupport import OUTGOING_TOKEN, serve_teams, settings


@pytest.fixture
def base(ctx: Context) -> Iterator[str]:
    with serve_teams(ctx, settings()) as url:
        yield url


def activity(text: str, *, sender: str = "29:ivan", ident: str | None = None) -> bytes:
    body: dict[str, Any] = {
        "type": "message",
        "id": ident or str(time.monotonic_ns()),
        "text": f"<at>CommandPost</at> {text}",
        "from": {"id": sender, "name": "Ivan Petrov"},
        "channelData": {"channel": {"id": "19:abc@thread.tacv2"}},
    }
    return json.dumps(body).encode()


def send(base: str, body: bytes, auth: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    return httpx.post(f"{base}/teams/command", content=body, headers=headers, timeout=5)


def test_signed_declare_runs_and_answers_in_time(ctx: Context, base: str) -> None:
    body = activity('declare sev2 harmful_content "Jailbreak demo on social media"')
    started = time.monotonic()
    reply = send(base, body, signature(body, OUTGOING_TOKEN))
    assert time.monotonic() - started < 5
    assert reply.status_code == 200
    text = reply.json()["text"]
    assert reply.json()["type"] == "message" and text.startswith("Declared INC-")
    incident_id = text.split()[1].rstrip(".")
    listing = activity("list")
    listed = send(base, listing, signature(listing, OUTGOING_TOKEN))
    assert incident_id in listed.json()["text"]


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "",
        "Bearer abc",
        "HMAC " + "A" * 44,
        signature(b"another body", OUTGOING_TOKEN),
        signature(b"x", "b3RoZXItdG9rZW4="),
    ],
)
def test_unverified_requests_get_401_and_write_nothing(
    ctx: Context, base: str, auth: str | None
) -> None:
    before = counts(ctx, TABLES)
    body = activity('declare sev1 harmful_content "should not exist"')
    reply = send(base, body, auth)
    assert reply.status_code == 401
    assert counts(ctx, TABLES) == before


def test_commands_name_their_incident(ctx: Context, base: str) -> None:
    incident = declare_incident(ctx, "Leak", IncidentClass.DATA_LEAKAGE)
    no_incident = activity("ack")
    reply = send(base, no_incident, signature(no_incident, OUTGOING_TOKEN))
    assert "Name the incident first" in reply.json()["text"]
    note = activity(f"{incident} note seen in eu-west too")
    reply = send(base, note, signature(note, OUTGOING_TOKEN))
    assert reply.status_code == 200 and reply.json()["text"] == "Done."


def test_unknown_people_and_bad_commands_are_told(ctx: Context, base: str) -> None:
    before = counts(ctx, TABLES)
    stranger = activity("list", sender="29:stranger")
    assert (
        "not in Command Post's policy"
        in send(base, stranger, signature(stranger, OUTGOING_TOKEN)).json()["text"]
    )
    typo = activity("declar sev1")
    assert "did you mean" in send(base, typo, signature(typo, OUTGOING_TOKEN)).json()["text"]
    assert counts(ctx, TABLES) == before


def test_a_replayed_request_is_not_run_twice(ctx: Context, base: str) -> None:
    body = activity('declare sev3 functional "Canary drift"', ident="activity-1")
    first = send(base, body, signature(body, OUTGOING_TOKEN))
    assert first.json()["text"].startswith("Declared")
    before = counts(ctx, TABLES)
    again = send(base, body, signature(body, OUTGOING_TOKEN))
    assert again.json()["text"] == "Already handled."
    assert counts(ctx, TABLES) == before


def test_command_text_strips_mentions_and_markup() -> None:
    raw = "<at>CommandPost</at>&nbsp;note <p>a &amp; b</p>"
    assert command_text(raw) == "note a &amp; b"
