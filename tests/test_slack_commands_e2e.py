"""End to end through Slack: declaring an incident and the `/incident` commands.

Declaring by command and by modal (channel, pages, announcement, a taken channel name),
usage shown for a malformed command, and assigning and handing over roles.
"""

from __future__ import annotations

from commandpost.chat.slack.blocks import ACK_ACTION, DECLARE_CALLBACK
from commandpost.chat.slack.blocks_forms import block_id
from commandpost.storage import models as m

from .slacke2e import ALICE, DAN, ERIN, Env, ack, chosen, declare, has_buttons, typed
from .slacke2e import env as env


def test_declare_by_command_opens_the_channel(env: Env) -> None:
    stored = declare(env)
    channel = env.fake.channels[stored.channel_id]
    assert channel.name.startswith("inc-") and channel.name.endswith("-self-harm-advice-in-chat")
    assert {"U0ALICE", "U0CAROL", "U0ERIN", "U0GRACE"} <= channel.members
    assert channel.topic.startswith("INC-") and channel.purpose
    assert channel.pins == [stored.summary_ts]
    assert env.fake.calls("conversations.create", ok=True)[0].params["name"] == channel.name
    page = env.dm(ALICE)[0]
    buttons = [e for b in page["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["action_id"] == ACK_ACTION
    # announced in the announcements channel
    announce = env.fake.channel_named("incidents")
    assert announce is not None
    env.fake.wait_for(lambda f: len(f.messages_in(announce.id)) == 1)
    assert env.count(m.Incident) == 1


def test_channel_name_collision_gets_a_suffix(env: Env) -> None:
    env.fake.add_channel(f"inc-{2000 + 0}-x")  # unrelated
    # Take the name the first incident of this year will want.
    from datetime import UTC, datetime

    year = datetime.now(UTC).year
    env.fake.add_channel(f"inc-{year}-0001-self-harm-advice-in-chat")
    stored = declare(env)
    assert stored.name == f"inc-{year}-0001-self-harm-advice-in-chat-2"
    assert env.fake.calls("conversations.create", ok=False)[0].error == "name_taken"


def test_malformed_command_gets_usage(env: Env) -> None:
    reply = env.slack.command("contain", user=ALICE)
    assert reply.status == 200
    assert "Usage: `/incident contain" in reply.text
    outside = env.slack.command("note hello", user=ALICE, channel="C0GENERAL")
    assert "only in an incident channel" in outside.text
    stranger = env.slack.command('declare sev1 harmful_content "x"', user="U0NOBODY")
    assert "not in Command Post's policy" in stranger.text
    assert env.count(m.Incident) == 0


def test_declare_by_modal(env: Env) -> None:
    reply = env.slack.command("declare", user=ALICE, channel="C0GENERAL")
    assert reply.status == 200
    env.fake.wait_for_calls("views.open")
    view = env.fake.views[-1]
    assert view["callback_id"] == DECLARE_CALLBACK
    assert view["private_metadata"] == "C0GENERAL"
    blocks = {b["block_id"] for b in view["blocks"]}
    assert {block_id(f) for f in ("title", "incident_class", "severity", "model")} <= blocks

    bad = env.slack.submit(
        DECLARE_CALLBACK, {block_id("title"): typed("  ")}, user=ALICE, private_metadata="C0GENERAL"
    )
    assert bad.status == 200
    errors = bad.json()
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) == {
        block_id("title"),
        block_id("model"),
        block_id("incident_class"),
        block_id("severity"),
    }
    assert env.count(m.Incident) == 0 and env.count(m.OutboxItem) == 0

    values = {
        block_id("title"): typed("Agent emails customers unprompted"),
        block_id("incident_class"): chosen("unauthorized_tool_use"),
        block_id("severity"): chosen("SEV2"),
        block_id("model"): typed("support-agent"),
        block_id("model_version"): typed("2026-03-01"),
        block_id("surface"): typed("email-tool"),
        block_id("tenant"): typed("acme"),
        block_id("region"): typed("eu-west"),
        block_id("description"): typed("Seen by support at 09:12"),
    }
    ok = env.slack.submit(DECLARE_CALLBACK, values, user=ALICE, private_metadata="C0GENERAL")
    assert ok.status == 200 and ok.text == ""
    env.fake.wait_for_calls("pins.add")
    (incident,) = env.rows(m.Incident)
    assert (incident.severity, incident.klass, incident.declared_by) == (
        "SEV2",
        "unauthorized_tool_use",
        "alice",
    )
    assert (incident.model, incident.model_version, incident.surface) == (
        "support-agent",
        "2026-03-01",
        "email-tool",
    )
    assert (incident.tenant, incident.region) == ("acme", "eu-west")
    assert env.channel().name.endswith("-agent-emails-customers-unprompted")
    # Told privately (the modal has no channel): a DM names the new incident.
    env.fake.wait_for(lambda f: any(incident.id in x["text"] for x in f.messages_in("D0ALICE")))


def test_assign_and_handover_by_command(env: Env) -> None:
    stored = declare(env)
    ack(env, ALICE)
    reply = env.slack.command(
        "assign product_owner <@U0KAI|kai>", user=ALICE, channel=stored.channel_id
    )
    assert reply.status == 200
    env.fake.wait_for(lambda f: len(f.messages_in("D0KAI")) == 1)
    page = env.fake.messages_in("D0KAI")[0]
    assert has_buttons(page)  # a role page with Acknowledge
    holders = {
        (r.role, r.person_id) for r in env.rows(m.RoleAssignment) if r.active and not r.unfilled
    }
    assert ("product_owner", "kai") in holders
    # Only the holder or the IC hands over; Dan is neither.
    env.slack.command("handover safety_lead <@U0FEMI>", user=DAN, channel=stored.channel_id)
    env.fake.wait_for(lambda f: any(e["user"] == DAN for e in f.ephemeral))
    # Erin (the safety lead) hands over to Femi.
    ack(env, ERIN)
    env.slack.command("handover safety_lead <@U0FEMI>", user=ERIN, channel=stored.channel_id)
    env.fake.wait_for(lambda f: len(f.messages_in("D0FEMI")) == 1)
    holders = {
        (r.role, r.person_id) for r in env.rows(m.RoleAssignment) if r.active and not r.unfilled
    }
    assert ("safety_lead", "femi") in holders and ("safety_lead", "erin") not in holders
    kinds = [e.kind for e in env.rows(m.AuditEvent)]
    assert kinds.count("role.assigned") == 1 and kinds.count("role.handover") == 1
    env.fake.wait_for(
        lambda f: any("handed safety_lead" in x["text"] for x in f.messages_in(stored.channel_id))
    )
    # A mention of someone outside the policy is refused, with the reason.
    env.slack.command("assign comms <@U0STRANGER>", user=ALICE, channel=stored.channel_id)
    env.fake.wait_for(
        lambda f: any(e["user"] == ALICE and "not in the policy" in e["text"] for e in f.ephemeral)
    )
