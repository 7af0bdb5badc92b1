"""Settings from the environment (COMMANDPOST_*, SLACK_*), read once per process."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class EvidenceSource(BaseModel):
    """One monitor allowed to post evidence: a bearer token, or an HMAC secret that signs
    `<timestamp>.<body>` (the alert sources' schemes, `ingest.auth`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: Literal["bearer", "hmac"]
    secret: SecretStr
    tolerance_seconds: int = 300


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMANDPOST_", extra="ignore")

    database_url: str = "sqlite:///./commandpost.db"
    policy: str = "./policy.yml"
    log_level: str = "INFO"
    # `serve` over HTTP: how much lower the work process's CPU priority is than the served
    # process's (0-19, as `nice`), so acks win a busy core; not lowered where the work process
    # is pinned to a CPU of its own (PINNED_NICE in chat/slack/workproc.py).
    work_nice: int = Field(default=19, ge=0, le=19)
    # `serve` over HTTP on SQLite: the work process on a CPU of its own where there are two or
    # more, the served process free (chat/slack/placement.py); false lets the kernel place
    # it. Never on PostgreSQL, whose server may share the cores.
    pin_cpus: bool = True
    # Sealed evidence objects (content-addressed files) and the key that signs exports.
    evidence_dir: str = "./evidence"
    export_signing_secret: SecretStr | None = None
    # `s3://bucket/prefix` keeps sealed evidence in S3-compatible storage instead of
    # evidence_dir; credentials come from boto3's usual places (AWS_*), never from here.
    evidence_url: str | None = None
    evidence_s3_endpoint_url: str | None = None
    evidence_s3_region: str | None = None
    # Monitors posting to /incidents/<id>/evidence: source name → how it authenticates
    # (COMMANDPOST_EVIDENCE_SOURCES as JSON), and the largest body accepted.
    evidence_sources: dict[str, EvidenceSource] = {}
    evidence_max_bytes: int = 10 * 1024 * 1024
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

    # The read-only incident pages (web/, README "Incident pages"). Viewer links and session
    # cookies are HMAC-signed with `web_secret`; without it (and without a trusted header)
    # the pages answer 503. `web_viewers` narrows who may look (person ids, roles, groups);
    # empty means everyone in the policy. `web_trusted_header` is honoured only when set, and
    # only safe behind a proxy that strips it from what clients send.
    web_secret: SecretStr | None = None
    web_public_url: str = "http://127.0.0.1:3000"
    web_link_ttl_seconds: int = 900
    web_session_ttl_seconds: int = 8 * 3600
    web_viewers: list[str] = []
    web_trusted_header: str | None = None
