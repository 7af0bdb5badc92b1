"""Settings from the environment (COMMANDPOST_*, SLACK_*), read once per process."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMMANDPOST_", extra="ignore")

    database_url: str = "sqlite:///./commandpost.db"
    policy: str = "./policy.yml"
    log_level: str = "INFO"
