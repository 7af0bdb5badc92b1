"""Pages reach people on the platform they are on; channel traffic stays on the primary."""

from __future__ import annotations

from dataclasses import dataclass, field

from commandpost.chat.router import Platform, PlatformRouter, on_slack, on_teams
from commandpost.core.policy import Person, Policy


@dataclass
class Recording:
    calls: list[tuple[str, str]] = field(default_factory=list)
    settled: int = 0

    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        self.calls.append(("open", name))

    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        self.calls.append(("post", channel))

    def direct(
        self, *, person: Person, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        self.calls.append(("direct", person.id))

    def settle(self) -> None:
        self.settled += 1


def router() -> tuple[PlatformRouter, Recording, Recording]:
    slack, teams = Recording(), Recording()
    return (
        PlatformRouter(Platform("slack", slack, on_slack), Platform("teams", teams, on_teams)),
        slack,
        teams,
    )


def test_a_slack_incident_pages_a_teams_only_person_on_teams(policy: Policy) -> None:
    chat, slack, teams = router()
    ivan, alice = policy.person("ivan"), policy.person("alice")
    assert ivan is not None and ivan.slack_id is None and ivan.teams_id is not None
    assert alice is not None and alice.slack_id is not None
    chat.open_channel(name="inc-2026-0001-x", topic="t", incident_id="INC-2026-0001")
    chat.post(channel="inc-2026-0001-x", text="hello", incident_id="INC-2026-0001")
    chat.direct(person=ivan, text="you are paged", incident_id="INC-2026-0001")
    chat.direct(person=alice, text="you are paged", incident_id="INC-2026-0001")
    assert slack.calls == [
        ("open", "inc-2026-0001-x"),
        ("post", "inc-2026-0001-x"),
        ("direct", "alice"),
    ]
    assert teams.calls == [("direct", "ivan")]


def test_a_teams_incident_pages_a_slack_only_person_on_slack() -> None:
    slack, teams = Recording(), Recording()
    chat = PlatformRouter(Platform("teams", teams, on_teams), Platform("slack", slack, on_slack))
    both = Person(id="bo", name="Bo", email="bo@example.com", slack_id="U0BO", teams_id="29:bo")
    only_slack = Person(id="sam", name="Sam", email="sam@example.com", slack_id="U0SAM")
    chat.direct(person=both, text="x", incident_id=None)
    chat.direct(person=only_slack, text="x", incident_id=None)
    assert teams.calls == [("direct", "bo")]  # reachable on the primary: stays there
    assert slack.calls == [("direct", "sam")]


def test_settle_reaches_every_platform() -> None:
    chat, slack, teams = router()
    chat.settle()
    assert (slack.settled, teams.settled) == (1, 1)
