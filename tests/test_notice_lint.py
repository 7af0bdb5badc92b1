"""The notice lint: the hand-written corpus reproduced exactly, and properties of any text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commandpost.core.notice_lint import (
    LIMITS,
    REQUIRED_FACTS,
    RULES,
    Channel,
    Finding,
    LintContext,
    has_blocking,
    lint,
    position,
)
from commandpost.core.notice_lint.pii import luhn_ok
from commandpost.core.vocabulary import Severity
from commandpost.errors import InvalidInput

CORPUS = Path(__file__).resolve().parent / "notices" / "corpus"
INDEX = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Case:
    file: str
    context: LintContext
    expect: list[tuple[str, str]]

    @property
    def text(self) -> str:
        return (CORPUS / self.file).read_text(encoding="utf-8")


def _case(raw: dict[str, Any]) -> Case:
    merged = {**INDEX["defaults"], **raw}
    context = LintContext(
        severity=Severity.parse(merged["severity"]),
        root_cause_known=merged["root_cause_known"],
        channel=Channel.parse(merged["channel"]),
        facts=merged.get("facts") or {},
        required_facts=tuple(merged.get("require", REQUIRED_FACTS)),
    )
    return Case(raw["file"], context, [(rule, text) for rule, text in raw["expect"]])


CASES = [_case(raw) for raw in INDEX["cases"]]


def _found(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.span.text) for f in findings]


# -- the corpus --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.file.removesuffix(".txt") for c in CASES])
def test_corpus_case_gives_exactly_the_expected_findings(case: Case) -> None:
    text = case.text
    findings = lint(text, case.context)
    assert _found(findings) == case.expect
    for f in findings:
        assert text[f.span.start : f.span.end] == f.span.text
        assert f.blocking == (RULES[f.rule].blocking if f.rule != "too-long" else True)


def test_corpus_is_big_enough_and_every_file_is_indexed_once() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.txt"))
    indexed = [c.file for c in CASES]
    assert sorted(indexed) == files
    assert len(CASES) >= 40
    assert sum(1 for c in CASES if not c.expect) >= 15


def test_every_rule_has_a_bad_case_and_a_good_case_that_looks_like_it() -> None:
    expected_rules = {rule for c in CASES for rule, _ in c.expect}
    assert expected_rules == set(RULES)
    goods = [c.file for c in CASES if not c.expect]
    for needle in ("surname", "only", "order", "version", "dates", "minor", "hashes"):
        assert any(needle in g for g in goods), needle


# -- rules in isolation ------------------------------------------------------------------------

NO_FACTS = LintContext(required_facts=())


def rules_in(text: str, context: LintContext = NO_FACTS) -> list[tuple[str, str]]:
    return _found(lint(text, context))


def test_speculation_only_before_a_root_cause() -> None:
    text = "It was caused by a bad deploy, probably."
    assert [r for r, _ in rules_in(text)] == ["speculation", "speculation"]
    known = LintContext(root_cause_known=True, required_facts=())
    assert rules_in(text, known) == []


@pytest.mark.parametrize("severity", list(Severity))
def test_minimising_only_at_sev0_and_sev1(severity: Severity) -> None:
    context = LintContext(severity=severity, required_facts=())
    found = rules_in("A minor issue hit a small number of users.", context)
    expected = 2 if severity.rank <= 1 else 0
    assert len(found) == expected


def test_a_chat_notice_over_3000_characters_gets_an_advisory_finding() -> None:
    text = "We observed a problem. " * 140
    findings = lint(text, LintContext(channel=Channel.CHAT, required_facts=()))
    assert [(f.rule, f.blocking) for f in findings] == [("too-long", False)]
    assert findings[0].span.start == LIMITS[Channel.CHAT][0]
    assert not has_blocking(findings)
    assert lint(text, LintContext(channel=Channel.EMAIL, required_facts=())) == []


def test_status_page_limit_counts_characters_not_trailing_space() -> None:
    text = "x" * 280 + "\n\n"
    assert lint(text, LintContext(channel=Channel.STATUS_PAGE, required_facts=())) == []
    found = lint("é" * 281, LintContext(channel=Channel.STATUS_PAGE, required_facts=()))
    assert [(f.rule, f.span.text, f.blocking) for f in found] == [("too-long", "é", True)]


def test_curly_quotes_match_and_spans_keep_the_text_as_written() -> None:
    text = "It won\u2019t happen again, we\u2019ll make sure."
    assert rules_in(text) == [("unfounded-promise", "won\u2019t happen again")]


def test_name_facts_protect_only_their_own_words() -> None:
    facts = {"product": "Only Minor Repairs", "observed": "only a minor problem"}
    context = LintContext(severity=Severity.SEV0, facts=facts, required_facts=())
    text = "Only Minor Repairs answered just a few prompts. It was only a minor problem."
    assert rules_in(text, context) == [
        ("minimising", "just a few"),
        ("minimising", "only"),
        ("minimising", "minor"),
    ]
    unprotected = LintContext(severity=Severity.SEV0, required_facts=())
    assert rules_in(text, unprotected)[0] == ("minimising", "Only")


def test_findings_are_sorted_by_span_then_rule() -> None:
    findings = lint("Caused by user error. Call +44 20 7946 0958.", LintContext())
    keys = [(f.span.start, f.span.end, f.rule) for f in findings]
    assert keys == sorted(keys)
    assert {f.rule for f in findings} >= {"speculation", "user-blame", "pii-phone"}
    # A missing fact has nothing to point at: an empty span at the very end.
    missing = [f for f in findings if f.rule.startswith("missing-fact-")]
    assert missing and all(f.span.start == f.span.end == 44 for f in missing)


def test_finding_to_dict_and_position() -> None:
    text = "line one\nemail bob.smith@mail.example now"
    (found,) = lint(text, NO_FACTS)
    assert found.to_dict() == {
        "rule": "pii-email",
        "message": found.message,
        "start": 15,
        "end": 37,
        "text": "bob.smith@mail.example",
        "blocking": True,
    }
    assert position(text, found.span.start) == (2, 7)
    assert position(text, 0) == (1, 1)


def test_lint_context_checks_its_required_facts() -> None:
    with pytest.raises(InvalidInput, match="unknown required fact"):
        LintContext(required_facts=("observed", "vibes"))
    with pytest.raises(InvalidInput, match="unknown channel"):
        Channel.parse("fax")
    assert Channel.parse("Status-Page") is Channel.STATUS_PAGE


@pytest.mark.parametrize(
    "text",
    [
        "Build 2026.03.02.1 and v10.2.0.1 shipped; see section 4.1.2.3.",
        "At 14:05:30 UTC on 2026-03-02T14:05:00Z we paged the team.",
        "Costs rose from 1 200 000 to 1 350 000 tokens a day.",
        "Case no. 0123 456 7890 and order #44-5512-9981 are unrelated.",
    ],
)
def test_things_that_look_like_personal_data_but_are_not(text: str) -> None:
    assert rules_in(text) == []


# -- properties --------------------------------------------------------------------------------

contexts = st.builds(
    LintContext,
    severity=st.sampled_from(list(Severity)),
    root_cause_known=st.booleans(),
    channel=st.sampled_from(list(Channel)),
    facts=st.dictionaries(
        st.sampled_from(["product", "customer", "next_update_at", "observed"]),
        st.text(max_size=30),
        max_size=4,
    ),
    required_facts=st.lists(st.sampled_from(REQUIRED_FACTS), unique=True).map(tuple),
)
prose_alphabet = st.characters(codec="utf-8", exclude_categories=("Cs",))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=prose_alphabet, max_size=600), context=contexts)
def test_lint_never_raises_and_spans_index_into_the_text(text: str, context: LintContext) -> None:
    findings = lint(text, context)
    keys = [(f.span.start, f.span.end, f.rule) for f in findings]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    for f in findings:
        assert 0 <= f.span.start <= f.span.end <= len(text)
        assert text[f.span.start : f.span.end] == f.span.text
        assert f.rule in RULES
    assert lint(text, context) == findings  # deterministic


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable")


card_numbers = st.builds(
    lambda first, rest: _luhn_complete(first + rest),
    st.sampled_from("23456"),
    st.integers(min_value=11, max_value=17).flatmap(
        lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
    ),
)
words = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ.,;:!?()'", min_size=1, max_size=10),
    max_size=12,
)


def _grouped(number: str, separator: str) -> str:
    if not separator:
        return number
    return separator.join(number[i : i + 4] for i in range(0, len(number), 4))


@settings(max_examples=300, deadline=None)
@given(
    number=card_numbers,
    separator=st.sampled_from(["", " ", "-"]),
    before=words,
    after=words,
)
def test_a_luhn_valid_card_number_anywhere_is_found(
    number: str, separator: str, before: list[str], after: list[str]
) -> None:
    written = _grouped(number, separator)
    text = " ".join([*before, written, *after])
    cards = [f for f in lint(text, NO_FACTS) if f.rule == "pii-card"]
    assert any(f.span.text.replace(" ", "").replace("-", "") == number for f in cards), cards


@settings(max_examples=200, deadline=None)
@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    day=st.integers(1, 28),
    month=st.integers(1, 12),
    year=st.integers(2000, 2099),
)
def test_dates_and_times_are_never_phone_numbers(
    hour: int, minute: int, day: int, month: int, year: int
) -> None:
    text = (
        f"On {year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d} UTC "
        f"({day:02d}.{month:02d}.{year}, {day:02d}/{month:02d}/{year} {hour:02d}:{minute:02d})"
    )
    assert rules_in(text) == []
