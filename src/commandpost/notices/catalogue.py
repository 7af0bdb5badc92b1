"""Notice templates: where they are, rendering them from facts, and linting the result.

Two roots, searched in order: the operator's directory (`notices.templates_dir` in the
policy), then the built-in `templates/notices/`. A template is all the files named
NAME.{txt,mrkdwn,html}.j2 in one root; an operator's NAME replaces the built-in NAME as a
whole (formats the operator did not write are then unavailable, never borrowed), so the
text, preview and email of one notice always say the same thing.

Each root has one Jinja2 environment (StrictUndefined; HTML autoescaped; mrkdwn values
Slack-escaped) built once per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template, TemplateError, UndefinedError

from commandpost import templating
from commandpost.core.notice_lint import Channel, Finding, LintContext, lint
from commandpost.core.policy import Policy
from commandpost.core.vocabulary import Severity
from commandpost.errors import InvalidInput, NotFound
from commandpost.notices.formats import Format, finalize
from commandpost.notices.headers import TemplateSpec, read_spec


def builtin_dir() -> Path:
    return templating.templates_dir() / "notices"


@dataclass(frozen=True)
class RenderedNotice:
    """Rendered text, exactly as it would be approved and sent."""

    template: str
    format: Format
    text: str
    subject: str | None
    facts: Mapping[str, Any]
    source: Path

    @property
    def sha256(self) -> str:
        """Hash of the UTF-8 bytes: what an approval is bound to."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Draft:
    """A rendered notice and what the lint found in it."""

    notice: RenderedNotice
    context: LintContext
    findings: tuple[Finding, ...] = field(default=())

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.blocking)


class Catalogue:
    """The notice templates one deployment can render."""

    def __init__(self, operator_dir: str | Path | None = None, *, builtin: Path | None = None):
        roots: list[Path] = []
        if operator_dir is not None:
            chosen = Path(operator_dir)
            if not chosen.is_dir():
                raise InvalidInput(f"notice templates_dir {str(chosen)!r} is not a directory")
            roots.append(chosen.resolve())
        roots.append((builtin or builtin_dir()).resolve())
        self.roots: tuple[Path, ...] = tuple(roots)

    @classmethod
    def for_policy(cls, policy: Policy, *, base_dir: Path | None = None) -> Catalogue:
        """The policy's templates_dir first; a relative one is taken from `base_dir` (the
        policy file's folder, say) or else the working directory."""
        configured = policy.notices.templates_dir
        if configured is None:
            return cls()
        path = Path(configured)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return cls(path)

    # -- finding templates ---------------------------------------------------------------

    def names(self) -> list[str]:
        found: set[str] = set()
        for root in self.roots:
            found.update(self._files(root))
        return sorted(found)

    def formats(self, name: str) -> list[Format]:
        _, files = self._locate(name)
        return [fmt for fmt in Format if fmt in files]

    def spec(self, name: str, fmt: Format = Format.TEXT) -> TemplateSpec:
        root, files = self._locate(name)
        if fmt not in files:
            have = ", ".join(f.value for f in Format if f in files)
            raise NotFound(f"notice template {name!r} has no {fmt.value} format (has: {have})")
        path = root / files[fmt]
        return _read_spec(path, path.stat().st_mtime_ns, name, fmt)

    def is_builtin(self, name: str) -> bool:
        return self._locate(name)[0] == self.roots[-1]

    def _locate(self, name: str) -> tuple[Path, Mapping[Format, str]]:
        """The first root with a template `name`, and its files there by format."""
        for root in self.roots:
            files = self._files(root).get(name)
            if files is not None:
                return root, files
        known = ", ".join(self.names()) or "none"
        raise NotFound(f"no notice template {name!r}; known: {known}")

    @staticmethod
    def _files(root: Path) -> Mapping[str, Mapping[Format, str]]:
        # A folder's mtime changes when a file is added, removed or renamed in it.
        return _listing(root, root.stat().st_mtime_ns)

    # -- rendering -----------------------------------------------------------------------

    def missing_facts(
        self, name: str, facts: Mapping[str, Any], *, fmt: Format = Format.TEXT
    ) -> list[str]:
        """The declared facts absent, None or blank in `facts`, in declaration order."""
        return [f for f in self.spec(name, fmt).facts if _blank(facts.get(f))]

    def render(
        self, name: str, facts: Mapping[str, Any], *, fmt: Format = Format.TEXT
    ) -> RenderedNotice:
        """Render one format; InvalidInput naming every missing fact rather than a hole."""
        return self._render(self.spec(name, fmt), facts)

    @staticmethod
    def _render(spec: TemplateSpec, facts: Mapping[str, Any]) -> RenderedNotice:
        missing = [f for f in spec.facts if _blank(facts.get(f))]
        if missing:
            raise InvalidInput(
                f"notice {spec.name} ({spec.format.value}): missing fact(s): {', '.join(missing)}"
            )
        values: dict[str, Any] = {f: facts[f] for f in spec.facts}
        values.update({f: None if _blank(facts.get(f)) else facts[f] for f in spec.optional})
        env = _environment(spec.path.parent)
        try:
            text = env.get_template(spec.filename).render(values)
            subject = (
                _subject(spec.path.parent, spec.subject).render(values) if spec.subject else None
            )
        except UndefinedError as exc:
            raise InvalidInput(
                f"notice template {spec.path}: uses a fact it does not declare ({exc.message})"
            ) from None
        except TemplateError as exc:
            raise InvalidInput(f"notice template {spec.path}: {exc}") from None
        return RenderedNotice(
            template=spec.name,
            format=spec.format,
            text=text,
            subject=" ".join(subject.split()) if subject else None,
            facts=values,
            source=spec.path,
        )

    # -- lint ----------------------------------------------------------------------------

    def lint_context(
        self,
        name: str,
        facts: Mapping[str, Any],
        *,
        severity: Severity,
        root_cause_known: bool,
        channel: Channel | None = None,
    ) -> LintContext:
        """How to lint notice `name`: its channel and required facts, the incident's state.

        Lint an edited text with the same context: `lint(edited, context)`.
        """
        return self._lint_context(
            self.spec(name, self.formats(name)[0]),
            facts,
            severity=severity,
            root_cause_known=root_cause_known,
            channel=channel,
        )

    @staticmethod
    def _lint_context(
        spec: TemplateSpec,
        facts: Mapping[str, Any],
        *,
        severity: Severity,
        root_cause_known: bool,
        channel: Channel | None,
    ) -> LintContext:
        return LintContext(
            severity=severity,
            root_cause_known=root_cause_known,
            channel=channel or spec.channel,
            facts=dict(facts),
            required_facts=spec.requires,
        )

    def draft(
        self,
        name: str,
        facts: Mapping[str, Any],
        *,
        severity: Severity,
        root_cause_known: bool,
        channel: Channel | None = None,
    ) -> Draft:
        """Render the text format and lint it: what a review card shows."""
        spec = self.spec(name, Format.TEXT)
        notice = self._render(spec, facts)
        context = self._lint_context(
            spec, facts, severity=severity, root_cause_known=root_cause_known, channel=channel
        )
        return Draft(notice, context, tuple(lint(notice.text, context)))


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict | set):
        return not value
    return False


# Cached by modification time: an operator editing a template sees the change at once,
# while rendering the same template again reads nothing from disk.
@lru_cache(maxsize=64)
def _listing(root: Path, _mtime_ns: int) -> Mapping[str, Mapping[Format, str]]:
    found: dict[str, dict[Format, str]] = {}
    for path in sorted(root.glob("*.j2")):
        parsed = Format.of_filename(path.name)
        if parsed is not None:
            found.setdefault(parsed[0], {})[parsed[1]] = path.name
    return found


@lru_cache(maxsize=256)
def _read_spec(path: Path, _mtime_ns: int, name: str, fmt: Format) -> TemplateSpec:
    return read_spec(path, name=name, fmt=fmt)


@lru_cache(maxsize=16)
def _environment(root: Path) -> Environment:
    return templating.environment(root, autoescape_html=True, finalize=finalize)


@lru_cache(maxsize=256)
def _subject(root: Path, source: str) -> Template:
    # Compiling a template costs far more than rendering it; subjects repeat.
    return _environment(root).from_string(source)
