"""Customer, regulator, leadership and status-page notices: templates, rendering, lint.

    catalogue = Catalogue.for_policy(policy)          # operator templates first, then built-in
    draft = catalogue.draft("customer_initial", facts, severity=Severity.SEV1,
                            root_cause_known=False)   # text rendered + linted
    draft.notice.text, draft.notice.sha256, draft.findings, draft.blocking
    catalogue.render(name, facts, fmt=Format.HTML)     # the email body, the Slack preview
    lint(edited_text, draft.context)                   # after a reviewer's edit

The lint itself is pure and lives in `commandpost.core.notice_lint`.
"""

from commandpost.notices.catalogue import Catalogue, Draft, RenderedNotice, builtin_dir
from commandpost.notices.formats import Format, slack_escape
from commandpost.notices.headers import TemplateSpec

__all__ = [
    "Catalogue",
    "Draft",
    "Format",
    "RenderedNotice",
    "TemplateSpec",
    "builtin_dir",
    "slack_escape",
]
