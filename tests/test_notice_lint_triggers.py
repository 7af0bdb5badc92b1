"""Trigger words and sentence windows only ever save time: they never hide a finding.

Each rule lists trigger words and runs its regex only on the sentences holding one (see
core/notice_lint/doc.py). Here every rule is made to read everything, and the findings
must not change.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandpost.core.notice_lint import LintContext, lint
from commandpost.core.vocabulary import Severity

from .test_notice_lint import CASES, _found

# One or more phrases for every alternative the rules match, so that a phrase whose trigger
# word is missing from its rule's list shows up as a difference below.
PHRASES = [
    "We believe it was probably deliberate.", "Presumably it is most likely a bug.",
    "We think so. We suspect a bug. We assume so. We speculate. We guess so.",
    "It appears that it broke. This seems like a bug. It looks as if it failed.",
    "It may have been caused by load. It might have been triggered by a job.",
    "It could have been an attack. It may have been a targeted attack.",
    "It appears to have been caused by X. It was likely to be the result of Y.",
    "Likely caused by Z. The root cause was X. The cause is Y. It stems from Z.",
    "It stemmed from A and is attributed to B, traced back to C, and was due to a bug.",
    "An intentional act by bad actors, attackers, hackers and a rogue employee.",
    "A disgruntled insider, an insider threat, a cyber-attack, cyberattacks, sabotaged.",
    "Maliciously done on purpose, deliberately.",
    "A minor issue for a small number of users, a tiny subset, a limited group.",
    "A handful of people, just a few, a few customers, merely slightly affected.",
    "A glitch, hiccups, a blip, isolated incidents, rare edge cases, an edge case.",
    "Low-impact, limited impact, little impact, minimal impact, no real impact.",
    "No significant harm, no major risk, no serious impact, nothing to worry about.",
    "No cause for concern. Only three users.",
    "User error, customer errors, operator error, human error.",
    "Users should have checked. Customers must've read it. People could have known.",
    "Users who misused it, customers that abused it, people who tricked it.",
    "Users manipulated, exploited, violated, breached, ignored and disregarded it.",
    "Users failed to update. Customers neglected to patch. Users were trying to jailbreak it.",
    "A customer was attempting to exploit it. Misuse by users. Abuse by the customers.",
    "Improper use by a user. Incorrect use by our customers. Misconfiguration by some users.",
    "Caused by users. Triggered by a customer. Provoked by users. Brought on by customers.",
    "Jailbroken by users. Exploited by certain customers. Manipulated by the user.",
    "The users' fault, the customer's mistake, user misuse, customer carelessness.",
    "Users negligence. Your fault. Your own mistake. Your misuse. Your negligence.",
    "If users had read it. If customers had followed it. If you had not.",
    "As a result of user behaviour, as a result of customer input.",
    "We guarantee it. It will never happen again. It can never recur.",
    "It won't happen again. It cannot ever occur again. We will ensure this never happens.",
    "We'll make sure it won't recur. It never happens again. It is permanently fixed.",
    "It is fully safe, completely secure, 100% safe, totally risk-free.",
    "It will be fixed. It will be fully resolved. It will be completely fixed.",
    "Ms. Harper, Mr Smith, Mrs. Jones, Mx Lee, Miss Park, Dr. Okafor and Prof. Ng.",
    "A user named Sam Lee, a customer called Jo, a patient named Ann Ray.",
    "Keys sk-proj-Q8v2Lm9Xa3Rt7Kp1Zs5Wd4Hn6 and sk_live_abcdefghijklmnop1234.",
    "Keys pk_test_abcdefghijklmnop1234, rk_live_abcdefghijklmnop1234, AKIAIOSFODNN7EXAMPLE.",
    "Keys ASIAIOSFODNN7EXAMPLE and ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8.",
    "Key glpat-abcdefghij0123456789.",
    "Keys github_pat_11ABCDEFG0123456789_abcdefghij and xoxb-1234567890-abcdefghij.",
    "Keys AIzaSyA1234567890abcdefghijklmnopqrstuv, eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJl.",
    "-----BEGIN RSA PRIVATE KEY----- and Bearer abcdefghijklmnopqrstuvwxyz0123.",
    "api_key=abcd1234efgh, secret: s3cr3tvalue, token=abcdefgh99, password: hunter22x.",
    "We will fix it by Friday, by tomorrow, tonight, today, this week, by the end of the day.",
    "We will fix it next week, next month, next Monday, within 2 hours, in 3 business days.",
    "We will fix it by March 5th, 2026, by 5 March, by 2026-03-05, by 17:00 UTC, by 5pm.",
    "We'll ship it on jan 3, feb 4, mar 5, apr 6, may 7, jun 8, jul 9, aug 10, sep 11.",
    "We plan to ship it on oct 12, nov 13, dec 14, sept 15 and the 2nd of june.",
    "We expect to be done in the next 4 hours, and we aim to finish on Saturday or Sunday.",
    "We are going to fix it on Tuesday, Wednesday or Thursday.",
]  # fmt: skip


class _Everything(frozenset[str]):
    """A trigger set that every text has all of."""

    def __and__(self, other: object) -> frozenset[str]:
        return frozenset(self)


def _ungate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every rule read every sentence, whatever words the text has."""
    from commandpost.core.notice_lint import doc, names, pii, times

    monkeypatch.setattr(doc.Doc, "has_any", lambda self, triggers: True)
    monkeypatch.setattr(doc.Doc, "windows", lambda self, triggers: [(0, len(self.low))])
    monkeypatch.setattr(pii, "mentions", lambda text, needles: True)
    monkeypatch.setattr(names, "mentions", lambda text, needles: True)
    monkeypatch.setattr(times, "_TRIGGERS", _Everything(times._WORD_FORMS))


@pytest.fixture
def ungated(monkeypatch: pytest.MonkeyPatch) -> None:
    _ungate(monkeypatch)


def _gated_results() -> list[list[tuple[str, str]]]:
    texts = [c.text for c in CASES] + PHRASES + [" ".join(PHRASES)]
    strict = LintContext(severity=Severity.SEV0)
    return [_found(lint(text, strict)) for text in texts]


GATED = _gated_results()


def test_trigger_words_never_hide_a_finding(ungated: None) -> None:
    assert _gated_results() == GATED


SENTENCES = [line for c in CASES for line in c.text.splitlines() if line.strip()]


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.sampled_from(PHRASES + SENTENCES), min_size=1, max_size=6),
    separator=st.sampled_from([" ", "\n", ", and ", "; "]),
)
def test_trigger_words_never_hide_a_finding_in_mixed_text(parts: list[str], separator: str) -> None:
    text = separator.join(parts)
    strict = LintContext(severity=Severity.SEV0)
    gated = _found(lint(text, strict))
    with pytest.MonkeyPatch.context() as monkeypatch:
        _ungate(monkeypatch)
        assert _found(lint(text, strict)) == gated


def test_every_sample_phrase_is_found() -> None:
    offset = len(CASES)
    for phrase, found in zip(PHRASES, GATED[offset:], strict=False):
        rules = {rule for rule, _ in found if not rule.startswith("missing-fact-")}
        assert rules, phrase
