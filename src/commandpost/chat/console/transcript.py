"""A chat port that writes a timestamped transcript instead of calling a chat service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from commandpost.core.policy import Person
from commandpost.service.ports import Clock


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    where: str
    text: str
    incident_id: str | None

    def render(self) -> str:
        # Incident channel names run to 80 characters; the column keeps the text aligned.
        where = self.where if len(self.where) <= 28 else self.where[:27] + "…"
        return f"[{self.at:%Y-%m-%d %H:%M:%S}Z] {where:<28} {self.text}"


class ConsoleChat:
    def __init__(self, clock: Clock, *, stream: TextIO | None = None) -> None:
        self._clock = clock
        self._stream = stream
        self.lines: list[TranscriptLine] = []
        self.channels: dict[str, str] = {}

    def open_channel(self, *, name: str, topic: str, incident_id: str) -> None:
        self.channels[name] = topic
        self._emit(f"#{name}", f"(channel opened; topic: {topic})", incident_id)

    def post(
        self, *, channel: str, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        where = channel if channel.startswith("#") else f"#{channel}"
        self._emit(where, text, incident_id)

    def direct(
        self, *, person: Person, text: str, incident_id: str | None, card: str | None = None
    ) -> None:
        self._emit(f"DM @{person.id}", text, incident_id)

    def say(self, who: str, text: str) -> None:
        """Echo what a person typed, so the transcript reads like a conversation."""
        self._emit(f"<{who}>", text, None)

    def messages_to(self, where: str) -> list[str]:
        return [line.text for line in self.lines if line.where == where]

    def _emit(self, where: str, text: str, incident_id: str | None) -> None:
        line = TranscriptLine(self._clock.now(), where, text, incident_id)
        self.lines.append(line)
        if self._stream is not None:
            self._stream.write(line.render() + "\n")
