"""The console transport: a chat-like transcript for drills and tests."""

from commandpost.chat.console.transcript import ConsoleChat, TranscriptLine

__all__ = ["ConsoleChat", "TranscriptLine"]
