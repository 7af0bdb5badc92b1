"""Bolt listeners. Each one acks first (Slack waits 3 seconds at most), then does the work
through the service layer, then delivers the outbox. A refusal is shown only to the person
who typed or clicked (chat.postEphemeral) and changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from commandpost.chat.slack import commands as c
from commandpost.chat.slack import dispatch, gate_listeners, notice_listeners, views
from commandpost.chat.slack.blocks import (
    ACK_ACTION,
    DECLARE_CALLBACK,
    GATE_APPROVE,
    GATE_ESCALATE,
    GATE_REJECT,
    REJECT_CALLBACK,
    DeclareForm,
    declare_form_errors,
    declare_modal,
    help_message,
    parse_ack_value,
    read_declare_form,
    role_page_acknowledged,
    usage_text,
)
from commandpost.chat.slack.clicks import clicked
from commandpost.errors import UserError
from commandpost.service import roles
from commandpost.service.context import Context
from commandpost.service.origin import acting_from
from commandpost.storage.engine import read_transaction

log = logging.getLogger(__name__)
Body = dict[str, Any]


Work = Callable[[], None]


def inline(work: Work, *, urgent: bool = False, reply: bool = False, key: str = "") -> None:
    work()


class Later(Protocol):
    """Runs work after the ack: `urgent` work first; `reply` marks a message to the user
    alone (an ephemeral answer or refusal), which has threads of its own; work of one `key`
    (one incident's commands) in the order given."""

    def __call__(
        self, work: Work, *, urgent: bool = False, reply: bool = False, key: str = ""
    ) -> None: ...


# Commands whose work goes before notes and reads when work queues up (AfterAck).
# A notice is as time-critical as containment: regulators and customers run on deadlines.
URGENT = frozenset(
    {"declare", "ack", "assign", "handover", "sev", "contain", "notify", "resolve", "close"}
)


@dataclass
class Listeners:
    """Each listener acks on Bolt's thread, then hands the rest to `later`.

    Bolt runs listeners on a small pool and answers Slack only when ack() is called: work
    done on that pool after the ack (a database write, a Slack call) holds a pool thread, so
    the next requests' acks would queue behind it. `later` runs the work on a pool of its own.
    """

    ctx: Context
    kick: Callable[[], None]  # wake the background deliverer (retries, rate limits)
    later: Later = inline

    # ----------------------------------------------------------------------- helpers
    def deliver(self) -> None:
        # The background deliverer sends it; this thread goes back to Bolt for the next ack.
        self.kick()

    def refuse(self, client: WebClient, *, channel: str | None, user: str, text: str) -> None:
        try:
            if channel:
                client.chat_postEphemeral(channel=channel, user=user, text=text)
            else:
                client.chat_postMessage(channel=user, text=text)
        except SlackClientError as exc:
            log.warning("could not show a refusal to %s: %s", user, exc)

    def attempt(
        self, client: WebClient, work: Callable[[], str | None], *, channel: str | None, user: str
    ) -> bool:
        """Run `work`; a UserError (or a bug) is shown to the user alone. Delivers after.
        Every person's action from Slack comes through here, on whichever thread runs it, so
        this is where the audit trail learns it came from Slack."""
        try:
            with acting_from("slack"):
                reply = work()
        except UserError as exc:
            self.answer(client, channel=channel, user=user, text=f":no_entry: {exc}")
            return False
        except Exception:
            log.exception("listener failed")
            self.answer(client, channel=channel, user=user, text="Something went wrong.")
            return False
        finally:
            self.deliver()
        if reply:
            self.answer(client, channel=channel, user=user, text=reply)
        return True

    def answer(self, client: WebClient, *, channel: str | None, user: str, text: str) -> None:
        """`refuse` on the reply threads: a thread that has just recorded a declaration or a
        decision goes on to the next one instead of waiting for Slack to take the answer
        (measured: a quarter of the urgent threads' time went there in a burst)."""
        self.later(lambda: self.refuse(client, channel=channel, user=user, text=text), reply=True)

    # ---------------------------------------------------------------------- /incident
    def command(self, ack: Ack, body: Body, client: WebClient) -> None:
        user, channel = str(body.get("user_id", "")), str(body.get("channel_id", ""))
        person = dispatch.person_by_slack_id(self.ctx.policy, user)
        try:
            cmd = c.parse(str(body.get("text", "")))
        except c.UsageError as exc:
            ack(text=usage_text(exc.subcommand, exc.problem))
            return
        if isinstance(cmd, c.Help):
            ack(**help_message().as_kwargs())
            return
        if person is None:
            ack(text=dispatch.NOT_IN_POLICY)
            return
        incident_id = views.incident_for_channel(self.ctx.engine, channel)
        if c.needs_incident_channel(cmd) and incident_id is None:
            ack(text=f"`/incident {cmd.subcommand}` works only in an incident channel.")
            return
        if isinstance(cmd, c.DeclareModal):
            ack()
            draft = DeclareForm(incident_class=cmd.klass, severity=cmd.severity)
            view = declare_modal(draft=draft, private_metadata=channel)
            try:
                client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
            except SlackClientError as exc:
                log.warning("declare modal not opened: %s", exc)
            return
        ack()
        self.later(
            lambda: _none(
                self.attempt(
                    client,
                    lambda: dispatch.run(self.ctx, cmd, actor=person.id, incident_id=incident_id),
                    channel=channel,
                    user=user,
                )
            ),
            urgent=cmd.subcommand in URGENT,
            key=incident_id or "",  # an incident's commands in order; declarations side by side
        )

    # ------------------------------------------------------------------------ buttons
    def acknowledge(self, ack: Ack, body: Body, client: WebClient) -> None:
        ack()
        self.later(lambda: self._acknowledge(body, client), urgent=True)

    def _acknowledge(self, body: Body, client: WebClient) -> None:
        user, channel, value, ts = clicked(body)
        person = dispatch.person_by_slack_id(self.ctx.policy, user)
        if person is None:
            self.refuse(client, channel=channel, user=user, text=dispatch.NOT_IN_POLICY)
            return
        try:
            incident_id, role = parse_ack_value(value)
        except ValueError:
            return
        if self.attempt(
            client,
            lambda: _none(roles.acknowledge(self.ctx, incident_id, person_id=person.id, role=role)),
            channel=channel,
            user=user,
        ):
            with read_transaction(self.ctx.engine) as session:
                page = views.role_page_view(session, self.ctx.policy, incident_id, role)
            if page is not None and channel and ts:
                done = role_page_acknowledged(page, self.ctx.now())
                _quietly(lambda: client.chat_update(channel=channel, ts=ts, **done.as_kwargs()))

    # ------------------------------------------------------------------------ modals
    def submit_declare(self, ack: Ack, body: Body, client: WebClient) -> None:
        view = body.get("view") or {}
        form = read_declare_form(view.get("state", {}).get("values", {}))
        errors = declare_form_errors(form)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        user = str(body.get("user", {}).get("id", ""))
        person = dispatch.person_by_slack_id(self.ctx.policy, user)
        if person is None or form.incident_class is None or form.severity is None:
            self.refuse(client, channel=None, user=user, text=dispatch.NOT_IN_POLICY)
            return
        from commandpost.service import incidents

        spec = incidents.Declaration(
            title=form.title,
            klass=form.incident_class,
            severity=form.severity,
            declared_by=person.id,
            model=form.model or None,
            model_version=form.model_version or None,
            surface=form.surface or None,
            tenant=form.tenant or None,
            region=form.region or None,
            description=form.description or None,
            trigger="slack:declare modal",
        )

        def work() -> str:
            return f"Declared {incidents.declare(self.ctx, spec).id}."

        self.later(lambda: _none(self.attempt(client, work, channel=None, user=user)), urgent=True)


def _none(_: object) -> None:
    return None


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except SlackClientError as exc:
        log.warning("card not updated: %s", exc)


@dataclass(frozen=True)
class Route:
    """Which listener a request goes to: a slash command, a button's action_id or a modal's
    callback_id. Bolt serves by these; the work process replays by them (workproc)."""

    kind: str  # "command", "action" or "view": the App method that registers it
    key: str
    run: Callable[[Ack, Body, WebClient], None]


def routes(listeners: Listeners) -> list[Route]:
    notice = notice_listeners.NoticeListeners(listeners)
    gate = gate_listeners.GateListeners(listeners)
    return [
        Route("command", "/incident", listeners.command),
        Route("action", ACK_ACTION, listeners.acknowledge),
        Route("action", GATE_APPROVE, gate.decide),
        Route("action", GATE_ESCALATE, gate.decide),
        Route("action", GATE_REJECT, gate.open_reject),
        Route("view", REJECT_CALLBACK, gate.submit_reject),
        Route("view", DECLARE_CALLBACK, listeners.submit_declare),
        *(Route(kind, key, run) for kind, key, run in notice_listeners.routes(notice)),
    ]


def route_of(body: Body) -> tuple[str, str] | None:
    """The (kind, key) a request's parsed body is routed by; None for anything else."""
    if isinstance(body.get("command"), str):
        return "command", body["command"]
    actions = body.get("actions")
    if body.get("type") == "block_actions" and actions:
        return "action", str(actions[0].get("action_id", ""))
    if body.get("type") == "view_submission":
        return "view", str((body.get("view") or {}).get("callback_id", ""))
    return None


def register(app: App, listeners: Listeners) -> None:
    for route in routes(listeners):
        getattr(app, route.kind)(route.key)(route.run)
