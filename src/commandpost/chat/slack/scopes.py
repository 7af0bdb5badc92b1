"""Which bot-token scopes the Slack transport needs, and why.

`METHOD_SCOPES` lists every Web API method the transport calls and the bot scopes each one
needs (all of them: the set is a conjunction). The facts come from Slack's method and scope
reference pages. `manifest.yml` must grant exactly what these tables need, no more; the
tests in `tests/test_slack_manifest.py` hold the two together, so a new Web API call without
its scope, or a scope nothing uses, fails the build instead of failing in production with
`missing_scope`.

Choices that keep the set small:

- Incident channels are public (`channels:manage`). Private ones would need `groups:write`
  instead, and `groups:read` for the join event.
- Role pages are sent with `chat.postMessage` to the person's user id, which lands in the
  app's own DM (its App Home messages tab): no `im:write`, no `conversations.open`.
- The announcements channel is posted to as a member: the bot is invited to it once by an
  admin, so no `chat:write.public`.
- `users.lookupByEmail` is only for people whose policy entry has an email but no
  `slack_id`; Slack requires `users:read` alongside `users:read.email`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Web API method -> bot scopes it needs. An empty set means Slack documents "no scope required".
METHOD_SCOPES: Mapping[str, frozenset[str]] = {
    # Startup check that the token is valid and to learn the bot's own user id.
    "auth.test": frozenset(),
    # Summary card, announcements, gate cards, role pages (posted to the user id).
    "chat.postMessage": frozenset({"chat:write"}),
    # The summary card and gate cards are edited in place.
    "chat.update": frozenset({"chat:write"}),
    # Usage messages and refusals only the clicking or typing person sees.
    "chat.postEphemeral": frozenset({"chat:write"}),
    # The incident channel and its set-up.
    "conversations.create": frozenset({"channels:manage"}),
    "conversations.invite": frozenset({"channels:manage"}),
    "conversations.setTopic": frozenset({"channels:manage"}),
    "conversations.setPurpose": frozenset({"channels:manage"}),
    # The summary card is pinned in the incident channel.
    "pins.add": frozenset({"pins:write"}),
    # The declare modal and the reject-reason modal (needs only a trigger_id).
    "views.open": frozenset(),
    # Paging someone whose policy entry has no slack_id.
    "users.lookupByEmail": frozenset({"users:read", "users:read.email"}),
}

# Events API subscriptions (manifest `settings.event_subscriptions.bot_events`) -> scopes.
EVENT_SCOPES: Mapping[str, frozenset[str]] = {
    # Who joined an incident channel goes on the timeline: the audit trail says who could
    # see the evidence posted there. Public channels need channels:read.
    "member_joined_channel": frozenset({"channels:read"}),
}

# App features that need a scope of their own, though no Web API method is called for them.
FEATURE_SCOPES: Mapping[str, frozenset[str]] = {
    # Slack delivers /incident to the app only with this scope.
    "slash_commands": frozenset({"commands"}),
}


def needed_scopes(
    methods: Iterable[str] = METHOD_SCOPES,
    events: Iterable[str] = EVENT_SCOPES,
    features: Iterable[str] = FEATURE_SCOPES,
) -> frozenset[str]:
    """Every scope the given methods, events and features need together."""
    needed: set[str] = set()
    for method in methods:
        needed |= METHOD_SCOPES[method]
    for event in events:
        needed |= EVENT_SCOPES[event]
    for feature in features:
        needed |= FEATURE_SCOPES[feature]
    return frozenset(needed)


def uncovered_methods(granted: Iterable[str], methods: Iterable[str] = METHOD_SCOPES) -> list[str]:
    """The methods (sorted) that `granted` scopes do not fully cover.

    A method that is not in `METHOD_SCOPES` at all counts as uncovered: its scope is unknown,
    so nothing proves the manifest grants it.
    """
    have = frozenset(granted)
    return sorted(
        method
        for method in set(methods)
        if method not in METHOD_SCOPES or not METHOD_SCOPES[method] <= have
    )


def uncovered_events(granted: Iterable[str], events: Iterable[str] = EVENT_SCOPES) -> list[str]:
    """The subscribed events (sorted) whose scopes `granted` does not cover."""
    have = frozenset(granted)
    return sorted(
        event
        for event in set(events)
        if event not in EVENT_SCOPES or not EVENT_SCOPES[event] <= have
    )


def unneeded_scopes(
    granted: Iterable[str],
    *,
    events: Iterable[str] = EVENT_SCOPES,
    features: Iterable[str] = FEATURE_SCOPES,
) -> list[str]:
    """The granted scopes (sorted) that no called method, subscribed event or feature needs."""
    return sorted(frozenset(granted) - needed_scopes(METHOD_SCOPES, events, features))
