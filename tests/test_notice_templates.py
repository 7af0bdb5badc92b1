"""Notice templates: every built-in renders, escapes, names missing facts and lints clean."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment, meta

from commandpost import templating
from commandpost.core.notice_lint import Channel, lint
from commandpost.core.policy import NoticeRules
from commandpost.core.vocabulary import Severity
from commandpost.errors import InvalidInput, NotFound
from commandpost.notices import Catalogue, Format, builtin_dir, slack_escape
from commandpost.notices.headers import parse_header
from commandpost.policy_file import load_policy

from .support import POLICY_FILE

BUILTIN = (
    "customer_initial",
    "customer_update",
    "customer_resolved",
    "regulator_notification",
    "leadership_update",
    "status_page",
)

FACTS: dict[str, Any] = {
    "company": "Example AI",
    "organisation": "Example AI Ltd",
    "regulator": "Information Commissioner's Office",
    "product": "Harper Assistant",
    "incident_id": "INC-2026-0042",
    "title": "Unsafe dosage advice from Harper Assistant",
    "severity": "SEV1",
    "status": "contained",
    "commander": "Alice Moreau",
    "observed": "Harper Assistant gave unsafe dosage advice in answer to some questions "
    "about medication.",
    "summary": "unsafe dosage advice in some medication answers",
    "update": "We have finished reviewing the affected conversations.",
    "detected_at": "14:05 UTC on 2 March 2026",
    "contained_at": "14:20 UTC on 2 March 2026",
    "resolved_at": "18:30 UTC on 3 March 2026",
    "containment": "We rolled Harper Assistant back to the previous model version.",
    "affected": "People who asked Harper Assistant about medication in the EU region "
    "between 14:05 and 14:20 UTC.",
    "affected_summary": "medication questions in the EU",
    "people_affected": "about 1,200",
    "data_categories": "health questions typed into the assistant",
    "measures": "We rolled the model back and added a stricter safety filter for "
    "medication questions.",
    "next_steps": "We are reviewing every affected conversation and will contact the "
    "customers concerned.",
    "next_update_at": "16:00 UTC",
    "contact": "support@example.com",
    "root_cause": "A change to the safety filter configuration removed the medication rules.",
    "review_due": "9 March 2026",
    "decisions_needed": "Whether to notify the regulator today.",
    "status_label": "Identified",
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue()


def test_the_builtin_templates_are_all_there(catalogue: Catalogue) -> None:
    assert catalogue.names() == sorted(BUILTIN)
    for name in BUILTIN:
        assert catalogue.formats(name) == [Format.TEXT, Format.MRKDWN, Format.HTML]
        assert catalogue.is_builtin(name)


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_renders_in_every_format(
    catalogue: Catalogue, name: str, fmt: Format
) -> None:
    notice = catalogue.render(name, FACTS, fmt=fmt)
    assert notice.template == name and notice.format is fmt
    assert FACTS["detected_at"] in notice.text
    assert "None" not in notice.text and "{{" not in notice.text and "{#" not in notice.text
    assert "\n\n\n" not in notice.text
    assert notice.text.endswith("\n") and not notice.text.startswith("\n")
    assert notice.sha256 == hashlib.sha256(notice.text.encode("utf-8")).hexdigest()
    if fmt is Format.HTML:
        assert notice.text.startswith(("<!DOCTYPE html>", "<p>"))


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_declares_exactly_what_it_uses_in_every_format(
    catalogue: Catalogue, name: str
) -> None:
    env = Environment()
    specs = [catalogue.spec(name, fmt) for fmt in Format]
    for spec in specs:
        used = meta.find_undeclared_variables(env.parse(spec.path.read_text(encoding="utf-8")))
        assert used == set(spec.facts) | set(spec.optional), spec.path.name
    first = specs[0]
    for spec in specs[1:]:
        assert (spec.facts, spec.optional, spec.channel, spec.subject, spec.requires) == (
            first.facts,
            first.optional,
            first.channel,
            first.subject,
            first.requires,
        ), spec.path.name


def test_values_are_html_escaped_in_html_and_slack_escaped_in_mrkdwn(
    catalogue: Catalogue,
) -> None:
    facts = {**FACTS, "product": '<script>alert("x")</script> & Co', "contact": "<!channel>"}
    html = catalogue.render("customer_initial", facts, fmt=Format.HTML).text
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&amp; Co" in html and "&lt;!channel&gt;" in html
    assert "<h2>What happened</h2>" in html  # the template's own markup is left alone
    mrkdwn = catalogue.render("customer_initial", facts, fmt=Format.MRKDWN).text
    assert "&lt;script&gt;" in mrkdwn and "&amp; Co" in mrkdwn and "<!channel>" not in mrkdwn
    assert '"x"' in mrkdwn and "*What happened*" in mrkdwn
    text = catalogue.render("customer_initial", facts, fmt=Format.TEXT).text
    assert '<script>alert("x")</script> & Co' in text
    assert slack_escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_a_missing_fact_names_every_missing_fact(catalogue: Catalogue) -> None:
    facts = {k: v for k, v in FACTS.items() if k not in ("detected_at", "contact", "affected")}
    facts["observed"] = "   "
    facts["next_steps"] = None
    with pytest.raises(InvalidInput) as caught:
        catalogue.render("customer_initial", facts, fmt=Format.HTML)
    message = str(caught.value)
    assert message == (
        "notice customer_initial (html): missing fact(s): "
        "observed, detected_at, affected, next_steps, contact"
    )
    assert catalogue.missing_facts("customer_initial", facts) == [
        "observed",
        "detected_at",
        "affected",
        "next_steps",
        "contact",
    ]


def test_optional_facts_may_be_absent(catalogue: Catalogue) -> None:
    facts = {k: v for k, v in FACTS.items() if k not in ("contained_at", "containment")}
    text = catalogue.render("customer_initial", facts).text
    assert "It is not yet contained, and we are working to contain it now." in text
    status = catalogue.render("status_page", {**facts, "status_label": ""}).text
    assert status.startswith("Harper Assistant. We observed") and "not yet contained" in status


def test_subject_is_rendered_on_one_line(catalogue: Catalogue) -> None:
    notice = catalogue.render("customer_resolved", FACTS)
    assert notice.subject == "Harper Assistant: incident INC-2026-0042 is resolved"
    assert catalogue.render("status_page", FACTS).subject is None


def test_unknown_template_and_format_are_not_found(catalogue: Catalogue) -> None:
    with pytest.raises(NotFound, match="no notice template 'apology'"):
        catalogue.render("apology", FACTS)
    with pytest.raises(InvalidInput, match="unknown format"):
        Format.parse("pdf")


# -- lint on rendered notices ------------------------------------------------------------------


@pytest.mark.parametrize("severity", [Severity.SEV0, Severity.SEV2])
@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_templates_with_good_facts_lint_clean(
    catalogue: Catalogue, name: str, severity: Severity
) -> None:
    draft = catalogue.draft(name, FACTS, severity=severity, root_cause_known=True)
    assert draft.findings == ()
    expected_channel = {"status_page": Channel.STATUS_PAGE, "leadership_update": Channel.CHAT}
    assert draft.context.channel is expected_channel.get(name, Channel.EMAIL)


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_templates_lint_clean_before_containment_and_root_cause(
    catalogue: Catalogue, name: str
) -> None:
    facts = {k: v for k, v in FACTS.items() if k not in ("root_cause", "containment")}
    if name != "customer_resolved":
        facts.pop("contained_at")
    draft = catalogue.draft(name, facts, severity=Severity.SEV0, root_cause_known=False)
    assert draft.blocking == () and draft.findings == ()


def test_personal_data_in_a_fact_blocks_the_draft(catalogue: Catalogue) -> None:
    facts = {**FACTS, "observed": "The assistant showed jane.doe@gmail.com to other users."}
    draft = catalogue.draft(
        "customer_initial", facts, severity=Severity.SEV1, root_cause_known=False
    )
    assert [(f.rule, f.span.text) for f in draft.blocking] == [("pii-email", "jane.doe@gmail.com")]
    # A reviewer's edit is linted with the same context.
    edited = draft.notice.text.replace("jane.doe@gmail.com", "another user's email address")
    assert lint(edited, draft.context) == []


def test_a_long_status_page_entry_is_blocked(catalogue: Catalogue) -> None:
    facts = {**FACTS, "affected_summary": "everyone in the EU and UK " * 6}
    draft = catalogue.draft("status_page", facts, severity=Severity.SEV2, root_cause_known=True)
    assert [f.rule for f in draft.blocking] == ["too-long"]


# -- operator templates ------------------------------------------------------------------------

HEADER = "{#\nfacts: product, observed\noptional: contained_at\n#}\n"


def _operator_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ops-templates"
    folder.mkdir()
    (folder / "customer_initial.txt.j2").write_text(
        HEADER + "Ops wording for {{ product }}: {{ observed }}\n", encoding="utf-8"
    )
    (folder / "apology.txt.j2").write_text(
        HEADER + "Sorry about {{ product }}.\n", encoding="utf-8"
    )
    (folder / "apology.html.j2").write_text(
        HEADER + "<p>Sorry about {{ product }}.</p>\n", encoding="utf-8"
    )
    (folder / "notes.md").write_text("not a template\n", encoding="utf-8")
    return folder


def test_operator_templates_come_first_and_add_new_names(tmp_path: Path) -> None:
    catalogue = Catalogue(_operator_dir(tmp_path))
    assert catalogue.names() == sorted([*BUILTIN, "apology"])
    text = catalogue.render("customer_initial", FACTS).text
    assert text == f"Ops wording for Harper Assistant: {FACTS['observed']}\n"
    assert not catalogue.is_builtin("customer_initial")
    # An operator's name replaces the built-in as a whole: no borrowed HTML version.
    assert catalogue.formats("customer_initial") == [Format.TEXT]
    with pytest.raises(NotFound, match="has no html format"):
        catalogue.render("customer_initial", FACTS, fmt=Format.HTML)
    html = catalogue.render("apology", {"product": "<b>", "observed": "x"}, fmt=Format.HTML)
    assert html.text == "<p>Sorry about &lt;b&gt;.</p>\n"
    assert catalogue.render("status_page", FACTS).text.startswith("Identified: Harper")


def test_operator_templates_named_in_the_policy(tmp_path: Path) -> None:
    folder = _operator_dir(tmp_path)
    base = load_policy(POLICY_FILE)
    assert base.notices.templates_dir is None
    policy = base.model_copy(update={"notices": NoticeRules(templates_dir=folder.name)})
    catalogue = Catalogue.for_policy(policy, base_dir=tmp_path)
    assert "apology" in catalogue.names()
    assert Catalogue.for_policy(base).roots == (builtin_dir().resolve(),)
    with pytest.raises(InvalidInput, match="is not a directory"):
        Catalogue.for_policy(policy, base_dir=tmp_path / "elsewhere")


def test_policy_file_accepts_templates_dir(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text(encoding="utf-8")
    assert "legal_coapproval_classes:" in text
    changed = text.replace(
        "legal_coapproval_classes:", "templates_dir: ./ops-templates\n  legal_coapproval_classes:"
    )
    path = tmp_path / "policy.yml"
    path.write_text(changed, encoding="utf-8")
    assert load_policy(path).notices.templates_dir == "./ops-templates"


def test_an_edited_operator_template_is_picked_up(tmp_path: Path) -> None:
    folder = _operator_dir(tmp_path)
    catalogue = Catalogue(folder)
    assert catalogue.render("apology", FACTS).text == "Sorry about Harper Assistant.\n"
    path = folder / "apology.txt.j2"
    path.write_text(HEADER + "We apologise for {{ product }}.\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert catalogue.render("apology", FACTS).text == "We apologise for Harper Assistant.\n"


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("Hello {{ product }}\n", "starts with a header comment"),
        ("{# title: x #}\nHello\n", "starts with a header comment"),
        ("{#\nfacts: product\ncolour: blue\n#}\nHello\n", "header line 'colour: blue'"),
        ("{#\nfacts: product, 2fast\n#}\nx\n", "not a fact name: 2fast"),
        ("{#\nfacts: product\noptional: product\n#}\nx\n", "both required and optional"),
        ("{#\nfacts: product\nchannel: fax\n#}\nx\n", "unknown channel"),
        ("{#\nfacts: product\nrequires: vibes\n#}\nx\n", "requires: unknown vibes"),
        ("{#\nfacts: product\n#}\n{{ product }} {{ secret }}\n", "does not declare"),
        ("{#\nfacts: product\n#}\n{% if %}\n", "notice template"),
    ],
)
def test_broken_operator_templates_are_reported(
    tmp_path: Path, source: str, complaint: str
) -> None:
    (tmp_path / "broken.txt.j2").write_text(source, encoding="utf-8")
    with pytest.raises(InvalidInput, match=complaint.replace("(", r"\(")):
        Catalogue(tmp_path).render("broken", {"product": "P"})


def test_header_continuation_lines() -> None:
    source = "{#\nfacts: a, b,\n       c\ntitle: T\n#}\n"
    fields = parse_header(source, where="inline")
    assert fields == {"facts": "a, b, c", "title": "T"}


def test_the_timeline_environment_is_unchanged() -> None:
    env = templating.environment()
    assert env.autoescape is False and env.finalize is None
    assert env.get_template("timeline.txt.j2") is not None
