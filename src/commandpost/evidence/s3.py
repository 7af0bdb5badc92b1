"""Evidence objects in an S3-compatible bucket, named by their SHA-256 and written once.

    S3EvidenceStore.from_url("s3://bucket/prefix", endpoint_url=None, region=None)

Keys are `<prefix>/<first two hex digits>/<sha256>`, like the local store's files. A put
is conditional (`If-None-Match: *`), so an object already stored is never replaced, even by
two writers racing on the same bytes. The client reads credentials, region and endpoint the
way boto3 always does (AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_ENDPOINT_URL_S3, instance roles);
this module never logs them, nor anything but bucket, key and status.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from commandpost.errors import DeliveryFailed, InvalidInput, NotFound
from commandpost.evidence.local import SHA256, check_content, check_sha256

log = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound"}
_EXISTS = {"412", "PreconditionFailed", "ConditionalRequestConflict"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def parse_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise InvalidInput(f"an S3 evidence URL looks like s3://bucket/prefix, not {url[:80]!r}")
    if parts.query or parts.fragment:
        raise InvalidInput("an S3 evidence URL takes no query or fragment")
    return parts.netloc, parts.path.strip("/")


class S3EvidenceStore:
    def __init__(
        self, client: Any, *, bucket: str, prefix: str = "", page_size: int = 1000
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.page_size = page_size  # keys per list request (S3's own maximum is 1000)

    @classmethod
    def from_url(
        cls, url: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> S3EvidenceStore:
        bucket, prefix = parse_url(url)
        # None leaves each to boto3's own lookup (environment, config file, instance role).
        client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)
        return cls(client, bucket=bucket, prefix=prefix)

    def key(self, sha256: str) -> str:
        name = f"{sha256[:2]}/{check_sha256(sha256)}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest  # sealed already; never rewritten (and not uploaded again)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(digest),
                Body=data,
                IfNoneMatch="*",
                # The server checks the bytes it received against this before storing them.
                ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
                ContentType="application/octet-stream",
            )
        except ClientError as exc:
            if _code(exc) in _EXISTS:
                return digest  # another writer sealed the same bytes first
            raise self._failed("put", digest, exc) from None
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
            data: bytes = answer["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"evidence object {sha256} is missing from the store") from None
            raise self._failed("get", sha256, exc) from None
        return check_content(sha256, data)

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise self._failed("head", sha256, exc) from None
        return True

    def delete(self, sha256: str) -> bool:
        # S3 answers 204 whether or not the key existed; the HEAD says which it was.
        if not self.exists(sha256):
            return False
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            raise self._failed("delete", sha256, exc) from None
        return True

    def iter(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start, PaginationConfig={"PageSize": self.page_size}
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    fan, _, name = str(item["Key"]).removeprefix(start).partition("/")
                    # Anything else under the prefix (a stray upload) is not evidence.
                    if SHA256.fullmatch(name) and fan == name[:2]:
                        yield name
        except ClientError as exc:
            raise self._failed("list", start or "/", exc) from None

    def _failed(self, op: str, what: str, exc: ClientError) -> DeliveryFailed:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        log.warning("evidence store: %s s3://%s %s failed: %s", op, self.bucket, what, status)
        return DeliveryFailed(
            f"the evidence store could not {op} {what} in bucket {self.bucket}: "
            f"{_code(exc) or 'error'} (HTTP {status})"
        )
