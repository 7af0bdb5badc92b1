"""The Slack app: settings from the environment, the Web API client, the service context
with the Slack chat port, a background deliverer, and the Bolt `App` built by a factory.

    missing_settings(env)        the required variables that are not set
    slack_context(...)           a Context whose chat port is SlackChat over `client`
    build_app(ctx, ...)          slack_bolt.App with every listener registered
    Deliverer                    a thread that runs outbox.deliver on a tick and on demand,
                                 so rate-limited and failed calls are retried, never dropped
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from sqlalchemy.exc import IntegrityError

from commandpost.chat.slack import listeners as ls
from commandpost.chat.slack.port import SlackChat
from commandpost.core.policy import Policy
from commandpost.runtime import build_context
from commandpost.service import outbox
from commandpost.service.context import Context
from commandpost.service.ports import Clock, SystemClock
from commandpost.storage import models as m
from commandpost.storage.engine import transaction

log = logging.getLogger(__name__)

REQUIRED = ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN")
DEFAULT_API_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class SlackSettings:
    signing_secret: str
    bot_token: str
    api_url: str = DEFAULT_API_URL
    app_token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SlackSettings:
        return cls(
            signing_secret=env["SLACK_SIGNING_SECRET"],
            bot_token=env["SLACK_BOT_TOKEN"],
            api_url=env.get("SLACK_API_URL") or DEFAULT_API_URL,
            app_token=env.get("SLACK_APP_TOKEN") or None,
        )


def missing_settings(env: Mapping[str, str] = os.environ) -> list[str]:
    return [name for name in REQUIRED if not env.get(name)]


def web_client(settings: SlackSettings) -> WebClient:
    return WebClient(token=settings.bot_token, base_url=settings.api_url, timeout=10)


def slack_context(
    *, database_url: str, policy: Policy, client: WebClient, clock: Clock | None = None
) -> Context:
    clock = clock or SystemClock()
    ctx = build_context(database_url=database_url, policy=policy, clock=clock, chat=_Unset())
    ctx.chat = SlackChat(client, engine=ctx.engine, policy=policy, clock=clock)
    return ctx


class _Unset:
    """Placeholder until the engine exists for SlackChat (never called)."""

    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        raise AssertionError("chat port not wired")

    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        raise AssertionError("chat port not wired")

    def direct(
        self, *, person: Any, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        raise AssertionError("chat port not wired")


class Deliverer:
    """Delivers the outbox in the background: `lanes` threads, each every `interval` seconds
    and at once when kicked.

    Listeners only kick: Slack calls never hold one of Bolt's listener threads, so acks are
    not queued behind deliveries. An incident's items always fall in the same lane, so its
    messages keep their order.
    """

    def __init__(self, ctx: Context, *, interval: float = 2.0, lanes: int = 12) -> None:
        self.ctx = ctx
        self.interval = interval
        self._wakes = [threading.Event() for _ in range(lanes)]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(k,), name=f"outbox-{k}", daemon=True)
            for k in range(lanes)
        ]

    def start(self) -> Deliverer:
        for thread in self._threads:
            thread.start()
        return self

    def kick(self) -> None:
        for wake in self._wakes:
            wake.set()

    def stop(self) -> None:
        self._stop.set()
        self.kick()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, lane: int) -> None:
        wake = self._wakes[lane]
        while not self._stop.is_set():
            wake.wait(self.interval)
            wake.clear()
            if self._stop.is_set():
                return
            try:
                outbox.deliver(self.ctx, lane=(lane, len(self._wakes)))
            except Exception:
                log.exception("outbox delivery pass failed (lane %d)", lane)


def first_delivery(ctx: Context, event_id: str) -> bool:
    """True the first time an Events API event id is seen; Slack's retries get False."""
    try:
        with transaction(ctx.engine) as session:
            session.add(m.SlackEvent(event_id=event_id[:64], received_at=ctx.now()))
    except IntegrityError:
        return False
    return True


def build_app(
    ctx: Context,
    *,
    signing_secret: str,
    client: WebClient,
    deliverer: Deliverer | None = None,
) -> App:
    token = client.token or ""

    def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test per request, so commands still reach
        # the database (and the outbox) while Slack's Web API is down.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(
        signing_secret=signing_secret,
        client=client,
        authorize=authorize,
        process_before_response=False,
        token_verification_enabled=False,
        request_verification_enabled=True,
    )
    kick = deliverer.kick if deliverer is not None else (lambda: None)
    listeners = ls.Listeners(ctx=ctx, kick=kick)
    ls.register(app, listeners)

    @app.middleware
    def drop_event_retries(body: dict[str, Any], next: Any) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and not first_delivery(ctx, event_id):
            return BoltResponse(status=200, body="")
        return next()  # type: ignore[no-any-return]

    @app.event("member_joined_channel")
    def joined(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        log.info("%s joined %s", event.get("user"), event.get("channel"))

    return app
