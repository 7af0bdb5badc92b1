"""`/incident` commands, parsed by `commands.parse`, carried out through the service layer.

Slack-free apart from the ids it is handed: the listener resolves the Slack user to a policy
person and the channel to an incident before calling `run`, and shows what `run` returns
(or the UserError it raises) to that person only.
"""

from __future__ import annotations

from commandpost.chat.slack import commands as c
from commandpost.core.gates import Decision
from commandpost.core.policy import Person, Policy
from commandpost.errors import NotFound
from commandpost.service import audit_log, gates, incidents, notices, review, roles
from commandpost.service.context import Context
from commandpost.service.evidence_retention import place_hold, release_hold
from commandpost.service.incidents import Declaration
from commandpost.service.notice_rows import catalogue_for

NOT_IN_POLICY = "You are not in Command Post's policy, so it cannot act for you. Ask an admin."


def person_by_slack_id(policy: Policy, slack_id: str) -> Person | None:
    return next((p for p in policy.people if p.slack_id == slack_id), None)


def _person(ctx: Context, slack_id: str) -> str:
    person = person_by_slack_id(ctx.policy, slack_id)
    if person is None:
        raise NotFound(f"<@{slack_id}> is not in the policy's people, so cannot hold a role")
    return person.id


def run(ctx: Context, cmd: c.Command, *, actor: str, incident_id: str | None) -> str | None:
    """Carry out one command. Returns text for the actor alone, or None when the channel
    already shows the outcome. UserError (refusals, conflicts) propagates to the caller."""
    if isinstance(cmd, c.Declare):
        incident = incidents.declare(
            ctx,
            Declaration(
                title=cmd.title,
                klass=cmd.klass,
                severity=cmd.severity,
                declared_by=actor,
                trigger="slack:/incident declare",
            ),
        )
        return f"Declared {incident.id}: the channel #{incident.channel} is being set up."
    if isinstance(cmd, c.List):
        rows = incidents.list_incidents(ctx)
        if not rows:
            return "No open incidents."
        return "\n".join(f"{i.id} {i.severity} {i.status} {i.klass}: {i.title}" for i in rows)
    if incident_id is None:
        raise NotFound("this is not an incident channel")
    return _in_incident(ctx, cmd, actor=actor, incident_id=incident_id)


def _in_incident(ctx: Context, cmd: c.Command, *, actor: str, incident_id: str) -> str | None:
    if isinstance(cmd, c.Ack):
        done = roles.acknowledge(ctx, incident_id, person_id=actor, role=cmd.role)
        return "Acknowledged: " + ", ".join(done)
    if isinstance(cmd, (c.Assign, c.Handover)):
        roles.assign(
            ctx,
            incident_id,
            role=cmd.role,
            person_id=_person(ctx, cmd.user_id),
            actor=actor,
            handover=isinstance(cmd, c.Handover),
        )
        return None
    if isinstance(cmd, c.Sev):
        gate = incidents.change_severity(
            ctx, incident_id, severity=cmd.severity, actor=actor, reason=cmd.reason
        )
        return None if gate is None else f"The downgrade needs approval: gate #{gate}."
    if isinstance(cmd, c.StatusChange):
        incidents.change_status(ctx, incident_id, status=cmd.status, actor=actor, note=cmd.note)
        return None
    if isinstance(cmd, c.Contain):
        gate = gates.request_containment(
            ctx,
            incident_id,
            action=cmd.action,
            params=dict(cmd.params),
            requester=actor,
            reason=cmd.reason,
        )
        return f"Requested: gate #{gate}."
    if isinstance(cmd, c.Notify):
        return _notify(ctx, cmd, actor=actor, incident_id=incident_id)
    if isinstance(cmd, c.Update):
        incidents.post_update(ctx, incident_id, actor=actor, text=cmd.text)
        return None
    if isinstance(cmd, (c.Note, c.Evidence)):
        incidents.add_note(
            ctx, incident_id, actor=actor, text=cmd.text, evidence=isinstance(cmd, c.Evidence)
        )
        return None
    if isinstance(cmd, c.Hold):
        place_hold(ctx, incident_id, actor=actor, reason=cmd.reason)
        return None
    if isinstance(cmd, c.HoldRelease):
        # Who may release is checked in the service; a refusal reaches only the actor.
        release_hold(ctx, incident_id, actor=actor, reason=cmd.reason)
        return None
    if isinstance(cmd, c.Resolve):
        incidents.resolve(ctx, incident_id, actor=actor, summary=cmd.summary)
        return None
    if isinstance(cmd, c.Review):
        return _review_text(ctx, incident_id)
    if isinstance(cmd, c.ReviewDone):
        # Only the incident commander may: checked in the service.
        review.mark_done(ctx, incident_id, actor=actor)
        return None
    if isinstance(cmd, c.Close):
        incidents.close(ctx, incident_id, actor=actor)
        return None
    if isinstance(cmd, (c.Approve, c.Reject, c.Escalate)):
        decision = {c.Approve: Decision.APPROVE, c.Reject: Decision.REJECT}.get(
            type(cmd), Decision.ESCALATE
        )
        state = gates.decide(ctx, cmd.gate_id, actor=actor, decision=decision, reason=cmd.reason)
        return f"Gate #{cmd.gate_id}: {decision.value} recorded; the gate is {state.value}."
    if isinstance(cmd, c.Confirm):
        gates.confirm_manual(ctx, cmd.gate_id, actor=actor, note=cmd.note)
        return None
    if isinstance(cmd, c.Timeline):
        events = audit_log.incident_events(ctx, incident_id)
        lines = [f"{e.at:%Y-%m-%d %H:%M:%S}Z {e.actor} {e.kind}" for e in events[-40:]]
        return "\n".join(lines) or "Nothing recorded yet."
    if isinstance(cmd, c.Roles):
        rows = roles.role_holders(ctx, incident_id)
        return "\n".join(
            f"{r.role}: {r.person_id} ({'acknowledged' if r.acknowledged_at else 'pending'})"
            for r in rows
        )
    raise NotFound(f"/incident {cmd.subcommand} is not available here")


# Slack shows about 4,000 characters of a message's text; a long timeline is cut, with a
# pointer to the whole document.
_REVIEW_SHOWN = 3500


def _review_text(ctx: Context, incident_id: str) -> str:
    row = review.get(ctx, incident_id)
    state = f"done by {row.done_by}" if row.done_by else "draft"
    text = row.text.rstrip()
    if len(text) > _REVIEW_SHOWN:
        more = len(text) - _REVIEW_SHOWN
        text = (
            f"{text[:_REVIEW_SHOWN]}\n… ({more} more characters: "
            f"`commandpost review show {row.incident_id}`)"
        )
    return (
        f"Post-incident review of {row.incident_id} ({state}, version {row.version}); edit it "
        f"with `commandpost review edit {row.incident_id} --file …`, then the incident "
        f"commander runs `/incident review done`.\n```\n{text}\n```"
    )


def _notify(ctx: Context, cmd: c.Notify, *, actor: str, incident_id: str) -> str:
    # Checked here, not left to the service, so a typo gets the usage line and the list.
    available = catalogue_for(ctx.policy).names()
    if cmd.template not in available:
        raise c.UsageError(
            "notify",
            f"there is no notice template {cmd.template!r}; "
            f"available: {', '.join(available) or 'none'}",
        )
    drafted = notices.draft(
        ctx, incident_id, template=cmd.template, actor=actor, facts=dict(cmd.facts) or None
    )
    blocking = len(drafted.blocking)
    return (
        f"Notice #{drafted.id} ({drafted.template}) drafted with {len(drafted.findings)} lint "
        f"finding(s), {blocking} blocking: review it on the card in this channel."
    )
