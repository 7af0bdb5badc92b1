"""The chat port on Slack's Web API, called by the outbox after the change committed.

    open_channel   conversations.create (name_taken: -2, -3, … within 80 characters), then
                   side by side: setTopic, setPurpose, invite the paged people who have a
                   Slack id, and post and pin the summary card. The channel is stored
                   (slack_channels) the moment it exists, so a retry after a partial failure
                   finishes the set-up instead of creating a second channel.
    post           chat.postMessage to the incident channel's id (or a named channel such as
                   the announcements channel); a gate request is shown as a gate card with
                   buttons, and where it went is stored (slack_gate_cards). Before any
                   message about an incident, that incident's gate cards whose gate changed
                   since they were rendered are updated in place (see `gatecards`); after it,
                   the pinned summary card is. A message about a notice (card
                   "notice:<id>") is posted as a fresh review card of the notice as it is
                   now, so the newest card in the channel is always the one to act on.
    direct         chat.postMessage to the person's user id (the app's DM); a page is shown
                   as a role page with an Acknowledge button.

Every failure is raised as `DeliveryFailed`, so the outbox keeps the intent and retries it.
A 429 carries `retry_after` from Slack's Retry-After header; a 5xx or an unreachable Slack
carries a short backoff: both defer the item without using up one of its attempts, so an
outage of any length delays messages and drops none. Other errors (a bad request) use
attempts and are parked as failed after the outbox's limit, visible with their error.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlmodel import select

from commandpost.chat.slack import gatecards, views
from commandpost.chat.slack.blocks import SlackMessage, role_page, summary_card
from commandpost.chat.slack.blocks_notice import notice_card
from commandpost.chat.slack.blocks_text import escape
from commandpost.core.policy import Person, Policy
from commandpost.core.vocabulary import Role
from commandpost.errors import DeliveryFailed, NotFound
from commandpost.service import notices
from commandpost.service.context import Context
from commandpost.service.ports import Clock, ExecutionRequest, ExecutionResult
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction, transaction

log = logging.getLogger(__name__)
_T = TypeVar("_T")

NAME_MAX = 80
TOPIC_MAX = 250
OUTAGE_BACKOFF = 2.0  # seconds before retrying after a 5xx or a dropped connection
INVITE_BATCH = 100  # conversations.invite takes at most 100 users a call
_TOLERATED = frozenset({"already_in_channel", "already_pinned", "cant_invite_self"})


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {exc.response.status_code}")


def _retry_after(exc: SlackApiError) -> float:
    headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
    raw = headers.get("retry-after")
    value = raw[0] if isinstance(raw, list) else raw
    try:
        return max(1.0, float(str(value)))
    except (TypeError, ValueError):
        return 1.0


@contextmanager
def slack_call(what: str) -> Iterator[None]:
    """Turn whatever the Web API call raised into DeliveryFailed (with 429's Retry-After)."""
    try:
        yield
    except SlackApiError as exc:
        if exc.response.status_code == 429 or _error(exc) == "ratelimited":
            after = _retry_after(exc)
            raise DeliveryFailed(f"Slack {what}: ratelimited", retry_after=after) from None
        if exc.response.status_code >= 500:
            raise DeliveryFailed(
                f"Slack {what}: HTTP {exc.response.status_code}", retry_after=OUTAGE_BACKOFF
            ) from None
        raise DeliveryFailed(f"Slack {what}: {_error(exc)}") from None
    except (SlackClientError, OSError) as exc:
        # Slack unreachable: an outage, not a bad request; wait and retry without limit.
        raise DeliveryFailed(
            f"Slack {what}: {type(exc).__name__}: {exc}", retry_after=OUTAGE_BACKOFF
        ) from None


def _gate_ref(card: str | None) -> int | None:
    return _ref(card, "gate")


def _ref(card: str | None, kind: str) -> int | None:
    named, _, ref = (card or "").partition(":")
    return int(ref) if named == kind and ref.isdigit() else None


class _NoExecution:
    """The port reads notices through the service, which wants a whole Context; reading
    never executes anything, so this executor is never called."""

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        raise AssertionError("the Slack port's reading context executes nothing")


def candidate_names(name: str, *, limit: int = 50) -> Iterator[str]:
    """`name`, then `name-2`, `name-3`, …, each cut so the whole stays within 80 characters."""
    yield name[:NAME_MAX]
    for n in range(2, limit + 2):
        suffix = f"-{n}"
        yield name[: NAME_MAX - len(suffix)].rstrip("-") + suffix


class SlackChat:
    """`ChatPort` over a `slack_sdk.WebClient`; channel ids are kept in the database."""

    def __init__(self, client: WebClient, *, engine: Engine, policy: Policy, clock: Clock):
        self.client = client
        self.engine = engine
        self.policy = policy
        self.clock = clock
        self._local = threading.local()
        self._reader: Context | None = None
        # The calls of channel set-ups that go out side by side (see open_channel).
        self._calls = ThreadPoolExecutor(max_workers=48, thread_name_prefix="slack-setup")

    # -------------------------------------------------------------------- open_channel
    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        # Only three calls wait on each other: create, post the summary, pin it. Everything
        # else (invites, topic, purpose, rendering the card, and the database writes that make
        # a retry finish this set-up) goes out beside them, so the channel is ready after
        # three calls' time (measured in a burst of declarations: each write in line took
        # about a tenth of a second). Every step is safe to repeat when the item is retried.
        stored = views.channel_for_incident(self.engine, incident_id)
        card = self._beside(lambda: self._summary(incident_id))
        remembered: Future[None] | None = None
        if stored is None:
            channel, actual = self._create(name)
            # Stored the moment it exists: a retry then finishes this channel's set-up
            # instead of creating a second one.
            remembered = self._beside(lambda: self._remember(incident_id, actual, channel))
            posted = None
        else:
            channel, posted = stored.channel_id, stored.summary_ts
        purpose = f"Incident {incident_id}, run by Command Post. Type /incident help."
        running = [
            self._beside(lambda: self._invite(channel, self._paged_slack_ids(incident_id))),
            self._beside(
                lambda: self._call(
                    "conversations.setTopic",
                    lambda: self.client.conversations_setTopic(
                        channel=channel, topic=topic[:TOPIC_MAX]
                    ),
                )
            ),
            self._beside(
                lambda: self._call(
                    "conversations.setPurpose",
                    lambda: self.client.conversations_setPurpose(
                        channel=channel, purpose=purpose[:TOPIC_MAX]
                    ),
                )
            ),
        ]
        failures: list[BaseException] = []
        try:
            running += self._pin_summary(
                channel, incident_id, posted=posted, card=card, remembered=remembered
            )
        except DeliveryFailed as exc:
            failures.append(exc)
        if remembered is not None:
            running.append(remembered)
        failures += [e for e in (f.exception() for f in running) if e is not None]
        if failures:
            raise failures[0]

    def _beside(self, step: Callable[[], _T]) -> Future[_T]:
        """Run `step` on the set-up pool, in this thread's context (its write priority)."""
        return self._calls.submit(contextvars.copy_context().run, step)

    def _remember(self, incident_id: str, name: str, channel: str) -> None:
        with transaction(self.engine) as session:
            session.add(
                m.SlackChannel(
                    incident_id=incident_id,
                    name=name,
                    channel_id=channel,
                    created_at=self.clock.now(),
                )
            )

    def _pin_summary(
        self,
        channel: str,
        incident_id: str,
        *,
        posted: str | None,
        card: Future[dict[str, Any]],
        remembered: Future[None] | None,
    ) -> list[Future[None]]:
        """Post the summary card (unless a try before this one did) and pin it; the card's
        ts is written beside the pin. Returns that write, for the caller to wait on."""
        ts = posted
        noted: list[Future[None]] = []
        if ts is None:
            with slack_call("chat.postMessage"):
                reply = self.client.chat_postMessage(channel=channel, **card.result())
            ts = str(reply["ts"])
            noted.append(self._beside(lambda: self._note_summary(incident_id, ts, remembered)))
        try:
            self._tolerant("pins.add", lambda: self.client.pins_add(channel=channel, timestamp=ts))
        except DeliveryFailed:
            for write in noted:
                write.exception()  # the retry must find the card's ts, or it posts a second
            raise
        return noted

    def _note_summary(self, incident_id: str, ts: str, remembered: Future[None] | None) -> None:
        if remembered is not None:
            remembered.result()  # the channel's row first
        with transaction(self.engine) as session:
            row = session.get(m.SlackChannel, incident_id)
            assert row is not None
            row.summary_ts = ts
            session.add(row)

    @staticmethod
    def _call(what: str, call: Callable[[], object]) -> None:
        with slack_call(what):
            call()

    def _create(self, name: str) -> tuple[str, str]:
        for candidate in candidate_names(name):
            try:
                reply = self.client.conversations_create(name=candidate)
            except SlackApiError as exc:
                if _error(exc) == "name_taken":
                    continue
                with slack_call("conversations.create"):
                    raise
                raise  # pragma: no cover - slack_call always raises
            except (SlackClientError, OSError):
                with slack_call("conversations.create"):
                    raise
                raise  # pragma: no cover
            channel = reply["channel"]
            return str(channel["id"]), str(channel["name"])
        raise DeliveryFailed(f"Slack conversations.create: every name like {name!r} is taken")

    def _paged_slack_ids(self, incident_id: str) -> list[str]:
        with read_transaction(self.engine) as session:
            rows = session.exec(
                select(m.RoleAssignment).where(m.RoleAssignment.incident_id == incident_id)
            ).all()
            people = {r.person_id for r in rows if r.active}
        ids = {self._slack_id(p) for p in sorted(people) if self.policy.person(p) is not None}
        return sorted(i for i in ids if i)

    def _slack_id(self, person_id: str) -> str | None:
        person = self.policy.person(person_id)
        return person.slack_id if person else None

    def _invite(self, channel: str, users: list[str]) -> None:
        for start in range(0, len(users), INVITE_BATCH):
            batch = ",".join(users[start : start + INVITE_BATCH])

            def call(batch: str = batch) -> Any:
                return self.client.conversations_invite(channel=channel, users=batch, force=True)

            self._tolerant("conversations.invite", call)

    def _tolerant(self, what: str, call: Any) -> None:
        """Run a call whose 'already done' answers mean success (a retry finishing a set-up)."""
        try:
            call()
        except SlackApiError as exc:
            if _error(exc) in _TOLERATED:
                return
            with slack_call(what):
                raise
        except (SlackClientError, OSError):
            with slack_call(what):
                raise

    def _summary(self, incident_id: str) -> dict[str, Any]:
        with read_transaction(self.engine) as session:
            view = views.summary_view(session, self.policy, incident_id)
        if view is None:
            return {"text": f"Incident {incident_id}"}
        return summary_card(view).as_kwargs()

    # ---------------------------------------------------------------------------- post
    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        stored = views.channel_for_incident(self.engine, incident_id) if incident_id else None
        if channel.startswith("#") or incident_id is None:
            target = channel.lstrip("#")
        elif stored is None:
            # Waiting on the open_channel item (deferred or failing): not an attempt used up.
            raise DeliveryFailed(f"the channel of {incident_id} is not open yet", retry_after=1)
        else:
            target = stored.channel_id
        if stored is not None:
            # Gate cards first: a 429 here defers the whole item before anything is posted.
            gatecards.refresh(
                self.client,
                self.engine,
                self.policy,
                self.clock,
                stored.incident_id,
                call=slack_call,
            )
        gate_id = _gate_ref(card)
        if gate_id is not None and gatecards.stored_card(self.engine, gate_id) is not None:
            return  # this gate's card is already posted (a retry): it is refreshed above
        rich = self._gate_card(gate_id)
        content = rich[1].as_kwargs() if rich else self._notice_card(card, text)
        with slack_call("chat.postMessage"):
            reply = self.client.chat_postMessage(channel=target, **content)
        if rich is not None and gate_id is not None and incident_id is not None:
            gatecards.remember(
                self.engine,
                self.clock,
                gate_id=gate_id,
                incident_id=incident_id,
                channel_id=str(reply.get("channel") or target),
                ts=str(reply["ts"]),
                rendered_as=gatecards.rendered(*rich),
            )
        if stored is not None and stored.summary_ts and target == stored.channel_id:
            self._stale_summaries().setdefault(stored.incident_id, stored)

    def _stale_summaries(self) -> dict[str, m.SlackChannel]:
        # Per thread: each outbox lane settles the cards its own messages made stale.
        stale: dict[str, m.SlackChannel] | None = getattr(self._local, "stale", None)
        if stale is None:
            stale = self._local.stale = {}
        return stale

    def settle(self) -> None:
        """Refresh each summary card made stale since the last settle, once: a burst of
        notes in one incident costs one chat.update, not one per note."""
        stale = self._stale_summaries()
        while stale:
            _, stored = stale.popitem()
            self.refresh_summary(stored)

    def refresh_summary(self, stored: m.SlackChannel) -> None:
        """Update the pinned card in place; a failure here is logged, not retried: the
        message it accompanied went out, and the next change refreshes the card anyway."""
        card = self._summary(stored.incident_id)
        try:
            self.client.chat_update(channel=stored.channel_id, ts=stored.summary_ts or "", **card)
        except (SlackClientError, OSError) as exc:
            log.warning("summary card of %s not updated: %s", stored.incident_id, exc)

    def _gate_card(self, gate_id: int | None) -> tuple[str, SlackMessage] | None:
        """The gate's card as the gate is now (decided already, if it was decided before
        its card went out)."""
        if gate_id is None:
            return None
        with read_transaction(self.engine) as session:
            return gatecards.render(session, self.policy, gate_id)

    def _notice_card(self, card: str | None, text: str) -> dict[str, Any]:
        """The notice's review card as it is now, the service's line as its fallback
        text; the plain line alone for any other message (or a notice that is gone)."""
        notice_id = _ref(card, "notice")
        if notice_id is None:
            return {"text": text}
        if self._reader is None:
            self._reader = Context(
                engine=self.engine,
                policy=self.policy,
                clock=self.clock,
                chat=self,
                executor=_NoExecution(),
            )
        try:
            shown = notices.get(self._reader, notice_id)
        except NotFound:
            return {"text": text}
        ids = {shown.created_by, *(a.person_id for a in shown.approvals)}
        people = {p: views.person_who(self.policy, p) for p in ids}
        return notice_card(shown, people=people, fallback=escape(text)).as_kwargs()

    # -------------------------------------------------------------------------- direct
    def direct(
        self, *, person: Person, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        user = person.slack_id or self._lookup(person)
        if user is None:
            log.warning("%s has no Slack id and no Slack account by email: not sent", person.id)
            return
        content: dict[str, Any] = {"text": text}
        kind, _, ref = (card or "").partition(":")
        if kind == "role_page" and incident_id and ref in {r.value for r in Role}:
            with read_transaction(self.engine) as session:
                page = views.role_page_view(session, self.policy, incident_id, Role(ref))
            if page is not None:
                content = role_page(page).as_kwargs()
        with slack_call("chat.postMessage"):
            self.client.chat_postMessage(channel=user, **content)

    def _lookup(self, person: Person) -> str | None:
        try:
            reply = self.client.users_lookupByEmail(email=person.email)
        except SlackApiError as exc:
            if _error(exc) == "users_not_found":
                return None
            with slack_call("users.lookupByEmail"):
                raise
            raise  # pragma: no cover
        except (SlackClientError, OSError):
            with slack_call("users.lookupByEmail"):
                raise
            raise  # pragma: no cover
        return str(reply["user"]["id"])
