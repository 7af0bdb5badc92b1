"""The chat port on Teams incoming webhooks (Workflows, or an old Office 365 connector).

    open_channel   a webhook cannot create a channel: the incident's summary card
                   (revision 1) goes to the incident's configured channel instead
    post           a gate request is a gate card with one signed Approve / Reject /
                   Escalate link set per eligible approver; a notice drafted for review a
                   notice-review card with Approve / Reject links per reviewer
                   (`notice_post`); anything else a small text card. Before any message
                   about an incident, each of its gate and notice cards whose object
                   changed since it was posted is posted again as the next revision (a
                   decided gate: the follow-up card with the outcome). After it, `settle`
                   re-posts the summary when what it shows changed.
    direct         a webhook cannot DM: the page (role page card naming the person) goes to
                   the person's own webhook URL if one is set, else to the incident channel

Where: `teams_channel_urls` maps a channel name ("#incidents", an incident's channel) to a
URL, `teams_person_urls` a person id to one; `teams_webhook_url` is the default. A connector
URL gets the MessageCard form (`connector`), anything else the Workflows envelope.

Failures are raised as `DeliveryFailed` like the Slack port's: 429 with `retry_after` from
Retry-After, 5xx or an unreachable host with a short backoff, other errors as attempts.
Webhook URLs are credentials: errors and logs never include them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select

from commandpost.chat.slack import views
from commandpost.chat.slack.blocks_gate import GateOutcomeView
from commandpost.chat.teams import cards, notice_post
from commandpost.chat.teams.approval_flow import eligible_approvers
from commandpost.chat.teams.approvals import LinkSigner, approval_url
from commandpost.chat.teams.cardtext import Card, body_bytes, envelope
from commandpost.chat.teams.connector import is_connector_url, message_card
from commandpost.core.gates import Decision, GateState
from commandpost.core.policy import Person, Policy
from commandpost.core.vocabulary import Role
from commandpost.errors import DeliveryFailed
from commandpost.service.ports import Clock
from commandpost.settings import Settings
from commandpost.storage import models as m
from commandpost.storage.engine import read_transaction, transaction
from commandpost.storage.teams_models import TeamsCard

log = logging.getLogger(__name__)

OUTAGE_BACKOFF = 2.0
PENDING = GateState.PENDING.value


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def _shown(value: Any) -> Any:
    """A card without what changes on every render: its revision line and link URLs (each
    render signs fresh tokens)."""
    if isinstance(value, dict):
        if str(value.get("text", "")).startswith("Revision "):
            return None
        return {k: _shown(v) for k, v in value.items() if k != "url"}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def digest(card: Card, state: str = "") -> str:
    """What a card shows, as stored in `teams_cards.digest`: `<state>:<hash>` for gates."""
    raw = json.dumps(_shown(card), sort_keys=True).encode()
    return (
        f"{state}:{hashlib.sha256(raw).hexdigest()[:40]}"
        if state
        else hashlib.sha256(raw).hexdigest()[:40]
    )


class TeamsChat:
    """`ChatPort` over Teams incoming webhooks; revisions of posted cards in the database."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        policy: Policy,
        clock: Clock,
        client: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.policy = policy
        self.clock = clock
        self.client = client or httpx.Client(timeout=10.0)
        secret = settings.teams_link_secret
        self.signer = LinkSigner(secret.get_secret_value()) if secret else None
        self.ttl = timedelta(seconds=settings.teams_link_ttl_seconds)
        self._local = threading.local()

    # ------------------------------------------------------------------------- where to
    def _url(self, channel: str | None, person: str | None = None) -> str | None:
        s = self.settings
        found = (s.teams_person_urls.get(person) if person else None) or (
            s.teams_channel_urls.get(channel) if channel else None
        )
        found = found or s.teams_webhook_url
        return found.get_secret_value() if found else None

    def _send(self, url: str, card: Card, what: str) -> None:
        payload = message_card(card) if is_connector_url(url) else envelope(card)
        try:
            reply = self.client.post(
                url, content=body_bytes(payload), headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(
                f"Teams {what}: {type(exc).__name__}", retry_after=OUTAGE_BACKOFF
            ) from None
        if reply.status_code == 429:
            raise DeliveryFailed(f"Teams {what}: rate limited", retry_after=_retry_after(reply))
        if reply.status_code >= 500:
            raise DeliveryFailed(
                f"Teams {what}: HTTP {reply.status_code}", retry_after=OUTAGE_BACKOFF
            )
        if reply.status_code >= 300:
            raise DeliveryFailed(f"Teams {what}: HTTP {reply.status_code}")

    # ---------------------------------------------------------------------- revisions
    def _stored(self, key: str) -> TeamsCard | None:
        with read_transaction(self.engine) as session:
            return session.get(TeamsCard, key)

    def _remember(self, key: str, *, incident_id: str, revision: int, shown: str) -> None:
        with transaction(self.engine) as session:
            row = session.get(TeamsCard, key) or TeamsCard(
                key=key,
                incident_id=incident_id,
                revision=revision,
                digest=shown,
                posted_at=self.clock.now(),
            )
            row.revision, row.digest, row.posted_at = revision, shown, self.clock.now()
            session.add(row)

    def _post_revision(self, url: str, key: str, incident_id: str, build: Any) -> bool:
        """Post `build(revision)` (a card and its state, or None) as the next revision of
        `key` unless it shows what the last one did. A pending gate's card is also re-posted
        once its links have expired, so the newest card always has links that work. The row
        is written after the post: a failure retries the same revision."""
        stored = self._stored(key)
        revision = (stored.revision + 1) if stored else 1
        built: tuple[Card, str] | None = build(revision)
        if built is None:
            return False
        card, state = built
        shown = digest(card, state)
        if stored is not None and stored.digest == shown:
            links_expired = stored.posted_at + self.ttl <= self.clock.now()
            if not (state == PENDING and links_expired and self.signer is not None):
                return False
        self._send(url, card, key.split(":")[0])
        self._remember(key, incident_id=incident_id, revision=revision, shown=shown)
        return True

    # ---------------------------------------------------------------------- summaries
    def _summary(self, incident_id: str, revision: int) -> tuple[Card, str] | None:
        with read_transaction(self.engine) as session:
            view = views.summary_view(session, self.policy, incident_id)
        if view is None:
            return None
        # Times that move on every change would make every message re-post the summary.
        view = replace(view, updated_at=None, deadlines=())
        stamp = cards.Stamp(revision, self.clock.now(), f"the summary of {incident_id}")
        return cards.summary_card(view, stamp), ""

    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        url = self._url(name)
        if url is None:
            log.warning("no Teams webhook for %s: summary not posted", incident_id)
            return
        self._post_revision(
            url, f"summary:{incident_id}", incident_id, lambda r: self._summary(incident_id, r)
        )

    # -------------------------------------------------------------------------- gates
    def _links(self, session: Session, gate: m.Gate) -> list[cards.ApproverLinks]:
        if self.signer is None:
            return []
        found = []
        for person, roles in eligible_approvers(session, self.policy, gate):
            token = self.signer.issue(
                incident_id=gate.incident_id,
                gate_id=gate.id or 0,
                person_id=person.id,
                payload_hash=gate.payload_hash,
                now=self.clock.now(),
                ttl=self.ttl,
            )
            base = self.settings.teams_public_url
            found.append(
                cards.ApproverLinks(
                    name=person.name,
                    roles=roles,
                    approve=approval_url(base, token, Decision.APPROVE.value),
                    reject=approval_url(base, token, Decision.REJECT.value),
                    escalate=approval_url(base, token, Decision.ESCALATE.value),
                )
            )
        return found

    def gate_card(self, gate_id: int, revision: int) -> tuple[Card, str] | None:
        """The gate's card as the gate is now: pending with links, or the outcome."""
        with read_transaction(self.engine) as session:
            gate = session.get(m.Gate, gate_id)
            view = views.gate_view(session, self.policy, gate_id)
            if gate is None or view is None:
                return None
            stamp = cards.Stamp(revision, self.clock.now(), f"gate #{gate_id}")
            if gate.state == PENDING:
                return cards.gate_card(view, stamp, self._links(session, gate)), PENDING
            decided = [
                d
                for d in session.exec(
                    select(m.GateDecision).where(m.GateDecision.gate_id == gate_id)
                )
                if d.decision != Decision.ESCALATE.value
            ]
            outcome = GateOutcomeView(
                state=GateState(gate.state),
                at=gate.decided_at or gate.tier_started_at,
                by=[views.person_who(self.policy, d.person_id) for d in decided],
                reason=next((d.reason or "" for d in decided if d.decision == "reject"), ""),
            )
            return cards.gate_decided_card(view, outcome, stamp), gate.state

    def notice_card(self, notice_id: int, revision: int) -> tuple[Card, str] | None:
        """The notice's review card as the notice is now (`notice_post`)."""
        return notice_post.review_card(self, notice_id, revision)

    def _refresh_gates(self, url: str, incident_id: str) -> None:
        """Re-post each gate and notice card of the incident whose object changed (or
        whose links expired) since it was posted."""
        builders = {"gate": self.gate_card, "notice": self.notice_card}
        with read_transaction(self.engine) as session:
            keys = [
                row.key
                for row in session.exec(
                    select(TeamsCard).where(TeamsCard.incident_id == incident_id)
                )
                if row.key.split(":")[0] in builders
            ]
        for key in sorted(keys, key=lambda k: (k.split(":")[0], int(k.split(":")[1]))):
            kind, ref = key.split(":")
            build, ref_id = builders[kind], int(ref)
            self._post_revision(url, key, incident_id, lambda r, b=build, i=ref_id: b(i, r))

    # --------------------------------------------------------------------------- post
    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        url = self._url(channel)
        if url is None:
            log.warning("no Teams webhook for channel %s: message not posted", channel)
            return
        if incident_id is not None:
            self._refresh_gates(url, incident_id)
        kind, _, ref = (card or "").partition(":")
        first = {"gate": self.gate_card, "notice": self.notice_card}.get(kind)
        if first is not None and ref.isdigit() and incident_id is not None:
            key = f"{kind}:{ref}"
            # The first card of a gate or notice; later changes are re-posted just above.
            if self._stored(key) is None and self._post_revision(
                url, key, incident_id, lambda r: first(int(ref), r)
            ):
                self._stale().add((url, incident_id))
                return
        self._send(url, cards.text_card(text, incident_id=incident_id, at=self.clock.now()), "post")
        if incident_id is not None:
            self._stale().add((url, incident_id))

    def _stale(self) -> set[tuple[str, str]]:
        stale: set[tuple[str, str]] | None = getattr(self._local, "stale", None)
        if stale is None:
            stale = self._local.stale = set()
        return stale

    def settle(self) -> None:
        """Re-post each summary that changed since its last revision, once per batch. A
        failure is logged, not retried: the next change brings the summary up to date."""
        stale = self._stale()
        while stale:
            url, incident_id = stale.pop()
            try:
                self._post_revision(
                    url,
                    f"summary:{incident_id}",
                    incident_id,
                    lambda r, i=incident_id: self._summary(i, r),
                )
            except DeliveryFailed as exc:
                log.warning("summary of %s not re-posted: %s", incident_id, exc)

    # ------------------------------------------------------------------------- direct
    def direct(
        self, *, person: Person, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        channel = None
        if incident_id is not None:
            with read_transaction(self.engine) as session:
                incident = session.get(m.Incident, incident_id)
                channel = incident.channel if incident else None
        url = self._url(channel, person.id)
        if url is None:
            log.warning("no Teams webhook for %s: page not posted", person.id)
            return
        kind, _, ref = (card or "").partition(":")
        if kind == "role_page" and incident_id and ref in {r.value for r in Role}:
            with read_transaction(self.engine) as session:
                page = views.role_page_view(session, self.policy, incident_id, Role(ref))
            if page is not None:
                stamp = cards.Stamp(1, self.clock.now(), f"{person.name}'s page")
                self._send(url, cards.role_page_card(page, stamp, person=person.name), "page")
                return
        message = f"For {person.name}: {text}"
        self._send(
            url, cards.text_card(message, incident_id=incident_id, at=self.clock.now()), "page"
        )
