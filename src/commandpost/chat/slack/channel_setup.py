"""Opening an incident's channel on Slack (the chat port's `open_channel`).

conversations.create (name_taken: -2, -3, … within 80 characters), then side by side:
setTopic, setPurpose, invite the paged people who have a Slack id, and post and pin the
summary card. The channel is stored (slack_channels) the moment it exists, so a retry after a
partial failure finishes the set-up instead of creating a second channel, and nobody is
invited and nothing is pinned before that row is written: a command typed in the channel
must find it an incident's (a miss is remembered for a few seconds, views.MISS_FOR).
Measured before (stop 21, bench/slack_ack.py): the invites and the pin went out first, and
1,500 of 1,800 notes and status lines typed into channels just pinned were answered "works
only in an incident channel".
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, bindparam, insert, update

from commandpost.chat.slack import views
from commandpost.chat.slack.blocks import SummaryView
from commandpost.chat.slack.slack_calls import checked, error_of, slack_call, tolerant
from commandpost.core.policy import Policy
from commandpost.errors import DeliveryFailed
from commandpost.service.ports import Clock
from commandpost.storage import small_writes

_T = TypeVar("_T")

NAME_MAX = 80
TOPIC_MAX = 250
INVITE_BATCH = 100  # conversations.invite takes at most 100 users a call


# The two writes of every set-up, as Core statements built once: through the ORM (a row
# object, a read before the update) they cost 1.5-2.0 ms of CPU each in a burst, measured
# with thread_time, about a fifth of an opening's. They share transactions with the other
# openings' (storage.small_writes).
_REMEMBER = insert(views.SLACK_CHANNELS)
_NOTE_TS = (
    update(views.SLACK_CHANNELS)
    .where(views.SLACK_CHANNELS.c.incident_id == bindparam("incident"))
    .values(summary_ts=bindparam("ts"))
)


def candidate_names(name: str, *, limit: int = 50) -> Iterator[str]:
    """`name`, then `name-2`, `name-3`, …, each cut so the whole stays within 80 characters."""
    yield name[:NAME_MAX]
    for n in range(2, limit + 2):
        suffix = f"-{n}"
        yield name[: NAME_MAX - len(suffix)].rstrip("-") + suffix


class ChannelSetup:
    """Sets up incident channels for `SlackChat`; `card(incident_id, view)` renders the summary
    card."""

    def __init__(
        self,
        client: WebClient,
        *,
        engine: Engine,
        policy: Policy,
        clock: Clock,
        card: Callable[[str, SummaryView | None], dict[str, Any]],
    ) -> None:
        self.client = client
        self.engine = engine
        self.policy = policy
        self.clock = clock
        self.card = card
        # The calls of channel set-ups that go out side by side (see open).
        self._calls = ThreadPoolExecutor(max_workers=48, thread_name_prefix="slack-setup")

    def open(self, *, name: str, topic: str, incident_id: str) -> None:
        # Only three calls wait on each other: create, post the summary, pin it. Everything
        # else (invites, topic, purpose, rendering the card, and the database writes that make
        # a retry finish this set-up) goes out beside them, so the channel is ready after
        # three calls' time (measured in a burst of declarations: each write in line took
        # about a tenth of a second). Every step is safe to repeat when the item is retried.
        seen = views.opening_view(self.engine, self.policy, incident_id)
        stored = seen.stored
        card = self._beside(lambda: self.card(incident_id, seen.summary))
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
            self._beside(
                lambda: self._invite(channel, self._slack_ids(seen.people), after=remembered)
            ),
            self._beside(
                lambda: checked(
                    "conversations.setTopic",
                    lambda: self.client.conversations_setTopic(
                        channel=channel, topic=topic[:TOPIC_MAX]
                    ),
                )
            ),
            self._beside(
                lambda: checked(
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
        now = self.clock.now()
        row = {"incident_id": incident_id, "name": name, "channel_id": channel, "created_at": now}
        small_writes.write(self.engine, (_REMEMBER, row))

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
        if remembered is not None:
            remembered.result()  # the channel is an incident's before it is shown ready
        try:
            tolerant("pins.add", lambda: self.client.pins_add(channel=channel, timestamp=ts))
        except DeliveryFailed:
            for write in noted:
                write.exception()  # the retry must find the card's ts, or it posts a second
            raise
        return noted

    def _note_summary(self, incident_id: str, ts: str, remembered: Future[None] | None) -> None:
        if remembered is not None:
            remembered.result()  # the channel's row first
        (noted,) = small_writes.write(self.engine, (_NOTE_TS, {"incident": incident_id, "ts": ts}))
        assert noted == 1, f"no channel row for {incident_id}"

    def _create(self, name: str) -> tuple[str, str]:
        for candidate in candidate_names(name):
            with slack_call("conversations.create"):
                try:
                    reply = self.client.conversations_create(name=candidate)
                except SlackApiError as exc:
                    if error_of(exc) == "name_taken":
                        continue
                    raise
            channel = reply["channel"]
            return str(channel["id"]), str(channel["name"])
        raise DeliveryFailed(f"Slack conversations.create: every name like {name!r} is taken")

    def _slack_ids(self, people: tuple[str, ...]) -> list[str]:
        found = (self.policy.person(p) for p in people)
        return sorted({person.slack_id for person in found if person and person.slack_id})

    def _invite(self, channel: str, users: list[str], *, after: Future[None] | None) -> None:
        if after is not None:
            after.result()  # nobody comes in before the channel is known as an incident's
        for start in range(0, len(users), INVITE_BATCH):
            batch = ",".join(users[start : start + INVITE_BATCH])

            def call(batch: str = batch) -> Any:
                return self.client.conversations_invite(channel=channel, users=batch, force=True)

            tolerant("conversations.invite", call)
