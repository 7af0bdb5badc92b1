"""verify_chain in memory: an intact chain passes, and any tampering names the first bad seq.

Edits (even with a recomputed hash), deletions, swaps and a cut tail; the head anchor catches
what the chain alone cannot show.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandpost.core.audit import GENESIS_HASH, AuditRecord, seal, verify_chain

from .auditchain import T0, head_of, make_chain


def test_intact_chain_verifies() -> None:
    records = make_chain(10)
    report = verify_chain(records, head=head_of(records))
    assert report.ok
    assert report.count == 10
    assert report.first_bad_seq is None
    assert report.head_hash == records[-1].hash
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))


def test_empty_chain_verifies_against_an_empty_head() -> None:
    assert verify_chain([], head=(0, GENESIS_HASH)).ok
    assert verify_chain([]).count == 0


EDITS: dict[str, dict[str, Any]] = {
    "data": {"data": {"n": 999}},
    "data key order is irrelevant but a value is not": {"data": {"n": 5, "text": "other"}},
    "actor": {"actor": "mallory"},
    "kind": {"kind": "incident.closed"},
    "time": {"at": T0 + timedelta(days=1)},
    "incident": {"incident_id": "INC-2026-0002"},
    "policy version": {"policy_version": "sha256:ffffffffffffffff"},
    "stored hash": {"hash": "f" * 64},
    "previous hash": {"prev_hash": "e" * 64},
}


@pytest.mark.parametrize("field", list(EDITS))
@pytest.mark.parametrize("seq", [1, 5, 10])
def test_edited_record_is_named(field: str, seq: int) -> None:
    records = make_chain(10)
    records[seq - 1] = replace(records[seq - 1], **EDITS[field])
    report = verify_chain(records, head=head_of(make_chain(10)))
    assert report.first_bad_seq == seq
    assert report.count == seq - 1
    assert not report.ok


def test_edit_with_a_recomputed_hash_is_caught_at_the_next_link() -> None:
    records = make_chain(10)
    forged = seal(**{**_fields(records[4]), "data": {"n": 999}})
    records[4] = forged
    report = verify_chain(records, head=head_of(make_chain(10)))
    assert report.first_bad_seq == 6
    assert "previous-hash" in report.reason


def test_rewriting_the_whole_tail_is_caught_by_the_head_anchor() -> None:
    original = make_chain(10)
    records = original[:4]
    prev = records[-1].hash
    for old in original[4:]:
        forged = seal(**{**_fields(old), "actor": "mallory", "prev_hash": prev})
        records.append(forged)
        prev = forged.hash
    assert verify_chain(records).ok  # the chain alone cannot show a full rewrite …
    assert not verify_chain(records, head=head_of(original)).ok  # … the anchor can.


@pytest.mark.parametrize("seq", [1, 2, 5, 9])
def test_deleted_record_is_named(seq: int) -> None:
    records = make_chain(10)
    del records[seq - 1]
    report = verify_chain(records, head=(10, make_chain(10)[-1].hash))
    assert report.first_bad_seq == seq
    assert "removed" in report.reason


@pytest.mark.parametrize(("i", "j"), [(1, 2), (3, 7), (1, 10), (9, 10)])
def test_swapped_records_name_the_earlier_seq(i: int, j: int) -> None:
    records = make_chain(10)
    records[i - 1], records[j - 1] = records[j - 1], records[i - 1]
    assert verify_chain(records, head=head_of(make_chain(10))).first_bad_seq == i


@pytest.mark.parametrize(("i", "j"), [(1, 2), (3, 7), (9, 10)])
def test_swapped_contents_under_fixed_seqs_name_the_earlier_seq(i: int, j: int) -> None:
    records = make_chain(10)
    a, b = records[i - 1], records[j - 1]
    records[i - 1], records[j - 1] = replace(b, seq=a.seq), replace(a, seq=b.seq)
    assert verify_chain(records, head=head_of(make_chain(10))).first_bad_seq == i


@pytest.mark.parametrize("keep", [0, 1, 5, 9])
def test_truncated_tail_is_named_against_the_head(keep: int) -> None:
    full = make_chain(10)
    report = verify_chain(full[:keep], head=head_of(full))
    assert report.first_bad_seq == keep + 1
    assert report.count == keep
    assert "removed from the end" in report.reason
    # Without the anchor a cut chain looks whole: that is what the head is for.
    assert verify_chain(full[:keep]).ok


def test_altered_head_is_reported() -> None:
    records = make_chain(5)
    assert verify_chain(records, head=(5, "a" * 64)).first_bad_seq == 5
    assert verify_chain(records, head=(7, records[-1].hash)).first_bad_seq == 6


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at,
        "incident_id": record.incident_id,
        "actor": record.actor,
        "kind": record.kind,
        "data": record.data,
        "policy_version": record.policy_version,
        "prev_hash": record.prev_hash,
    }


def _expected_after(op: str, n: int, i: int, j: int) -> tuple[list[AuditRecord], int | None]:
    records = make_chain(n)
    if op == "edit":
        records[i - 1] = replace(records[i - 1], actor="mallory")
        return records, i
    if op == "delete":
        del records[i - 1]
        return records, i
    if op == "swap":
        if i == j:
            return records, None
        lo, hi = min(i, j), max(i, j)
        records[lo - 1], records[hi - 1] = records[hi - 1], records[lo - 1]
        return records, lo
    if op == "truncate":
        return records[: i - 1], i
    raise AssertionError(op)


@settings(max_examples=300, deadline=None)
@given(
    op=st.sampled_from(["edit", "delete", "swap", "truncate"]),
    n=st.integers(1, 25),
    data=st.data(),
)
def test_any_single_tampering_names_the_first_bad_seq(op: str, n: int, data: st.DataObject) -> None:
    i = data.draw(st.integers(1, n), label="i")
    j = data.draw(st.integers(1, n), label="j")
    records, expected = _expected_after(op, n, i, j)
    report = verify_chain(records, head=head_of(make_chain(n)))
    assert report.first_bad_seq == expected, report.reason
    assert report.ok is (expected is None)
