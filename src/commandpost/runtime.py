"""Wiring: build a service Context from settings, with the ports a caller chooses."""

from __future__ import annotations

from commandpost.core.policy import Policy
from commandpost.evidence.config import store_from_settings
from commandpost.executors import PolicyExecutor
from commandpost.notices.delivery import NoticeSender
from commandpost.service.context import Context
from commandpost.service.ports import ChatPort, Clock, ExecutorPort, NoticeSenderPort
from commandpost.settings import Settings
from commandpost.storage.engine import make_engine
from commandpost.storage.migrate import require_current


def build_context(
    *,
    database_url: str,
    policy: Policy,
    clock: Clock,
    chat: ChatPort,
    executor: ExecutorPort | None = None,
    check_schema: bool = True,
    notice_sender: NoticeSenderPort | None = None,
) -> Context:
    engine = make_engine(database_url)
    if check_schema:
        require_current(engine)
    settings = Settings()
    return Context(
        engine=engine,
        policy=policy,
        clock=clock,
        chat=chat,
        executor=executor or PolicyExecutor(clock),
        notice_sender=notice_sender or NoticeSender.from_settings(settings, clock=clock),
        # Chosen here, not on first use, so a bad COMMANDPOST_EVIDENCE_URL stops start-up.
        evidence=store_from_settings(settings),
    )
