"""Pieces of text several rules need: lower case, sentences, cheap pre-checks, ranges."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence

# Curly quotes become straight ones before the rules run: one code point for one, so offsets
# stay valid and every pattern only needs the straight form.
QUOTES = {0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'}

# A sentence ends at . ! or ? followed by whitespace, or at a line break: "v7.1.0" and
# "14.05" stay whole, and a heading on its own line is a sentence of its own. (A lone
# character class lets the engine skim; what follows the stop is checked in code.)
_STOP = re.compile(r"[.!?\n]")


def lowered(text: str) -> str:
    """`text` in lower case, one code point for one so that offsets carry over.

    The rules match lower-cased text with case-sensitive patterns: several times faster
    than re.IGNORECASE. The few characters whose lower case is longer ("İ") stay as written.
    """
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def mentions(text: str, needles: tuple[str, ...]) -> bool:
    """Whether any needle occurs in `text`: the cheap test that lets a rule skip its regex."""
    return any(map(text.__contains__, needles))


def word_starts(
    pattern: re.Pattern[str], low: str, start: int = 0, end: int | None = None
) -> Iterator[re.Match[str]]:
    """Matches of `pattern` that begin at the start of a word.

    The patterns leave out a leading \\b: a pattern that starts with plain letters lets the
    regex engine skim for them, several times faster than testing a boundary everywhere.
    """
    stop = len(low) if end is None else end
    pos = start
    while True:
        found = pattern.search(low, pos, stop)
        if found is None:
            return
        at = found.start()
        if at == 0 or not (low[at - 1].isalnum() or low[at - 1] == "_"):
            yield found
            pos = max(found.end(), at + 1)
        else:
            pos = at + 1


class Sentences:
    """Sentence bounds of one text, found once and looked up by offset."""

    def __init__(self, text: str) -> None:
        length = len(text)
        self._cuts = [
            m.end()
            for m in _STOP.finditer(text)
            if m.group() == "\n" or m.end() == length or text[m.end()].isspace()
        ]
        self._length = length

    def around(self, offset: int) -> tuple[int, int]:
        """(start, end) of the sentence holding `offset`."""
        index = bisect_right(self._cuts, offset)
        start = self._cuts[index - 1] if index else 0
        end = self._cuts[index] if index < len(self._cuts) else self._length
        return start, end


def windows(low: str, triggers: Iterable[str], sentences: Sentences) -> list[tuple[int, int]]:
    """The sentences that contain a trigger word, merged and in order: where a rule's regex
    runs. A rule's phrases never cross a sentence boundary and each contains one of its
    trigger words, so the regex need not read the other sentences."""
    found: set[tuple[int, int]] = set()
    for trigger in triggers:
        at = low.find(trigger)
        while at != -1:
            window = sentences.around(at)
            found.add(window)
            at = low.find(trigger, max(at + 1, window[1]))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def inside(start: int, end: int, ranges: Sequence[tuple[int, int]]) -> bool:
    """Whether [start, end) lies within one of `ranges`."""
    return any(lo <= start and end <= hi for lo, hi in ranges)


def words_before(text: str, start: int) -> tuple[str, ...]:
    """The (up to) two words just before `start`, lower-cased, nearest last.

    Punctuation a label ends with (":", "#", ".") is skipped: "Order no.: 1234" gives
    ("order", "no").
    """
    match = _WORDS_BEFORE.search(text, max(0, start - 60), start)
    if not match:
        return ()
    return tuple(w.lower() for w in match.groups() if w)


_WORDS_BEFORE = re.compile(r"(?:([A-Za-z§]+)[\s:#.]+)?([A-Za-z§]+)[\s:#.]*\Z")
