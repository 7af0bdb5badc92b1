"""Human durations such as `5m`, `4h`, `1d`, `90s` or `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

from commandpost.errors import InvalidInput

_PART = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise InvalidInput("empty duration; write it like 5m, 4h, 1d or 1h30m")
    pos = 0
    seconds = 0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned):
        raise InvalidInput(f"bad duration {text!r}; write it like 5m, 4h, 1d or 1h30m")
    if seconds <= 0:
        raise InvalidInput(f"duration {text!r} must be longer than zero")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidInput(f"duration {text!r} is too long") from None


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
