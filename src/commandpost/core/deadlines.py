"""Deadlines as due times: what falls due when, and what firing one means.

The core never sleeps or schedules; it says when something is due and what to do when it
fires. Storage keeps the due times; the service (and later the scheduler) fires them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class DeadlineKind(StrEnum):
    ACK = "ack"
    GATE = "gate"
    MITIGATION_SLA = "mitigation_sla"
    STATUS_CADENCE = "status_cadence"


@dataclass(frozen=True)
class DueTime:
    kind: DeadlineKind
    subject: str
    step: int
    due_at: datetime


class AckStep(StrEnum):
    REMIND = "remind"
    PAGE = "page"
    UNFILLED = "unfilled"


@dataclass(frozen=True)
class AckAction:
    step: AckStep
    person_id: str | None


def ack_due(*, role: str, step: int, paged_at: datetime, ack_sla: timedelta) -> DueTime:
    """Step n of the acknowledgement chain falls due (n + 1) ack SLAs after the first page."""
    return DueTime(DeadlineKind.ACK, role, step, paged_at + ack_sla * (step + 1))


def ack_action(chain: list[str], step: int) -> AckAction:
    """Step 0 reminds the primary; steps 1.. page down the chain; then the role is flagged."""
    if step == 0:
        return AckAction(AckStep.REMIND, chain[0])
    if step < len(chain):
        return AckAction(AckStep.PAGE, chain[step])
    return AckAction(AckStep.UNFILLED, None)


def ack_has_next(chain: list[str], step: int) -> bool:
    return step < len(chain)


def mitigation_due(*, declared_at: datetime, sla: timedelta | None) -> DueTime | None:
    if sla is None:
        return None
    return DueTime(DeadlineKind.MITIGATION_SLA, "first_mitigation", 0, declared_at + sla)


def cadence_due(*, last_update_at: datetime, cadence: timedelta, step: int = 0) -> DueTime:
    return DueTime(DeadlineKind.STATUS_CADENCE, "status_update", step, last_update_at + cadence)


def gate_due(*, gate_id: int, tier: int, due_at: datetime) -> DueTime:
    return DueTime(DeadlineKind.GATE, str(gate_id), tier, due_at)
