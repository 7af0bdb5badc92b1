"""Stand-ins for Teams in tests: a webhook receiver on port 0, the approval app served over
real HTTP, a browser's part on its link pages (open, read the CSRF value, submit), and
Adaptive Card schema validation."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import jsonschema
from pydantic import SecretStr

from commandpost.chat.teams import approval_app
from commandpost.chat.teams.cardtext import MESSAGE_LIMIT, body_bytes
from commandpost.service.context import Context
from commandpost.settings import Settings

from .support import counts

SCHEMA = Path(__file__).resolve().parent / "schemas" / "adaptive_card_1.5.schema.json"
LINK_SECRET = "test-link-secret-0123456789abcdef"
OUTGOING_TOKEN = "c2VjcmV0LXRlYW1zLXRva2VuLTAxMjM0NTY3ODk="  # base64, as Teams shows it
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)  # type: ignore[no-any-return]


def assert_valid_card(card: dict[str, Any]) -> None:
    """The card validates against Adaptive Card 1.5, declares 1.5 or lower, and fits Teams."""
    errors = sorted(_validator().iter_errors(card), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    major, minor = (int(x) for x in card["version"].split("."))
    assert (major, minor) <= (1, 5)


def assert_fits(payload: dict[str, Any]) -> None:
    assert len(body_bytes(payload)) < MESSAGE_LIMIT, len(body_bytes(payload))


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "teams_link_secret": SecretStr(LINK_SECRET),
        "teams_outgoing_token": SecretStr(OUTGOING_TOKEN),
        "teams_public_url": "http://teams.test",
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Receiver:
    """A Teams webhook stand-in: records each body; answers scripted statuses first."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards received in Workflows envelopes, in order."""
        return [b["attachments"][0]["content"] for b in self.bodies if b.get("type") == "message"]

    def texts(self) -> list[str]:
        return [json.dumps(b) for b in self.bodies]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                status, headers = receiver.script.pop(0) if receiver.script else (202, {})
                if status < 300:
                    receiver.bodies.append(json.loads(body))
                    receiver.paths.append(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextmanager
def serve_teams(ctx: Context, config: Settings) -> Iterator[str]:
    """The /teams/ app over real HTTP on port 0 (a thread per request); yields its base URL."""
    server = make_server(
        "127.0.0.1",
        0,
        approval_app(ctx, config),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def approval_link(card: dict[str, Any], person: str, button: str) -> str:
    """The URL behind `button` (Approve, Reject, Escalate) in `person`'s link set on a gate
    card, as a person would find it: under the line that names them."""
    for block in card["body"]:
        if block.get("type") != "Container":
            continue
        items = block.get("items", [])
        named = any(
            i.get("type") == "TextBlock" and f"For **{person}**" in i.get("text", "") for i in items
        )
        for item in items if named else []:
            for action in item.get("actions", []) if item.get("type") == "ActionSet" else []:
                if action["title"] == button:
                    return str(action["url"])
    raise AssertionError(f"no {button} link for {person} on the card")


def gate_cards(receiver: Receiver, gate_id: int) -> list[dict[str, Any]]:
    """The pending-gate cards for `gate_id` the receiver got, oldest first."""
    wanted = f"Gate #{gate_id} needs a decision"
    return [c for c in receiver.cards() if wanted in str(c["body"][0].get("text", ""))]


# -- a browser on the link pages (/teams/approve, /teams/notice) ----------------------------
def open_page(client: httpx.Client, url: str, token: str, d: str = "approve") -> httpx.Response:
    return client.get(url, params={"token": token, "d": d})


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def submit_page(
    client: httpx.Client, url: str, *, token: str, csrf: str, decision: str, reason: str = ""
) -> httpx.Response:
    form = {"token": token, "csrf": csrf, "decision": decision, "reason": reason}
    return client.post(url, data=form)


def refused(response: httpx.Response, why: str) -> None:
    assert f'data-why="{why}"' in response.text, response.text
    assert "Nothing was recorded" in response.text


def assert_csrf_checked(ctx: Context, *, url: str, token: str, tables: tuple[str, ...]) -> None:
    """A POST without the CSRF value the page's GET set up (none, cut, or another browser's
    cookie) is refused and writes nothing."""
    before = counts(ctx, tables)

    def post(client: httpx.Client, csrf: str) -> httpx.Response:
        return submit_page(client, url, token=token, csrf=csrf, decision="approve")

    with httpx.Client() as client:
        refused(post(client, ""), "csrf")  # no GET, no cookie
        csrf = csrf_of(open_page(client, url, token))
        refused(post(client, ""), "csrf")
        refused(post(client, csrf[:-2] + "xx"), "csrf")
    with httpx.Client() as other:  # another browser: its cookie does not match
        refused(post(other, csrf), "csrf")
    assert counts(ctx, tables) == before
