"""SQLite's commit durability is chosen in the URL: NORMAL by default, FULL on request."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from commandpost.errors import InvalidInput
from commandpost.storage.engine import make_engine
from commandpost.storage.migrate import upgrade

LEVELS = {0: "off", 1: "normal", 2: "full", 3: "extra"}


def synchronous(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return LEVELS[int(conn.execute(text("PRAGMA synchronous")).scalar_one())]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", "normal"), ("?synchronous=full", "full"), ("?synchronous=EXTRA", "extra")],
)
def test_the_url_sets_how_hard_a_commit_is_flushed(
    tmp_path: Path, query: str, expected: str
) -> None:
    url = f"sqlite:///{tmp_path / 'cp.db'}{query}"
    upgrade(url)  # migrations accept the same URL
    assert synchronous(url) == expected


def test_an_unknown_level_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"synchronous='off'.*normal, full, extra"):
        make_engine(f"sqlite:///{tmp_path / 'cp.db'}?synchronous=off")
