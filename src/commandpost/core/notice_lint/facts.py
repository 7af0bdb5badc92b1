"""Required facts: does the notice say what a reader needs to know?

Each fact is recognised by phrases the built-in templates produce and a human writer would
use; none needs a particular layout:

- observed:   "what happened", "observed", "we found/identified/confirmed …", or the system
              as the subject of what it did ("the assistant gave …", "responses included …",
              "was producing …").
- detected:   a detection word ("detected", "identified", "discovered", "became aware",
              "first reported" …) *and a date or time in the same sentence* with no
              containment word between the two: when matters, and in "we detected it
              recently and contained it at 03:20" the time is the containment's.
- contained:  a containment word ("contained", "mitigated", "disabled", "rolled back",
              "paused", "blocked" …) with its own date or time in the same sentence (no
              detection word between), or a plain statement that it is not contained yet
              ("not yet contained", "working to contain", "containment is in progress").
- affected:   "affected", "affects", "impacted", "impact" (including "not affected": saying
              who is *not* affected answers the question too).
- next-steps: "next update", "next steps", "what happens next", "we will …", "we'll …",
              "no further action" ….

A sentence ends at ". ", "! ", "? " or a line break (see textspans.Sentences), so a label and
its time belong on one line: "Detected: 14:05 UTC", not "Detected:" above "14:05 UTC".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from commandpost.core.notice_lint.doc import Doc
from commandpost.core.notice_lint.findings import Finding, absent
from commandpost.core.notice_lint.textspans import word_starts


def _alternatives(*phrases: str) -> re.Pattern[str]:
    """One regex of phrases (spaces literal) to use with textspans.word_starts: each begins
    with a plain word, so the engine can skim, and the word boundary is checked in code."""
    return re.compile("(?:" + "|".join(phrases) + r")\b")


_SUBJECTS = (
    "model", "assistant", "chatbot", "bot", "agent", "system", "feature", "endpoint", "service",
    "tool", "it", "response", "responses", "output", "outputs", "answer", "answers", "replies"
)  # fmt: skip
_AUXILIARIES = ("was", "were", "has been", "have been", "had been", "is", "are", "began",
                "started", "kept")  # fmt: skip
_DOING = (
    "(?:producing|generating|returning|giving|showing|exposing|disclosing|leaking|displaying"
    "|sending|providing|making|taking|calling|invoking|executing|recommending|citing"
    "|revealing|refusing|failing|fabricating|inventing)"
)
_DID = (
    "(?:produced|generated|returned|gave|exposed|disclosed|leaked|displayed|showed|sent"
    "|provided|made|took|called|invoked|executed|recommended|cited|revealed|included"
    "|fabricated|invented|claimed|posed|impersonated|deleted|failed|refused)"
)
_OBSERVED_WORDS = frozenset({"observed", "observation"})
_OBSERVED = _alternatives(
    "what happened",
    "we (?:have )?(?:saw|seen|found|identified|confirmed|discovered|noticed)",
    *(f"{aux} {_DOING}" for aux in _AUXILIARIES),
    *(f"{subject} {_DID}" for subject in _SUBJECTS),
)
_DETECTED = re.compile(
    r"""
    (?:detected|detection|identified|discovered|noticed|spotted|flagged|alerted
      |first\ (?:reported|seen|observed)|reported\ to\ us|became\ aware)\b
    """,
    re.X,
)
_CONTAINED = re.compile(
    r"""
    (?:contained|containment|mitigated|stopped|disabled|rolled\ back|reverted|paused
      |switched\ off|turned\ off|blocked|suspended|halted|taken\ offline|took\ it\ offline
      |restricted)\b
    """,
    re.X,
)
_NOT_CONTAINED = _alternatives(
    "not (?:yet )?(?:been )?(?:contained|mitigated|stopped)",
    "working to contain",
    "continue to contain",
    "continuing to contain",
    "containment (?:is )?(?:in progress|ongoing|under ?way)",
)
_NOT_CONTAINED_WORDS = frozenset({"contained", "mitigated", "stopped", "contain", "containment"})
_AFFECTED_WORDS = frozenset(
    {"affected", "affects", "affecting", "impacted", "impacts", "impacting", "impact"}
)
_NEXT = _alternatives(
    "next (?:update|steps?)",
    "what (?:happens|comes) next",
    "what(?:'s| is) next",
    "we(?: will|'ll| are going to| plan to)",
    "no further (?:action|updates?)",
    "no action is (?:needed|required)",
)


Check = Callable[[Doc], bool]


def _timed(pattern: re.Pattern[str], other: re.Pattern[str]) -> Check:
    """A `pattern` word with a date or time in its sentence that belongs to it: no word of
    the `other` timed fact stands between them. "We detected it recently and contained it
    at 03:20" says when it was contained, not when it was detected."""

    def present(doc: Doc) -> bool:
        low = doc.low
        for m in word_starts(pattern, low):
            start, end = doc.sentences.around(m.start())
            for when_start, when_end in doc.times.between(start, end):
                lo, hi = (m.end(), when_start) if when_start >= m.end() else (when_end, m.start())
                if next(word_starts(other, low, lo, hi), None) is None:
                    return True
        return False

    return present


def _observed(doc: Doc) -> bool:
    has_word = not doc.words.isdisjoint(_OBSERVED_WORDS)
    return has_word or next(word_starts(_OBSERVED, doc.low), None) is not None


def _contained(doc: Doc) -> bool:
    if doc.has_any(_NOT_CONTAINED_WORDS) and next(word_starts(_NOT_CONTAINED, doc.low), None):
        return True
    return _contained_at(doc)


def _next_steps(doc: Doc) -> bool:
    # "Next:" as a label, or one of the phrases.
    return "next:" in doc.low or next(word_starts(_NEXT, doc.low), None) is not None


_contained_at = _timed(_CONTAINED, _DETECTED)

_CHECKS: dict[str, tuple[Check, str]] = {
    "observed": (_observed, "does not say what was observed"),
    "detected": (_timed(_DETECTED, _CONTAINED), "does not say when the problem was detected"),
    "contained": (_contained, "does not say when it was contained, or that it is not yet"),
    "affected": (
        lambda doc: not doc.words.isdisjoint(_AFFECTED_WORDS),
        "does not say who or what is affected",
    ),
    "next-steps": (_next_steps, "does not say what happens next"),
}


def missing(doc: Doc, required: tuple[str, ...]) -> list[Finding]:
    found: list[Finding] = []
    for name in required:
        present, message = _CHECKS[name]
        if not present(doc):
            found.append(absent(f"missing-fact-{name}", message, doc.text))
    return found
