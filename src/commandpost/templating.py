"""Jinja2 environments for everything we render as text (timelines, notices)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

# Names that get HTML autoescaping when an environment asks for it: "x.html", "x.html.j2".
HTML_EXTENSIONS = ("html", "htm", "html.j2", "htm.j2")


def templates_dir() -> Path:
    # The repo's templates/ (source checkout or editable install); COMMANDPOST_TEMPLATES wins.
    configured = os.environ.get("COMMANDPOST_TEMPLATES")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "templates"


def environment(
    *roots: str | Path,
    autoescape_html: bool = False,
    finalize: Callable[..., Any] | None = None,
) -> Environment:
    """An environment over `roots`, searched in order (default: the repo's templates/).

    `autoescape_html` escapes values in templates named *.html(.j2) and nowhere else;
    `finalize` post-processes every `{{ value }}` (notices use it for Slack escaping).
    """
    search = [str(root) for root in roots] or [str(templates_dir())]
    # StrictUndefined: a typo in a template is an error, never a silently blank field.
    return Environment(
        loader=FileSystemLoader(search),
        undefined=StrictUndefined,
        autoescape=select_autoescape(
            enabled_extensions=HTML_EXTENSIONS, default_for_string=False, default=False
        )
        if autoescape_html
        else False,
        finalize=finalize,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **values: object) -> str:
    return environment().get_template(name).render(**values)
