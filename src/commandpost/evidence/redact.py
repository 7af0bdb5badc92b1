"""The channel's copy of evidence: the notice lint's personal-data rules, applied as edits.

The lint finds spans (email, phone, card, IP, secret, a person's name); here each span is
replaced by a marker naming what was there, so responders still see the shape of the
evidence. Operator patterns (policy `evidence.redact`) are replaced by `[redacted]`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from commandpost.core.notice_lint import names, pii
from commandpost.core.notice_lint.doc import Doc

_MARKERS = {
    "pii-email": "[email]",
    "pii-phone": "[phone]",
    "pii-card": "[card]",
    "pii-ip": "[ip]",
    "pii-secret": "[secret]",
    "pii-name": "[name]",
}
OPERATOR_MARKER = "[redacted]"


def redact(text: str, patterns: Sequence[str] = ()) -> str:
    doc = Doc.of(text)
    spans: list[tuple[int, int, str]] = [
        (f.span.start, f.span.end, _MARKERS.get(f.rule, OPERATOR_MARKER))
        for f in (*pii.scan(doc), *names.scan(doc, protected=[]))
        if f.span.end > f.span.start
    ]
    for pattern in patterns:
        spans.extend(
            (m.start(), m.end(), OPERATOR_MARKER)
            for m in re.finditer(pattern, text)
            if m.end() > m.start()
        )
    return _replace(text, spans)


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    # Overlapping findings (a card inside an operator pattern) become one marker: the
    # first to start wins and swallows whatever overlaps it.
    out: list[str] = []
    at = 0
    for start, end, marker in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < at:
            if end > at and out:
                at = end
            continue
        out.append(text[at:start])
        out.append(marker)
        at = end
    out.append(text[at:])
    return "".join(out)
