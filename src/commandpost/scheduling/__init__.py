"""Scheduling: APScheduler drives the deadline runner; the deadlines live in the database."""

from commandpost.scheduling.metrics import metrics_wsgi_app
from commandpost.scheduling.runner import DeadlineRunner, next_due, start_runner

__all__ = ["DeadlineRunner", "metrics_wsgi_app", "next_due", "start_runner"]
