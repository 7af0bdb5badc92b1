"""What `commandpost serve` runs: the Slack server, with Microsoft Teams beside it when the
settings configure Teams. Over HTTP the acks are served in this process and the work after
them, the deliveries and the deadlines run in a work process (chat/slack/workproc.py).

With Teams configured, the chat port becomes a `PlatformRouter`: incidents keep their Slack
channel, and pages reach people whose rotation entry only has a Teams id on Teams; the Teams
approval page and outgoing-webhook endpoint (`/teams/...`) are served on the same port.
Monitors seal evidence with POST /incidents/<id>/evidence (`ingest.evidence_app`), always
mounted: without COMMANDPOST_EVIDENCE_SOURCES it answers 503. The read-only incident pages
(GET /incidents, /incidents/<id>: `web`) are always mounted too: without COMMANDPOST_WEB_SECRET
or a trusted header they answer 503.
"""

from __future__ import annotations

from commandpost.chat.router import Platform, PlatformRouter, on_slack, on_teams
from commandpost.chat.slack.app import SlackSettings
from commandpost.chat.slack.server import SlackServer, make_server, slack_work_context, work_spec
from commandpost.chat.slack.workproc import WorkSpec
from commandpost.core.policy import Policy
from commandpost.service.context import Context
from commandpost.settings import Settings


def teams_configured(settings: Settings) -> bool:
    return bool(
        settings.teams_webhook_url
        or settings.teams_channel_urls
        or settings.teams_person_urls
        or settings.teams_link_secret
        or settings.teams_outgoing_token
    )


def build_server(
    *,
    database_url: str,
    policy: Policy,
    slack: SlackSettings,
    settings: Settings,
    one_process: bool = False,
) -> SlackServer:
    """Over HTTP the work after each ack runs in a work process of its own (workproc), unless
    `one_process`; Socket Mode serves in one process."""
    work = None
    if not (one_process or slack.app_token):
        work = work_spec(
            database_url=database_url,
            policy=policy,
            settings=slack,
            context=work_context,
            app_settings=settings,
            log_level=settings.log_level,
            nice=settings.work_nice,
            pin_cpus=settings.pin_cpus,
        )
    server = make_server(database_url=database_url, policy=policy, settings=slack, work=work)
    if teams_configured(settings):
        with_teams(server, settings)
    with_evidence(server, settings)
    with_web(server, settings)
    return server


def with_web(server: SlackServer, settings: Settings) -> None:
    """Serve the read-only incident pages (GET /incidents, /incidents/<id>) beside Slack;
    they answer 503 until `web_secret` or a trusted header is configured."""
    from commandpost.web import incident_pages_app, is_web_path

    server.mounts.append((is_web_path, incident_pages_app(server.ctx, settings)))


def with_evidence(server: SlackServer, settings: Settings) -> None:
    """Serve POST /incidents/<id>/evidence beside Slack (that exact path only)."""
    from commandpost.ingest.evidence_app import evidence_ingest_app, is_evidence_path

    server.mounts.append((is_evidence_path, evidence_ingest_app(server.ctx, settings)))


def with_teams(server: SlackServer, settings: Settings) -> None:
    """Route pages to Teams-only people through Teams and serve /teams/... beside Slack."""
    from commandpost.chat.teams import approval_app, is_teams_path

    route_to_teams(server.ctx, settings)
    server.mounts.append((is_teams_path, approval_app(server.ctx, settings)))


def route_to_teams(ctx: Context, settings: Settings) -> None:
    from commandpost.chat.teams import TeamsChat

    teams = TeamsChat(settings, engine=ctx.engine, policy=ctx.policy, clock=ctx.clock)
    ctx.chat = PlatformRouter(
        Platform("slack", ctx.chat, on_slack), Platform("teams", teams, on_teams)
    )


def work_context(spec: WorkSpec) -> Context:
    """The work process's context: the same chat port as the served one (Teams beside Slack
    when configured), since the work process is the one that delivers."""
    ctx = slack_work_context(spec)
    if spec.settings is not None and teams_configured(spec.settings):
        route_to_teams(ctx, spec.settings)
    return ctx
