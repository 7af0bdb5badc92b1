"""Serving the Bolt app: a WSGI app (POST /slack/events, GET /healthz, GET /metrics,
POST /alerts/<source>) on waitress, or Socket Mode when SLACK_APP_TOKEN is set.

    SlackServer(ctx, settings).start(host, port)   background threads; .port, .stop()
    SlackServer(...).start_socket_mode()           connected over Socket Mode; .stop()
    SlackServer(...).serve_forever(host, port)     what `commandpost serve` runs
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from commandpost.chat.slack.after_ack import AfterAck
from commandpost.chat.slack.app import (
    Deliverer,
    SlackSettings,
    build_app,
    slack_context,
    web_client,
)
from commandpost.chat.slack.placement import for_database
from commandpost.chat.slack.port import SlackChat
from commandpost.chat.slack.precedence import Precedence
from commandpost.chat.slack.webclient import PooledWebClient
from commandpost.chat.slack.workproc import (
    PINNED_NICE,
    WORK_NICE,
    Forwarding,
    ForwardingHandler,
    WorkProcess,
    WorkSpec,
)
from commandpost.core.policy import Policy
from commandpost.ingest import IngestSettings, alert_ingest_app, is_alert_path
from commandpost.scheduling import DeadlineRunner, metrics_wsgi_app, start_runner
from commandpost.service import review_metrics
from commandpost.service.context import Context

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# Another app served on the same port: which request paths it takes, and the app.
Mount = tuple[Callable[[str], bool], WSGIApp]


def health_app(
    slack: SlackRequestHandler,
    alerts: WSGIApp | None = None,
    *,
    mounts: Sequence[Mount] = (),
    metrics: WSGIApp | None = None,
    healthy: Callable[[], bool] = lambda: True,
) -> WSGIApp:
    """Health, metrics (the process's, or `metrics`: with the incident metrics of a database)
    and, when given, the alert endpoints and other mounted apps (Teams' approval page) in
    front of Slack's. /healthz answers 503 when `healthy` says no (the work process died)."""
    metrics = metrics or metrics_wsgi_app()

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        get = environ.get("REQUEST_METHOD") == "GET"
        if environ.get("PATH_INFO") == "/healthz" and get:
            if not healthy():
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"the work process is gone\n"]
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        if environ.get("PATH_INFO") == "/metrics" and get:
            return metrics(environ, start_response)
        path = str(environ.get("PATH_INFO", ""))
        if alerts is not None and is_alert_path(path):
            return alerts(environ, start_response)
        for claims, app in mounts:
            if claims(path):
                return app(environ, start_response)
        return slack(environ, start_response)  # type: ignore[arg-type]

    return wsgi


class SlackServer:
    """Serves Slack. With `work` (HTTP only), the acks are served here and the work after
    them, the deliveries and the deadlines run in a work process of its own (workproc)."""

    def __init__(
        self,
        ctx: Context,
        settings: SlackSettings,
        *,
        deliver_every: float = 2.0,
        ingest: IngestSettings | None = None,
        work: WorkSpec | None = None,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        # Built once: it resolves the alert sources' secrets and logs the missing ones.
        self.alerts = alert_ingest_app(ctx, ingest or IngestSettings.from_env())
        # The port's client when there is one: one set of kept-alive connections to Slack.
        chat = ctx.chat
        self.client = chat.client if isinstance(chat, SlackChat) else web_client(settings)
        self.work = WorkProcess(work) if work is not None else None
        self.forwarding = Forwarding()
        # Split, the work process delivers (and has its own deliverer); here, this one does.
        first = Precedence()  # the deliverer's and the work's: openings hold back notes
        self.deliverer = (
            Deliverer(ctx, interval=deliver_every, precedence=first) if work is None else None
        )
        self.after_ack = AfterAck(precedence=first) if work is None else None
        if self.deliverer is not None:
            ctx.hand_over = self.deliverer.hand_over
        self.app = build_app(
            ctx,
            signing_secret=settings.signing_secret,
            client=self.client,
            deliverer=self.deliverer,
            after_ack=self.after_ack,
            forward=self.forwarding if self.work is not None else None,
        )
        self.mounts: list[Mount] = []  # added before start(): served beside Slack
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: SocketModeHandler | None = None
        self.runner: DeadlineRunner | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def kick(self) -> None:
        """Send what is due now rather than at the next interval (after a deadline fired
        outside the app, say). Split, the work process's deliverer is kicked by its own work."""
        if self.deliverer is not None:
            self.deliverer.kick()

    def start(
        self, host: str = "127.0.0.1", port: int = 0, *, run_deadlines: bool = True
    ) -> SlackServer:
        """Serve in background threads. `run_deadlines=False` leaves firing deadlines to
        someone else (a `commandpost worker`, or a test that moves a simulated clock)."""
        handler: SlackRequestHandler = SlackRequestHandler(self.app)
        if self.work is not None:
            handler = ForwardingHandler(self.app, marks=self.forwarding, work=self.work)
        wsgi = health_app(
            handler,
            self.alerts,
            mounts=self.mounts,
            metrics=review_metrics.metrics_app(self.ctx),
            healthy=self.work.alive if self.work is not None else lambda: True,
        )
        self._server = create_server(wsgi, host=host, port=port, threads=8, ident="commandpost")
        if self.work is not None:
            # Deliveries and deadlines run there, beside the work after the acks.
            self.work.start(run_deadlines=run_deadlines)
        else:
            assert self.deliverer is not None
            self.deliverer.start()
            if run_deadlines:
                # Deadlines fire in-process; the deliverer above sends what they queue.
                self.runner = start_runner(self.ctx, deliver=False)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:
            # close() from stop() pulls the sockets out from under waitress's select loop.
            if not self._stopping:
                raise

    def start_socket_mode(self, *, run_deadlines: bool = True) -> SlackServer:
        """Connect to Slack over Socket Mode (`settings.app_token`) instead of listening on a
        port: the Socket Mode client receives and acks on its own threads. `.stop()`
        disconnects."""
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        if not self.settings.app_token:
            raise ValueError("Socket Mode needs the app-level token (SLACK_APP_TOKEN)")
        if self.work is not None:
            raise ValueError("Socket Mode serves in one process: build the server without work")
        # Our client, so apps.connections.open goes to SLACK_API_URL like every other call.
        self._socket = SocketModeHandler(self.app, self.settings.app_token, web_client=self.client)
        assert self.deliverer is not None  # no work process: checked above
        self.deliverer.start()
        if run_deadlines:
            self.runner = start_runner(self.ctx, deliver=False)
        self._stopping = False
        try:
            self._socket.connect()  # type: ignore[no-untyped-call]
        except Exception:
            # A bad app token fails here (apps.connections.open); leave no threads behind.
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        if self._socket is not None:
            # close(), not disconnect(): it also turns off the client's auto-reconnect.
            self._socket.close()  # type: ignore[no-untyped-call]
            self._socket = None
        if self.work is not None:
            self.work.stop()  # it finishes the work acked here, then its deliveries
        if self.after_ack is not None:
            self.after_ack.stop()  # before the deliverer: what it queues still goes out
        if self.deliverer is not None:
            self.deliverer.stop()
        if self.runner is not None:
            self.runner.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        # Kept-alive connections to Slack: closed with the server, not left to the collector.
        if isinstance(self.client, PooledWebClient):
            self.client.close()

    def serve_forever(self, host: str, port: int) -> None:
        if self.settings.app_token:
            self.start_socket_mode()
            log.info("serving Slack over Socket Mode")
            try:
                # The client's threads do the work; a timed sleep keeps Ctrl-C prompt.
                while not self._stopping:
                    time.sleep(1)
            except KeyboardInterrupt:
                self.stop()
            return
        self.start(host, port)
        log.info("serving Slack on http://%s:%s/slack/events", host, self.port)
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=1)
        except KeyboardInterrupt:
            self.stop()


def make_server(
    *,
    database_url: str,
    policy: Policy,
    settings: SlackSettings,
    deliver_every: float = 2.0,
    ingest: IngestSettings | None = None,
    work: WorkSpec | None = None,
) -> SlackServer:
    """A server on `database_url`; with `work`, its acks here and its work in a process of
    its own (see `work_spec`)."""
    client = web_client(settings)
    ctx = slack_context(database_url=database_url, policy=policy, client=client)
    return SlackServer(ctx, settings, deliver_every=deliver_every, ingest=ingest, work=work)


def work_spec(
    *,
    database_url: str,
    policy: Policy,
    settings: SlackSettings,
    deliver_every: float = 2.0,
    context: Callable[[WorkSpec], Context] | None = None,
    app_settings: Any = None,
    log_level: str = "WARNING",
    nice: int = WORK_NICE,
    pin_cpus: bool = False,
) -> WorkSpec:
    """What the work process builds its context from: by default Slack's alone (`context`
    wires more, such as Teams beside it). `pin_cpus`: on SQLite, the work process on a CPU
    of its own where there are two, the front free (chat/slack/placement.py), and its `nice`
    at most PINNED_NICE there."""
    work_cpu = for_database(database_url) if pin_cpus else None
    return WorkSpec(
        database_url=database_url,
        policy=policy,
        slack=settings,
        context=context or slack_work_context,
        settings=app_settings,
        deliver_every=deliver_every,
        log_level=log_level,
        nice=nice if work_cpu is None else min(nice, PINNED_NICE),
        work_cpu=work_cpu,
    )


def slack_work_context(spec: WorkSpec) -> Context:
    return slack_context(
        database_url=spec.database_url, policy=spec.policy, client=web_client(spec.slack)
    )
