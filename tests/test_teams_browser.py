"""The Teams approval page in a real headless Chromium, on both database lanes.

The links are the ones a person would click: taken from the gate card the Workflows receiver
(a local webhook on port 0) recorded, served by the approval app over real HTTP. Approve
decides and executes once; Reject without a reason is refused by the browser (the field is
required) and, with the browser's check taken away, by the server, writing nothing; with a
reason the gate is rejected and the reason recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from sqlmodel import Session, select

from commandpost.chat.teams import TeamsChat
from commandpost.core.vocabulary import IncidentClass
from commandpost.service import outbox
from commandpost.service.context import Context
from commandpost.storage import models as m

from .browser import screenshot
from .support import contain, counts, declare_incident, gate_row, staff
from .teamsupport import (
    approval_link,
    gate_cards,
    serve_teams,
    settings,
    webhook_receiver,
)

pytestmark = pytest.mark.browser
TABLES = ("gate_decisions", "audit_events", "outbox", "teams_link_uses")


@dataclass
class Gate:
    ctx: Context
    gate_id: int
    card: dict[str, object]


@pytest.fixture
def gate(ctx: Context) -> Iterator[Gate]:
    """Carol's rollback gate, pending, its card posted to the receiver with links that point
    at the approval app served on port 0."""
    with webhook_receiver() as receiver, serve_teams(ctx, settings()) as base:
        config = settings(
            teams_webhook_url=SecretStr(receiver.url + "/flow"), teams_public_url=base
        )
        ctx.chat = TeamsChat(config, engine=ctx.engine, policy=ctx.policy, clock=ctx.clock)
        incident = declare_incident(ctx, "Chat model leaks prompts", IncidentClass.DATA_LEAKAGE)
        staff(ctx, incident)
        gate_id = contain(ctx, incident)
        outbox.deliver(ctx)
        (card,) = gate_cards(receiver, gate_id)
        yield Gate(ctx, gate_id, card)


def wait_for(browser: WebDriver, css: str) -> str:
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CSS_SELECTOR, css))
    return str(browser.find_element(By.CSS_SELECTOR, css).text)


def decisions_and_executions(ctx: Context, gate_id: int) -> tuple[list[m.GateDecision], int]:
    with Session(ctx.engine) as session:
        decisions = list(
            session.exec(select(m.GateDecision).where(m.GateDecision.gate_id == gate_id))
        )
        executions = [o for o in session.exec(select(m.OutboxItem)) if o.kind == "execute"]
    return decisions, len(executions)


def test_approve_in_the_browser(browser: WebDriver, gate: Gate) -> None:
    browser.delete_all_cookies()
    browser.get(approval_link(gate.card, "Erin Park", "Approve"))
    heading = wait_for(browser, "h1")
    assert f"Gate #{gate.gate_id} needs a decision" in heading and "rollback_model" in heading
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Carol Diaz" in page and "No decisions yet" in page and "Erin Park" in page
    assert browser.find_element(By.CSS_SELECTOR, "input[value=approve]").is_selected()
    screenshot(browser, "teams-approval")

    browser.find_element(By.ID, "submit").click()
    wait_for(browser, "#outcome")
    assert "approve recorded" in browser.find_element(By.TAG_NAME, "h1").text
    outcome = browser.find_element(By.ID, "outcome")
    assert outcome.get_attribute("data-state") == "approved"
    screenshot(browser, "teams-approval-done")

    decisions, executions = decisions_and_executions(gate.ctx, gate.gate_id)
    assert [(d.person_id, d.decision) for d in decisions] == [("erin", "approve")]
    assert executions == 1
    assert gate_row(gate.ctx, gate.gate_id).state == "approved"

    # Back and submit again: the link is spent; nothing more is decided or executed.
    browser.back()
    browser.refresh()
    assert "already used" in wait_for(browser, "body")
    assert decisions_and_executions(gate.ctx, gate.gate_id) == (decisions, 1)


def test_reject_needs_a_reason_in_the_browser_and_on_the_server(
    browser: WebDriver, gate: Gate
) -> None:
    browser.delete_all_cookies()
    browser.get(approval_link(gate.card, "Alice Ng", "Reject"))
    wait_for(browser, "h1")
    assert browser.find_element(By.CSS_SELECTOR, "input[value=reject]").is_selected()
    reason = browser.find_element(By.ID, "reason")
    before = counts(gate.ctx, TABLES)

    # The browser refuses: the reason is required once Reject is chosen.
    browser.find_element(By.ID, "submit").click()
    assert reason.get_attribute("required") is not None
    assert browser.execute_script("return arguments[0].validity.valueMissing", reason)
    assert browser.find_elements(By.ID, "outcome") == []
    assert counts(gate.ctx, TABLES) == before

    # So does the server, when the browser's check is taken away (a crafted POST).
    browser.execute_script("arguments[0].removeAttribute('required')", reason)
    browser.find_element(By.ID, "submit").click()
    assert "needs a reason" in wait_for(browser, "#form-error")
    screenshot(browser, "teams-approval-reject-refused")
    assert counts(gate.ctx, TABLES) == before
    assert gate_row(gate.ctx, gate.gate_id).state == "pending"

    # Switching to Approve lifts the requirement; back to Reject brings it back.
    browser.find_element(By.CSS_SELECTOR, "input[value=approve]").click()
    assert browser.find_element(By.ID, "reason").get_attribute("required") is None
    browser.find_element(By.CSS_SELECTOR, "input[value=reject]").click()
    assert browser.find_element(By.ID, "reason").get_attribute("required") is not None

    browser.find_element(By.ID, "reason").send_keys("wrong model version in the payload")
    browser.find_element(By.ID, "submit").click()
    wait_for(browser, "#outcome")
    assert browser.find_element(By.ID, "outcome").get_attribute("data-state") == "rejected"

    decisions, executions = decisions_and_executions(gate.ctx, gate.gate_id)
    assert [(d.person_id, d.decision, d.reason) for d in decisions] == [
        ("alice", "reject", "wrong model version in the payload")
    ]
    assert executions == 0
    assert gate_row(gate.ctx, gate.gate_id).state == "rejected"
    with Session(gate.ctx.engine) as session:
        (event,) = session.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "gate.reject"))
    # The approval page is reached from a Teams card: the audit trail says so.
    assert json.loads(event.data)["via"] == "teams"
