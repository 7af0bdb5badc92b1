"""manifest.yml is a valid Slack app manifest that grants exactly the scopes the bot uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from commandpost.chat.slack import scopes

from .support import ROOT

SCHEMA = Path(__file__).resolve().parent / "schemas" / "slack_app_manifest.schema.json"
REQUEST_URL = "https://commandpost.example.com/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def bot_scopes(manifest: dict[str, Any]) -> list[str]:
    return list(manifest["oauth_config"]["scopes"]["bot"])


def bot_events(manifest: dict[str, Any]) -> list[str]:
    return list(manifest["settings"]["event_subscriptions"]["bot_events"])


def test_manifest_validates_against_slacks_schema(
    manifest: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_really_rejects_bad_manifests(
    manifest: dict[str, Any], validator: jsonschema.protocols.Validator
) -> None:
    # Guard against a schema that accepts anything (a bad vendoring would pass the test above).
    broken = json.loads(json.dumps(manifest))
    broken["features"]["slash_commands"][0]["command"] = "incident"  # must start with "/"
    broken["display_information"]["name"] = "x" * 36  # at most 35
    broken["surprise"] = True  # no additional top-level properties
    assert len(list(validator.iter_errors(broken))) == 3


def test_manifest_declares_the_incident_command_and_request_urls(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/incident"
    assert command["usage_hint"].startswith("declare")
    assert command["url"] == REQUEST_URL
    assert command["should_escape"] is True
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": REQUEST_URL}
    assert manifest["settings"]["event_subscriptions"]["request_url"] == REQUEST_URL
    assert manifest["features"]["bot_user"]["display_name"]


def test_background_colour_is_a_hex_colour(manifest: dict[str, Any]) -> None:
    # The upstream schema spells this check `regex`, which JSON Schema ignores.
    colour = manifest["display_information"]["background_color"]
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", colour)


def test_every_called_method_is_covered_by_a_manifest_scope(manifest: dict[str, Any]) -> None:
    assert scopes.uncovered_methods(bot_scopes(manifest)) == []


def test_every_subscribed_event_is_covered_by_a_manifest_scope(manifest: dict[str, Any]) -> None:
    assert set(bot_events(manifest)) <= set(scopes.EVENT_SCOPES)
    assert scopes.uncovered_events(bot_scopes(manifest), bot_events(manifest)) == []


def test_no_scope_is_granted_that_nothing_needs(manifest: dict[str, Any]) -> None:
    granted = bot_scopes(manifest)
    assert len(granted) == len(set(granted)), "a scope is listed twice"
    assert scopes.unneeded_scopes(granted, events=bot_events(manifest)) == []
    assert "commands" in granted


def test_no_user_scopes_are_requested(manifest: dict[str, Any]) -> None:
    # Everything is done as the bot; a user token would act as whoever installed the app.
    assert set(manifest["oauth_config"]["scopes"]) == {"bot"}


def test_uncovered_methods_names_what_a_scope_set_lacks() -> None:
    granted = {"chat:write", "users:read.email"}
    missing = scopes.uncovered_methods(granted)
    assert "conversations.create" in missing
    assert "pins.add" in missing
    # users.lookupByEmail needs users:read as well as users:read.email.
    assert "users.lookupByEmail" in missing
    assert "chat.postMessage" not in missing
    # Methods that need no scope are always covered.
    assert "views.open" not in missing and "auth.test" not in missing


def test_an_unknown_method_is_never_silently_covered() -> None:
    assert scopes.uncovered_methods({"chat:write"}, ["chat.postMessage", "files.upload"]) == [
        "files.upload"
    ]


def test_unneeded_scopes_flags_extras() -> None:
    granted = scopes.needed_scopes() | {"chat:write.public", "im:write"}
    assert scopes.unneeded_scopes(granted) == ["chat:write.public", "im:write"]
