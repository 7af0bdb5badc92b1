"""Executors for approved containment actions: signed webhooks and manual steps."""

from commandpost.executors.dispatch import PolicyExecutor
from commandpost.executors.webhook import sign, verify_signature

__all__ = ["PolicyExecutor", "sign", "verify_signature"]
