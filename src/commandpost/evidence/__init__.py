"""Sealed evidence: where the original bytes live, and the copy the channel may see.

    LocalEvidenceStore(dir)   content-addressed files under <dir>/<aa>/<sha256>, written once
    redact(text, patterns)    personal data replaced by markers ([email], [card], ...)

The store implements `commandpost.service.ports.EvidenceStore`; an S3-compatible one can
stand beside it. The records (who added what, who read it, legal holds) live in the
database: `commandpost.storage.evidence_models`, used by `commandpost.service.evidence`.
"""

from commandpost.evidence.local import LocalEvidenceStore, check_sha256
from commandpost.evidence.redact import redact

__all__ = ["LocalEvidenceStore", "check_sha256", "redact"]
