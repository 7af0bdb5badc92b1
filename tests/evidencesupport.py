"""The evidence tests' stores: a real local S3 server (moto's server mode on a free port), a
fresh bucket per test, and changing or removing objects behind a store's back."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from commandpost.evidence import LocalEvidenceStore
from commandpost.evidence.config import store_from_settings
from commandpost.evidence.s3 import S3EvidenceStore
from commandpost.service.ports import EvidenceStore
from commandpost.settings import Settings

# moto accepts any credentials; these only make boto3 sign its requests.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key-not-for-logs",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket(endpoint: str) -> str:
    name = f"evidence-{os.getpid()}-{next(_buckets)}"
    admin(endpoint).create_bucket(Bucket=name)
    return name


def admin(endpoint: str) -> object:
    """A client of our own, standing for whoever else can write to the bucket."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def s3_store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3EvidenceStore:
    """An S3 store built the way the application builds it: from the settings, with boto3
    reading the credentials from the environment."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    bucket = new_bucket(s3_endpoint)
    settings = Settings(
        evidence_url=f"s3://{bucket}/sealed/evidence", evidence_s3_endpoint_url=s3_endpoint
    )
    store = store_from_settings(settings)
    assert isinstance(store, S3EvidenceStore)
    return store


def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> EvidenceStore:
    if kind == "local":
        return LocalEvidenceStore(tmp_path / "sealed")
    store: S3EvidenceStore = request.getfixturevalue("s3_store")
    return store


def tamper(store: EvidenceStore, sha256: str, data: bytes) -> None:
    """Replace a sealed object's bytes the way someone with access to the storage could."""
    if isinstance(store, S3EvidenceStore):
        store.client.put_object(Bucket=store.bucket, Key=store.key(sha256), Body=data)
        return
    assert isinstance(store, LocalEvidenceStore)
    path = store.path(sha256)
    path.chmod(0o644)
    path.write_bytes(data)


def remove(store: EvidenceStore, sha256: str) -> None:
    if isinstance(store, S3EvidenceStore):
        store.client.delete_object(Bucket=store.bucket, Key=store.key(sha256))
        return
    assert isinstance(store, LocalEvidenceStore)
    store.path(sha256).unlink()
