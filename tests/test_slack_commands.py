"""The `/incident` text parser: every subcommand, good and bad, and round trips."""

from __future__ import annotations

import shlex
import types
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandpost.chat.slack import command_types, command_words
from commandpost.chat.slack import commands as c
from commandpost.chat.slack.commands import (
    SUMMARY,
    USAGE,
    Ack,
    Approve,
    Assign,
    Close,
    Command,
    Confirm,
    Contain,
    Declare,
    DeclareModal,
    Escalate,
    Evidence,
    Handover,
    Help,
    List,
    Note,
    Notify,
    Reject,
    Resolve,
    Roles,
    Sev,
    StatusChange,
    Timeline,
    Update,
    UsageError,
    help_text,
    needs_incident_channel,
    parse,
    render,
)
from commandpost.core.vocabulary import IncidentClass, Role, Severity, Status
from commandpost.errors import InvalidInput

IC = Role.INCIDENT_COMMANDER
HARM = IncidentClass.HARMFUL_CONTENT
COMMAND_TYPES: tuple[type[Command], ...] = typing.get_args(Command)

GOOD: list[tuple[str, Command]] = [
    # declare: the one-line form, a partial form (opens the prefilled modal), or the modal
    (
        'declare sev1 harmful_content "Self-harm advice in chat assistant"',
        Declare(Severity.SEV1, HARM, "Self-harm advice in chat assistant"),
    ),
    (
        "declare SEV0 data_leakage PII in answers",
        Declare(Severity.SEV0, IncidentClass.DATA_LEAKAGE, "PII in answers"),
    ),
    ("declare harmful-content 2 It's bad", Declare(Severity.SEV2, HARM, "It's bad")),
    ("declare", DeclareModal()),
    ("  DECLARE  ", DeclareModal()),
    ("declare sev3", DeclareModal(Severity.SEV3)),
    ("declare narrative", DeclareModal(klass=IncidentClass.NARRATIVE)),
    ("declare sev1 narrative", DeclareModal(Severity.SEV1, IncidentClass.NARRATIVE)),
    ('declare sev1 narrative ""', DeclareModal(Severity.SEV1, IncidentClass.NARRATIVE)),
    # ack, assign, handover; mentions with and without |name
    ("ack", Ack()),
    ("ack ic", Ack(IC)),
    ("Ack Safety", Ack(Role.SAFETY_LEAD)),
    ("assign ic <@U123ABC|alice>", Assign(IC, "U123ABC")),
    ("assign model_owner <@U123ABC>", Assign(Role.MODEL_OWNER, "U123ABC")),
    ("assign comms <@W0ENTERPRISE|Ann Lee>", Assign(Role.COMMS, "W0ENTERPRISE")),
    ("handover ic <@U999|bob>", Handover(IC, "U999")),
    ("handover scribe <@U999>", Handover(Role.SCRIBE, "U999")),
    # sev, status
    ("sev sev2", Sev(Severity.SEV2)),
    ("sev 0 it's spreading on social media", Sev(Severity.SEV0, "it's spreading on social media")),
    ('sev 3 "narrow: one tenant"', Sev(Severity.SEV3, "narrow: one tenant")),
    ("status investigating", StatusChange(Status.INVESTIGATING)),
    ("status Contained rollback done", StatusChange(Status.CONTAINED, "rollback done")),
    # contain: key=value words, the reason after --
    ("contain freeze_releases", Contain("freeze_releases")),
    (
        "contain rollback_model model=chat-assistant to_version=2026-02-01",
        Contain("rollback_model", {"model": "chat-assistant", "to_version": "2026-02-01"}),
    ),
    (
        'contain block_pattern pattern="ignore previous" -- it\'s the viral prompt',
        Contain("block_pattern", {"pattern": "ignore previous"}, "it's the viral prompt"),
    ),
    (
        r"contain block_pattern pattern=\d{3}-\d{4}",
        Contain("block_pattern", {"pattern": r"\d{3}-\d{4}"}),
    ),
    (
        "contain Route_To_Fallback surface=<https://api.example/v1|api.example/v1>",
        Contain("route_to_fallback", {"surface": "https://api.example/v1"}),
    ),
    (
        "contain rate_limit rps= -- empty is the catalogue's call",
        Contain("rate_limit", {"rps": ""}, "empty is the catalogue's call"),
    ),
    (
        "contain freeze_releases \u2014 autocorrected dash",
        Contain("freeze_releases", {}, "autocorrected dash"),
    ),
    ('contain x k="--"', Contain("x", {"k": "--"})),
    ("contain x a=b&amp;c", Contain("x", {"a": "b&c"})),
    # free text: note, evidence, resolve
    # notify: a template, then facts as key=value
    ("notify customer_initial", Notify("customer_initial")),
    (
        'notify Customer_Initial next_steps="We are reviewing answers." affected=&lt;1%',
        Notify("customer_initial", {"next_steps": "We are reviewing answers.", "affected": "<1%"}),
    ),
    ("note the user's prompt was benign", Note("the user's prompt was benign")),
    ("update Rolled back; error rate normal", Update("Rolled back; error rate normal")),
    ('note "quoted whole"', Note("quoted whole")),
    ('note "a" and "b"', Note('"a" and "b"')),
    ('note "unbalanced', Note('"unbalanced')),
    ("note 5 &lt; 6 &amp;&amp; 7 &gt; 6", Note("5 < 6 && 7 > 6")),
    (
        "note ask <@U1ABC|carol> in <#C1ABC|inc-2026-0001-x>; <!here>",
        Note("ask @carol in #inc-2026-0001-x; @here"),
    ),
    ("note ping <@U1ABC> please", Note("ping @U1ABC please")),
    ("note line one\nline two", Note("line one\nline two")),
    ("evidence <https://imgur.example/abc>", Evidence("https://imgur.example/abc")),
    ("hold litigation notice from acme", c.Hold("litigation notice from acme")),
    ("hold don't delete anything", c.Hold("don't delete anything")),
    ('hold "release"', c.Hold("release")),
    ("hold Release matter settled", c.HoldRelease("matter settled")),
    (
        "evidence screenshot <https://x.example/a?b=1&amp;c=2|x.example/a>",
        Evidence("screenshot https://x.example/a?b=1&c=2"),
    ),
    ("resolve rolled back; eval suite green", Resolve("rolled back; eval suite green")),
    # no-argument commands
    ("timeline", Timeline()),
    ("roles", Roles()),
    ("close", Close()),
    ("review", c.Review()),
    ("Review DONE", c.ReviewDone()),
    ("list", List()),
    ("LS", List()),
    # gate fallbacks
    ("approve 12", Approve(12)),
    ("approve #12 looks right", Approve(12, "looks right")),
    ("reject 12 too broad: blocks all tenants", Reject(12, "too broad: blocks all tenants")),
    ("escalate 7", Escalate(7)),
    ("escalate 7 I am not the right person", Escalate(7, "I am not the right person")),
    ("confirm 3", Confirm(3)),
    ("confirm 3 flag flipped in the console", Confirm(3, "flag flipped in the console")),
    # help, empty text, aliases
    ("", Help()),
    ("   \n ", Help()),
    ("help", Help()),
    ("HELP Contain", Help("contain")),
    ("help acknowledge", Help("ack")),
    ("?", Help()),
]

SMART: list[tuple[str, Command]] = [
    (
        "declare sev1 functional \u201cChat is down\u201d",
        Declare(Severity.SEV1, IncidentClass.FUNCTIONAL, "Chat is down"),
    ),
    ("status contained \u2018all good now\u2019", StatusChange(Status.CONTAINED, "all good now")),
    (
        "contain x tenant=\u201cacme corp\u201d -- \u201cwhy\u201d",
        Contain("x", {"tenant": "acme corp"}, "why"),
    ),
    ("note it\u2019s fine", Note("it\u2019s fine")),
    ("note \u201cshe said \u2018no\u2019\u201d", Note("she said \u2018no\u2019")),
    ("assign \u201cic\u201d <@U1ABC|o\u2019brien>", Assign(IC, "U1ABC")),
]

BAD: list[tuple[str, str, str]] = [
    # (text, subcommand whose usage is shown, part of the problem)
    ("declare sev9", "declare", "neither a severity"),
    ("declare Chat is down", "declare", "neither a severity"),
    ("declare sev1 harmfull oops", "declare", "unknown class 'harmfull'"),
    ("declare harmful_content harmful_content", "declare", "unknown severity"),
    ("declare sev1 sev2 x", "declare", "unknown class 'sev2'"),
    ('declare "sev1', "declare", "never closed"),
    ("ack ceo", "ack", "unknown role 'ceo'"),
    ("ack ic now", "ack", "does not take 'now'"),
    ("assign", "assign", "needs a role"),
    ("assign ic", "assign", "needs a person"),
    ("assign ceo <@U123>", "assign", "unknown role 'ceo'"),
    ("assign ic @alice", "assign", "autocomplete"),
    ("assign ic alice", "assign", "expected an @mention"),
    ("assign ic <#C123|general>", "assign", "expected an @mention"),
    ("assign ic <@u123>", "assign", "expected an @mention"),
    ("assign ic <!here>", "assign", "expected an @mention"),
    ("assign ic <@U123> <@U456>", "assign", "does not take"),
    ("assign <@U123> ic", "assign", "unknown role '@U123'"),
    ("handover ic", "handover", "needs a person"),
    ("handover ic @bob", "handover", "autocomplete"),
    ("sev", "sev", "needs a level"),
    ("sev critical", "sev", "unknown severity 'critical'"),
    ("status", "status", "needs a status"),
    ("status fixed", "status", "unknown status 'fixed'"),
    ("contain", "contain", "needs an action"),
    ("contain 'rollback model'", "contain", "not an action name"),
    ("contain x because", "contain", "key=value"),
    ("contain x =v", "contain", "key=value"),
    ("contain x 1k=v", "contain", "key=value"),
    ("contain x a=1 a=2", "contain", "given twice"),
    ("contain x a=1 --", "contain", "after --"),
    ("contain x '--' y", "contain", "key=value"),
    ('contain x k="v', "contain", "never closed"),
    ("notify", "notify", "needs a notice template"),
    ("notify 'customer initial'", "notify", "not a template name"),
    ("notify customer_initial because", "notify", "key=value"),
    ("notify customer_initial a=1 a=2", "notify", "given twice"),
    ("note", "note", "needs some text"),
    ("update", "update", "needs the text of the update"),
    ("note   ", "note", "needs some text"),
    ("evidence", "evidence", "needs a text or a link"),
    ("hold", "hold", "hold needs a reason"),
    ("hold release  ", "hold", "hold release needs a reason"),
    ("resolve", "resolve", "needs a summary"),
    ('resolve ""', "resolve", "needs a summary"),
    ("timeline now", "timeline", "does not take 'now'"),
    ("roles all", "roles", "does not take"),
    ("close please", "close", "does not take"),
    ("review now", "review", "takes nothing or `done`"),
    ("review done now", "review", "does not take"),
    ("list all", "list", "does not take"),
    ("approve", "approve", "needs a gate number"),
    ("approve twelve", "approve", "not a gate number"),
    ("approve 0", "approve", "not a gate number"),
    ("approve -3", "approve", "not a gate number"),
    ("approve 1234567890123456789", "approve", "not a gate number"),
    ("reject 12", "reject", "needs a reason"),
    ("escalate", "escalate", "needs a gate number"),
    ("confirm x", "confirm", "not a gate number"),
    ("help frobnicate", "help", "no subcommand 'frobnicate'"),
    ("help ack now", "help", "does not take"),
    # unknown subcommands: the closest one's usage, else help's
    ("asign ic <@U1>", "assign", "did you mean `assign`"),
    ("decalre sev1", "declare", "did you mean `declare`"),
    ("timelime", "timeline", "did you mean `timeline`"),
    ("frobnicate", "help", "unknown subcommand 'frobnicate'"),
    ('"unclosed', "help", "never closed"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD + SMART)
def test_good_forms(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "subcommand", "problem"), BAD)
def test_bad_forms_name_the_subcommand_and_show_its_usage(
    text: str, subcommand: str, problem: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    err = caught.value
    assert isinstance(err, InvalidInput)
    assert err.subcommand == subcommand
    assert err.usage == USAGE[subcommand]
    assert problem in err.problem
    assert str(err) == f"{err.problem}\nUsage: /incident {USAGE[subcommand]}"


def test_every_subcommand_has_a_command_usage_summary_and_good_and_bad_cases() -> None:
    names = {cls.subcommand for cls in COMMAND_TYPES}
    assert names == set(USAGE) == set(SUMMARY)
    assert {cmd.subcommand for _, cmd in GOOD} == names
    assert {sub for _, sub, _ in BAD} == names
    for name, line in USAGE.items():
        assert line.split()[0] == name


def test_needs_incident_channel() -> None:
    anywhere: list[Command] = [
        Declare(Severity.SEV1, HARM, "t"),
        DeclareModal(),
        List(),
        Help(),
        Help("ack"),
    ]
    assert not any(needs_incident_channel(cmd) for cmd in anywhere)
    inside = [cmd for _, cmd in GOOD if cmd.subcommand not in {"declare", "list", "help"}]
    assert inside
    assert all(needs_incident_channel(cmd) for cmd in inside)


def test_help_text_lists_every_subcommand_or_one() -> None:
    whole = help_text()
    for name in USAGE:
        assert f"/incident {USAGE[name]} — {SUMMARY[name]}" in whole
    assert "incident channel" in whole
    assert help_text("contain") == f"/incident {USAGE['contain']} — {SUMMARY['contain']}"
    assert help_text("nope") == whole


def test_contain_params_are_a_fresh_dict_and_commands_are_hashable() -> None:
    assert Contain("x").params == {}
    assert Contain("x").params is not Contain("x").params
    assert isinstance(hash(Contain("x", {"a": "1"})), int)
    assert len({parse("ack"), parse("ACK"), parse("ack ic")}) == 2


# ---------------------------------------------------------------------------- properties
def _stripped_text(min_size: int = 1) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size).map(str.strip).filter(lambda s: len(s) >= min_size)


TEXT = _stripped_text()
MAYBE_TEXT = st.none() | TEXT
USER = st.from_regex(r"[UW][A-Z0-9]{2,30}", fullmatch=True)
GATE = st.integers(min_value=1, max_value=10**18 - 1)
ACTION = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True)
PARAMS = st.dictionaries(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True), st.text(), max_size=4
)
SEVERITY = st.sampled_from(Severity)
KLASS = st.sampled_from(IncidentClass)
ROLE = st.sampled_from(Role)

COMMANDS: st.SearchStrategy[Command] = st.one_of(
    st.builds(Declare, SEVERITY, KLASS, TEXT),
    st.builds(DeclareModal, st.none() | SEVERITY, st.none() | KLASS),
    st.builds(Ack, st.none() | ROLE),
    st.builds(Assign, ROLE, USER),
    st.builds(Handover, ROLE, USER),
    st.builds(Sev, SEVERITY, MAYBE_TEXT),
    st.builds(StatusChange, st.sampled_from(Status), MAYBE_TEXT),
    st.builds(Contain, ACTION, PARAMS, MAYBE_TEXT),
    st.builds(Notify, ACTION, PARAMS),
    st.builds(Note, TEXT),
    st.builds(Update, TEXT),
    st.builds(Evidence, TEXT),
    st.builds(c.Hold, TEXT | st.sampled_from(["release", "Release", "release it"])),
    st.builds(c.HoldRelease, TEXT),
    st.builds(Timeline),
    st.builds(Roles),
    st.builds(Resolve, TEXT),
    st.builds(Close),
    st.builds(c.Review),
    st.builds(c.ReviewDone),
    st.builds(Approve, GATE, MAYBE_TEXT),
    st.builds(Reject, GATE, TEXT),
    st.builds(Escalate, GATE, MAYBE_TEXT),
    st.builds(Confirm, GATE, MAYBE_TEXT),
    st.builds(List),
    st.builds(Help, st.none() | st.sampled_from(list(USAGE))),
)  # fmt: skip

# Words that steer arbitrary text into the parsers' corners.
TRICKY = st.sampled_from(
    [*USAGE, "--", "\u2014", '"', "'", "\u201c", "\u2019", "\\", "<", ">", "<@U123|a b>", "<@U1>",
     "@bob", "<#C1|x>", "<https://x|y>", "<!here>", "&amp;", "&lt;", "sev1", "ic", "12", "#3",
     "k=v", "k=", "=v", "harmful_content", "contained", '"a b"', "x\u00a0y"]
)  # fmt: skip
SLOPPY = st.lists(TRICKY | st.text(max_size=8), max_size=8).map(" ".join)


@settings(max_examples=400)
@given(st.text() | SLOPPY)
def test_parse_raises_nothing_but_usage_error(text: str) -> None:
    try:
        cmd = parse(text)
    except UsageError as err:
        assert err.subcommand in USAGE
        assert str(err).endswith(f"Usage: /incident {err.usage}")
    else:
        assert isinstance(cmd, COMMAND_TYPES)


@settings(max_examples=400)
@given(COMMANDS)
def test_render_then_parse_round_trips(cmd: Command) -> None:
    text = render(cmd)
    assert parse(text) == cmd
    assert parse(f" \n {text}\t") == cmd


@given(
    st.lists(
        st.text().filter(lambda s: not set(s) & set("&<>\u2018\u2019\u201c\u201d")), max_size=5
    )
)
def test_shell_quoting_agrees_with_shlex(values: list[str]) -> None:
    words = [f"k{i}={shlex.quote(value)}" for i, value in enumerate(values)]
    cmd = parse(" ".join(["contain", "x", *words]))
    assert isinstance(cmd, Contain)
    assert list(cmd.params.values()) == values
    assert shlex.split(" ".join(words)) == [f"k{i}={value}" for i, value in enumerate(values)]


def test_render_is_the_text_slack_would_send() -> None:
    assert render(Assign(IC, "U1ABC")) == "assign incident_commander <@U1ABC>"
    assert render(Note("a < b & c")) == 'note "a &lt; b &amp; c"'
    assert render(Contain("x", {"p": "a b"}, "why")) == 'contain x p="a b" -- why'
    assert render(Declare(Severity.SEV1, HARM, "t")) == "declare sev1 harmful_content t"
    assert render(Help()) == "help"


@pytest.mark.parametrize("module", [c, command_types, command_words])
def test_module_is_pure(module: types.ModuleType) -> None:
    source = module.__file__
    assert source is not None
    with open(source, encoding="utf-8") as handle:
        imports = [line for line in handle if line.startswith(("import ", "from "))]
    for line in imports:
        name = line.split()[1]
        assert name.split(".")[0] in {
            "__future__",
            "difflib",
            "re",
            "collections",
            "dataclasses",
            "enum",
            "typing",
        } or name.startswith(
            (
                "commandpost.core",
                "commandpost.errors",
                "commandpost.chat.slack.command_types",
                "commandpost.chat.slack.command_words",
            )
        ), line
