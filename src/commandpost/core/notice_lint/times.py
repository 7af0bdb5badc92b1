"""Dates and times a reader could hold us to, found once per text.

Recognised (in lower-cased text): ISO dates with an optional time ("2026-03-02 14:05"),
clock times with an optional am/pm and zone ("14:05 UTC", "9:30am", "5 pm"), day-month and
month-day dates ("2 March 2026", "March 2nd"), weekdays, "today", "tomorrow", "tonight",
"this week/weekend/morning…", "end of the day/week/month", "next week/month/Friday", and
"within 2 hours", "in 3 days". Month names need a day next to them, so the verb "may" is
not a date; a bare number never is.

Numeric forms are found by one regex that starts with a digit, so the engine skims to the
digits; word forms by their first word with str.find. The word boundary in front of each is
checked in code.
"""

from __future__ import annotations

import re
from bisect import bisect_left

_MONTHS = (
    "january", "jan", "february", "feb", "march", "mar", "april", "apr", "may", "june", "jun",
    "july", "jul", "august", "aug", "september", "sept", "sep", "october", "oct", "november",
    "nov", "december", "dec",
)  # fmt: skip
_MONTH = "(?:" + "|".join(_MONTHS) + ")"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = "(?:" + "|".join(_WEEKDAYS) + ")"
_ZONE = r"(?:utc|gmt|cet|cest|bst|est|edt|pst|pdt|z)"
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\ \d{4})?"
_UNITS = r"(?:minutes?|hours?|(?:business\ |working\ )?days?|weeks?)"

_NUMERIC = re.compile(
    rf"""
    \d(?:
        \d{{3}}-\d{{2}}-\d{{2}}(?:[t\ ]\d{{2}}:\d{{2}}(?::\d{{2}})?(?:z|[+-]\d{{2}}:?\d{{2}})?)?
      | \d?:\d{{2}}(?::\d{{2}})?(?:\ ?[ap]\.?m\.?)?(?:\ ?{_ZONE}\b)?
      | \d?\ ?[ap]m\b(?:\ ?{_ZONE}\b)?
      | \d?{_ORDINAL}\ (?:of\ )?{_MONTH}\b{_YEAR}
    )
    """,
    re.X,
)
# Word forms, by their first word: only the words a text has are looked for (str.find), and
# each form is matched where its word starts.
_WORD_FORMS: dict[str, re.Pattern[str]] = {
    **{month: re.compile(rf"{month}\ \d{{1,2}}{_ORDINAL}\b{_YEAR}", re.X) for month in _MONTHS},
    **{day: re.compile(rf"{day}\b") for day in _WEEKDAYS},
    "today": re.compile(r"today\b"),
    "tomorrow": re.compile(r"tomorrow\b"),
    "tonight": re.compile(r"tonight\b"),
    "this": re.compile(r"this\ (?:morning|afternoon|evening|week|weekend|month)\b", re.X),
    "end": re.compile(r"end\ of\ (?:the\ )?(?:day|week|month|quarter)\b", re.X),
    "next": re.compile(rf"next\ (?:week|month|{_WEEKDAY})\b", re.X),
    "within": re.compile(rf"within\ (?:the\ next\ )?\d+\ {_UNITS}\b", re.X),
    "in": re.compile(rf"in\ (?:the\ next\ )?\d+\ {_UNITS}\b", re.X),
}
_TRIGGERS = frozenset(_WORD_FORMS)
# What to look for: every form of these words continues with a space.
_SEARCH = {"this": "this ", "end": "end of ", "next": "next ", "within": "within ", "in": "in "}


def _starts_word(low: str, at: int) -> bool:
    return at == 0 or not (low[at - 1].isalnum() or low[at - 1] == "_")


class Times:
    """Every date or time expression in one lower-cased text, in order, without overlaps."""

    def __init__(self, low: str, words: frozenset[str]) -> None:
        """`words`: the words of `low` (runs of letters), to skip forms it cannot hold."""
        found: list[tuple[int, int]] = []
        for m in _NUMERIC.finditer(low):
            if _starts_word(low, m.start()):
                found.append((m.start(), m.end()))
        for trigger in _TRIGGERS & words:
            pattern = _WORD_FORMS[trigger]
            needle = _SEARCH.get(trigger, trigger)
            at = low.find(needle)
            while at != -1:
                if _starts_word(low, at):
                    form = pattern.match(low, at)
                    if form is not None:
                        found.append((at, form.end()))
                at = low.find(needle, at + 1)
        found.sort()
        self.spans: list[tuple[int, int]] = []
        for span in found:
            if not self.spans or span[0] >= self.spans[-1][1]:
                self.spans.append(span)
        self._starts = [start for start, _ in self.spans]

    def between(self, start: int, end: int) -> list[tuple[int, int]]:
        """The expressions that begin in [start, end) and end by `end`."""
        index = bisect_left(self._starts, start)
        picked: list[tuple[int, int]] = []
        while index < len(self.spans) and self.spans[index][0] < end:
            if self.spans[index][1] <= end:
                picked.append(self.spans[index])
            index += 1
        return picked
