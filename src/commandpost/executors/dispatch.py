"""Chooses the executor the policy names for each action."""

from __future__ import annotations

import httpx

from commandpost.core.policy import ManualExecutor
from commandpost.executors.webhook import call_webhook
from commandpost.service.ports import Clock, ExecutionRequest, ExecutionResult


class PolicyExecutor:
    def __init__(self, clock: Clock, *, transport: httpx.BaseTransport | None = None) -> None:
        self._clock = clock
        self._transport = transport

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        executor = request.action.executor
        if isinstance(executor, ManualExecutor):
            return ExecutionResult("manual", executor.instructions)
        payload = {
            "incident_id": request.incident_id,
            "gate_id": request.gate_id,
            "action": request.name,
            "mode": request.mode,
            "params": request.params,
        }
        return call_webhook(
            executor,
            payload=payload,
            idempotency_key=f"{request.incident_id}/gate-{request.gate_id}/{request.mode}",
            now=self._clock.now(),
            transport=self._transport,
        )
