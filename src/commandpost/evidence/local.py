"""Evidence objects as read-only files in a local directory, named by their SHA-256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from commandpost.errors import EvidenceChanged, InvalidInput, NotFound

SHA256 = re.compile(r"[0-9a-f]{64}")
_READ_ONLY = 0o444


def check_sha256(value: str) -> str:
    """The digest as a file name: anything else could walk out of the store's directory."""
    if not SHA256.fullmatch(value):
        raise InvalidInput(f"not a SHA-256 hex digest: {value[:80]!r}")
    return value


def check_content(sha256: str, data: bytes) -> bytes:
    """The bytes, if they still hash to their name: every store's `get` hands back only
    what was sealed, so no caller can pass on a changed original by forgetting to check."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise EvidenceChanged(sha256)
    return data


class LocalEvidenceStore:
    """`<root>/<first two hex digits>/<sha256>`; the fan-out keeps directories small."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / check_sha256(sha256)

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest  # the same bytes are already sealed; never rewrite them
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a temporary name, then linked into place: a reader never sees a
        # partial object, and a link (unlike a rename) refuses to replace an existing file,
        # so two writers racing on the same bytes cannot overwrite each other.
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, _READ_ONLY)
            with contextlib.suppress(FileExistsError):
                os.link(temp, target)
        finally:
            os.unlink(temp)
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"evidence object {sha256} is missing from the store") from None
        return check_content(sha256, data)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def iter(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for fan in sorted(self.root.iterdir()):
            if not fan.is_dir() or len(fan.name) != 2:
                continue
            for item in sorted(fan.iterdir()):
                if SHA256.fullmatch(item.name):
                    yield item.name
