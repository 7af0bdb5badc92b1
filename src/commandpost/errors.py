"""The one error tree of Command Post.

    CommandPostError                 root: everything we raise on purpose
    ├── UserError                    bad request from a person; exit 2 / ephemeral message
    │   ├── InvalidInput             malformed id, command, drill or parameter
    │   ├── PolicyInvalid            the policy file has problems (carries every problem)
    │   ├── InvalidTransition        status change the lifecycle does not allow
    │   ├── NotAuthorised            the actor may not do this (server-side check)
    │   ├── NotFound                 no such incident, gate, person or action
    │   └── Conflict                 already decided, already closed, already holds the role
    │       └── EvidenceChanged      a sealed object no longer hashes to its name (tampering)
    ├── NotMigrated                  the database schema is behind; says what to run
    ├── DeliveryFailed               a chat or executor call failed; the intent stays queued
    ├── AuditChainBroken             verification found an altered, removed or reordered event
    └── DrillFailed                  a drill ran but an expectation did not hold; exit 1

Each error carries a message fit to show a responder as it is.
"""

from __future__ import annotations


class CommandPostError(Exception):
    """Root of every error Command Post raises on purpose."""


class UserError(CommandPostError):
    """Bad input or a forbidden request: shown to the person, exit code 2."""


class InvalidInput(UserError):
    pass


class PolicyInvalid(UserError):
    def __init__(self, problems: list[str], *, source: str = "policy") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(problems))


class InvalidTransition(UserError):
    pass


class NotAuthorised(UserError):
    pass


class NotFound(UserError):
    pass


class Conflict(UserError):
    pass


class EvidenceChanged(Conflict):
    """A sealed evidence object's bytes no longer hash to the SHA-256 it is stored under."""

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256
        super().__init__(
            f"evidence object {sha256} no longer matches its SHA-256: the stored bytes were "
            "changed; run `commandpost evidence-store verify`"
        )


class NotMigrated(CommandPostError):
    pass


class DeliveryFailed(CommandPostError):
    """`retry_after` (seconds): do not try again before then (a rate limit said so)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class AuditChainBroken(CommandPostError):
    def __init__(self, first_bad_seq: int, reason: str) -> None:
        self.first_bad_seq = first_bad_seq
        self.reason = reason
        super().__init__(f"audit chain broken at seq {first_bad_seq}: {reason}")


class DrillFailed(CommandPostError):
    """A drill ran, but the incident did not go the way its expectations said."""
