"""The text of Slack's `/incident` slash command, parsed into one typed command.

Pure: the standard library and commandpost's own words only (no Slack SDK), so it can be
tested on its own and reused by anything that reads `/incident …` text.

    parse(text) -> Command         one frozen dataclass per subcommand; raises UsageError
    render(cmd) -> str             the text Slack would send for `cmd`; parse(render(c)) == c
    USAGE[sub], SUMMARY[sub]       the usage line and purpose of each subcommand
    help_text(topic=None)          plain-text help, for all subcommands or one
    needs_incident_channel(cmd)    False for declare, list and help

The commands themselves, USAGE, SUMMARY and UsageError are defined in `command_types`
and re-exported here; the reading of words and Slack's escaping is in `command_words`.

Words follow shell-like quoting: "double" and 'single' quotes, and the curly ones Slack
clients type, group words; inside double quotes a backslash escapes a quote or a backslash.
Unlike a shell, a backslash elsewhere is an ordinary character, so a pattern such as
`pattern=\\d{3}` arrives intact. A Slack entity (`<@U1|ann>`, `<#C1|x>`, `<https://…|…>`)
is always one word. Free text at the end of a command (title, note, reason, summary) is
taken as typed, so "don't" needs no quoting; a single quoted string there is unquoted.

Free text and parameter values are plain text: Slack's `&amp; &lt; &gt;` are decoded,
links become their URL, and mentions become `@name` (or `@U…` when Slack sent no name).
Only `assign` and `handover` read a mention as a person, and they need Slack's `<@U…>` form.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import fields
from enum import Enum
from typing import TypeVar

from commandpost.chat.slack.command_types import (
    SUMMARY,
    USAGE,
    Ack,
    Approve,
    Assign,
    Close,
    Command,
    Confirm,
    Contain,
    Declare,
    DeclareModal,
    Escalate,
    Evidence,
    Handover,
    Help,
    Hold,
    HoldRelease,
    List,
    Note,
    Notify,
    Reject,
    Resolve,
    Review,
    ReviewDone,
    Roles,
    Sev,
    StatusChange,
    Timeline,
    Update,
    UsageError,
)
from commandpost.chat.slack.command_words import SEPARATORS, Words, plain
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.errors import InvalidInput

__all__ = [
    "SUMMARY",
    "USAGE",
    "Ack",
    "Approve",
    "Assign",
    "Close",
    "Command",
    "Confirm",
    "Contain",
    "Declare",
    "DeclareModal",
    "Escalate",
    "Evidence",
    "Handover",
    "Help",
    "Hold",
    "HoldRelease",
    "List",
    "Note",
    "Notify",
    "Reject",
    "Resolve",
    "Review",
    "ReviewDone",
    "Roles",
    "Sev",
    "StatusChange",
    "Timeline",
    "Update",
    "UsageError",
    "help_text",
    "needs_incident_channel",
    "parse",
    "render",
]

_E = TypeVar("_E", bound=Enum)
_ALIASES = {"acknowledge": "ack", "severity": "sev", "ls": "list", "?": "help", "--help": "help"}
_ANYWHERE = frozenset({"declare", "list", "help"})


# ------------------------------------------------------------------------ field shapes
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^<>]*)?>")
_GATE = re.compile(r"#?([0-9]{1,18})")
_ACTION = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_TEMPLATE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_BARE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


# ----------------------------------------------------------------------------- parsing
def _vocab(w: Words, parse_word: Callable[[str], _E], word: str) -> _E:
    try:
        return parse_word(plain(word))
    except InvalidInput as err:
        w.fail(str(err))


def _try(parse_word: Callable[[str], _E], word: str) -> _E | None:
    try:
        return parse_word(plain(word))
    except InvalidInput:
        return None


def _user(w: Words) -> str:
    word = w.word("a person: @mention them")
    if match := _MENTION.fullmatch(word):
        return match.group(1)
    if word.startswith("@"):
        w.fail(f"{word} is not a Slack mention: pick the person from the @ autocomplete list")
    w.fail(f"expected an @mention of a person, not {plain(word)!r}")


def _gate(w: Words) -> int:
    word = w.word("a gate number")
    match = _GATE.fullmatch(word)
    if match is None or int(match.group(1)) == 0:
        w.fail(f"{word!r} is not a gate number (like 12)")
    return int(match.group(1))


def _declare(w: Words) -> Declare | DeclareModal:
    severity: Severity | None = None
    klass: IncidentClass | None = None
    while severity is None or klass is None:
        got = w.next()
        if got is None:
            return DeclareModal(severity, klass)
        word = got[0]
        if severity is None and (level := _try(Severity.parse, word)) is not None:
            severity = level
        elif klass is None and (kind := _try(IncidentClass.parse, word)) is not None:
            klass = kind
        elif klass is None and severity is None:
            levels = ", ".join(s.value.lower() for s in Severity)
            w.fail(f"{word!r} is neither a severity ({levels}) nor a class (see /incident help)")
        elif klass is None:
            _vocab(w, IncidentClass.parse, word)  # raises, listing the classes
        else:
            _vocab(w, Severity.parse, word)  # raises, listing the levels
    title = w.rest()
    return Declare(severity, klass, title) if title else DeclareModal(severity, klass)


def _ack(w: Words) -> Ack:
    got = w.next()
    role = None if got is None else _vocab(w, Role.parse, got[0])
    w.done()
    return Ack(role)


def _role_and_user(w: Words) -> tuple[Role, str]:
    role = _vocab(w, Role.parse, w.word("a role"))
    user = _user(w)
    w.done()
    return role, user


def _contain(w: Words) -> Contain:
    action = w.word("an action from the catalogue").lower()
    if not _ACTION.fullmatch(action):
        w.fail(f"{action!r} is not an action name (like rollback_model)")
    params: dict[str, str] = {}
    reason: str | None = None
    while (got := w.next()) is not None:
        word, bare = got
        if bare and word in SEPARATORS:
            reason = w.rest() or w.fail("write the reason after --, or leave -- out")
            break
        _pair(w, word, params, hint=" (a reason goes after --)")
    return Contain(action, params, reason)


def _pair(w: Words, word: str, into: dict[str, str], *, hint: str = "") -> None:
    key, sep, value = word.partition("=")
    if not sep or not _KEY.fullmatch(key):
        w.fail(f"parameters are key=value; got {plain(word)!r}{hint}")
    if key in into:
        w.fail(f"parameter {key!r} given twice")
    into[key] = plain(value)


def _notify(w: Words) -> Notify:
    template = w.word("a notice template (see /incident help notify)").lower()
    if not _TEMPLATE.fullmatch(template):
        w.fail(f"{template!r} is not a template name (like customer_initial)")
    facts: dict[str, str] = {}
    while (got := w.next()) is not None:
        _pair(w, got[0], facts)
    return Notify(template, facts)


def _hold(w: Words) -> Hold | HoldRelease:
    start = w.pos
    try:
        got = w.next()
    except UsageError:
        got = None  # an apostrophe in the reason ("don't delete"): free text, as typed
    if got is not None and got[1] and got[0].lower() == "release":
        return HoldRelease(w.rest() or w.fail("hold release needs a reason: why it may go"))
    w.pos = start
    return Hold(w.rest() or w.fail("hold needs a reason: why the evidence must be kept"))


def _review(w: Words) -> Review | ReviewDone:
    got = w.next()
    if got is None:
        return Review()
    if got[0].lower() != "done":
        w.fail(f"review takes nothing or `done`, not {got[0]!r}")
    w.done()
    return ReviewDone()


def _help(w: Words) -> Help:
    got = w.next()
    if got is None:
        return Help()
    w.done()
    topic = _ALIASES.get(got[0].lower(), got[0].lower())
    if topic not in USAGE:
        w.fail(f"there is no subcommand {got[0]!r}")
    return Help(topic)


def _no_args(make: Callable[[], Command]) -> Callable[[Words], Command]:
    def parse_none(w: Words) -> Command:
        w.done()
        return make()

    return parse_none


_PARSERS: dict[str, Callable[[Words], Command]] = {
    "declare": _declare,
    "ack": _ack,
    "assign": lambda w: Assign(*_role_and_user(w)),
    "handover": lambda w: Handover(*_role_and_user(w)),
    "sev": lambda w: Sev(_vocab(w, Severity.parse, w.word("a level")), w.rest() or None),
    "status": lambda w: StatusChange(_vocab(w, Status.parse, w.word("a status")), w.rest() or None),
    "contain": _contain,
    "notify": _notify,
    "note": lambda w: Note(w.rest() or w.fail("note needs some text")),
    "update": lambda w: Update(w.rest() or w.fail("update needs the text of the update")),
    "evidence": lambda w: Evidence(w.rest() or w.fail("evidence needs a text or a link")),
    "hold": _hold,
    "timeline": _no_args(Timeline),
    "roles": _no_args(Roles),
    "resolve": lambda w: Resolve(w.rest() or w.fail("resolve needs a summary")),
    "review": _review,
    "close": _no_args(Close),
    "approve": lambda w: Approve(_gate(w), w.rest() or None),
    "reject": lambda w: Reject(_gate(w), w.rest() or w.fail("reject needs a reason")),
    "escalate": lambda w: Escalate(_gate(w), w.rest() or None),
    "confirm": lambda w: Confirm(_gate(w), w.rest() or None),
    "list": _no_args(List),
    "help": _help,
}


def parse(text: str) -> Command:
    """The command in a slash command's `text`; empty text is `Help()`.

    Raises UsageError (an InvalidInput) for anything malformed, and nothing else."""
    words = Words(text)
    got = words.next()
    if got is None:
        return Help()
    typed = got[0]
    name = _ALIASES.get(typed.lower(), typed.lower())
    parser = _PARSERS.get(name)
    if parser is None:
        close = difflib.get_close_matches(name, [*USAGE, *_ALIASES], n=1)
        if close:
            guess = _ALIASES.get(close[0], close[0])
            raise UsageError(guess, f"unknown subcommand {typed!r}; did you mean `{guess}`?")
        raise UsageError("help", f"unknown subcommand {typed!r}; try `/incident help`")
    words.subcommand = name
    return parser(words)


# ------------------------------------------------------------------------ text and help
def _quote(text: str) -> str:
    if _BARE.fullmatch(text):
        return text
    escaped = "".join("\\" + c if c in '\\"\u201c\u201d' else c for c in text)
    return f'"{escaped}"'


def render(cmd: Command) -> str:
    """The text Slack would send for `cmd` (`&`, `<`, `>` escaped, people as `<@U…>`)."""
    words = [cmd.subcommand, *(["release"] if isinstance(cmd, HoldRelease) else [])]
    words += ["done"] if isinstance(cmd, ReviewDone) else []
    for spec in fields(cmd):
        value = getattr(cmd, spec.name)
        if value is None:
            continue
        if spec.name == "user_id":
            words.append(f"<@{value}>")
        elif isinstance(value, dict):
            words += [f"{key}={_quote(_slack(val))}" for key, val in value.items()]
        elif isinstance(value, Enum):
            words.append(str(value.value).lower())
        elif isinstance(cmd, Hold) and str(value).lower() == "release":
            words.append(f'"{value}"')  # bare, it would read as `hold release`
        else:
            words += ["--"] if isinstance(cmd, Contain) and spec.name == "reason" else []
            words.append(_quote(_slack(str(value))))
    return " ".join(words)


def _slack(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def help_text(topic: str | None = None) -> str:
    """Plain-text help: every subcommand, or only `topic` when it names one."""
    names = [topic] if topic is not None and topic in USAGE else list(USAGE)
    lines = [f"/incident {USAGE[name]} — {SUMMARY[name]}" for name in names]
    if len(names) > 1:
        lines.append("Commands other than declare, list and help run inside an incident channel.")
    return "\n".join(lines)


def needs_incident_channel(cmd: Command) -> bool:
    """Whether `cmd` only makes sense inside an incident's channel."""
    return cmd.subcommand not in _ANYWHERE
