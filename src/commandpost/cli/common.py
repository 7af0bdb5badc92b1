"""Shared plumbing for CLI verbs: settings, policy, a service context with console chat,
reading a text file argument."""

from __future__ import annotations

import sys
from pathlib import Path

from commandpost.chat.console import ConsoleChat
from commandpost.core.policy import Policy
from commandpost.errors import InvalidInput
from commandpost.policy_file import load_policy
from commandpost.runtime import build_context
from commandpost.service import outbox
from commandpost.service.context import Context
from commandpost.service.ports import Clock, SystemClock
from commandpost.settings import Settings


def settings() -> Settings:
    return Settings()


def policy(path: str | None = None) -> Policy:
    return load_policy(path or settings().policy)


def context(*, clock: Clock | None = None, policy_path: str | None = None) -> Context:
    """A context on the configured database; chat goes to stdout as a transcript."""
    chosen = clock or SystemClock()
    return build_context(
        database_url=settings().database_url,
        policy=policy(policy_path),
        clock=chosen,
        chat=ConsoleChat(chosen, stream=sys.stdout),
    )


def deliver(ctx: Context) -> None:
    outbox.deliver(ctx)


def read_text(file: str) -> str:
    """A UTF-8 text file's contents, or stdin's for `-`; InvalidInput when unreadable."""
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{file} is not UTF-8 text") from None
