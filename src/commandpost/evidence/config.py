"""Which evidence store the settings choose: S3-compatible when COMMANDPOST_EVIDENCE_URL is an
`s3://` URL, else the local directory COMMANDPOST_EVIDENCE_DIR."""

from __future__ import annotations

from typing import TYPE_CHECKING

from commandpost.errors import InvalidInput
from commandpost.evidence.local import LocalEvidenceStore
from commandpost.settings import Settings

if TYPE_CHECKING:
    from commandpost.evidence.s3 import S3EvidenceStore


def store_from_settings(settings: Settings) -> LocalEvidenceStore | S3EvidenceStore:
    url = (settings.evidence_url or "").strip()
    if not url:
        return LocalEvidenceStore(settings.evidence_dir)
    if not url.startswith("s3://"):
        raise InvalidInput(
            f"COMMANDPOST_EVIDENCE_URL must be an s3://bucket/prefix URL, not {url[:80]!r} "
            "(leave it unset for the local directory COMMANDPOST_EVIDENCE_DIR)"
        )
    # Imported here: boto3 is slow to import and only this choice needs it.
    from commandpost.evidence.s3 import S3EvidenceStore

    return S3EvidenceStore.from_url(
        url, endpoint_url=settings.evidence_s3_endpoint_url, region=settings.evidence_s3_region
    )
