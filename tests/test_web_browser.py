"""The incident pages in a real headless Chromium: follow a viewer link, go from the list to an
incident, and see the milestone chart, with screenshots in build/screenshots/."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from commandpost.core.policy import Policy
from commandpost.service.ports import ManualClock

from .browser import screenshot
from .conftest import MakeCtx
from .test_web_pages import link_for, seed, serving, web_settings


@pytest.mark.browser
def test_a_viewer_follows_the_link_to_an_incident_and_its_chart(
    browser: WebDriver, make_ctx: MakeCtx, policy: Policy, clock: ManualClock
) -> None:
    seeded = seed(make_ctx, policy, clock)
    wait = WebDriverWait(browser, 15)
    with serving(seeded.ctx, web_settings()) as base:
        browser.delete_all_cookies()
        browser.get(link_for(seeded.ctx, base, "erin"))
        # The sign-in page refreshes itself to the list, now with the session cookie.
        wait.until(ec.presence_of_element_located((By.ID, "incidents")))
        assert browser.current_url == f"{base}/incidents"
        header = browser.find_element(By.CSS_SELECTOR, "header.top")
        assert "Signed in as Erin Park (erin)" in header.text
        # The stylesheet applied: its CSP hash matched (a blocked one would leave no colour).
        assert header.value_of_css_property("background-color") == "rgba(23, 32, 44, 1)"
        rows = browser.find_elements(By.CSS_SELECTOR, "#incidents tbody tr")
        assert [r.get_attribute("data-incident") for r in rows] == [
            seeded.hostile,
            seeded.resolved,
        ]
        # The hostile title is text on the page, not markup that ran.
        assert '<script>alert("x")</script>' in rows[0].text
        screenshot(browser, "incident-list")

        browser.find_element(By.LINK_TEXT, seeded.resolved).click()
        wait.until(ec.visibility_of_element_located((By.ID, "milestone-chart")))
        assert browser.current_url == f"{base}/incidents/{seeded.resolved}"
        title = browser.find_element(By.ID, "title").text
        assert title == f"{seeded.resolved} · Assistant shows other users' order history"
        chart = browser.find_element(By.ID, "milestone-chart")
        groups = chart.find_elements(By.CSS_SELECTOR, "g.milestone")
        names = [g.get_attribute("data-name") for g in groups]
        assert names == ["acknowledged", "contained", "notified", "resolved"]
        for group in groups:
            bar = group.find_element(By.CSS_SELECTOR, "rect.bar")
            assert bar.is_displayed() and float(bar.get_attribute("width") or 0) > 0
        assert len(chart.find_elements(By.CSS_SELECTOR, "line.sla")) == 1
        assert "4m of 10m" in groups[0].text and "13m of 30m" in groups[1].text
        timeline = browser.find_element(By.ID, "timeline")
        assert "incident.declared" in timeline.text and "gate.requested" in timeline.text
        assert "approve by Alice Ng (alice)" in browser.find_element(By.ID, "gates").text
        assert "delivered" in browser.find_element(By.ID, "notices").text
        path = screenshot(browser, "incident-page")
        assert path.stat().st_size > 10_000
        # And the whole page, for a person reviewing the layout below the fold.
        size = browser.get_window_size()
        height = browser.find_element(By.TAG_NAME, "body").rect["height"]
        browser.set_window_size(size["width"], int(height) + 140)
        try:
            screenshot(browser, "incident-page-full")
        finally:
            browser.set_window_size(size["width"], size["height"])

        # The open incident: nothing reached yet, each milestone a pale bar up to now.
        browser.find_element(By.LINK_TEXT, "← All incidents").click()
        wait.until(ec.presence_of_element_located((By.ID, "incidents")))
        browser.find_element(By.LINK_TEXT, seeded.hostile).click()
        wait.until(ec.visibility_of_element_located((By.ID, "milestone-chart")))
        assert '<script>alert("x")</script>' in browser.find_element(By.ID, "title").text
        # One bar or marker per milestone: a milestone a SEV2 sets no SLA for gets a marker.
        shapes = []
        for group in browser.find_elements(By.CSS_SELECTOR, "g.milestone"):
            (shape,) = group.find_elements(By.CSS_SELECTOR, "rect.bar, circle.marker")
            assert shape.is_displayed()
            shapes.append(shape.get_attribute("class"))
        assert len(shapes) == 4
        assert set(shapes) <= {"bar bar-pending", "bar bar-overdue", "marker marker-pending"}
        screenshot(browser, "incident-page-open")
