"""Promises: a date, a time or an outcome the notice commits to must come from the facts.

- A date promise is a date or time (times.py) with a word of commitment ("will", "we'll",
  "expect to", "plan to", "next update" …) before it in the same sentence, starting at most
  120 characters before it. The finding points at the date itself.
- An outcome promise is a guarantee: "guarantee", "will never happen again", "ensure this
  cannot happen again", "permanently fixed", "completely safe", "will be fully resolved" ….

Either is founded, and not reported, when its text occurs in any incident fact (compared
case-insensitively, with runs of whitespace and both kinds of apostrophe made equal): an
agreed "next update by 15:00 UTC" or a commitment legal signed off lives in the facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any

from commandpost.core.notice_lint.doc import Doc
from commandpost.core.notice_lint.findings import Finding, finding
from commandpost.core.notice_lint.textspans import QUOTES, word_starts

_REACH = 120

# Every alternative starts with a letter, so the regex engine can skim (textspans.word_starts
# checks the word boundary before it); "we'll" is found by its apostrophe.
_COMMITMENT = re.compile(
    r"""
      will\b|shall\b|expects?\ to\b|expected\ to\b|plans?\ to\b|planned\ to\b|aims?\ to\b
    | are\ going\ to\b|is\ going\ to\b|promise[sd]?\b|commit(?:s|ted)?\ to\b|next\ update\b
    """,
    re.X,
)
_WILL_CONTRACTED = re.compile(r"'ll\b")
_OUTCOME = re.compile(
    r"""
      \b(?:we\ )?guarantee[sd]?\b
    | \b(?:will|can|could)\ never\ (?:again\ )?(?:happen|occur|recur)(?:\ again)?\b
    | \b(?:won't|will\ not|cannot|can't)\ (?:ever\ )?(?:happen|occur|recur)\ again\b
    | \b(?:ensure|make\ sure)\ (?:that\ )?(?:this|it|nothing\ like\ this)\ (?:never|will\ never
        |won't|will\ not|cannot|can't)\ (?:ever\ )?(?:happens?|occurs?|recurs?)\b
    | \bnever\ (?:happens?|occurs?|recurs?)\ again\b
    | \bpermanently\ (?:fixed|resolved|solved|prevented)\b
    | \b(?:fully|completely|100\ ?%|totally)\ (?:safe|secure|risk-free)\b
    | \bwill\ be\ (?:fully\ |completely\ )?(?:fixed|resolved)\b
    """,
    re.X,
)


def normalise(text: str) -> str:
    return " ".join(text.translate(QUOTES).lower().split())


def haystack(facts: Mapping[str, Any]) -> str:
    """Every fact value as normalised text, for `in` tests.

    One pass over all of them at once: NUL keeps values apart (it is not whitespace, so
    it survives normalising) and never occurs in a needle.
    """
    return normalise("\0".join(_fact_strings(facts.values())))


def _fact_strings(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, datetime):
            yield value.isoformat()
            yield f"{value:%H:%M} {value:%Y-%m-%d} {value.day} {value:%B %Y} {value:%B} {value.day}"
        elif isinstance(value, date):
            yield f"{value.isoformat()} {value.day} {value:%B %Y} {value:%B} {value.day}"
        elif isinstance(value, time):
            yield f"{value:%H:%M}"
        elif isinstance(value, Mapping):
            yield from _fact_strings(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            yield from _fact_strings(value)
        elif value is not None:
            yield str(value)


# Trigger words (see doc.py): every outcome phrase contains one of them as a whole word.
_OUTCOME_WORDS = frozenset({
    "guarantee", "guarantees", "guaranteed", "never", "again", "ensure", "sure", "permanently",
    "safe", "secure", "risk", "fixed", "resolved"
})  # fmt: skip


def scan(doc: Doc, *, facts_text: str) -> list[Finding]:
    """`facts_text`: `haystack(facts)`, what founds a promise."""
    found: list[Finding] = []
    low, text = doc.low, doc.text
    for when_start, when_end in doc.times.spans:
        sentence_start, _ = doc.sentences.around(when_start)
        reach = max(sentence_start, when_start - _REACH)
        committed = next(word_starts(_COMMITMENT, low, reach, when_start), None) or (
            _WILL_CONTRACTED.search(low, reach, when_start)
        )
        if committed is None or normalise(low[when_start:when_end]) in facts_text:
            continue
        found.append(
            finding(
                "unfounded-promise",
                f"commits to {text[when_start:when_end]!r}, which is not in the incident facts",
                start=when_start,
                end=when_end,
                text=text,
            )
        )
    for start, end in doc.windows(_OUTCOME_WORDS):
        for m in _OUTCOME.finditer(low, start, end):
            if normalise(m.group()) in facts_text:
                continue
            found.append(
                finding(
                    "unfounded-promise",
                    "promises an outcome the incident facts do not support",
                    start=m.start(),
                    end=m.end(),
                    text=text,
                )
            )
    return found
