"""The header every notice template starts with: which facts it needs, and how to lint it.

A template file opens with a Jinja comment of `key: value` lines (an indented line continues
the one above); Jinja itself ignores it:

    {#
    title:    Customer notice: first notice
    facts:    company, product, incident_id, observed, detected_at, affected, next_steps,
              next_update_at, contact
    optional: contained_at, containment
    channel:  email
    requires: observed, detected, contained, affected, next-steps
    subject:  {{ product }}: incident {{ incident_id }}
    #}

- facts (must be present): rendering fails, naming every one, when any is absent, None or
  blank; the template sees exactly the declared facts, so using an undeclared one fails too.
- optional: passed as None when absent, for `{% if contained_at %}`.
- channel: the lint channel (status_page, email, chat, webhook; default email).
- requires: the required facts the lint checks for (default all five; `none` for none).
- subject: a one-line Jinja template for an email subject, rendered with the same facts.
- title: what the template is, for people choosing one (default: its name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from commandpost.core.notice_lint import REQUIRED_FACTS, Channel
from commandpost.errors import InvalidInput
from commandpost.notices.formats import Format

_HEADER = re.compile(r"\A\{#-?(?P<body>.*?)-?#\}", re.S)
_KEY = re.compile(r"^(?P<key>[a-z]+)\s*:\s*(?P<value>.*)$")
_FACT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = frozenset({"title", "facts", "optional", "channel", "requires", "subject"})


@dataclass(frozen=True)
class TemplateSpec:
    """One file of one notice template, as its header describes it."""

    name: str
    format: Format
    path: Path
    title: str
    facts: tuple[str, ...]
    optional: tuple[str, ...]
    channel: Channel
    requires: tuple[str, ...]
    subject: str | None

    @property
    def filename(self) -> str:
        return self.name + self.format.suffix


def read_spec(path: Path, *, name: str, fmt: Format) -> TemplateSpec:
    source = path.read_text(encoding="utf-8")
    fields = parse_header(source, where=str(path))
    facts = _names(fields.get("facts", ""), where=f"{path}: facts")
    optional = _names(fields.get("optional", ""), where=f"{path}: optional")
    both = sorted(set(facts) & set(optional))
    if both:
        raise InvalidInput(f"{path}: declared both required and optional: {', '.join(both)}")
    return TemplateSpec(
        name=name,
        format=fmt,
        path=path,
        title=fields.get("title") or name,
        facts=facts,
        optional=optional,
        channel=Channel.parse(fields.get("channel") or "email"),
        requires=_requires(fields.get("requires"), where=str(path)),
        subject=fields.get("subject") or None,
    )


def parse_header(source: str, *, where: str) -> dict[str, str]:
    match = _HEADER.match(source)
    if match is None or "facts:" not in match.group("body"):
        raise InvalidInput(
            f"{where}: a notice template starts with a header comment declaring its facts, "
            "e.g. {# facts: product, observed #}"
        )
    fields: dict[str, str] = {}
    last: str | None = None
    for line in match.group("body").splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and last is not None and not _KEY.match(line.strip()):
            fields[last] = f"{fields[last]} {line.strip()}".strip()
            continue
        entry = _KEY.match(line.strip())
        if entry is None or entry.group("key") not in _KEYS:
            allowed = ", ".join(sorted(_KEYS))
            raise InvalidInput(f"{where}: header line {line.strip()!r}; keys are {allowed}")
        last = entry.group("key")
        fields[last] = entry.group("value").strip()
    return fields


def _names(value: str, *, where: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    bad = [n for n in names if not _FACT.match(n)]
    if bad:
        raise InvalidInput(f"{where}: not a fact name: {', '.join(bad)}")
    return tuple(dict.fromkeys(names))


def _requires(value: str | None, *, where: str) -> tuple[str, ...]:
    if value is None or not value.strip():
        return REQUIRED_FACTS
    if value.strip().lower() == "none":
        return ()
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in REQUIRED_FACTS]
    if unknown:
        allowed = ", ".join(REQUIRED_FACTS)
        raise InvalidInput(f"{where}: requires: unknown {', '.join(unknown)}; use {allowed}")
    return names
