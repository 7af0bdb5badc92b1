"""Settings from the environment (COMMANDPOST_*, SLACK_*), read once per process."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMANDPOST_", extra="ignore")

    database_url: str = "sqlite:///./commandpost.db"
    policy: str = "./policy.yml"
    log_level: str = "INFO"
    # Sealed evidence objects (content-addressed files) and the key that signs exports.
    evidence_dir: str = "./evidence"
    export_signing_secret: SecretStr | None = None
    # Email for notices (COMMANDPOST_SMTP_*). Credentials are only ever sent after STARTTLS.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "commandpost@localhost"
    smtp_starttls: bool = True

    # Microsoft Teams (chat/teams, docs/teams/README.md). Webhook URLs carry their own
    # credential, so they are secrets too. Per-channel and per-person URLs are JSON maps
    # here until the policy file grows a place for them.
    teams_webhook_url: SecretStr | None = None
    teams_channel_urls: dict[str, SecretStr] = {}
    teams_person_urls: dict[str, SecretStr] = {}
    teams_public_url: str = "http://127.0.0.1:8000"
    teams_link_secret: SecretStr | None = None
    teams_link_ttl_seconds: int = 900
    teams_outgoing_token: SecretStr | None = None
