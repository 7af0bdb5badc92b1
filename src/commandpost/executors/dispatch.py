"""Chooses the executor the policy names for each action."""

from __future__ import annotations

from typing import Any

import httpx

from commandpost.core.policy import ContainmentAction, ManualExecutor
from commandpost.executors.webhook import call_webhook
from commandpost.service.ports import Clock, ExecutionResult


class PolicyExecutor:
    def __init__(self, clock: Clock, *, transport: httpx.BaseTransport | None = None) -> None:
        self._clock = clock
        self._transport = transport

    def execute(
        self,
        *,
        name: str,
        action: ContainmentAction,
        params: dict[str, Any],
        mode: str,
        gate_id: int,
        incident_id: str,
    ) -> ExecutionResult:
        if isinstance(action.executor, ManualExecutor):
            return ExecutionResult("manual", action.executor.instructions)
        payload = {
            "incident_id": incident_id,
            "gate_id": gate_id,
            "action": name,
            "mode": mode,
            "params": params,
        }
        return call_webhook(
            action.executor,
            payload=payload,
            idempotency_key=f"{incident_id}/gate-{gate_id}/{mode}",
            now=self._clock.now(),
            transport=self._transport,
        )
