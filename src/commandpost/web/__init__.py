"""Read-only incident pages served beside Slack by `commandpost serve` (README "Incident
pages"): `incident_pages_app` is the WSGI app, `is_web_path` the paths it answers."""

from commandpost.web.app import incident_pages_app, is_web_path

__all__ = ["incident_pages_app", "is_web_path"]
