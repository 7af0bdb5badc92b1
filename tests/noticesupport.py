"""Stand-ins for the far ends of notice delivery: an SMTP server and a webhook receiver, each
on port 0 in a thread, recording everything they receive; plus an incident ready for review."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Role, Severity
from commandpost.service import roles
from commandpost.service.context import Context

from .support import declare_incident, staff

NEXT_STEPS = "We are reviewing every answer the assistant gave during the incident."


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def review_incident(ctx: Context, severity: Severity = Severity.SEV1) -> str:
    """A data-leakage incident with comms (grace) and legal (ivan) staffed, at any severity."""
    incident = declare_incident(
        ctx,
        "Assistant shows other users' order history",
        IncidentClass.DATA_LEAKAGE,
        severity,
        surface="chat-web",
        model="chat-large",
        model_version="2026-03-01",
        region="eu-west",
    )
    staff(ctx, incident)
    if severity.rank >= 2:  # comms is paged at SEV0 and SEV1 only
        roles.assign(ctx, incident, role=Role.COMMS, person_id="grace", actor="alice")
        staff(ctx, incident, "grace")
    roles.assign(ctx, incident, role=Role.LEGAL, person_id="ivan", actor="alice")
    staff(ctx, incident, "ivan")
    return incident


def with_channels(policy: Policy, channels: dict[str, list[dict[str, Any]]]) -> Policy:
    body = policy.model_dump(mode="json")
    body["notices"]["channels"] = channels
    return Policy.model_validate(body)


# -- SMTP --------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def body(self) -> bytes:
        """The decoded body: the bytes the reader gets."""
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload

    def header(self, name: str) -> str:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        return str(message[name]).strip()


@dataclass
class SmtpHandler:
    """Refuses RCPT for addresses in `refuse` (their first `refusals` times each)."""

    refuse: dict[str, int] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.attempts.append(address)
        if self.refuse.get(address, 0) > 0:
            self.refuse[address] -= 1
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted"


@contextmanager
def smtp_server(handler: SmtpHandler, **smtp_options: Any) -> Iterator[int]:
    """An aiosmtpd server on 127.0.0.1, port 0, in its own event loop thread; its port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncio.Server:
        return await loop.create_server(
            lambda: SMTP(handler, loop=loop, **smtp_options), "127.0.0.1", 0
        )

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def password_check(user: str, password: str) -> Any:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (user, password)
        return AuthResult(success=ok)

    return authenticate


# -- webhook -----------------------------------------------------------------------------------


@dataclass
class WebhookLog:
    """Answers each POST with the next of `statuses` (then 200), recording it."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver(log: WebhookLog) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with log.lock:
                log.requests.append((dict(self.headers.items()), body))
                status = log.statuses.pop(0) if log.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/status"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
