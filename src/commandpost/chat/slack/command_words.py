"""The words of an `/incident` command: shell-like quoting over Slack's escaped text.

    Words(text, subcommand)   reads words off the front, leaves the rest as typed
    plain(text)               Slack's escaped text (entities, &amp; &lt; &gt;) as plain text
    SEPARATORS                what a client may turn a typed `--` into

Pure, like `commands`, whose docstring describes the quoting rules.
"""

from __future__ import annotations

import re
from typing import NoReturn

from commandpost.chat.slack.command_types import UsageError

_SMART = str.maketrans("\u201c\u201d\u2018\u2019", "\"\"''")  # curly quotes: “ ” and single
_QUOTES = "\"'\u201c\u201d\u2018\u2019"
SEPARATORS = frozenset({"--", "\u2014", "\u2013"})  # clients turn a typed `--` into a dash
_ENTITY_AT = re.compile(r"<[^<>]*>")
_ENTITY = re.compile(r"<([^<>]*)>")
_HTML = re.compile(r"&(amp|lt|gt);")
_HTML_CHARS = {"amp": "&", "lt": "<", "gt": ">"}


def _entity(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target[:1] in ("@", "#"):
        return target[0] + (label or target[1:])
    if target[:1] == "!":  # <!here>, <!subteam^S1|@team>, <!date^…|fallback>
        return label or "@" + target[1:].split("^")[0]
    return target  # a link: its URL


def plain(text: str) -> str:
    """Slack's escaped text as plain text (see the module docstring)."""
    return _HTML.sub(lambda m: _HTML_CHARS[m.group(1)], _ENTITY.sub(_entity, text))


class Words:
    """Reads shell-like words off the front of the text and leaves the rest as typed."""

    def __init__(self, text: str, subcommand: str = "help") -> None:
        self.text = text
        self.src = text.translate(_SMART)  # same length: decisions here, characters from text
        self.pos = 0
        self.subcommand = subcommand

    def fail(self, problem: str) -> NoReturn:
        raise UsageError(self.subcommand, problem)

    def next(self) -> tuple[str, bool] | None:
        """The next word and whether it was bare (no quotes); None at the end."""
        src, text, n = self.src, self.text, len(self.src)
        i = self.pos
        while i < n and src[i].isspace():
            i += 1
        out: list[str] = []
        bare = True
        if i == n:
            self.pos = i
            return None
        while i < n and not src[i].isspace():
            quote = src[i]
            if quote in ("'", '"'):
                bare, opened = False, i
                i += 1
                while True:
                    if i == n:
                        self.fail(f"the quote {text[opened]} is never closed")
                    if src[i] == quote:
                        i += 1
                        break
                    if quote == '"' and src[i] == "\\" and src[i + 1 : i + 2] in ('"', "\\"):
                        i += 1
                    out.append(text[i])
                    i += 1
            elif entity := _ENTITY_AT.match(src, i):
                out.append(text[i : entity.end()])
                i = entity.end()
            else:
                out.append(text[i])
                i += 1
        self.pos = i
        return "".join(out), bare

    def word(self, what: str) -> str:
        got = self.next()
        if got is None:
            self.fail(f"{self.subcommand} needs {what}")
        return got[0]

    def rest(self) -> str:
        """Everything left, as plain text; one quoted string is unquoted."""
        raw = self.text[self.pos :].strip()
        self.pos = len(self.text)
        if raw and raw[0] in _QUOTES:
            words = Words(raw)
            try:
                first, second = words.next(), words.next()
            except UsageError:
                first = second = None
            if first is not None and second is None:
                raw = first[0]
        return plain(raw).strip()

    def done(self) -> None:
        extra = self.text[self.pos :].strip()
        if extra:
            self.fail(f"{self.subcommand} does not take {extra!r}")
