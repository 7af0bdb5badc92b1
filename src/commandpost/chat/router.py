"""One incident, either platform: each message goes out where its reader can be reached.

An incident lives in one platform's channel (the primary: where it was declared), but the
people paged for it come from rotations, and a rotation entry may only have a Teams id while
the incident runs in Slack, or the reverse. `PlatformRouter` is a `ChatPort` over several
platforms' ports: channel traffic goes to the primary; a direct message (a page, a reminder,
an escalation) goes to the first platform that can reach the person, the primary first.
Nothing here imports a platform: the ports come in already built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from commandpost.core.policy import Person
from commandpost.service.ports import ChatPort, SettlingChat


@dataclass(frozen=True)
class Platform:
    name: str
    port: ChatPort
    reaches: Callable[[Person], bool]


def on_slack(person: Person) -> bool:
    # Without a Slack id the Slack port can still look a person up by email, unless they
    # have a Teams id: then Teams is where they are.
    return person.slack_id is not None or person.teams_id is None


def on_teams(person: Person) -> bool:
    return person.teams_id is not None


class PlatformRouter:
    def __init__(self, primary: Platform, *others: Platform) -> None:
        self.primary = primary
        self.platforms = (primary, *others)

    def platform_for(self, person: Person) -> Platform:
        for platform in self.platforms:
            if platform.reaches(person):
                return platform
        return self.primary  # it says why it cannot deliver, and the outbox keeps the intent

    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        self.primary.port.open_channel(name=name, topic=topic, incident_id=incident_id)

    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        self.primary.port.post(channel=channel, text=text, incident_id=incident_id, card=card)

    def direct(
        self, *, person: Person, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        port = self.platform_for(person).port
        port.direct(person=person, text=text, incident_id=incident_id, card=card)

    def settle(self) -> None:
        for platform in self.platforms:
            if isinstance(platform.port, SettlingChat):
                platform.port.settle()
