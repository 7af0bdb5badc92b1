"""core/ is pure: it imports the standard library, pydantic and itself, nothing that does I/O.

The checker walks each module's AST, so imports inside functions and `importlib.import_module`
/ `__import__` calls with a literal name count too.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "src" / "commandpost" / "core"
CORE_PACKAGE = "commandpost.core"

THIRD_PARTY_ALLOWED = frozenset({"pydantic", "pydantic_core"})
OWN_ALLOWED = ("commandpost.core", "commandpost.errors")

# Named explicitly (some are stdlib, so "stdlib only" alone would let them through).
FORBIDDEN = frozenset(
    {
        "slack_bolt",
        "slack_sdk",
        "pymsteams",
        "sqlalchemy",
        "sqlmodel",
        "alembic",
        "apscheduler",
        "httpx",
        "requests",
        "psycopg",
        "psycopg2",
        "jinja2",
        "urllib.request",
        "socket",
        "http",
        "sqlite3",
        "subprocess",
        "ssl",
        "smtplib",
    }
)


@dataclass(frozen=True)
class Finding:
    module: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.module}: {self.why}"


def _resolve(node: ast.ImportFrom, package: str) -> str:
    """The absolute module an ImportFrom names; `package` is the importing file's package."""
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    base = ".".join(parts)
    return f"{base}.{node.module}" if node.module else base


def imported_modules(source: str, *, package: str = CORE_PACKAGE) -> list[tuple[str, int]]:
    """Every module a source imports (statically or via a literal dynamic import)."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node, package)
            found.append((module, node.lineno))
            # `from urllib import request` imports urllib.request; `from commandpost import
            # service` imports commandpost.service.
            found.extend((f"{module}.{alias.name}", node.lineno) for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            if name in ("import_module", "__import__") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((first.value, node.lineno))
    return found


def _is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def _is_own_allowed(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in OWN_ALLOWED)


def check_source(source: str, *, package: str = CORE_PACKAGE) -> list[Finding]:
    findings: list[Finding] = []
    for module, line in imported_modules(source, package=package):
        top = module.split(".")[0]
        if _is_forbidden(module):
            findings.append(Finding(module, line, "forbidden in the pure core"))
        elif top == "commandpost":
            # `from commandpost import errors` also yields plain "commandpost": fine.
            if module != "commandpost" and not _is_own_allowed(module):
                findings.append(Finding(module, line, "core may only import core and errors"))
        elif top not in sys.stdlib_module_names and top not in THIRD_PARTY_ALLOWED:
            findings.append(Finding(module, line, "not stdlib or pydantic"))
    return findings


def _package_of(path: Path) -> str:
    """The package relative imports start from (a module's package, or the package itself)."""
    return ".".join(path.relative_to(CORE.parent.parent).parent.parts)


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_core_files_are_found() -> None:
    names = {p.name for p in CORE_FILES}
    assert {"lifecycle.py", "gates.py", "policy.py", "audit.py", "durations.py"} <= names


@pytest.mark.parametrize("path", CORE_FILES, ids=[str(p.relative_to(CORE)) for p in CORE_FILES])
def test_core_module_is_pure(path: Path) -> None:
    findings = check_source(path.read_text(encoding="utf-8"), package=_package_of(path))
    assert not findings, f"{path.relative_to(CORE.parent)}:\n" + "\n".join(map(str, findings))


CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
}


def clock_reads(source: str) -> list[int]:
    """Lines that read the wall clock: the core takes `now` as an argument instead."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and (node.func.value.id, node.func.attr) in CLOCK_READS
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", CORE_FILES, ids=[str(p.relative_to(CORE)) for p in CORE_FILES])
def test_core_module_never_reads_the_clock(path: Path) -> None:
    assert clock_reads(path.read_text(encoding="utf-8")) == []


# -- the checker itself can fail ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import sqlalchemy", "sqlalchemy"),
        ("from sqlmodel import Session", "sqlmodel"),
        ("from slack_sdk.web import WebClient", "slack_sdk.web"),
        ("import slack_bolt", "slack_bolt"),
        ("import pymsteams", "pymsteams"),
        ("import alembic.command", "alembic.command"),
        ("from apscheduler.schedulers.background import BackgroundScheduler", "apscheduler"),
        ("import httpx", "httpx"),
        ("import requests", "requests"),
        ("import psycopg", "psycopg"),
        ("from jinja2 import Environment", "jinja2"),
        ("import urllib.request", "urllib.request"),
        ("from urllib import request", "urllib.request"),
        ("import socket", "socket"),
        ("from http.client import HTTPConnection", "http.client"),
        ("import http", "http"),
        ("import sqlite3", "sqlite3"),
        ("import numpy", "numpy"),
        ("from commandpost.service import context", "commandpost.service"),
        ("from commandpost.storage.models import Incident", "commandpost.storage.models"),
        ("from commandpost import runtime", "commandpost.runtime"),
        ("from ..storage import models", "commandpost.storage"),
        ("from .. import settings", "commandpost.settings"),
        ("def later():\n    import httpx\n    return httpx", "httpx"),
        ("import importlib\nimportlib.import_module('sqlite3')", "sqlite3"),
        ("__import__('socket')", "socket"),
    ],
)
def test_checker_flags_forbidden_imports(source: str, module: str) -> None:
    findings = check_source(source)
    assert findings, f"{source!r} was not flagged"
    assert any(f.module == module or f.module.startswith(module + ".") for f in findings), findings


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import json\nimport hashlib\nfrom datetime import UTC, datetime",
        "from collections.abc import Mapping",
        "import urllib.parse",
        "from pydantic import BaseModel, Field",
        "from commandpost.core.audit import canonical_json",
        "from commandpost.core import lifecycle",
        "from commandpost.errors import InvalidInput",
        "from commandpost import errors",
        "from . import audit",
        "from .policy import GateRule",
        "from ..errors import Conflict",
        "def later():\n    from commandpost.errors import InvalidInput\n    return InvalidInput",
    ],
)
def test_checker_accepts_what_core_may_import(source: str) -> None:
    assert check_source(source) == []


def test_checker_flags_a_clock_read() -> None:
    assert clock_reads("from datetime import datetime\nx = datetime.now()") == [2]
    assert clock_reads("def f(now):\n    return now") == []
