"""Wording rules: speculation, minimising and blaming users.

Each rule is a list of phrases, matched in the lower-cased text on word boundaries (only in
sentences holding one of the rule's trigger words, see doc.py), plus a few checks in code
for the words that are innocent in some places:

- speculation (only before a root cause is recorded): hedged claims about cause or intent
  ("we believe", "probably", "appears to have been caused"), statements of cause ("caused
  by", "due to a", "the root cause was") and claims of intent ("deliberate", "malicious",
  "attacker"). "We deliberately kept it off" is our own action, not a claim of intent.
- minimising (SEV0/SEV1 only): "minor", "a small number of", "only", "just a few",
  "isolated", "negligible", "glitch" … "only" is left alone in "not only", "the only", "only
  after/when/if/once/until", hyphenated ("advisory-only mode"), and when capitalised
  mid-sentence ("Only Murders"), where it is part of a name; "minor" is left alone as a noun
  ("shown to a minor").
- user-blame: "user error", "users should have", "misuse by customers", "caused by users"…
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from commandpost.core.notice_lint.doc import Doc
from commandpost.core.notice_lint.findings import Finding, finding
from commandpost.core.notice_lint.textspans import inside

_SPECULATION = re.compile(
    r"""
      \b(?:probably|presumably|most\ likely|we\ (?:believe|think|suspect|assume|speculate
          |guess)|(?:it|this)\ (?:appears|seems|looks)\ (?:that|like|as\ if)
        |(?:may|might|could)\ have\ been\ (?:caused|triggered|deliberate|intentional|malicious
          |an?\ (?:attack|deliberate|targeted))
        |(?:appears|seems|is\ likely|was\ likely)\ to\ (?:have\ been|be)\ (?:caused|due
          |deliberate|intentional|malicious|an?\ attack|the\ result)
        |likely\ (?:caused|due|because|the\ result|a\ result|triggered|deliberate
          |intentional|malicious))\b
    | \b(?:caused\ by|(?:is|was|were|are)\ due\ to(?!\ be\b)|due\ to\ (?:a|an|the|our|some)
        |(?:the\ )?root\ cause\ (?:is|was|appears|seems|has\ been)|the\ cause\ (?:is|was
          |appears|seems)|stem(?:s|med|ming)\ from|attributed\ to|traced\ (?:back\ )?to)\b
    | \b(?:deliberate(?:ly)?|intentional(?:ly)?|on\ purpose|malicious(?:ly)?|sabotage[ds]?
        |bad\ actors?|attackers?|hackers?|(?:rogue|disgruntled)\ (?:employee|insider|staff)
        |insider\ threat|cyber-?attacks?|targeted\ attacks?)\b
    """,
    re.X,
)
# Trigger words (see doc.py): every phrase above contains one of them as a whole word.
_SPECULATION_WORDS = frozenset({
    "probably", "presumably", "likely", "believe", "think", "suspect", "assume", "speculate",
    "guess", "appears", "seems", "looks", "caused", "triggered", "deliberate", "deliberately",
    "intentional", "intentionally", "malicious", "maliciously", "attack", "targeted", "due",
    "cause", "stems", "stemmed", "stemming", "attributed", "traced", "purpose", "sabotage",
    "sabotaged", "sabotages", "actor", "actors", "attacker", "attackers", "hacker", "hackers",
    "rogue", "disgruntled", "insider", "cyber", "cyberattack", "cyberattacks", "attacks"
})  # fmt: skip
_OUR_OWN = re.compile(r"\bwe\s+(?:have\s+|had\s+|are\s+|were\s+)?\Z")
_INTENT_WORDS = ("deliberate", "intentional", "on purpose")

_MINIMISING = re.compile(
    r"""
      \bminor\b(?=\ [a-z])(?!\ (?:who|whose|and|or|in|under|aged|was|were|is|has|had|user
        |child|account|accounts|to|on|at|of|from|using)\b)
    | \b(?:an?\ )?(?:very\ )?(?:small|tiny|limited|negligible|insignificant)\ (?:number
        |subset|percentage|proportion|fraction|group|amount|minority)\ of\b
    | \ba\ handful\ of\b
    | \bjust\ (?:a\ few|a\ couple|one|two|\d+)\b
    | \ba\ few\ (?:users|customers|people|accounts|requests|conversations|responses|tenants
        |cases|prompts)\b
    | \b(?:merely|slight(?:ly)?|negligible|insignificant|glitch(?:es)?|hiccups?|blips?)\b
    | \b(?:isolated|rare)\ (?:incidents?|cases?|issues?|instances?|edge\ cases?)\b
    | \bedge\ cases?\b
    | \b(?:low|limited|little|minimal)[-\ ]impact\b
    | \bno\ (?:real|significant|major|serious)\ (?:impact|harm|risk)\b
    | \bnothing\ to\ worry\ about\b
    | \bno\ cause\ for\ (?:concern|alarm)\b
    | \bonly\b
    """,
    re.X,
)
_MINIMISING_WORDS = frozenset({
    "minor", "small", "tiny", "limited", "negligible", "insignificant", "handful", "just",
    "few", "merely", "slight", "slightly", "glitch", "glitches", "hiccup", "hiccups", "blip",
    "blips", "isolated", "rare", "edge", "impact", "real", "significant", "major", "serious",
    "nothing", "cause", "only"
})  # fmt: skip
_ONLY_AFTER = re.compile(r"\s+(?:after|when|if|once|until|then|where)\b")
_ONLY_BEFORE = re.compile(r"\b(?:not|the|if)\s+\Z")
_SENTENCE_START = re.compile(r"(?:^\s*|[.!?:]\s+|\n\s*|[\"(]\s*)\Z")

_USER_BLAME = re.compile(
    r"""
      \b(?:user|customer|operator|human)\ errors?\b
    | \b(?:users?|customers?|you|people)\ (?:should|must|could)(?:\ have|'ve)\ (?:known
        |checked|read|followed|verified|noticed|reviewed|been\ more\ careful|avoided
        |reported|realised|realized)\b
    | \b(?:users?|customers?|people)\ (?:who\ |that\ )?(?:misused|abused|tricked|manipulated
        |exploited|violated|breached|ignored|disregarded)\b
    | \b(?:users?|customers?)\ (?:failed|neglected)\ to\b
    | \b(?:users?|customers?|people)\ (?:were|was)\ (?:attempting|trying)\ to\ (?:misuse|abuse
        |trick|jailbreak|manipulate|exploit)\b
    | \b(?:misuse|abuse|improper\ use|incorrect\ use|misconfiguration)\ by\ (?:the\ |a\ |some
        \ |our\ |certain\ )?(?:users?|customers?)\b
    | \b(?:caused|triggered|provoked|brought\ on|jailbroken|exploited|manipulated)\ by\ (?:the
        \ |a\ |some\ |our\ |certain\ )?(?:users?|customers?)\b
    | \b(?:users?|customers?)'?s?'?\ (?:own\ )?(?:fault|mistake|misuse|carelessness
        |negligence)\b
    | \byour\ (?:own\ )?(?:fault|mistake|misuse|negligence)\b
    | \bif\ (?:users|customers|you)\ had\ (?:not|followed|read|used)\b
    | \bas\ a\ result\ of\ (?:user|customer)\ (?:behaviou?r|actions?|input|error)\b
    """,
    re.X,
)


_USER_BLAME_WORDS = frozenset({
    "error", "errors", "should", "must", "could", "misused", "misuse", "abused", "abuse",
    "tricked", "manipulated", "exploited", "violated", "breached", "ignored", "disregarded",
    "failed", "neglected", "attempting", "trying", "improper", "incorrect", "misconfiguration",
    "caused", "triggered", "provoked", "brought", "jailbroken", "fault", "mistake",
    "carelessness", "negligence", "had", "result"
})  # fmt: skip


def scan(
    doc: Doc,
    *,
    speculation: bool,
    minimising: bool,
    protected: list[tuple[int, int]],
) -> list[Finding]:
    found: list[Finding] = []
    low = doc.low
    if speculation:
        for m in _matches(_SPECULATION, low, doc.windows(_SPECULATION_WORDS)):
            if m.group().startswith(_INTENT_WORDS) and _OUR_OWN.search(
                low, max(0, m.start() - 20), m.start()
            ):
                continue
            found.append(_finding("speculation", m, doc.text))
    if minimising:
        for m in _matches(_MINIMISING, low, doc.windows(_MINIMISING_WORDS)):
            if m.group() == "only" and not _minimising_only(doc.text, low, m.start(), m.end()):
                continue
            found.append(_finding("minimising", m, doc.text))
    for m in _matches(_USER_BLAME, low, doc.windows(_USER_BLAME_WORDS)):
        found.append(_finding("user-blame", m, doc.text))
    return [f for f in found if not inside(f.span.start, f.span.end, protected)]


_MESSAGES = {
    "speculation": "speculates about cause or intent before a root cause is recorded",
    "minimising": "plays down the harm; at SEV0/SEV1 say what happened plainly",
    "user-blame": "places the blame on the people using the product",
}


def _matches(
    pattern: re.Pattern[str], low: str, windows: list[tuple[int, int]]
) -> Iterator[re.Match[str]]:
    for start, end in windows:
        yield from pattern.finditer(low, start, end)


def _finding(rule: str, m: re.Match[str], text: str) -> Finding:
    return finding(rule, _MESSAGES[rule], start=m.start(), end=m.end(), text=text)


def _minimising_only(text: str, low: str, start: int, end: int) -> bool:
    if _ONLY_AFTER.match(low, end) or _ONLY_BEFORE.search(low, max(0, start - 10), start):
        return False
    if text[start - 1 : start] == "-" or text[end : end + 1] == "-":
        return False  # "advisory-only", "read-only": a mode, not a quantity
    # "Only" capitalised mid-sentence is part of a name.
    return text[start] != "O" or _SENTENCE_START.search(text, max(0, start - 4), start) is not None
