"""The S3-compatible evidence store against a real local S3 server (moto's server mode)."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import pytest

from commandpost.errors import DeliveryFailed, EvidenceChanged, InvalidInput, NotFound
from commandpost.evidence.config import store_from_settings
from commandpost.evidence.s3 import S3EvidenceStore, parse_url
from commandpost.settings import Settings

from .evidencesupport import AWS_ENV, admin, new_bucket, remove, tamper
from .evidencesupport import s3_endpoint as s3_endpoint
from .evidencesupport import s3_store as s3_store
from .support import cli_on, declare_by_cli

DATA = b"the model said: call 555"


def test_objects_are_content_addressed_under_the_prefix(s3_store: S3EvidenceStore) -> None:
    digest = s3_store.put(DATA)
    assert digest == hashlib.sha256(DATA).hexdigest()
    key = f"sealed/evidence/{digest[:2]}/{digest}"
    stored = s3_store.client.get_object(Bucket=s3_store.bucket, Key=key)
    assert stored["Body"].read() == DATA
    assert s3_store.exists(digest) and s3_store.get(digest) == DATA
    assert list(s3_store.iter()) == [digest]
    assert s3_store.delete(digest) and not s3_store.delete(digest)
    assert not s3_store.exists(digest)
    with pytest.raises(NotFound, match="missing"):
        s3_store.get(digest)
    assert list(s3_store.iter()) == []


def test_an_object_is_written_once(s3_store: S3EvidenceStore) -> None:
    digest = s3_store.put(DATA)
    key = s3_store.key(digest)
    first = s3_store.client.head_object(Bucket=s3_store.bucket, Key=key)["ETag"]
    assert s3_store.put(DATA) == digest  # the same bytes again: the same object
    assert s3_store.client.head_object(Bucket=s3_store.bucket, Key=key)["ETag"] == first
    # Changed behind the store's back, sealing the original again does not paper over it:
    # the object is never rewritten, and reading it says what happened.
    tamper(s3_store, digest, b"edited")
    assert s3_store.put(DATA) == digest
    with pytest.raises(EvidenceChanged, match=digest):
        s3_store.get(digest)


class _Racing(S3EvidenceStore):
    """Another writer stores the key between this store's HEAD and its PUT."""

    def exists(self, sha256: str) -> bool:
        self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=b"first writer")
        return False


def test_the_put_is_conditional_so_a_racing_writer_is_never_overwritten(
    s3_store: S3EvidenceStore,
) -> None:
    racing = _Racing(s3_store.client, bucket=s3_store.bucket, prefix=s3_store.prefix)
    digest = racing.put(DATA)
    body = s3_store.client.get_object(Bucket=s3_store.bucket, Key=s3_store.key(digest))["Body"]
    assert body.read() == b"first writer"  # If-None-Match: * refused the second PUT


def test_listing_follows_every_page_and_skips_what_is_not_evidence(
    s3_store: S3EvidenceStore,
) -> None:
    small = S3EvidenceStore(s3_store.client, bucket=s3_store.bucket, prefix="sealed/evidence/")
    small.page_size = 2
    digests = sorted(small.put(f"object {i}".encode()) for i in range(7))
    client, bucket = s3_store.client, s3_store.bucket
    client.put_object(Bucket=bucket, Key="sealed/evidence/README.txt", Body=b"x")
    wrong_fan = hashlib.sha256(b"elsewhere").hexdigest()
    client.put_object(Bucket=bucket, Key=f"sealed/evidence/zz/{wrong_fan}", Body=b"elsewhere")
    client.put_object(Bucket=bucket, Key=f"other/{digests[0][:2]}/{digests[0]}", Body=b"x")
    assert sorted(small.iter()) == digests


def test_a_missing_object_and_a_changed_one_are_told_apart(s3_store: S3EvidenceStore) -> None:
    one, two = s3_store.put(b"one"), s3_store.put(b"two")
    remove(s3_store, one)
    tamper(s3_store, two, b"TWO")
    assert not s3_store.exists(one)
    with pytest.raises(NotFound):
        s3_store.get(one)
    with pytest.raises(EvidenceChanged):
        s3_store.get(two)


def test_names_that_are_not_digests_are_refused(s3_store: S3EvidenceStore) -> None:
    with pytest.raises(InvalidInput):
        s3_store.get("../../other-bucket/key")


def test_the_url_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_url("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_url("s3://bucket") == ("bucket", "")
    for bad in ("s3:///prefix", "https://bucket/x", "s3://bucket/x?versioning=1"):
        with pytest.raises(InvalidInput):
            parse_url(bad)
    with pytest.raises(InvalidInput, match="s3://bucket/prefix"):
        store_from_settings(Settings(evidence_url="file:///srv/evidence"))
    local = store_from_settings(Settings(evidence_dir="/srv/evidence"))
    assert not isinstance(local, S3EvidenceStore)


def test_a_failing_bucket_names_the_bucket_never_the_credentials(
    s3_store: S3EvidenceStore, caplog: pytest.LogCaptureFixture
) -> None:
    gone = S3EvidenceStore(s3_store.client, bucket="no-such-bucket-here", prefix="x")
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryFailed) as caught:
        gone.put(DATA)
    assert "no-such-bucket-here" in str(caught.value)
    # Ours only: botocore's own DEBUG output shows the access key id in signed headers.
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("commandpost")]
    assert ours and "no-such-bucket-here" in ours[0]
    said = str(caught.value) + "\n".join(ours)
    for secret in (AWS_ENV["AWS_SECRET_ACCESS_KEY"], AWS_ENV["AWS_ACCESS_KEY_ID"]):
        assert secret not in said


def test_verify_from_the_command_line_finds_a_changed_and_a_missing_object(
    s3_endpoint: str, tmp_path: Path
) -> None:
    bucket = new_bucket(s3_endpoint)
    env = {
        **AWS_ENV,
        "COMMANDPOST_EVIDENCE_URL": f"s3://{bucket}/evidence",
        "COMMANDPOST_EVIDENCE_S3_ENDPOINT_URL": s3_endpoint,
    }
    cli = cli_on(f"sqlite:///{tmp_path / 'cli.db'}", env)
    iid = declare_by_cli(cli)
    shas = []
    for name in ("reply.txt", "prompt.txt"):
        sample = tmp_path / name
        sample.write_text(f"{name}: quoted bob.smith@example.com")
        code, out, err = cli("evidence-store", "add", iid, str(sample), "--as", "erin")
        assert code == 0, err
        shas.append(re.findall(r"sha256:([0-9a-f]{64})", out)[0])
    code, out, _ = cli("evidence-store", "verify")
    assert code == 0 and "2 object(s)" in out
    client = admin(s3_endpoint)
    client.put_object(Bucket=bucket, Key=f"evidence/{shas[0][:2]}/{shas[0]}", Body=b"swapped")  # type: ignore[attr-defined]
    client.delete_object(Bucket=bucket, Key=f"evidence/{shas[1][:2]}/{shas[1]}")  # type: ignore[attr-defined]
    code, _, err = cli("evidence-store", "verify")
    assert code == 1
    assert f"CHANGED {shas[0]}" in err and f"MISSING {shas[1]}" in err
    code, _, err = cli("evidence-store", "show", "1", "--as", "ivan", "--reason", "review")
    assert code == 2 and "no longer matches" in err
