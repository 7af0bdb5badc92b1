"""The export archive's manifest: every file's SHA-256, signed with HMAC-SHA256.

    write_archive(path, files, meta=..., secret=b"...")   one zip, manifest.json last
    verify_archive(path, secret=b"...")  -> ArchiveReport  (needs only the zip and the key)

The signature covers the canonical JSON of the manifest without its `signature` field, so
changing, adding or removing any file, or the manifest itself, fails verification.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commandpost.errors import InvalidInput

MANIFEST = "manifest.json"
FORMAT = "commandpost-export/1"


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(manifest: Mapping[str, Any], secret: bytes) -> str:
    return hmac.new(secret, _canonical(manifest), hashlib.sha256).hexdigest()


def write_archive(
    path: Path, files: Mapping[str, bytes], *, meta: Mapping[str, Any], secret: bytes
) -> dict[str, Any]:
    if MANIFEST in files:
        raise InvalidInput(f"{MANIFEST} is the archive's own file")
    manifest: dict[str, Any] = {
        **meta,
        "format": FORMAT,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    manifest["signature"] = {"algorithm": "HMAC-SHA256", "value": sign(manifest, secret)}
    # Written beside the target and moved into place: no half-written archive is left.
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return manifest


@dataclass(frozen=True)
class ArchiveReport:
    signature_ok: bool
    changed: tuple[str, ...]
    missing: tuple[str, ...]
    unlisted: tuple[str, ...]
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.problem is None
            and self.signature_ok
            and not (self.changed or self.missing or self.unlisted)
        )


def verify_archive(path: Path, *, secret: bytes) -> ArchiveReport:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if MANIFEST not in names:
                return ArchiveReport(False, (), (), (), problem=f"no {MANIFEST} in the archive")
            manifest = json.loads(archive.read(MANIFEST))
            listed: dict[str, str] = manifest.get("files", {})
            changed = tuple(
                sorted(
                    name
                    for name, digest in listed.items()
                    if name in names and hashlib.sha256(archive.read(name)).hexdigest() != digest
                )
            )
    except (zipfile.BadZipFile, json.JSONDecodeError, KeyError, OSError) as exc:
        return ArchiveReport(False, (), (), (), problem=f"not a readable export: {exc}")
    claimed = manifest.get("signature", {}).get("value", "")
    signature_ok = isinstance(claimed, str) and hmac.compare_digest(claimed, sign(manifest, secret))
    missing = tuple(sorted(set(listed) - names))
    unlisted = tuple(sorted(names - set(listed) - {MANIFEST}))
    return ArchiveReport(signature_ok, changed, missing, unlisted)
