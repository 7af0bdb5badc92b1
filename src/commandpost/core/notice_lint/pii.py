"""Personal data and secrets: email addresses, phone and card numbers, keys, IP addresses.

Each detector is a cheap regular expression that over-matches, then a check in code that
throws out what only looks similar:

- email: any address, except role accounts (support@, security@, privacy@ …), which are how
  a notice tells people whom to contact and belong to no person.
- card: 13 to 19 digits, optionally grouped by single spaces or hyphens, starting with 2-6
  (the payment networks' major industry identifiers) and passing the Luhn check.
- phone: 10 to 15 digits (8 to 15 after a +country code), written with separators, brackets,
  a + or a leading trunk 0. Not: dates (2026-03-02, 02.03.2026), times, numbers grouped in
  thousands (4 500 000), a dotted quad, anything glued to letters, # or / (INC-2026-0042,
  #1234567890) or labelled as an order, ticket, case, invoice, build or version number.
- ip: a valid IPv4 dotted quad or IPv6 address. A dotted quad is read as a version when it
  is glued to a "v" (v7.1.0.2) or follows version / release / build / section and the like;
  written bare, "7.1.0.2" is an IP address.
- secret: well-known key formats (sk-…, AKIA…, ghp_…, xox…-, AIza…, JWTs, PEM private
  keys), "password: …" style assignments, and long random-looking tokens that mix upper
  case, lower case and digits (a hex hash, a ULID or a word is not random-looking).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from itertools import pairwise

from commandpost.core.notice_lint.doc import Doc
from commandpost.core.notice_lint.findings import Finding, finding
from commandpost.core.notice_lint.textspans import mentions, words_before

_LOCAL_PART = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ROLE_ACCOUNTS = frozenset(
    {
        "abuse", "compliance", "contact", "dpo", "help", "helpdesk", "incidents", "info",
        "legal", "no-reply", "noreply", "press", "privacy", "security", "status", "support",
        "trust", "trust-and-safety", "trustandsafety",
    }
)  # fmt: skip

# Patterns that start with a character class let the regex engine skim for it; finditer
# then starts every match at the beginning of a run, so no look-behind is needed.
_NUMBERISH = re.compile(r"[+(\d](?:[ ().+-]*\d){7,}")  # 8 digits at least (7 after + or ()
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){12,}")  # 13 digits at least: a card's shortest
_GROUP = re.compile(r"\d+")

_PHONE = re.compile(
    r"""
    (?<![\w\#/.:+,-])
    (?:\+\d{1,3}[ .-]?)?
    (?:\(\d{1,5}\)[ .-]?)?
    \d{1,8}(?:[ .-]\d{1,8}){0,5}
    (?![\w/:-]|[.,]\d)
    """,
    re.X,
)
_DATE_START = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")
_THOUSANDS = re.compile(r"\d{1,3}(?:([ .])\d{3})(?:\1\d{3})*")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_ID_LABELS = frozenset(
    {
        "order", "ticket", "case", "ref", "reference", "invoice", "id", "account", "transaction",
        "tracking", "request", "build", "version", "serial", "batch", "job", "run", "incident",
    }
)  # fmt: skip

_IPV4 = re.compile(r"\d\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_VERSION_WORDS = frozenset(
    {
        "version", "versions", "ver", "release", "build", "model", "firmware", "patch", "update",
        "section", "clause", "article", "paragraph", "chapter", "rule", "step", "§",
    }
)  # fmt: skip

_SECRET = re.compile(
    r"""
      \bsk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{20,}
    | \b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}
    | \b(?:AKIA|ASIA)[0-9A-Z]{16}\b
    | \bgh[pousr]_[A-Za-z0-9]{30,}
    | \bgithub_pat_[A-Za-z0-9_]{22,}
    | \bglpat-[A-Za-z0-9_-]{20,}
    | \bxox[abposr]-[A-Za-z0-9-]{10,}
    | \bAIza[0-9A-Za-z_-]{35}
    | \beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}
    | -----BEGIN\ [A-Z ]*PRIVATE\ KEY-----
    | \b(?i:api[_-]?key|secret|token|password|passwd|pwd)\s*[:=]\s*["']?[^\s"']{8,}
    | \bBearer\s+[A-Za-z0-9._~+/-]{20,}=*
    """,
    re.X,
)
# Every key format above starts with one of these words (runs of letters, lower-cased: see
# doc.py) or, where letters and digits run together, contains one of the needles.
_SECRET_WORDS = frozenset({
    "sk", "pk", "rk", "ghp", "gho", "ghu", "ghs", "ghr", "github", "glpat", "xoxa", "xoxb",
    "xoxp", "xoxo", "xoxs", "xoxr", "begin", "bearer",
})  # fmt: skip
_SECRET_NEEDLES = ("AKIA", "ASIA", "AIza", "eyJ")
_TRAILING = frozenset(".,;:!?)")
_ASSIGNMENT_WORDS = frozenset({"api", "apikey", "secret", "token", "password", "passwd", "pwd"})
_TOKEN = re.compile(r"(?<![\w/+=.-])[A-Za-z0-9_+/-]{32,}={0,2}(?![\w/+=-])")


def scan(doc: Doc) -> list[Finding]:
    text = doc.text
    chunks = text.split()
    found: list[Finding] = []
    found.extend(_emails(text))
    # Card and phone numbers both sit in runs of 8 digits or more: one pass finds them.
    runs = [(m.start(), m.end()) for m in _NUMBERISH.finditer(text)]
    cards = _cards(text, runs)
    found.extend(cards)
    taken = [(f.span.start, f.span.end) for f in cards]
    ips = _ips(text, chunks)
    found.extend(ips)
    taken.extend((f.span.start, f.span.end) for f in ips)
    found.extend(_phones(text, runs, taken))
    found.extend(_secrets(doc, chunks))
    return found


# -- email ---------------------------------------------------------------------------------


def _emails(text: str) -> list[Finding]:
    found: list[Finding] = []
    at = text.find("@")
    while at != -1:
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _LOCAL_PART:
            start -= 1
        domain = _DOMAIN.match(text, at + 1)
        if start < at and domain is not None:
            if text[start:at].lower() not in _ROLE_ACCOUNTS:
                found.append(
                    finding(
                        "pii-email",
                        "an email address: personal data must not appear in a notice",
                        start=start,
                        end=domain.end(),
                        text=text,
                    )
                )
            at = text.find("@", domain.end())
        else:
            at = text.find("@", at + 1)
    return found


# -- payment cards -------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def _cards(text: str, runs: list[tuple[int, int]]) -> list[Finding]:
    found: list[Finding] = []
    for start, end in runs:
        for run in _DIGIT_RUN.finditer(text, start, end) if end - start >= 13 else ():
            groups = [(g.start(), g.end()) for g in _GROUP.finditer(text, run.start(), run.end())]
            hit = _card_window(text, groups)
            if hit is not None:
                found.append(
                    finding(
                        "pii-card",
                        "a payment card number (passes the Luhn check)",
                        start=hit[0],
                        end=hit[1],
                        text=text,
                    )
                )
    return found


def _card_window(text: str, groups: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The longest run of whole digit groups that is a card number.

    A card can sit next to other numbers ("ref 12 4111 1111 1111 1111"), so every window of
    consecutive groups is tried, longest first.
    """
    best: tuple[int, int] | None = None
    for first in range(len(groups)):
        digits = ""
        for last in range(first, len(groups)):
            digits += text[groups[last][0] : groups[last][1]]
            if len(digits) > 19:
                break
            if _card_number(digits):
                span = (groups[first][0], groups[last][1])
                if best is None or span[1] - span[0] > best[1] - best[0]:
                    best = span
    return best


# -- phone numbers -------------------------------------------------------------------------


def _phones(text: str, runs: list[tuple[int, int]], taken: list[tuple[int, int]]) -> list[Finding]:
    found: list[Finding] = []
    for start, end in runs:
        # Two characters past the run are all the look-ahead needs; the run bounds the search.
        stop = min(len(text), end + 2)
        m = _PHONE.search(text, start, stop)
        while m is not None and m.start() < end:
            if _phone_at(text, m, taken):
                found.append(
                    finding(
                        "pii-phone",
                        "a phone number: personal data must not appear in a notice",
                        start=m.start(),
                        end=m.end(),
                        text=text,
                    )
                )
            m = _PHONE.search(text, max(m.end(), m.start() + 1), stop)
    return found


def _phone_at(text: str, m: re.Match[str], taken: list[tuple[int, int]]) -> bool:
    candidate = m.group()
    digits = sum(c.isdigit() for c in candidate)
    if digits < 8 or not _looks_like_phone(candidate, digits):
        return False
    if any(m.start() < hi and lo < m.end() for lo, hi in taken):
        return False
    return not _ID_LABELS.intersection(words_before(text, m.start()))


def _looks_like_phone(candidate: str, digits: int) -> bool:
    if candidate.startswith(("+", "(")):
        return 8 <= digits <= 15
    if not 10 <= digits <= 15:
        return False
    separated = any(c in " .-()" for c in candidate)
    if not separated and not candidate.startswith("0"):
        return False
    if _DATE_START.match(candidate) or _DOTTED_QUAD.fullmatch(candidate):
        return False
    return not _THOUSANDS.fullmatch(candidate)


# -- IP addresses --------------------------------------------------------------------------


def _ips(text: str, chunks: list[str]) -> list[Finding]:
    found: list[Finding] = []
    if "." in text:
        for m in _IPV4.finditer(text):
            before = text[m.start() - 1 : m.start()]
            if before and (before.isalnum() or before in "_."):
                continue  # glued to a word or a longer number: "v7.1.0.2"
            if all(int(octet) <= 255 for octet in m.group().split(".")) and not (
                _VERSION_WORDS.intersection(words_before(text, m.start())[-1:])
            ):
                found.append(_ip_finding(text, m.start(), m.end()))
    if "::" in text or (
        text.count(":") >= 7 and any(chunk.count(":") >= 7 for chunk in chunks if ":" in chunk)
    ):
        for m in _IPV6.finditer(text):
            if sum(c not in ":" for c in m.group()) < 2:
                continue
            try:
                ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            found.append(_ip_finding(text, m.start(), m.end()))
    return found


def _ip_finding(text: str, start: int, end: int) -> Finding:
    return finding(
        "pii-ip",
        "an IP address: it can identify a person or expose internal systems",
        start=start,
        end=end,
        text=text,
    )


# -- secrets -------------------------------------------------------------------------------


def _secrets(doc: Doc, chunks: list[str]) -> list[Finding]:
    text = doc.text
    spans: list[tuple[int, int]] = []
    if (
        doc.has_any(_SECRET_WORDS)
        or mentions(text, _SECRET_NEEDLES)
        or (doc.has_any(_ASSIGNMENT_WORDS) and ("=" in text or ":" in text))
    ):
        spans.extend((m.start(), m.end()) for m in _SECRET.finditer(text))
    if max(map(len, chunks), default=0) < 32:
        return [_secret(text, start, end) for start, end in spans]
    for m in _TOKEN.finditer(text):
        if _random_looking(m.group()) and not any(
            m.start() < hi and lo < m.end() for lo, hi in spans
        ):
            spans.append((m.start(), m.end()))
    return [_secret(text, start, end) for start, end in spans]


def _secret(text: str, start: int, end: int) -> Finding:
    while end > start and text[end - 1] in _TRAILING:
        end -= 1  # the sentence's punctuation, not the key's
    return finding(
        "pii-secret",
        "looks like an API key, token, password or private key",
        start=start,
        end=end,
        text=text,
    )


def _random_looking(token: str) -> bool:
    kinds = [_kind(c) for c in token]
    if not {"upper", "lower", "digit"} <= set(kinds):
        return False
    # Random base64 switches between upper case, lower case and digits on about 60% of its
    # characters; CamelCase names and hyphenated slugs ("Harper-EU-West-2-prod") on about a
    # third. Repetitive strings score low on entropy whatever their mix.
    switches = sum(a != b for a, b in pairwise(kinds)) / (len(token) - 1)
    counts = Counter(token)
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())
    return switches >= 0.45 and entropy >= 3.5


def _kind(char: str) -> str:
    if char.isdigit():
        return "digit"
    if char.isupper():
        return "upper"
    return "lower" if char.islower() else "other"
