"""Drills: whole incidents scripted in YAML, run through the real service on a simulated clock.

A drill file (see `drills/*.yml`)::

    policy: ../policy.yml             # relative to the drill; default $COMMANDPOST_POLICY
    start: "2026-03-02T09:00:00Z"     # UTC; the simulated clock starts here
    steps:
      - declare: {by: dan, severity: SEV0, class: data_leakage, title: ..., model: ...}
      - ack: {who: alice}                              # role: optional
      - contain: {by: alice, action: rollback_model, params: {...}, as: rollback}
      - approve: {who: alice, gate: rollback}
        expect_error: someone else must approve        # the step must be refused so
      - advance: 10m                                   # deadlines fire on the way
      - expect: {status: contained, roles: {incident_commander: alice}, audit_valid: true}

People act with `assign`/`handover` (by, role, to), `status` (by, to, note), `severity` (by,
to, reason, as), `note`/`evidence` (by, text), `contain` (by, action, params, reason, as),
`approve`/`reject`/`escalate` (who, gate, reason), `confirm_manual` (who, gate, note),
`restore` (by, gate, reason, as), `update` (by, text), `resolve` (by, summary),
`review_done` (by: the incident commander marks the post-incident review done, which `close`
needs), `close` (by). Gates are named by the label their request gave with `as:` (a
`contain` without one is labelled by its action). `advance: {by: 30m, down: true}` jumps as
if Command Post was down, so missed deadlines fire late, at once.

`expect` checks the stored incident: status, severity, roles (acknowledged holders), paged
(holders still waiting to acknowledge), unfilled, gates ({label: state} or {state, tier,
execution, approved_by}), executed (exactly these labels ran), actions_run (exactly these
control-plane calls, in order), fired (a count, or descriptions in order, of deadlines fired
since the previous expect), pending_deadlines, audit_valid, channel_contains, dm_contains.
"""
