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
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from sqlalchemy.exc import IntegrityError

from commandpost.chat.slack import listeners as ls
from commandpost.chat.slack.after_ack import AfterAck
from commandpost.chat.slack.port import SlackChat
from commandpost.chat.slack.precedence import Precedence
from commandpost.chat.slack.webclient import PooledWebClient
from commandpost.core.policy import Policy
from commandpost.runtime import build_context
from commandpost.service import outbox
from commandpost.service.context import Context
from commandpost.service.ports import Clock, SystemClock
from commandpost.storage import models as m
from commandpost.storage.engine import transaction, urgent_writes

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
    return PooledWebClient(token=settings.bot_token, base_url=settings.api_url, timeout=10)


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


READ_GAP = 0.05  # seconds between two reads of the outbox, however often it is kicked
URGENT_READ_GAP = 0.25  # the same while urgent work is pending (Precedence)
READ_LIMIT = 2000  # items read at once: enough to keep every lane busy until the next read
HANDED = "handed:"  # the key a handed-over channel opening is sent under
FULL_READ_PER_ITEM = 0.00025  # seconds between whole reads per item queued (2,000: 0.5 s)


class Deliverer:
    """Delivers the outbox in the background: one reader hands due items to `lanes` senders.

    The reader reads what is due (on a kick, and every `interval` seconds for deferred items)
    and queues each item under its incident. A free sender takes the next incident with items
    waiting (channel openings first), sends up to a batch of them in order, and puts the
    incident back at the end of the line if more are waiting; no two senders ever hold one
    incident, so its messages keep their order. Incidents are not tied to senders: a channel
    with hundreds of notes queued occupies one sender, and a new incident's channel set-up
    goes to any other instead of waiting behind that backlog (with fixed lanes by hash it
    did: measured, the channel was ready seconds later). A third of the senders only open
    channels: in a burst every other sender can be waiting for the database writer with a
    routine message, and a new incident's channel must not wait for one of them. One reader,
    not one query per sender: a busy channel kicks often. Listeners only kick: Slack calls
    never hold one of Bolt's threads, so acks do not queue behind deliveries.

    Channel openings count in `precedence` while they are queued or being sent, and the
    other deliveries wait there for them before they are sent (see precedence.py).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        interval: float = 2.0,
        lanes: int = 24,
        precedence: Precedence | None = None,
    ) -> None:
        self.ctx = ctx
        self.interval = interval
        self.precedence = precedence or Precedence()
        self._kicked = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Senders that only open channels wait apart: woken for other work, they would take
        # the wake-up a sender that can do it needed, and that work would wait for the next.
        self._work = threading.Condition(self._lock)  # any sender
        self._openers = threading.Condition(self._lock)  # senders that only open channels
        self._handed: set[int] = set()  # queued or being sent: not handed out again
        self._waiting: dict[str, deque[int]] = {}  # per incident (or item), in order made
        self._opening: deque[str] = deque()  # keys whose next item opens a channel
        self._next: deque[str] = deque()  # other keys with items waiting, none being sent
        self._busy: set[str] = set()  # keys a sender holds
        self._openings: set[int] = set()  # queued items that open a channel
        self._handed_over: deque[str] = deque()  # incidents whose opening is claimed for us
        self._threads = [threading.Thread(target=self._read, name="outbox-reader", daemon=True)]
        self._threads += [
            threading.Thread(
                target=self._send, args=(k < lanes // 3,), name=f"outbox-{k}", daemon=True
            )
            for k in range(lanes)
        ]

    def start(self) -> Deliverer:
        for thread in self._threads:
            thread.start()
        return self

    def kick(self) -> None:
        self._kicked.set()

    def hand_over(self, incident_id: str) -> None:
        """`Context.hand_over`: the channel opening of `incident_id` was written claimed for
        this process and has just committed; an opener takes it next."""
        self.precedence.add()
        with self._work:
            self._handed_over.append(incident_id)
            self._openers.notify()
            self._work.notify()

    def stop(self) -> None:
        self._stop.set()
        self.kick()
        with self._work:
            self._work.notify_all()
            self._openers.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._handed_over:
            # Not sent before stopping: the next deliverer sends them now, not in 2 minutes.
            outbox.release_handed_over(self.ctx, list(self._handed_over))
            self.precedence.done(len(self._handed_over))

    def _read(self) -> None:
        last_full = 0.0
        while not self._stop.is_set():
            self._kicked.wait(self.interval)
            # Kicks in a burst (one per command) coalesce: at most one read per READ_GAP, and
            # fewer while urgent work is pending: this process's own channel openings come
            # handed over, not read, and in a burst the reads took 0.16-0.23 s of CPU where
            # the declarations took 0.29-0.37 s (bench/slack_ack.py, per thread).
            self._stop.wait(URGENT_READ_GAP if self.precedence.pending() else READ_GAP)
            self._kicked.clear()
            if self._stop.is_set():
                return
            # With a backlog queued here the senders have work for a while: reading it all
            # again on every kick only took the time the senders needed (measured: the reads
            # were most of a burst's work). New channel openings are still read every time.
            full = time.monotonic() - last_full >= self._full_read_gap()
            try:
                due = outbox.due_items(self.ctx, limit=READ_LIMIT, openings_only=not full)
            except Exception:
                log.exception("reading the outbox failed")
                continue
            if full:
                last_full = time.monotonic()
            with self._work:
                openings = len(self._opening)
                for item in due:
                    if item.id not in self._handed:
                        self._handed.add(item.id)
                        self._queue(item)
                self._openers.notify(len(self._opening) - openings)
                self._work.notify(len(due))

    def _full_read_gap(self) -> float:
        if self.precedence.pending():
            # What a whole read finds would wait for the urgent work anyway (Precedence).
            return self.interval
        with self._work:
            backlog = len(self._handed)
        return min(self.interval, max(READ_GAP, backlog * FULL_READ_PER_ITEM))

    def _queue(self, item: outbox.Due) -> None:
        key = item.incident_id or f"#{item.id}"
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = deque()
            if key not in self._busy:
                (self._opening if item.kind == "open_channel" else self._next).append(key)
        waiting.append(item.id)
        if item.kind == "open_channel":
            self._openings.add(item.id)
            self.precedence.add()

    def _take(self, *, openings_only: bool) -> tuple[str, list[int], bool] | None:
        """The next incident's items (channel openings first) and whether they open a
        channel; None once stopping."""
        wake = self._openers if openings_only else self._work
        with self._work:
            while not self._stop.is_set():
                if self._handed_over:
                    # Claimed when it was written: nothing to read, nothing to claim.
                    return HANDED + self._handed_over.popleft(), [], True
                line = self._opening if openings_only else self._opening or self._next
                if line:
                    key = line.popleft()
                    waiting = self._waiting[key]
                    batch = [waiting.popleft() for _ in range(min(outbox.BATCH, len(waiting)))]
                    self._busy.add(key)
                    return key, batch, not self._openings.isdisjoint(batch)
                wake.wait()
        return None

    def _release(self, key: str, batch: list[int]) -> None:
        if key.startswith(HANDED):
            self.precedence.done()
            return
        with self._work:
            self._busy.discard(key)
            self._handed.difference_update(batch)
            self.precedence.done(len(self._openings.intersection(batch)))
            self._openings.difference_update(batch)
            if self._waiting[key]:
                self._next.append(key)
                self._work.notify()
            else:
                del self._waiting[key]

    def _send(self, openings_only: bool) -> None:
        while (taken := self._take(openings_only=openings_only)) is not None:
            key, batch, opening = taken
            if not opening:
                self.precedence.wait_turn()
            try:
                with urgent_writes() if opening else nullcontext():
                    if key.startswith(HANDED):
                        sent = outbox.deliver_handed_over(self.ctx, key.removeprefix(HANDED))
                    else:
                        sent = outbox.deliver_items(self.ctx, batch)
                if sent:
                    self.kick()  # an opened channel (or a retry that worked) frees others
            except Exception:
                log.exception("outbox delivery failed (%s)", key)
            finally:
                self._release(key, batch)


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
    after_ack: AfterAck | None = None,
    forward: ls.Later | None = None,
) -> App:
    """The Bolt app. `forward`: the front of a split `serve` (workproc), where listeners ack
    and their work is marked for the work process instead of run."""
    token = client.token or ""

    def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test per request, so commands still reach
        # the database (and the outbox) while Slack's Web API is down.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(
        signing_secret=signing_secret,
        client=client,
        authorize=authorize,
        # Split, the listener runs on the thread serving the request, which is how the front
        # knows which request to forward. Whole, on Bolt's pool.
        process_before_response=forward is not None,
        token_verification_enabled=False,
        request_verification_enabled=True,
        # Listeners only parse, read and ack here (the work goes to `after_ack`); one thread
        # per server thread (8) and headroom, so an ack never waits for a free thread.
        listener_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="bolt"),
    )
    kick = deliverer.kick if deliverer is not None else (lambda: None)
    later = forward or (after_ack.submit if after_ack is not None else ls.inline)
    listeners = ls.Listeners(ctx=ctx, kick=kick, later=later)
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
