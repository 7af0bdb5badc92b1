"""Slack transport: everything that knows about slack_bolt and slack_sdk lives here."""
