"""Block Kit payloads for the `/incident declare` modal and the help and usage texts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    HeaderBlock,
    InputBlock,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from commandpost.chat.slack import commands
from commandpost.chat.slack.blocks_text import (
    HEADER_TEXT,
    INPUT_ACTION,
    INPUT_LABEL,
    MODAL_BLOCKS,
    MODAL_BUTTON,
    MODAL_TITLE,
    OPTION_TEXT,
    OPTION_VALUE,
    PLACEHOLDER,
    PRIVATE_METADATA,
    SECTION_TEXT,
    SELECT_OPTIONS,
    SlackMessage,
    context,
    cut,
    cut_markup,
    esc,
    escape,
    join_lines,
    label,
    message,
    plain,
    section,
    state_value,
    units,
)
from commandpost.core.vocabulary import IncidentClass, Severity

DECLARE_CALLBACK = "cp_declare_modal"


@dataclass(frozen=True)
class DeclareForm:
    title: str = ""
    incident_class: IncidentClass | None = None
    severity: Severity | None = None
    model: str = ""
    model_version: str = ""
    surface: str = ""
    tenant: str = ""
    region: str = ""
    description: str = ""


# (field, label, required, multiline, max_length, placeholder)
_TEXT_INPUTS = (
    ("title", "Title", True, False, 200, "What is happening, in one line"),
    ("model", "Model", True, False, 200, "e.g. chat-assistant"),
    ("model_version", "Model version", False, False, 100, "e.g. 2026-02-27"),
    ("surface", "Surface (endpoint or feature)", False, False, 200, "e.g. /v1/chat"),
    ("tenant", "Tenant", False, False, 200, "all, or one tenant"),
    ("region", "Region", False, False, 100, "all, or one region"),
    ("description", "Description", False, True, 3000, "What was observed, by whom, when"),
)


def block_id(field: str) -> str:
    return f"cp_{field}"


def _select(field: str, choices: Sequence[tuple[str, str, str]], initial: str | None) -> InputBlock:
    options = [
        Option(
            value=cut(value, OPTION_VALUE),
            text=plain(text, OPTION_TEXT),
            description=plain(hint, OPTION_TEXT) if hint.strip() else None,
        )
        for value, text, hint in choices[:SELECT_OPTIONS]
    ]
    chosen = next((o for o in options if o.value == initial), None)
    return InputBlock(
        block_id=block_id(field),
        label=plain(label(field.replace("incident_", "")), INPUT_LABEL),
        element=StaticSelectElement(
            action_id=INPUT_ACTION,
            placeholder=plain("Choose…", PLACEHOLDER),
            options=options,
            initial_option=chosen,
        ),
    )


def declare_modal(
    *,
    draft: DeclareForm | None = None,
    severity_hints: Mapping[Severity, str] | None = None,
    private_metadata: str = "",
) -> dict[str, Any]:
    """The `/incident declare` modal; `private_metadata` usually carries the channel id."""
    draft = draft or DeclareForm()
    hints = severity_hints or {}
    if units(private_metadata) > PRIVATE_METADATA:
        raise ValueError("private_metadata is over Slack's 3,000 characters")
    inputs: list[Block] = []
    for field, text, required, multiline, max_length, placeholder in _TEXT_INPUTS:
        initial = cut(getattr(draft, field), max_length) or None
        inputs.append(
            InputBlock(
                block_id=block_id(field),
                label=plain(text, INPUT_LABEL),
                optional=not required,
                element=PlainTextInputElement(
                    action_id=INPUT_ACTION,
                    placeholder=plain(placeholder, PLACEHOLDER),
                    initial_value=initial,
                    multiline=multiline or None,
                    max_length=max_length,
                ),
            )
        )
        if field == "title":
            classes = [(c.value, label(c.value), "") for c in IncidentClass]
            severities = [(s.value, s.value, hints.get(s, "")) for s in Severity]
            initial_class = draft.incident_class.value if draft.incident_class else None
            initial_sev = draft.severity.value if draft.severity else None
            inputs.append(_select("incident_class", classes, initial_class))
            inputs.append(_select("severity", severities, initial_sev))
    view = View(
        type="modal",
        callback_id=DECLARE_CALLBACK,
        title=plain("Declare an incident", MODAL_TITLE),
        submit=plain("Declare", MODAL_BUTTON),
        close=plain("Cancel", MODAL_BUTTON),
        private_metadata=private_metadata or None,
        blocks=inputs[:MODAL_BLOCKS],
    )
    return view.to_dict()


def _state_value(values: Mapping[str, Any], field: str) -> str:
    return state_value(values, block_id(field))


def read_declare_form(values: Mapping[str, Any]) -> DeclareForm:
    """The form from a view_submission's `view.state.values`; unknown choices become None."""
    cls = _state_value(values, "incident_class")
    sev = _state_value(values, "severity")
    return DeclareForm(
        title=_state_value(values, "title"),
        incident_class=IncidentClass(cls) if cls in {c.value for c in IncidentClass} else None,
        severity=Severity(sev) if sev in {s.value for s in Severity} else None,
        model=_state_value(values, "model"),
        model_version=_state_value(values, "model_version"),
        surface=_state_value(values, "surface"),
        tenant=_state_value(values, "tenant"),
        region=_state_value(values, "region"),
        description=_state_value(values, "description"),
    )


def declare_form_errors(form: DeclareForm) -> dict[str, str]:
    """Errors keyed by block id, as a `response_action: errors` reply wants them."""
    errors: dict[str, str] = {}
    if not form.title:
        errors[block_id("title")] = "A title is required."
    if not form.model:
        errors[block_id("model")] = "Name the model (or `unknown`)."
    if form.incident_class is None:
        errors[block_id("incident_class")] = "Choose a class."
    if form.severity is None:
        errors[block_id("severity")] = "Choose a severity."
    return errors


# ------------------------------------------------------------------------------ help/usage
# One source for the words of each subcommand: the parser's own table.
USAGE: Mapping[str, tuple[str, str]] = {
    name: (commands.USAGE[name], commands.SUMMARY[name]) for name in commands.USAGE
}


def usage_text(subcommand: str, problem: str = "") -> str:
    """One ephemeral line: what went wrong and the right form of the command."""
    syntax, purpose = USAGE.get(subcommand, USAGE["help"])
    head = f"{esc(problem, 1000)}\n" if problem.strip() else ""
    return cut_markup(f"{head}Usage: `/incident {escape(syntax)}` — {purpose}", SECTION_TEXT)


def help_message() -> SlackMessage:
    lines = [f"• `/incident {escape(syntax)}` — {purpose}" for syntax, purpose in USAGE.values()]
    blocks: list[Block] = [
        HeaderBlock(text=plain("Command Post: /incident", HEADER_TEXT)),
        section(join_lines(lines, SECTION_TEXT)),
        context(
            "Commands other than `declare`, `list` and `help` run inside an incident channel. "
            "Levels: " + ", ".join(s.value.lower() for s in Severity) + ". "
            "Classes: " + ", ".join(c.value for c in IncidentClass) + "."
        ),
    ]
    return message(blocks, "Command Post: /incident help")
