"""People's names, and the names of things that only look like words or names.

A person's name is only recognised where the text itself marks it as one: a title ("Ms.
Harper", "Dr Okafor") or a person noun with "named"/"called" ("a user named Sam Lee"). A bare
capitalised word is never read as a name, so a customer's product called "Harper" or
"Morgan" is safe.

The values of name-like incident facts (product, customer, tenant, model, feature … see
`NAME_FACT_KEYS`) are *protected*: the language rules and this one skip anything inside
them, so a product called "Only Connect", "Just Ask" or "Mr. Cooper" is not minimising
language or a person. Free-text facts (what was observed, next steps) are not protected:
they are written during the incident and are exactly what the lint is for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from commandpost.core.notice_lint.doc import Doc
from commandpost.core.notice_lint.findings import Finding, finding
from commandpost.core.notice_lint.textspans import mentions

NAME_FACT_KEYS = frozenset(
    {
        "product", "customer", "tenant", "model", "feature", "surface", "service", "company",
        "organisation", "organization", "brand", "region", "endpoint", "app", "application",
    }
)  # fmt: skip

_WORD = r"[A-Z][a-z]+(?:'-[A-Z]?[a-z]+)?"
_NAME = re.compile(
    rf"""
      (?<![\w.])(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof)\.?\ +(?P<title>{_WORD}(?:\ +{_WORD})?)
    | \b(?i:user|customer|patient|client|person|member|employee|student|child|teenager|woman
         |man|someone|individual|subscriber|account\ holder)s?\ (?i:named|called)
         \ +(?P<noun>{_WORD}(?:\ +{_WORD})?)
    """,
    re.X,
)


@lru_cache(maxsize=1024)
def is_name_fact(key: str) -> bool:
    lowered = key.lower()
    return lowered in NAME_FACT_KEYS or lowered.endswith("_name")


def protected_ranges(text: str, facts: Mapping[str, Any]) -> list[tuple[int, int]]:
    """Where the values of name-like facts occur in `text`."""
    ranges: list[tuple[int, int]] = []
    for key, value in facts.items():
        if not is_name_fact(key):
            continue
        for name in _strings(value):
            if len(name) < 2:
                continue
            start = text.find(name)
            while start != -1:
                ranges.append((start, start + len(name)))
                start = text.find(name, start + 1)
    return ranges


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value.strip()
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


_TITLES = ("Mr", "Ms", "Mx", "Miss", "Dr", "Prof")  # "Mrs" contains "Mr"
_NAMING_WORDS = frozenset({"named", "called"})


def scan(doc: Doc, *, protected: list[tuple[int, int]]) -> list[Finding]:
    text = doc.text
    if not (mentions(text, _TITLES) or doc.has_any(_NAMING_WORDS)):
        return []
    found: list[Finding] = []
    for m in _NAME.finditer(text):
        who = "title" if m.group("title") else "noun"
        # "Mr. Cooper" the lender, "a customer called Harper Assistant" the product.
        if any(m.start(who) < hi and lo < m.end(who) for lo, hi in protected):
            continue
        found.append(
            finding(
                "pii-name",
                "a person's name: say 'a user' or 'a customer' instead",
                start=m.start(),
                end=m.end(),
                text=text,
            )
        )
    return found
