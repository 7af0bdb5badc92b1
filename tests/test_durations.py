"""Human durations: `5m`, `4h`, `1d`, `90s`, `1h30m`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandpost.core.durations import format_duration, parse_duration
from commandpost.errors import InvalidInput

UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("4h", 4 * 3600),
        ("1d", 86400),
        ("90s", 90),
        ("1h30m", 5400),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4),
        (" 1h 30m ", 5400),
        ("1H30M", 5400),
        ("0h5m", 300),
        ("120m", 7200),
    ],
)
def test_parse_examples(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30, "30s"),
        (90, "1m30s"),
        (300, "5m"),
        (5400, "1h30m"),
        (86400, "1d"),
        (86400 + 3661, "1d1h1m1s"),
        (0, "0s"),
        (-60, "0s"),
    ],
)
def test_format_examples(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_format_drops_fractions_of_a_second() -> None:
    assert format_duration(timedelta(seconds=61, microseconds=999_999)) == "1m1s"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "5",
        "m",
        "5x",
        "h5",
        "-5m",
        "+5m",
        "1.5h",
        "5 minutes",
        "1h30",
        "1h-30m",
        "0s",
        "0m0s",
        "0d",
        "PT5M",
        "5m;",
        "99999999999999999999d",
        "1000000000d",
    ],
)
def test_bad_inputs_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text)
    assert str(caught.value)


def test_refusal_says_how_to_write_it() -> None:
    with pytest.raises(InvalidInput, match=r"5m, 4h, 1d or 1h30m"):
        parse_duration("soon")
    with pytest.raises(InvalidInput, match="longer than zero"):
        parse_duration("0m")


# Up to about 30 years: far beyond any policy number, well inside timedelta's range.
positive_seconds = st.integers(min_value=1, max_value=30 * 365 * 86400)


@given(positive_seconds)
def test_format_then_parse_roundtrips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert parse_duration(text) == value
    # The formatted text is canonical: formatting again gives the same text.
    assert format_duration(parse_duration(text)) == text


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from("dhms")), min_size=1, max_size=6))
def test_parse_sums_its_parts(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{count}{unit}" for count, unit in parts)
    total = sum(count * UNITS[unit] for count, unit in parts)
    if total == 0:
        with pytest.raises(InvalidInput):
            parse_duration(text)
        return
    assert parse_duration(text) == timedelta(seconds=total)
    assert parse_duration(format_duration(timedelta(seconds=total))) == timedelta(seconds=total)


@given(st.text(max_size=30))
def test_parse_only_ever_returns_a_positive_duration_or_refuses(text: str) -> None:
    try:
        value = parse_duration(text)
    except InvalidInput:
        return
    assert value > timedelta(0)
    assert value.microseconds == 0


@given(st.from_regex(r"\A[0-9]{1,25}[dhms]\Z"))
def test_any_count_is_parsed_or_refused_cleanly(text: str) -> None:
    try:
        value = parse_duration(text)
    except InvalidInput:
        return
    assert value == timedelta(seconds=int(text[:-1]) * UNITS[text[-1]])
