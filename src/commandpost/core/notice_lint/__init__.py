"""Deterministic lint for customer, regulator and status-page notices (pure: no I/O).

    lint(text, LintContext(severity=..., root_cause_known=..., channel=..., facts=...,
                           required_facts=...)) -> list[Finding]

Rules, by id (findings.RULES is the catalogue; each module's docstring says exactly what it
matches and what it deliberately leaves alone):

    speculation, minimising, user-blame                      language.py
    pii-email, pii-phone, pii-card, pii-secret, pii-ip       pii.py
    pii-name                                                 names.py
    unfounded-promise                                        promises.py
    missing-fact-{observed,detected,contained,affected,next-steps}   facts.py
    too-long                                                 length.py

Shared: doc.py (the text prepared once: lower case, words, sentences, times), times.py (dates
and times), textspans.py (sentence bounds, trigger-word windows), findings.py (what is
reported, LintContext, the rule catalogue), engine.py (`lint`).
"""

from commandpost.core.notice_lint.engine import has_blocking, lint
from commandpost.core.notice_lint.findings import (
    REQUIRED_FACTS,
    RULES,
    Channel,
    Finding,
    LintContext,
    Rule,
    Span,
    position,
)
from commandpost.core.notice_lint.length import LIMITS
from commandpost.core.notice_lint.names import NAME_FACT_KEYS

__all__ = [
    "LIMITS",
    "NAME_FACT_KEYS",
    "REQUIRED_FACTS",
    "RULES",
    "Channel",
    "Finding",
    "LintContext",
    "Rule",
    "Span",
    "has_blocking",
    "lint",
    "position",
]
