"""What the notice lint reports, and what it is told about the incident.

A `Finding` names its rule, says what is wrong, points at the offending text (`Span`, offsets
into the linted string) and says whether it blocks approval. A finding about something
*absent* (a required fact, for instance) has an empty span at the end of the text: there is
no offending text to point at, and the end is where the missing sentence would go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from commandpost.core.vocabulary import Severity
from commandpost.errors import InvalidInput


class Channel(StrEnum):
    """Where a notice goes; only the length limits depend on it."""

    STATUS_PAGE = "status_page"
    EMAIL = "email"
    CHAT = "chat"
    WEBHOOK = "webhook"

    @classmethod
    def parse(cls, text: str) -> Channel:
        try:
            return cls(text.strip().lower().replace("-", "_"))
        except ValueError:
            allowed = ", ".join(c.value for c in cls)
            raise InvalidInput(f"unknown channel {text!r}; use one of {allowed}") from None


# The five things every notice has to tell its reader (DESIGN.md, "Notices").
REQUIRED_FACTS: tuple[str, ...] = ("observed", "detected", "contained", "affected", "next-steps")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    message: str
    span: Span
    blocking: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for audit events and review cards."""
        return {
            "rule": self.rule,
            "message": self.message,
            "start": self.span.start,
            "end": self.span.end,
            "text": self.span.text,
            "blocking": self.blocking,
        }


@dataclass(frozen=True)
class LintContext:
    """What the lint needs to know about the incident behind a notice.

    The defaults are the cautious ones: SEV1 (minimising words count), no root cause yet
    (speculation counts), every required fact expected. `facts` are the incident facts the
    notice was rendered from: a promised date found among them is founded, and the values of
    name-like facts (see `language.NAME_FACT_KEYS`) are never read as minimising, blaming or
    personal names.
    """

    severity: Severity = Severity.SEV1
    root_cause_known: bool = False
    channel: Channel = Channel.EMAIL
    facts: Mapping[str, Any] = field(default_factory=dict)
    required_facts: tuple[str, ...] = REQUIRED_FACTS

    def __post_init__(self) -> None:
        unknown = [name for name in self.required_facts if name not in REQUIRED_FACTS]
        if unknown:
            allowed = ", ".join(REQUIRED_FACTS)
            raise InvalidInput(f"unknown required fact(s) {', '.join(unknown)}; use {allowed}")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    blocking: bool
    summary: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


# The catalogue: what each rule id means. `too-long` blocks or not per channel (length.py).
RULES: Mapping[str, Rule] = _rules(
    Rule("speculation", True, "guesses at cause or intent before a root cause is recorded"),
    Rule("minimising", True, "plays the harm down at SEV0/SEV1"),
    Rule("user-blame", True, "places the blame on users or customers"),
    Rule("pii-email", True, "a personal email address"),
    Rule("pii-phone", True, "a phone number"),
    Rule("pii-card", True, "a payment card number (Luhn-checked)"),
    Rule("pii-secret", True, "an API key, token, password or private key"),
    Rule("pii-ip", True, "an IP address"),
    Rule("pii-name", True, "a person's name, marked by a title or 'a user named'"),
    Rule("unfounded-promise", True, "promises a date or outcome that is not in the facts"),
    *(
        Rule(f"missing-fact-{name}", True, f"does not say {what}")
        for name, what in (
            ("observed", "what was observed"),
            ("detected", "when it was detected"),
            ("contained", "when it was contained (or that it is not yet)"),
            ("affected", "who or what is affected"),
            ("next-steps", "what happens next"),
        )
    ),
    Rule("too-long", True, "longer than the channel allows"),
)


def finding(rule: str, message: str, *, start: int, end: int, text: str) -> Finding:
    """A finding of `rule` over text[start:end], blocking as the catalogue says."""
    return Finding(rule, message, Span(start, end, text[start:end]), RULES[rule].blocking)


def absent(rule: str, message: str, text: str) -> Finding:
    """A finding about something missing: an empty span at the end of the text."""
    end = len(text)
    return Finding(rule, message, Span(end, end, ""), RULES[rule].blocking)


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of `offset`, for people reading the findings."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column
