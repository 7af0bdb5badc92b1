"""The incident pages on `commandpost serve`'s port: a read-only WSGI app.

    GET /incidents                    every incident (id, title, severity, class, status,
                                      declared at, incident commander)
    GET /incidents/<INC-…>            one incident: milestones against the SLAs (inline SVG),
                                      roles, gates and their decisions, notices, timeline
    GET /incidents/session?token=…    exchanges a viewer link (`commandpost web link`) for
                                      a session cookie

Order of checks, each answered before anything is read: 405 not GET or HEAD · 503 neither
`web_secret` nor a trusted header configured · 401 no valid link, session or proxy header
(the same page whatever was wrong, so it tells nothing about incidents) · 403 a person the
policy does not (or no longer) let view · 404 no such page or incident.

Every answer is `no-store`, may not be framed, and runs no script: the Content-Security-Policy
allows only the page's own stylesheet (by hash) and nothing loaded from anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from markupsafe import Markup

from commandpost.errors import InvalidInput, NotFound
from commandpost.service.context import Context
from commandpost.service.ids import parse_incident_id
from commandpost.settings import Settings
from commandpost.templating import environment
from commandpost.web import views
from commandpost.web.auth import (
    AccessRefused,
    Viewer,
    ViewerSigner,
    cookie_token,
    may_view,
    person_from_header,
    session_cookie,
)

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

PREFIX = "/incidents"
SESSION_PATH = "/incidents/session"
# /incidents, /incidents/ and /incidents/<one segment>: deeper paths (POST
# /incidents/<id>/evidence) belong to other apps on the same port.
_CLAIMED = re.compile(r"^/incidents(?:/[^/]+)?/?$")
_STATUS = {
    200: "200 OK",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


def is_web_path(path: str) -> bool:
    """Whether a request path belongs to the incident pages (mount the app for these)."""
    return bool(_CLAIMED.match(path))


def _csp(style_hash: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'none'",
            f"style-src '{style_hash}'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


class IncidentPages:
    """The pages over one Context; `signer` None when only a proxy header signs people in."""

    def __init__(self, ctx: Context, settings: Settings) -> None:
        self.ctx = ctx
        secret = settings.web_secret.get_secret_value() if settings.web_secret else ""
        self.signer = ViewerSigner(secret) if secret else None
        self.viewers = list(settings.web_viewers)
        header = (settings.web_trusted_header or "").strip()
        self.header_key = "HTTP_" + header.upper().replace("-", "_") if header else None
        self.session_ttl = timedelta(seconds=settings.web_session_ttl_seconds)
        self.secure_cookie = settings.web_public_url.lower().startswith("https://")
        self.templates = environment(autoescape_html=True)
        loader = self.templates.loader
        assert loader is not None
        css, _, _ = loader.get_source(self.templates, "web/style.css")
        self.css = Markup(css)  # our own file, inserted verbatim so its CSP hash matches
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        self.headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Content-Security-Policy", _csp(f"sha256-{digest}")),
        ]

    @property
    def configured(self) -> bool:
        return self.signer is not None or self.header_key is not None

    # -- answering -----------------------------------------------------------------------

    def _html(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        *,
        code: int,
        template: str,
        values: dict[str, Any],
        extra: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        page = self.templates.get_template(template).render(css=self.css, **values)
        body = page.encode()
        headers = [*self.headers, *(extra or []), ("Content-Length", str(len(body)))]
        start_response(_STATUS[code], headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _refuse(
        self, environ: dict[str, Any], start_response: StartResponse, *, code: int, why: str
    ) -> list[bytes]:
        # Never the token or the cookie: both are credentials.
        log.info("incident pages: %d %s for %s", code, why, environ.get("PATH_INFO", "?"))
        return self._html(
            environ,
            start_response,
            code=code,
            template="web/refused.html.j2",
            values={"status": code},
            extra=[("Allow", "GET, HEAD")] if code == 405 else [],
        )

    # -- who is looking ------------------------------------------------------------------

    def _viewer(self, environ: dict[str, Any]) -> Viewer:
        if self.header_key is not None:
            given = str(environ.get(self.header_key) or "")
            if given:
                person = person_from_header(self.ctx.policy, given)
                if person is None:
                    raise AccessRefused("unknown_person", "The proxy named nobody in the policy.")
                return Viewer(person_id=person, expires_at=None)
        token = cookie_token(environ)
        if self.signer is None or token is None:
            raise AccessRefused("no_session", "Open the viewer link you were given.")
        return self.signer.read(token, purpose="session", now=self.ctx.now())

    def _sign_in(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        query = parse_qs(str(environ.get("QUERY_STRING", "")), max_num_fields=5)
        token = (query.get("token") or [""])[0]
        if self.signer is None:
            return self._refuse(environ, start_response, code=401, why="links_disabled")
        try:
            viewer = self.signer.read(token, purpose="link", now=self.ctx.now())
        except AccessRefused as refused:
            return self._refuse(environ, start_response, code=401, why=refused.why)
        if not may_view(self.ctx.policy, viewer.person_id, self.viewers):
            return self._refuse(environ, start_response, code=403, why="not_a_viewer")
        session = self.signer.issue(
            person_id=viewer.person_id, purpose="session", now=self.ctx.now(), ttl=self.session_ttl
        )
        cookie = session_cookie(
            session, max_age=int(self.session_ttl.total_seconds()), secure=self.secure_cookie
        )
        log.info("incident pages: %s signed in with a viewer link", viewer.person_id)
        # A page, not a redirect: a browser arriving from a chat app (another site) would not
        # send a SameSite=Strict cookie along a redirect; it does on this page's refresh.
        return self._html(
            environ,
            start_response,
            code=200,
            template="web/signed_in.html.j2",
            values={"viewer": views.People(self.ctx.policy)(viewer.person_id), "target": PREFIX},
            extra=[("Set-Cookie", cookie)],
        )

    # -- the app -------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self._answer(environ, start_response)
        except Exception:
            # Our own page, so even a failure keeps the security headers and says nothing.
            log.exception("incident pages: %s failed", environ.get("PATH_INFO", "?"))
            return self._refuse(environ, start_response, code=500, why="internal")

    def _answer(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return self._refuse(environ, start_response, code=405, why="method_not_allowed")
        if not self.configured:
            return self._refuse(environ, start_response, code=503, why="not_configured")
        path = str(environ.get("PATH_INFO", "")).rstrip("/") or PREFIX
        if path == SESSION_PATH:
            return self._sign_in(environ, start_response)
        try:
            viewer = self._viewer(environ)
        except AccessRefused as refused:
            return self._refuse(environ, start_response, code=401, why=refused.why)
        if not may_view(self.ctx.policy, viewer.person_id, self.viewers):
            return self._refuse(environ, start_response, code=403, why="not_a_viewer")
        people = views.People(self.ctx.policy)
        shown = {"viewer": people(viewer.person_id), "now": views.when(self.ctx.now())}
        if path == PREFIX:
            rows = views.incident_rows(self.ctx)
            return self._html(
                environ,
                start_response,
                code=200,
                template="web/list.html.j2",
                values={"incidents": rows, **shown},
            )
        try:
            incident_id = parse_incident_id(path.removeprefix(PREFIX + "/"))
            page = views.incident_page(self.ctx, incident_id)
        except (InvalidInput, NotFound):
            return self._refuse(environ, start_response, code=404, why="not_found")
        return self._html(
            environ,
            start_response,
            code=200,
            template="web/incident.html.j2",
            values={"page": page, **shown},
        )


def incident_pages_app(ctx: Context, settings: Settings) -> WSGIApp:
    """The WSGI app for the paths `is_web_path` claims."""
    return IncidentPages(ctx, settings)
