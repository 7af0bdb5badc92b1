"""The three renderings of a notice, and how values are escaped in each.

text    NAME.txt.j2      plain text: what is reviewed, approved, linted and sent
mrkdwn  NAME.mrkdwn.j2   Slack preview; values have & < > escaped so a fact cannot
                         ping @channel or forge a link
html    NAME.html.j2     email body; values HTML-escaped by Jinja's autoescape
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from commandpost.errors import InvalidInput


class Format(StrEnum):
    TEXT = "text"
    MRKDWN = "mrkdwn"
    HTML = "html"

    @property
    def suffix(self) -> str:
        return _SUFFIXES[self]

    @classmethod
    def parse(cls, text: str) -> Format:
        try:
            return cls(text.strip().lower())
        except ValueError:
            allowed = ", ".join(f.value for f in cls)
            raise InvalidInput(f"unknown format {text!r}; use one of {allowed}") from None

    @classmethod
    def of_filename(cls, filename: str) -> tuple[str, Format] | None:
        """("customer_initial", Format.HTML) for "customer_initial.html.j2", else None."""
        for fmt in cls:
            if filename.endswith(fmt.suffix):
                return filename[: -len(fmt.suffix)], fmt
        return None


_SUFFIXES = {Format.TEXT: ".txt.j2", Format.MRKDWN: ".mrkdwn.j2", Format.HTML: ".html.j2"}


def slack_escape(value: str) -> str:
    # The three characters Slack's mrkdwn gives meaning to; everything else is literal.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pass_context
def finalize(context: Context, value: Any) -> Any:
    """Escape every value printed by a mrkdwn template; leave the others to autoescape."""
    name = context.name or ""
    if name.endswith(Format.MRKDWN.suffix) and value is not None:
        return slack_escape(str(value))
    return value
