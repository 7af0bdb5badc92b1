"""The audit chain's canonical form: what a record's hash covers, frozen for good.

Stored chains were sealed with this form, so golden hashes pin it and an independent
reference implementation is checked against it for any input hypothesis finds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandpost.core.audit import GENESIS_HASH, canonical_bytes, recompute, seal, verify_chain

from .auditchain import head_of, make_chain


def test_hash_covers_the_canonical_bytes() -> None:
    record = make_chain(1)[0]
    fields = {k: getattr(record, k) for k in ("seq", "at", "incident_id", "actor", "kind")}
    raw = canonical_bytes(
        **fields, data=record.data, policy_version=record.policy_version, prev_hash=GENESIS_HASH
    )
    assert hashlib.sha256(raw).hexdigest() == record.hash == recompute(record)


# The canonical form is frozen: stored chains were sealed with it. These golden hashes and the
# reference implementation below must never change, however canonical_bytes is optimised.
GOLDEN_DATA = {
    "gate": 7,
    "decision": "approve",
    "reason": None,
    "note": "größer — ok",
    "list": [1, 2.5, True],
    "nested": {"z": 1, "a": [{"y": 2, "b": 3}]},
}


def test_golden_hashes() -> None:
    first = seal(
        seq=42,
        at=datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        incident_id="INC-2026-0042",
        actor="alice",
        kind="gate.decided",
        data=GOLDEN_DATA,
        policy_version="sha256:0123456789abcdef",
        prev_hash=GENESIS_HASH,
    )
    assert first.hash == "fd0929f1fa64ee7831f2025008345c212cb6778abf593cc45554bf325e71d871"
    second = seal(
        seq=1,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        incident_id=None,
        actor="commandpost",
        kind="k",
        data={},
        policy_version=None,
        prev_hash="a" * 64,
    )
    assert second.hash == "0daed876ee343e7ec537be9d37a65ec6f1e1f1743d169e7b876497b89300a0ec"


def reference_bytes(
    seq: int,
    at: datetime,
    incident_id: str | None,
    actor: str,
    kind: str,
    data: dict[str, Any],
    policy_version: str | None,
    prev_hash: str,
) -> bytes:
    """The canonical form as first specified, written out independently of core.audit."""
    data_json = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    when = at.astimezone(UTC).isoformat(timespec="microseconds")
    body = [seq, when, incident_id, actor, kind, data_json, policy_version]
    return (prev_hash + "\n" + json.dumps(body, separators=(",", ":"))).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(1, 10**12),
    at=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))])),
    incident_id=st.none() | st.text(max_size=15),
    actor=st.text(max_size=15),
    kind=st.text(max_size=20),
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    policy_version=st.none() | st.text(max_size=25),
    prev_hash=st.text("0123456789abcdef", min_size=64, max_size=64),
)
def test_canonical_bytes_match_the_reference(
    seq: int,
    at: datetime,
    incident_id: str | None,
    actor: str,
    kind: str,
    data: dict[str, Any],
    policy_version: str | None,
    prev_hash: str,
) -> None:
    args = (seq, at, incident_id, actor, kind, data, policy_version, prev_hash)
    expected = reference_bytes(*args)
    fields: dict[str, Any] = dict(zip(_FIELD_NAMES, args, strict=True))
    assert canonical_bytes(**fields) == expected
    record = seal(**fields)
    assert record.hash == hashlib.sha256(expected).hexdigest()
    assert recompute(record) == record.hash


_FIELD_NAMES = (
    "seq",
    "at",
    "incident_id",
    "actor",
    "kind",
    "data",
    "policy_version",
    "prev_hash",
)


def test_same_instant_in_another_timezone_is_not_tampering() -> None:
    records = make_chain(3)
    elsewhere = records[1].at.astimezone(timezone(timedelta(hours=-5)))
    records[1] = replace(records[1], at=elsewhere)
    assert verify_chain(records, head=head_of(records)).ok


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        seal(
            seq=1,
            at=datetime(2026, 1, 1),
            incident_id=None,
            actor="a",
            kind="k",
            data={},
            policy_version=None,
            prev_hash=GENESIS_HASH,
        )
