"""The local evidence store, the channel's redaction and the export archive, without a database."""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

import pytest

from commandpost.errors import InvalidInput, NotFound
from commandpost.evidence import LocalEvidenceStore, redact
from commandpost.evidence.archive import verify_archive, write_archive


def test_objects_are_named_by_their_sha256_written_once_and_read_only(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    data = b"the model said: call 555"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    path = tmp_path / digest[:2] / digest
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    inode = path.stat().st_ino
    assert store.put(data) == digest  # the same bytes again: the same object, untouched
    assert path.stat().st_ino == inode
    assert store.exists(digest) and store.get(digest) == data
    assert list(store.iter()) == [digest]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".incoming-")]
    assert store.delete(digest) and not store.delete(digest)
    with pytest.raises(NotFound):
        store.get(digest)


def test_names_that_are_not_digests_are_refused(tmp_path: Path) -> None:
    store = LocalEvidenceStore(tmp_path)
    with pytest.raises(InvalidInput):
        store.get("../../etc/passwd")


def test_redaction_replaces_personal_data_with_markers() -> None:
    text = (
        "reply quoted bob.smith@example.com, card 4111 1111 1111 1111, phone +44 20 7946 0958, "
        "from 10.1.2.3 with key sk-abcdefghijklmnopqrstuvwxyz012345; write to support@acme.com"
    )
    out = redact(text, ["acct-\\d+"])
    for marker in ("[email]", "[card]", "[phone]", "[ip]", "[secret]"):
        assert marker in out
    for leaked in ("bob.smith", "4111", "7946", "10.1.2.3", "sk-abc"):
        assert leaked not in out
    assert "support@acme.com" in out  # a role account belongs to no person
    assert redact("customer acct-99812 saw it", ["acct-\\d+"]) == "customer [redacted] saw it"


def test_a_signed_archive_verifies_and_any_change_is_found(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    files = {"a.json": b"{}", "evidence/abc": b"original"}
    write_archive(path, files, meta={"incident": "INC-2026-0001"}, secret=b"k")
    assert verify_archive(path, secret=b"k").ok
    assert not verify_archive(path, secret=b"other").signature_ok

    tampered = tmp_path / "t.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for name in src.namelist():
            body = src.read(name)
            dst.writestr(name, b"changed" if name == "evidence/abc" else body)
        dst.writestr("extra.txt", b"slipped in")
    report = verify_archive(tampered, secret=b"k")
    assert not report.ok
    assert report.changed == ("evidence/abc",) and report.unlisted == ("extra.txt",)

    (tmp_path / "junk.zip").write_bytes(os.urandom(64))
    assert verify_archive(tmp_path / "junk.zip", secret=b"k").problem is not None
