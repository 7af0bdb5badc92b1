"""Running the app under test in a child process (the benchmark script re-run with
`--child KIND`), so the client and the fake Slack do not share its GIL.

The child prints its port on the first line of stdout and serves until its stdin closes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Child:
    port: int
    pid: int


@contextmanager
def app_process(
    script: str, kind: str, *, api_url: str, token: str, database_url: str = ""
) -> Iterator[Child]:
    command = [sys.executable, script, "--child", kind, "--api-url", api_url]
    command += ["--token", token, "--database-url", database_url]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the {kind} app did not start (said {line!r})")
        yield Child(int(line), child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=120)


def cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time (user + system) so far of `pid` and each process below it, by pid, read from
    /proc (Linux); {} where /proc cannot tell."""
    found: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    waiting = [pid]
    while waiting:
        current = waiting.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found[current] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        waiting += [int(c) for c in children]
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process used between two `cpu_seconds` readings."""
    return {pid: seconds - before.get(pid, 0.0) for pid, seconds in after.items()}


FORMATS = {".txt": "raw", ".json": "speedscope"}  # py-spy's formats by file name; else SVG


@contextmanager
def profiled(pid: int, out: str | None) -> Iterator[None]:
    """py-spy attached to `pid` and its child processes for the block, when `out` is given."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not out or not Path(spy).exists():
        if out:
            print(f"py-spy not found at {spy}; not profiled", flush=True)
        yield
        return
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--gil",
            "--subprocesses",
            "--nonblocking",
            "-p",
            str(pid),
            "-o",
            out,
            "-r",
            "200",
        ]
        + (["--format", FORMATS[Path(out).suffix]] if Path(out).suffix in FORMATS else []),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


def postgres_database(name: str) -> tuple[str, Any] | None:
    """A throwaway PostgreSQL cluster (tests/pgserver.py) with an empty database `name`: its
    URL and the server (stop it when done); None when PostgreSQL is not installed."""
    import psycopg
    from tests import pgserver

    server = pgserver.start()
    if server is None:
        return None
    with psycopg.connect(
        f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name), server
