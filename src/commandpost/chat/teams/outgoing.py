"""`@CommandPost …` in a Teams channel: an outgoing webhook, verified, parsed and run.

Teams signs each request: `Authorization: HMAC <base64>`, HMAC-SHA256 of the raw body with
the base64-decoded security token Teams showed when the webhook was created. A request that
fails the check gets 401 and nothing is read, parsed or written. A verified one is answered
in the same response (Teams waits at most 5 seconds), as `{"type": "message", "text": …}`.

The text after the mention is the Slack `/incident` syntax, parsed by the same pure parser
(`chat.slack.commands.parse`) and run by the same dispatcher. A webhook channel is not an
incident channel, so commands about an incident name it first:
`@CommandPost INC-2026-0042 ack`. People are matched by the policy's `teams_id` (the
sender's `from.id` or `from.aadObjectId`). `assign` and `handover` take Slack mentions and
are refused here for now.

Teams does not sign a timestamp, so a captured request could be replayed: activity ids
already handled are remembered (per process, bounded) and a repeat is answered, not run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from threading import Lock
from typing import Any

from commandpost.chat.slack import commands as c
from commandpost.chat.slack import dispatch
from commandpost.core.policy import Person
from commandpost.errors import InvalidInput, UserError
from commandpost.service import incidents
from commandpost.service.context import Context
from commandpost.service.ids import parse_incident_id
from commandpost.service.incidents import Declaration
from commandpost.service.origin import acting_from

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
MAX_BODY = 64 * 1024
REMEMBERED = 4096
TRIGGER = "teams:@CommandPost declare"
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^<>]*>")
_INCIDENT = re.compile(r"INC-\d{4}-\d{4,}", re.IGNORECASE)


def signature(body: bytes, token: str) -> str:
    """The Authorization value Teams sends for `body` (tests sign requests with it)."""
    key = base64.b64decode(token)
    return "HMAC " + base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def verified(body: bytes, header: str, token: str) -> bool:
    scheme, _, given = header.strip().partition(" ")
    if scheme != "HMAC" or not given:
        return False
    try:
        expected = signature(body, token)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected.encode(), f"HMAC {given.strip()}".encode())


def command_text(raw: str) -> str:
    """The typed text: mentions and markup removed, entities decoded, then escaped the way
    Slack escapes `&`, `<`, `>`, which is what the shared parser reads."""
    plain = html.unescape(_TAG.sub(" ", _MENTION.sub(" ", raw))).replace("\xa0", " ")
    plain = " ".join(plain.split())
    return plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class CommandHandler:
    """The WSGI handler of POST /teams/command."""

    def __init__(self, ctx: Context, token: str) -> None:
        try:
            base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "teams_outgoing_token must be the base64 token Teams shows"
            ) from None
        self.ctx = ctx
        self.token = token
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return _reply(start_response, "413 Payload Too Large", None)
        stream = environ.get("wsgi.input")
        body = stream.read(length) if stream is not None and length else b""
        if not verified(body, environ.get("HTTP_AUTHORIZATION", ""), self.token):
            log.warning("teams command refused: bad or missing HMAC signature")
            return _reply(start_response, "401 Unauthorized", None)
        try:
            activity = json.loads(body)
            if not isinstance(activity, dict):
                raise ValueError("not an object")
        except ValueError:
            return _reply(start_response, "400 Bad Request", "That was not a Teams message.")
        if self._repeat(str(activity.get("id") or "")):
            return _reply(start_response, "200 OK", "Already handled.")
        return _reply(start_response, "200 OK", self.answer(activity))

    def _repeat(self, activity_id: str) -> bool:
        if not activity_id:
            return False
        with self._lock:
            if activity_id in self._seen:
                return True
            self._seen[activity_id] = None
            while len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
        return False

    def _person(self, sender: dict[str, Any]) -> Person | None:
        ids = {str(sender.get(k)) for k in ("id", "aadObjectId") if sender.get(k)}
        return next((p for p in self.ctx.policy.people if p.teams_id and p.teams_id in ids), None)

    def answer(self, activity: dict[str, Any]) -> str:
        """What to say back; every refusal is a sentence, never an exception."""
        sender = activity.get("from")
        person = self._person(sender if isinstance(sender, dict) else {})
        if person is None:
            return (
                "You are not in Command Post's policy (no person has your Teams id), so you"
                " cannot run incident commands."
            )
        words = command_text(str(activity.get("text") or "")).split(" ", 1)
        incident_id: str | None = None
        if words and _INCIDENT.fullmatch(words[0]):
            incident_id = parse_incident_id(words[0])
            words = words[1:]
        try:
            with acting_from("teams"):
                return self._run(person, " ".join(words), incident_id) or "Done."
        except UserError as exc:
            return str(exc)

    def _run(self, person: Person, text: str, incident_id: str | None) -> str | None:
        cmd = c.parse(text)
        if isinstance(cmd, c.Help):
            return (
                c.help_text(cmd.topic).replace("/incident ", "@CommandPost ")
                + "\nName the incident first in Teams: @CommandPost INC-2026-0042 ack"
            )
        if isinstance(cmd, c.DeclareModal):
            return 'Teams has no form here: @CommandPost declare sev1 harmful_content "title"'
        if isinstance(cmd, (c.Assign, c.Handover)):
            return f"{cmd.subcommand} is not available from Teams yet; use Slack or the CLI."
        if isinstance(cmd, c.Declare):
            # Declared here, not through `dispatch`, so the incident records Teams as its
            # trigger.
            incident = incidents.declare(
                self.ctx,
                Declaration(
                    title=cmd.title,
                    klass=cmd.klass,
                    severity=cmd.severity,
                    declared_by=person.id,
                    trigger=TRIGGER,
                ),
            )
            return f"Declared {incident.id}. Name it in commands: @CommandPost {incident.id} ack"
        if incident_id is None and c.needs_incident_channel(cmd):
            return (
                f"Name the incident first: @CommandPost INC-2026-0042 {cmd.subcommand} …"
                " (list shows the open ones)."
            )
        return dispatch.run(self.ctx, cmd, actor=person.id, incident_id=incident_id)


def _reply(start_response: StartResponse, status: str, text: str | None) -> list[bytes]:
    body = b"" if text is None else json.dumps({"type": "message", "text": text}).encode()
    kind = "application/json" if text is not None else "text/plain; charset=utf-8"
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]
