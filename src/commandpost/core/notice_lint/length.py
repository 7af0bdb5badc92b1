"""Length limits per channel, in characters (code points) of the text without trailing space.

- status_page: 280, blocking. A status-page entry is read at a glance and is mirrored to
  feeds that cut it short (280 is the longest single post on the common social mirror, and
  SMS subscribers get the first 160 anyway). Three plain sentences fit: what, when, next.
- chat: 3,000, advisory. Slack shows at most 3,000 characters in one section block; longer
  text still posts, split across blocks, but a reader in the channel should get the point
  before that.
- email, webhook: no limit.

The finding's span is the part past the limit, so a reviewer sees what has to go.
"""

from __future__ import annotations

from commandpost.core.notice_lint.findings import Channel, Finding, Span

LIMITS: dict[Channel, tuple[int, bool]] = {
    Channel.STATUS_PAGE: (280, True),
    Channel.CHAT: (3000, False),
}


def check(text: str, channel: Channel) -> list[Finding]:
    if channel not in LIMITS:
        return []
    limit, blocking = LIMITS[channel]
    length = len(text.rstrip())
    if length <= limit:
        return []
    message = f"{length} characters; a {channel.value} notice allows {limit}"
    return [Finding("too-long", message, Span(limit, length, text[limit:length]), blocking)]
