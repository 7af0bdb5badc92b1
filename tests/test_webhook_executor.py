"""Signed webhooks to a real local control plane (http.server on 127.0.0.1, port 0)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlmodel import Session, select

from commandpost.chat.console import ConsoleChat
from commandpost.core.gates import Decision
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import IncidentClass, Severity
from commandpost.executors import sign, verify_signature
from commandpost.executors.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)
from commandpost.policy_file import load_policy
from commandpost.service import gates, outbox
from commandpost.service.context import Context
from commandpost.service.ports import ManualClock
from commandpost.storage import models as m

from .support import POLICY_FILE, ROLLBACK, audit_kinds, contain, declare_incident, gate_row, staff

SECRET = "s3cr3t-hmac-key-for-tests-only-91f2"
ENV = "COMMANDPOST_EXECUTOR_SECRET"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ControlPlane:
    """Answers with the scripted statuses in order (then 200), recording every request."""

    url: str
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def plane() -> Iterator[ControlPlane]:
    state = ControlPlane(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            status = state.script.pop(0) if state.script else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def webhook_policy(plane: ControlPlane, tmp_path: Path) -> Policy:
    """policy.yml with its webhook executors pointed at the local control plane."""
    source = POLICY_FILE.read_text(encoding="utf-8")
    assert "http://127.0.0.1:8787" in source
    edited = tmp_path / "policy.yml"
    edited.write_text(source.replace("http://127.0.0.1:8787", plane.url), encoding="utf-8")
    return load_policy(edited)


@pytest.fixture
def wctx(
    make_ctx: Callable[..., Context], webhook_policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Context]:
    monkeypatch.setenv(ENV, SECRET)
    for proxy in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    ctx = make_ctx(use_policy=webhook_policy)  # the default executor: the policy's own
    yield ctx
    ctx.engine.dispose()


@pytest.fixture
def approved_rollback(wctx: Context) -> tuple[str, int]:
    incident_id = declare_incident(
        wctx, "New model version refuses nothing", IncidentClass.HARMFUL_CONTENT, Severity.SEV0
    )
    staff(wctx, incident_id)
    gate_id = contain(wctx, incident_id, "rollback_model", ROLLBACK)
    gates.decide(wctx, gate_id, actor="erin", decision=Decision.APPROVE)
    return incident_id, gate_id


def test_approval_sends_a_signed_idempotent_request(
    wctx: Context, plane: ControlPlane, approved_rollback: tuple[str, int], clock: ManualClock
) -> None:
    incident_id, gate_id = approved_rollback
    outbox.deliver(wctx)
    [request] = plane.received
    assert request.path == "/control/rollback"
    assert request.headers["Content-Type"] == "application/json"
    timestamp = int(request.headers[TIMESTAMP_HEADER])
    assert timestamp == int(clock.now().timestamp())
    signature = request.headers[SIGNATURE_HEADER]
    assert signature.startswith("v1=")
    assert verify_signature(
        SECRET, timestamp=timestamp, body=request.body, signature=signature, now=timestamp + 5
    )
    assert request.headers[IDEMPOTENCY_HEADER] == f"{incident_id}/gate-{gate_id}/contain"
    assert json.loads(request.body) == {
        "incident_id": incident_id,
        "gate_id": gate_id,
        "action": "rollback_model",
        "mode": "contain",
        "params": {"model": "chat-large", "to_version": "2026-02-01"},
    }
    assert gate_row(wctx, gate_id).execution == "executed"
    assert audit_kinds(wctx).count("action.executed") == 1
    outbox.deliver(wctx)
    assert len(plane.received) == 1


def test_server_error_is_retried_and_delivered_once(
    wctx: Context, plane: ControlPlane, approved_rollback: tuple[str, int], chat: ConsoleChat
) -> None:
    incident_id, gate_id = approved_rollback
    plane.script = [500]
    outbox.deliver(wctx)
    assert len(plane.received) == 1
    assert gate_row(wctx, gate_id).execution == "queued"
    with Session(wctx.engine) as s:
        [item] = s.exec(select(m.OutboxItem).where(m.OutboxItem.kind == "execute")).all()
    assert (item.state, item.attempts) == ("pending", 1)
    assert item.last_error == "DeliveryFailed: control plane answered HTTP 500"
    assert any("rollback_model FAILED" in line.text for line in chat.lines)

    outbox.deliver(wctx)
    assert len(plane.received) == 2
    keys = {r.headers[IDEMPOTENCY_HEADER] for r in plane.received}
    assert keys == {f"{incident_id}/gate-{gate_id}/contain"}  # the receiver can act once
    assert gate_row(wctx, gate_id).execution == "executed"
    kinds = audit_kinds(wctx)
    assert (kinds.count("action.failed"), kinds.count("action.executed")) == (1, 1)
    outbox.deliver(wctx)
    assert len(plane.received) == 2


def test_restore_uses_its_own_idempotency_key(
    wctx: Context, plane: ControlPlane, approved_rollback: tuple[str, int]
) -> None:
    incident_id, gate_id = approved_rollback
    outbox.deliver(wctx)
    restore = gates.request_restore(wctx, incident_id, gate_id=gate_id, requester="carol")
    gates.decide(wctx, restore, actor="alice", decision=Decision.APPROVE)
    gates.decide(wctx, restore, actor="erin", decision=Decision.APPROVE)
    outbox.deliver(wctx)
    assert [r.headers[IDEMPOTENCY_HEADER] for r in plane.received] == [
        f"{incident_id}/gate-{gate_id}/contain",
        f"{incident_id}/gate-{restore}/restore",
    ]
    assert json.loads(plane.received[1].body)["mode"] == "restore"


def test_forged_or_stale_signatures_are_detected() -> None:
    body = b'{"action":"rollback_model","gate_id":1}'
    good = sign(SECRET, 1_772_442_000, body)
    now = 1_772_442_010
    assert verify_signature(SECRET, timestamp=1_772_442_000, body=body, signature=good, now=now)
    forged = sign("guessed-secret", 1_772_442_000, body)
    assert not verify_signature(
        SECRET, timestamp=1_772_442_000, body=body, signature=forged, now=now
    )
    tampered = body.replace(b"1}", b"2}")
    assert not verify_signature(
        SECRET, timestamp=1_772_442_000, body=tampered, signature=good, now=now
    )
    # Replaying the signature with a fresh timestamp does not verify either.
    assert not verify_signature(SECRET, timestamp=now, body=body, signature=good, now=now)
    # A captured request replayed much later is refused as stale.
    assert not verify_signature(
        SECRET, timestamp=1_772_442_000, body=body, signature=good, now=now + 3600
    )


def test_missing_secret_fails_loudly_and_keeps_the_intent(
    wctx: Context,
    plane: ControlPlane,
    approved_rollback: tuple[str, int],
    chat: ConsoleChat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV)
    outbox.deliver(wctx)
    assert plane.received == []  # nothing unsigned leaves the building
    assert any(f"executor secret {ENV} is not set" in line.text for line in chat.lines)
    monkeypatch.setenv(ENV, SECRET)
    outbox.deliver(wctx)
    assert len(plane.received) == 1
    assert gate_row(wctx, approved_rollback[1]).execution == "executed"


def test_secret_never_reaches_chat_audit_or_outbox(
    wctx: Context, plane: ControlPlane, approved_rollback: tuple[str, int], chat: ConsoleChat
) -> None:
    plane.script = [500, 503]
    for _ in range(3):
        outbox.deliver(wctx)
    assert gate_row(wctx, approved_rollback[1]).execution == "executed"
    assert chat.lines
    for line in chat.lines:
        assert SECRET not in line.text
    with Session(wctx.engine) as s:
        events = s.exec(select(m.AuditEvent)).all()
        items = s.exec(select(m.OutboxItem)).all()
        snapshots = s.exec(select(m.PolicySnapshot)).all()
    assert events and items
    for event in events:
        assert SECRET not in event.data
    for item in items:
        assert SECRET not in item.body and SECRET not in (item.last_error or "")
    for snapshot in snapshots:  # the policy names the variable, never the value
        assert SECRET not in snapshot.body and f"env:{ENV}" in snapshot.body
