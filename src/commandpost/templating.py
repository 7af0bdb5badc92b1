"""Jinja2 environment for everything we render as text (timelines, later notices)."""

from __future__ import annotations

import os
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined


def templates_dir() -> Path:
    # The repo's templates/ (source checkout or editable install); COMMANDPOST_TEMPLATES wins.
    configured = os.environ.get("COMMANDPOST_TEMPLATES")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "templates"


def environment() -> Environment:
    # StrictUndefined: a typo in a template is an error, never a silently blank field.
    return Environment(
        loader=FileSystemLoader(str(templates_dir())),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **values: object) -> str:
    return environment().get_template(name).render(**values)
