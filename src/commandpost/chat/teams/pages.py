"""What the Teams link pages (`approval_page` for gates, `notice_page` for notices) share.

Every answer carries the same headers: the token rides in the URL, so `Referrer-Policy:
no-referrer` and `Cache-Control: no-store`; no framing; and a Content-Security-Policy
whose only script source is a nonce made for that one response (a page with no script
simply does not use it). A refusal maps its `LinkRefused.why` to an HTTP status here, so
both pages answer the same way for the same failure. The CSRF cookie is per page: each
subclass of `LinkPages` names its own cookie and scopes it to its own path.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import parse_qs

from jinja2 import Environment

from commandpost.chat.teams.approvals import LinkRefused, LinkSigner, Nonced
from commandpost.service.context import Context

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

MAX_FORM = 16 * 1024
REASON_MAX = 2000
STATUS = {
    "malformed": "403 Forbidden",
    "forged": "403 Forbidden",
    "wrong_kind": "403 Forbidden",
    "csrf": "403 Forbidden",
    "not_allowed": "403 Forbidden",
    "unknown": "404 Not Found",
    "changed": "409 Conflict",
    "conflict": "409 Conflict",
    "expired": "410 Gone",
    "used": "410 Gone",
    "decided": "410 Gone",
    "unconfigured": "503 Service Unavailable",
}
HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
)
# A page's one script (the approval page's: the reason is required once Reject is chosen)
# runs by nonce; the server checks everything again anyway.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}';"
    " form-action 'self'; frame-ancestors 'none'"
)


def read_body(environ: Mapping[str, Any], limit: int) -> bytes | None:
    """The request body, or None when its length is missing a number or over `limit`."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length < 0 or length > limit:
        return None
    stream = environ.get("wsgi.input")
    return stream.read(length) if stream is not None and length else b""


def read_cookie(environ: Mapping[str, Any], name: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None and morsel.value else None


def _first(values: Mapping[str, list[str]], name: str) -> str:
    return (values.get(name) or [""])[0]


@dataclass(frozen=True)
class LinkForm:
    """A submitted decision form: the link, the CSRF value, the choice and the reason."""

    token: str
    csrf: str
    chosen: str
    reason: str


def read_query(environ: Mapping[str, Any]) -> tuple[str, str]:
    """A GET's token and preselected choice (`d`, only a preselection)."""
    query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=10)
    return _first(query, "token"), _first(query, "d")


def read_form(environ: Mapping[str, Any]) -> LinkForm | None:
    """A POST's form, or None when it is too large or unreadable."""
    raw = read_body(environ, MAX_FORM)
    if raw is None:
        return None
    form = parse_qs(raw.decode("utf-8", "replace"), max_num_fields=10)
    return LinkForm(
        token=_first(form, "token"),
        csrf=_first(form, "csrf"),
        chosen=_first(form, "decision"),
        reason=_first(form, "reason").strip()[:REASON_MAX],
    )


class Opened(Protocol):
    """What a link opens: a page's data, carrying the link's claims."""

    @property
    def claims(self) -> Nonced: ...


P = TypeVar("P", bound=Opened)


class LinkPages(Generic[P]):
    """One page's rendering, refusals and form checks over one Context and one signer.

    A subclass names its CSRF cookie, the path the cookie is scoped to, its refusal
    template, what the log and the CSRF refusal call it, and how a token opens its page."""

    cookie_name: ClassVar[str]
    path: ClassVar[str]
    refused_template: ClassVar[str]
    what: ClassVar[str]  # in the log: "teams <what> link refused"
    page_name: ClassVar[str]  # in the CSRF refusal: "the <page_name> page you opened"

    def __init__(self, ctx: Context, signer: LinkSigner, *, templates: Environment) -> None:
        self.ctx = ctx
        self.signer = signer
        self.templates = templates

    def open(self, token: str) -> P:
        """The page `token` opens; LinkRefused when it may not be."""
        raise NotImplementedError

    def html(
        self,
        start_response: StartResponse,
        *,
        status: str,
        template: str,
        cookie: str | None = None,
        **values: Any,
    ) -> list[bytes]:
        nonce = secrets.token_urlsafe(16)
        body = self.templates.get_template(template).render(nonce=nonce, **values).encode()
        headers = [
            *HEADERS,
            ("Content-Security-Policy", CSP.format(nonce=nonce)),
            ("Content-Length", str(len(body))),
        ]
        if cookie is not None:
            headers.append(
                (
                    "Set-Cookie",
                    f"{self.cookie_name}={cookie}; Path={self.path}; HttpOnly; SameSite=Strict",
                )
            )
        start_response(status, headers)
        return [body]

    def refuse(self, start_response: StartResponse, why: str, *, message: str) -> list[bytes]:
        # The reason is logged without the token: a link is a credential.
        log.info("teams %s link refused: %s", self.what, why)
        return self.html(
            start_response,
            status=STATUS.get(why, "403 Forbidden"),
            template=self.refused_template,
            why=why,
            message=message,
        )

    def refused(self, start_response: StartResponse, exc: LinkRefused) -> list[bytes]:
        return self.refuse(start_response, exc.why, message=str(exc))

    def browser_cookie(self, environ: Mapping[str, Any]) -> str | None:
        return read_cookie(environ, self.cookie_name)

    def opened(self, environ: Mapping[str, Any]) -> tuple[str, str, P, str]:
        """A GET's token, preselected choice, page, and the browser's CSRF cookie (a new one
        when it has none yet); LinkRefused when the link may not be used."""
        token, chosen = read_query(environ)
        page = self.open(token)
        return token, chosen, page, self.browser_cookie(environ) or secrets.token_urlsafe(24)

    def posted(self, environ: Mapping[str, Any]) -> tuple[LinkForm, P, str]:
        """A POST's form, the page its link opens, and the browser's cookie; LinkRefused
        when the form is unreadable, the link may not be used, or the CSRF check fails."""
        form = read_form(environ)
        if form is None:
            raise LinkRefused("malformed", "The form was too large or unreadable.")
        page = self.open(form.token)
        cookie = self.browser_cookie(environ)
        if (
            cookie is None
            or not form.csrf
            or not secrets.compare_digest(form.csrf, self.signer.csrf(page.claims, cookie))
        ):
            raise LinkRefused(
                "csrf",
                f"This form did not come from the {self.page_name} page you opened (its CSRF"
                " check failed). Open the link again and submit from there.",
            )
        return form, page, cookie
