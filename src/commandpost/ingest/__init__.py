"""Alert ingestion over HTTP, independent of any chat platform.

alert_ingest_app(ctx, settings)   the WSGI callable for POST /alerts/<source>
is_alert_path(path)               whether to route a request to it
IngestSettings.from_env()         where `env:NAME` secrets in the policy are read
sign(secret, timestamp=…, body=…) the X-CommandPost-Signature a sender computes
"""

from commandpost.ingest.app import IngestSettings, alert_ingest_app, is_alert_path
from commandpost.ingest.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "IngestSettings",
    "alert_ingest_app",
    "is_alert_path",
    "sign",
]
