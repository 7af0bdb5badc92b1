"""How fast is audit chain verification, compared with the hashing it cannot avoid?

    .venv/bin/python bench/audit_verify.py [--events N] [--db] [--profile]

Builds a chain of N events with core.audit.seal (in memory), then in the same run times:

  verify_chain        core.audit.verify_chain over the records
  sha256 only         hashlib.sha256 over the same canonical bytes, prepared in advance
  bytes + sha256      core.audit.record_bytes then sha256: the serialisation and hashing
                      every verifier has to do, with none of verify_chain's checks

and prints events/second for each and the ratios. `--db` also writes the chain into a SQLite
database in a temporary directory and times the service's audit_log.verify (rows read in
pages, JSON parsed, chain verified). `--profile` prints where verify_chain spends its time.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from timing import best_of

from commandpost.core.audit import (
    GENESIS_HASH,
    AuditRecord,
    canonical_json,
    record_bytes,
    seal,
    verify_chain,
)

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KINDS = ("incident.declared", "role.paged", "role.acknowledged", "status.changed", "note.added")
ACTORS = ("alice", "bob", "carol", "erin", "commandpost")


def event_data(i: int) -> dict[str, Any]:
    """Roughly the size and shape of what the service records."""
    return {
        "role": "safety_lead",
        "person": ACTORS[i % len(ACTORS)],
        "why": "paged for SEV1",
        "seconds_after_page": i % 600,
        "text": f"reproduced on {i % 7} of 10 prompts",
    }


def build_chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        record = seal(
            seq=i,
            at=START + timedelta(seconds=i),
            incident_id=f"INC-2026-{(i // 50) + 1:04d}",
            actor=ACTORS[i % len(ACTORS)],
            kind=KINDS[i % len(KINDS)],
            data=event_data(i),
            policy_version="sha256:0123456789abcdef",
            prev_hash=prev,
        )
        records.append(record)
        prev = record.hash
    return records


def row(label: str, n: int, seconds: float, baseline: float | None = None) -> str:
    ratio = f"{seconds / baseline:6.1f}x" if baseline else "      "
    return f"  {label:<22} {n / seconds:>12,.0f} events/s  {seconds * 1000:9.1f} ms  {ratio}"


def run_db(records: list[AuditRecord], repeats: int) -> float:
    """Write the chain into a fresh SQLite database and time the service's verify."""
    from sqlalchemy import insert

    from commandpost.chat.console import ConsoleChat
    from commandpost.policy_file import load_policy
    from commandpost.runtime import build_context
    from commandpost.service import audit_log
    from commandpost.service.ports import ManualClock
    from commandpost.storage import models as m
    from commandpost.storage.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        clock = ManualClock(START)
        ctx = build_context(
            database_url=url,
            policy=load_policy(ROOT / "policy.yml"),
            clock=clock,
            chat=ConsoleChat(clock),
        )
        rows = [
            {
                "seq": r.seq,
                "at": r.at,
                "incident_id": r.incident_id,
                "actor": r.actor,
                "kind": r.kind,
                "data": canonical_json(r.data),
                "policy_version": r.policy_version,
                "prev_hash": r.prev_hash,
                "hash": r.hash,
            }
            for r in records
        ]
        with ctx.engine.begin() as conn:
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(m.AuditEvent), rows[start : start + 10_000])
            conn.execute(
                insert(m.AuditHead), [{"id": 1, "seq": records[-1].seq, "hash": records[-1].hash}]
            )
        report = audit_log.verify(ctx)
        assert report.ok and report.count == len(records), report
        seconds = best_of(repeats, lambda: audit_log.verify(ctx))
        ctx.engine.dispose()
        return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="chain length (100,000)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (3)")
    parser.add_argument("--db", action="store_true", help="also time audit_log.verify on SQLite")
    parser.add_argument("--profile", action="store_true", help="profile verify_chain")
    args = parser.parse_args(argv)
    n = args.events

    began = time.perf_counter()
    records = build_chain(n)
    built = time.perf_counter() - began
    head = (records[-1].seq, records[-1].hash)
    report = verify_chain(records, head=head)
    assert report.ok and report.count == n, report

    prepared = [record_bytes(r) for r in records]
    mean_size = sum(map(len, prepared)) / n

    def sha_only() -> None:
        sha256 = hashlib.sha256
        for raw in prepared:
            sha256(raw).hexdigest()

    def bytes_and_sha() -> None:
        sha256 = hashlib.sha256
        for record in records:
            sha256(record_bytes(record)).hexdigest()

    t_verify = best_of(args.repeats, lambda: verify_chain(records, head=head))
    t_sha = best_of(args.repeats, sha_only)
    t_both = best_of(args.repeats, bytes_and_sha)

    print(f"audit chain: {n:,} events, {mean_size:.0f} canonical bytes each on average")
    print(f"  (built with seal in {built:.2f} s; python {sys.version.split()[0]})")
    print(f"  {'':<22} {'throughput':>19}  {'time':>12}  vs sha256")
    print(row("sha256 only", n, t_sha))
    print(row("bytes + sha256", n, t_both, t_sha))
    print(row("verify_chain", n, t_verify, t_sha))
    if args.db:
        t_db = run_db(records, args.repeats)
        print(row("audit_log.verify (db)", n, t_db, t_sha))
    print(
        f"verify_chain is {t_verify / t_sha:.1f}x plain sha256 over prepared bytes, "
        f"{t_verify / t_both:.2f}x building the canonical bytes and hashing them"
    )

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        verify_chain(records, head=head)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
