"""The work process: served over HTTP, Command Post acks in one process and works in another.

A listener acks, then hands its work to threads that run it after Slack has the answer
(`AfterAck`), and a deliverer sends what the work queued. In one process all of these share
one interpreter lock: measured with a burst of 2,000 commands, the acks waited behind
declarations and deliveries (p99 2.4x a bare Bolt app's), and declarations waited behind the
acks. So `serve` runs the acks here (the front) and the work in a process of its own:

    Forwarding          the front's `Later`: the work is not run in the front; the request
                        being served is marked for the work process instead
    ForwardingHandler   Bolt's WSGI handler, which sends a marked request on after its ack
    WorkProcess         the front's handle on the work process: start, forward, stop
    work_main           the work process: it replays each request (its route and parsed
                        body) on the same listener, whose Web API calls are muted until the
                        ack (the front made those: a modal opened, a refusal shown), so only
                        the work after the ack runs there, with the same urgency

Nothing is pickled but requests (route and parsed body) and the `WorkSpec`, so the
listeners stay closures. What is lost if the work process dies is what was lost in one
process: work acked and not yet done. The front then starts another (see WorkProcess), and its
/healthz answers 503 only once it has given up doing so.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_sdk.web import SlackResponse

from commandpost.chat.slack import listeners as ls
from commandpost.chat.slack.after_ack import AfterAck
from commandpost.chat.slack.app import Deliverer, SlackSettings, web_client
from commandpost.chat.slack.placement import pin_process
from commandpost.chat.slack.precedence import Precedence
from commandpost.chat.slack.webclient import PooledWebClient
from commandpost.core.policy import Policy
from commandpost.scheduling import start_runner
from commandpost.service.context import Context

log = logging.getLogger(__name__)
START_TIMEOUT = 60.0  # seconds for the work process to import, connect and say it is ready
STOP_TIMEOUT = 60.0  # seconds for it to finish the work already acked
# The default for `WorkSpec.nice` (COMMANDPOST_WORK_NICE) where it is not pinned: at 0 there
# (--postgres, stop 23) the acks' p99 was 1.8-2.3x the bare app's, against 0.8-1.8x at 19.
WORK_NICE = 19
# At most this on a CPU of its own (placement.py): there the acks only meet it when they
# spill onto its core. Stop 20 chose 5 over 19 (channel ready p99 2.4-3.3 s against 2.5-3.7 s)
# and over 0 (ready 1.7-3.1 s, ack p99 up to 1.50x the bare app's). Since declarations and
# the openings' writes share transactions (stop 22) the work process often keeps up with a burst
# when it is not lowered: alternated runs of bench/slack_ack.py (stop 23), at 0 against 5,
# ready p99 0.49-1.67 s (median 0.87 s, ten runs) against 1.55-2.59 s (1.88 s, eleven; four
# over 2 s). The acks pay when it keeps up: in those runs their p99 was 21-34 ms (median 31)
# against 22-27 ms (25) in the others, and the ack p99 was over 1.5x the bare app's in three
# runs of seventeen at 0 (three of eleven at 5).
PINNED_NICE = 0
SWITCH_INTERVAL = 0.001  # seconds: the work process's interpreter switch interval
RESTARTS = 5  # work processes replaced within RESTART_WINDOW before the front gives up
RESTART_WINDOW = 60.0  # seconds


@dataclass(frozen=True)
class WorkSpec:
    """What the work process needs to build its own context (it is pickled to start it).
    `context` is a module-level function, so it pickles by name: `serve` passes one that
    wires Teams beside Slack exactly as the front's context is wired."""

    database_url: str
    policy: Policy
    slack: SlackSettings
    context: Callable[[WorkSpec], Context]
    settings: Any = None  # commandpost.settings.Settings, for `context`
    deliver_every: float = 2.0
    run_deadlines: bool = True
    log_level: str = "WARNING"
    nice: int = WORK_NICE  # how much lower the work process's CPU priority is (see work_main)
    work_cpu: int | None = None  # the CPU the work process is pinned to (placement.py)


# ------------------------------------------------------------------------------ the front
class Forwarding:
    """`Later` for the front. The work itself stays here unrun: the work process builds the
    same work from the same request."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(
        self, work: ls.Work, *, urgent: bool = False, reply: bool = False, key: str = ""
    ) -> None:
        self._local.marked = True

    def begin(self) -> None:
        """Before a request's dispatch (its listener then runs on this thread)."""
        self._local.marked = False

    def marked(self) -> bool:
        """After it: whether the listener handed work on."""
        return bool(getattr(self._local, "marked", False))


class ForwardingHandler(SlackRequestHandler):
    """Bolt's WSGI handler; a request whose listener handed work on goes to the work process
    once the ack is built (before the response is written: the order of forwarding is the
    order of acks, which keeps one person's commands in order)."""

    def __init__(self, app: App, *, marks: Forwarding, work: WorkProcess) -> None:
        super().__init__(app)
        self.marks = marks
        self.work = work

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        bolt = BoltRequest(
            body=request.get_body(), query=request.query_string, headers=request.get_headers()
        )
        self.marks.begin()
        response = self.app.dispatch(bolt)
        route = ls.route_of(bolt.body) if self.marks.marked() else None
        if route is not None:
            self.work.forward(route=route, body=bolt.body)
        return response


@dataclass(frozen=True)
class _Died:
    """On the front's outgoing queue: `process` (a work process) has died."""

    process: Any


class WorkProcess:
    """The front's handle on the work process. `forward` never blocks an ack: one thread
    writes to the pipe, however far behind the work process is.

    A work process that dies (a crash, the OOM killer) is replaced, and what was forwarded
    after it died goes to the new one; what it had been sent and not yet done is lost, and
    the log says so. After `restarts` deaths within RESTART_WINDOW it is not replaced again:
    the front's /healthz then answers 503, for whatever runs the service to restart it.
    """

    def __init__(self, spec: WorkSpec, *, restarts: int = RESTARTS) -> None:
        self.spec = spec
        self.restarts = restarts
        self._outgoing: queue.SimpleQueue[tuple[Any, ...] | _Died | None] = queue.SimpleQueue()
        self._process: Any = None
        self._conn: Connection | None = None
        self._sender: threading.Thread | None = None
        self._run_deadlines = True
        self._stopping = False
        self._deaths: list[float] = []  # when each work process was found dead (monotonic)
        self._given_up = False  # too many deaths: nothing is forwarded any more

    def start(self, *, run_deadlines: bool = True) -> WorkProcess:
        self._run_deadlines = run_deadlines
        self._stopping = False
        self._spawn()
        self._sender = threading.Thread(target=self._send, name="work-forward", daemon=True)
        self._sender.start()
        return self

    def _spawn(self) -> None:
        spawn = multiprocessing.get_context("spawn")  # no fork of a threaded process
        mine, theirs = spawn.Pipe()
        spec = WorkSpec(**{**self.spec.__dict__, "run_deadlines": self._run_deadlines})
        process = spawn.Process(
            target=work_main, args=(theirs, spec), name="commandpost-work", daemon=True
        )
        process.start()
        theirs.close()
        if not mine.poll(START_TIMEOUT) or mine.recv() != "ready":
            process.kill()
            mine.close()
            raise RuntimeError("the work process did not start (see its log)")
        self._process, self._conn = process, mine
        threading.Thread(
            target=self._watch, args=(process,), name="work-watch", daemon=True
        ).start()

    def _watch(self, process: Any) -> None:
        # Found dead while nothing is being forwarded, it is replaced all the same: the
        # deliveries and deadlines run there too. Said by which process died, not by asking
        # is_alive() later: a process whose sentinel closed may not be reapable yet.
        wait([process.sentinel])
        if not self._stopping:
            self._outgoing.put(_Died(process))

    def alive(self) -> bool:
        return self._process is not None and bool(self._process.is_alive())

    def forward(self, *, route: tuple[str, str], body: dict[str, Any]) -> None:
        if self._given_up:
            return  # nobody would take it: kept, it would only fill memory (healthz says 503)
        self._outgoing.put((route, body))

    def _send(self) -> None:
        while True:
            message = self._outgoing.get()
            if isinstance(message, _Died):
                if self._stopping or message.process is not self._process:
                    continue  # an earlier process's death, already dealt with
                if not self._replace():
                    return
                continue
            while not self._deliver(message):
                if self._stopping or not self._replace():
                    return
            if message is None:
                return

    def _deliver(self, message: tuple[Any, ...] | None) -> bool:
        assert self._conn is not None
        try:
            self._conn.send(message)
        except (OSError, ValueError):
            return False
        return True

    def _replace(self) -> bool:
        """Start a new work process for a dead one; False when that is not to be done."""
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW] + [now]
        code = self._process.exitcode if self._process is not None else None
        if len(self._deaths) > self.restarts:
            self._given_up = True
            log.error(
                "the work process died (exit code %s), %s times in %s s: not replaced; "
                "acked work is not being done",
                code,
                len(self._deaths),
                RESTART_WINDOW,
            )
            return False
        log.error(
            "the work process died (exit code %s): starting another; work acked before it "
            "died may not have been done",
            code,
        )
        if self._process is not None and self._process.is_alive():
            self._process.kill()  # its pipe broke but it lingers: never two work processes
        old = self._conn
        try:
            self._spawn()
        except RuntimeError:
            log.exception("the work process could not be replaced")
            return False
        if old is not None:
            old.close()
        return True

    def stop(self) -> None:
        """Let the work process finish what was acked (its writes and deliveries), then end."""
        if self._process is None:
            return
        self._stopping = True
        self._outgoing.put(None)
        if self._sender is not None:
            self._sender.join(timeout=STOP_TIMEOUT)
        self._process.join(timeout=STOP_TIMEOUT)
        if self._process.is_alive():
            log.error("the work process did not stop in %s s; killing it", STOP_TIMEOUT)
            self._process.kill()
            self._process.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._process = None


# ----------------------------------------------------------------------- the work process
class ReplayClient(PooledWebClient):
    """The Web API as a replayed listener sees it: calls from the replaying thread (the part
    of the listener up to and around its ack, which the front already ran, Slack calls
    included) answer ok without reaching Slack; calls from any other thread (the work after
    the ack) are made."""

    def __init__(self, *, muted: int, **options: Any) -> None:
        super().__init__(**options)
        self._muted = muted

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if threading.get_ident() == self._muted:
            return SlackResponse(
                client=self,
                http_verb="POST",
                api_url=api_method,
                req_args={},
                data={"ok": True},
                headers={},
                status_code=200,
            )
        return super().api_call(api_method, **kwargs)


def work_main(conn: Connection, spec: WorkSpec) -> None:
    """The work process: replay forwarded requests until the front says stop (or is gone).

    A replay calls the listener Bolt called in the front (same route, same parsed body) with
    an ack that goes nowhere; Bolt itself is not run again (its middleware cost as much as
    the work of a note), since the front verified and parsed the request."""
    logging.basicConfig(level=spec.log_level)
    # The writer of SQLite's lock lets go of the interpreter at every statement; with the
    # default 5 ms switch interval it then waited behind the other threads for each one, and
    # declarations held the lock four times as long as their work took (measured). 0.2 ms
    # fixed that but cost a fifth more CPU in switching (bench/slack_ack.py: 25.9-26.6 s of
    # work-process CPU against 21.1-22.1 s at 1 ms, with the incidents recorded as soon).
    sys.setswitchinterval(SWITCH_INTERVAL)
    _lower_priority(spec.nice)
    if spec.work_cpu is not None:
        pin_process({spec.work_cpu})  # before any thread starts: they all inherit it
    ctx = spec.context(spec)
    precedence = Precedence()
    deliverer = Deliverer(ctx, interval=spec.deliver_every, precedence=precedence).start()
    ctx.hand_over = deliverer.hand_over
    after_ack = AfterAck(precedence=precedence)
    listeners = ls.Listeners(ctx=ctx, kick=deliverer.kick, later=after_ack.submit)
    table = {(r.kind, r.key): r.run for r in ls.routes(listeners)}
    given = web_client(spec.slack)
    client = ReplayClient(
        muted=threading.get_ident(),
        token=given.token,
        base_url=given.base_url,
        timeout=given.timeout,
    )
    runner = start_runner(ctx, deliver=False) if spec.run_deadlines else None
    # What start-up built (modules, the app's tables, the policy) lives as long as the process:
    # out of the collector's way, a full collection no longer walks it. Measured in a burst
    # (bench/slack_ack.py, stop 24): full collections of 100-180 ms, each holding every work
    # thread, and a declaration's recorded p99 of 138-253 ms against 50-124 ms frozen.
    gc.collect()
    gc.freeze()
    conn.send("ready")
    try:
        while (message := _receive(conn)) is not None:
            route, body = message
            try:
                # The front answered Slack: this ack goes nowhere.
                table[route](Ack(), body, client)  # type: ignore[no-untyped-call]
            except Exception:
                log.exception("replaying a forwarded request failed (%s)", route)
    finally:
        after_ack.stop()  # before the deliverer: what it queues still goes out
        deliverer.stop()
        if runner is not None:
            runner.shutdown()
        ctx.engine.dispose()


def _lower_priority(nice: int) -> None:
    """Acks first: where the two processes want the same core, the served process gets it.

    Slack gives an ack 3 seconds and a responder waits on it; the work after it can wait a
    little. In a burst on two cores (bench/slack_ack.py) the work process at the served
    process's priority pushed the ack p99 to 1.73x a bare Bolt app's; at nice 19 it was
    1.07-1.12x in three runs. The price is the channels: measured again once the work
    process's reads were mended (stop 18, alternated runs), channel ready p99 was 2.9-4.2 s
    at 19 (eight runs) against 2.3-3.4 s at 0 (eleven), but the ack p99 went over 1.5x the
    bare app's in three of the eleven at 0 (up to 1.67x) and in one of the eight at 19
    (1.54x). A niceness only weighs when the cores are busy: on an idle machine the work
    runs as fast as before."""
    if nice <= 0 or not hasattr(os, "nice"):
        return
    try:
        os.nice(nice)
    except OSError as exc:
        log.warning("the work process keeps its priority: %s", exc)


def _receive(conn: Connection) -> tuple[Any, ...] | None:
    try:
        message: tuple[Any, ...] | None = conn.recv()
    except (EOFError, OSError):
        return None  # the front is gone: finish what was acked, as on a stop
    return message
