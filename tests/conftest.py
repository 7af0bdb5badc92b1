"""Shared fixtures: every storage test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from commandpost.chat.console import ConsoleChat
from commandpost.core.policy import Policy
from commandpost.policy_file import load_policy
from commandpost.runtime import build_context
from commandpost.service.context import Context
from commandpost.service.ports import ExecutorPort, ManualClock
from commandpost.storage.migrate import upgrade

from . import pgserver
from .browser import browser as browser  # the headless Chromium fixture
from .support import POLICY_FILE, START

# Re-exported for tests still written against their old home here; new code: `.support`.
from .support import ROOT as ROOT
from .support import staff as staff

_counter = itertools.count()


@pytest.fixture(autouse=True)
def evidence_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sealed evidence goes to this test's own directory, never into the repository (the
    store falls back to COMMANDPOST_EVIDENCE_DIR when nothing else is bound)."""
    where = tmp_path / "evidence"
    monkeypatch.setenv("COMMANDPOST_EVIDENCE_DIR", str(where))
    return where


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgserver.PgServer | None]:
    server = pgserver.start()
    if server is None and os.environ.get("CI") == "true":
        pytest.fail("PostgreSQL is not installed; CI must run the PostgreSQL lane")
    yield server
    if server is not None:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database on each lane."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'commandpost.db'}"
    else:
        server = request.getfixturevalue("postgres")
        if server is None:
            pytest.skip("PostgreSQL is not installed")
        name = f"cp_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(
            f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = server.url(name)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(str(POLICY_FILE))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def chat(clock: ManualClock) -> ConsoleChat:
    return ConsoleChat(clock)


MakeCtx = Callable[..., Context]


@pytest.fixture
def make_ctx(
    db_url: str, policy: Policy, clock: ManualClock, chat: ConsoleChat
) -> Iterator[MakeCtx]:
    """Build Contexts on this test's database; pass `executor=` to swap the executor port.

    Engines are disposed at teardown: an unclosed connection would be a warning, and warnings
    are errors here.
    """
    built: list[Context] = []

    def build(executor: ExecutorPort | None = None, *, use_policy: Policy | None = None) -> Context:
        made = build_context(
            database_url=db_url,
            policy=use_policy or policy,
            clock=clock,
            chat=chat,
            executor=executor,
        )
        built.append(made)
        return made

    yield build
    for made in built:
        made.engine.dispose()


@pytest.fixture
def ctx(make_ctx: MakeCtx) -> Context:
    return make_ctx()
