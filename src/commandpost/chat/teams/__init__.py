"""Microsoft Teams: Adaptive Cards to webhooks, signed approval links, outgoing-webhook
commands. The public face; see docs/teams/README.md.

    approval_app(ctx, settings)   WSGI app for /teams/approve, /teams/notice and
                                  /teams/command
    is_teams_path(path)           whether a request path belongs to it
    TeamsChat                     the chat port posting cards to Teams webhooks
"""

from commandpost.chat.teams.approval_page import approval_app, is_teams_path
from commandpost.chat.teams.port import TeamsChat

__all__ = ["TeamsChat", "approval_app", "is_teams_path"]
