"""One text, prepared once for every rule: straight quotes, lower case, words, sentences, times.

Rules match phrases in `low` (lower case, same offsets as `text`) with case-sensitive
patterns, several times faster than re.IGNORECASE. `words` is the set of its words (runs of
letters): a rule whose trigger words are all absent skips its regex, and one whose trigger
words occur reads only their sentences (textspans.windows). Every rule lists trigger words
such that each phrase it matches contains one of them as a whole word; the tests check the
rules give the same findings with the triggers ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from commandpost.core.notice_lint.textspans import QUOTES, Sentences, lowered, windows
from commandpost.core.notice_lint.times import Times

_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class Doc:
    text: str
    low: str
    words: frozenset[str]
    sentences: Sentences
    times: Times

    @classmethod
    def of(cls, text: str) -> Doc:
        """`text` with curly quotes made straight: one code point for one, offsets kept."""
        straight = text.translate(QUOTES)
        low = lowered(straight)
        words = frozenset(_WORD.findall(low))
        return cls(straight, low, words, Sentences(straight), Times(low, words))

    def has_any(self, triggers: frozenset[str]) -> bool:
        """Whether a rule with these trigger words needs to run at all."""
        return not self.words.isdisjoint(triggers)

    def windows(self, triggers: frozenset[str]) -> list[tuple[int, int]]:
        """Where a rule with these trigger words needs to look (see the module docstring)."""
        present: Iterable[str] = triggers & self.words
        return windows(self.low, present, self.sentences) if present else []
