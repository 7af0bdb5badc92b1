"""`lint`: every rule over one text, findings in reading order."""

from __future__ import annotations

from dataclasses import replace

from commandpost.core.notice_lint import facts, language, length, names, pii, promises
from commandpost.core.notice_lint.doc import Doc
from commandpost.core.notice_lint.findings import Finding, LintContext, Span
from commandpost.core.vocabulary import Severity

_MINIMISING_SEVERITIES = frozenset({Severity.SEV0, Severity.SEV1})


def lint(text: str, context: LintContext | None = None) -> list[Finding]:
    """All findings for `text`, sorted by span (start, end) then rule id; deterministic.

    Pure: the same text and context always give the same findings, and nothing is read
    from anywhere else.
    """
    ctx = context or LintContext()
    doc = Doc.of(text)
    protected = names.protected_ranges(doc.text, ctx.facts)
    found = pii.scan(doc)
    found.extend(names.scan(doc, protected=protected))
    found.extend(
        language.scan(
            doc,
            speculation=not ctx.root_cause_known,
            minimising=ctx.severity in _MINIMISING_SEVERITIES,
            protected=protected,
        )
    )
    found.extend(promises.scan(doc, facts_text=promises.haystack(ctx.facts)))
    found.extend(facts.missing(doc, ctx.required_facts))
    found.extend(length.check(text, ctx.channel))
    unique = {(f.span.start, f.span.end, f.rule): f for f in found}
    if doc.text == text:
        return [unique[key] for key in sorted(unique)]
    return [_reanchor(unique[key], text) for key in sorted(unique)]


def _reanchor(found: Finding, original: str) -> Finding:
    """The finding with its span text taken from the text as written (curly quotes and all)."""
    span = Span(found.span.start, found.span.end, original[found.span.start : found.span.end])
    return replace(found, span=span)


def has_blocking(findings: list[Finding]) -> bool:
    return any(f.blocking for f in findings)
