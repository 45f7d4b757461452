"""The web console in real Chromium (Playwright) against a real `podium serve` process.

Each test drives the browser the way an operator would; screenshots of every page are saved
into docs/console/ (shown in docs/console.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from console_kit import XSS, Site, chromium, csrf_of, login, prepare, shot
from server_kit import ROOT, server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("console")
    prepared = prepare(tmp)
    with server(prepared.db, tmp, worker=True) as url:
        prepared.url = url
        yield prepared


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _start(page: Page, target: str, text: str) -> str:
    page.locator("summary", has_text="Start a run").click()
    page.get_by_label("Deployment to run").select_option(target)
    page.get_by_label("Input (text or JSON)").fill(text)
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(re.compile(r".*/runs/run_[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[1]


def test_start_watch_live_approve_from_inbox_and_see_it_complete(
    site: Site, browser: Browser
) -> None:
    _, operator = login(browser, site.url, site.keys["team-a", "operator"])
    shot(operator, "login-runs")
    run_id = _start(operator, "team-a/pay", "invoice 7 from ACME")
    operator.evaluate("window.__sameDocument = true")  # gone if the page reloads
    # the in-process worker runs it; its steps appear live until it waits for the approval
    expect(operator.locator("#run-status")).to_have_text("suspended", timeout=30_000)
    expect(operator.locator("ol.events")).to_contain_text("approval_requested")
    expect(operator.locator("svg.gantt g.bar")).not_to_have_count(0)
    shot(operator, "run-waiting")
    _, approver = login(browser, site.url, site.keys["team-a", "approver"])
    approver.goto(site.url + "/approvals")
    card = approver.locator(f"article.approval:has(a[href='/runs/{run_id}'])")
    expect(card).to_contain_text('"amount": 2500')
    expect(card).to_contain_text("role approver")
    shot(approver, "approvals")
    card.get_by_label("Reason").fill("checked the invoice")
    card.get_by_role("button", name="Approve").click()
    approver.wait_for_url(f"**/runs/{run_id}")
    # the operator's page, never reloaded, follows the run to its end
    expect(operator.locator("#run-status")).to_have_text("completed", timeout=30_000)
    assert operator.evaluate("window.__sameDocument") is True
    expect(operator.locator("tr.tool-call")).to_contain_text("paid 2500.00 EUR")
    expect(operator.locator("tr.tool-call")).to_contain_text("at_most_once")
    shot(operator, "run-completed")
    for name in ("costs", "deployments", "fleet"):
        operator.goto(f"{site.url}/{name}")
        expect(operator.locator("h1")).to_be_visible()
        shot(operator, name)


def test_resolve_an_unknown_at_most_once_step(site: Site, browser: Browser) -> None:
    _, page = login(browser, site.url, site.keys["team-a", "operator"])
    page.goto(f"{site.url}/runs/{site.unknown_run}")
    expect(page.locator("#run-status")).to_have_text("needs_attention")
    expect(page.locator("section[aria-label='Unknown steps']")).to_contain_text(
        "may or may not have happened"
    )
    shot(page, "run-unknown")
    page.get_by_label("Result (for skip)").fill('"sent by hand"')
    page.get_by_label("Comment").fill("the bank confirmed it")
    page.get_by_role("button", name="Skip (it happened)").click()
    expect(page.locator("#run-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("section[aria-label='Unknown steps']")).to_contain_text(
        "resolved: skip by team-a-operator"
    )
    expect(page.locator("tr.tool-call")).to_contain_text("sent by hand")


def test_a_viewer_sees_no_action_and_a_forged_post_is_refused(site: Site, browser: Browser) -> None:
    context, page = login(browser, site.url, site.keys["team-a", "viewer"])
    page.goto(f"{site.url}/runs/{site.unknown_run}")
    expect(page.locator("#run-status")).to_be_visible()
    assert page.locator("main form[method=post]").count() == 0
    assert page.get_by_role("button", name=re.compile("Cancel|Resume|Retry|Skip")).count() == 0
    page.goto(site.url + "/approvals")
    assert page.get_by_role("button", name="Approve").count() == 0
    shot(page, "viewer-approvals")
    page.goto(site.url + "/runs")
    token = csrf_of(page)  # the viewer's own, valid CSRF token
    forged = context.request.post(
        f"{site.url}/runs/{site.unknown_run}/cancel", form={"csrf": token, "reason": "x"}
    )
    assert forged.status == 403
    page.goto(f"{site.url}/runs/{site.unknown_run}")
    expect(page.locator("#run-status")).not_to_have_text("cancelled")


def test_tenant_a_never_sees_b(site: Site, browser: Browser) -> None:
    context, page = login(browser, site.url, site.keys["team-a", "admin"])
    for path in ("/runs", "/approvals", "/costs", "/deployments", "/fleet", "/audit"):
        page.goto(site.url + path)
        assert "CANARY-B" not in page.content()
        assert all(run not in page.content() for run in site.b_runs)
        assert "team-b" not in page.locator("main").inner_text()
    page.goto(f"{site.url}/runs?namespace=team-b")
    expect(page.locator("tbody#rows")).to_contain_text("No runs match.")
    for path in (f"/runs/{site.b_runs[0]}", f"/audit?run_id={site.b_runs[0]}"):
        response = context.request.get(site.url + path)
        assert response.status == 404, path
        assert "CANARY-B" not in response.text()
    page.goto(f"{site.url}/audit?run_id={site.unknown_run}")
    expect(page.locator("#verdict")).to_contain_text("Chain intact")
    shot(page, "audit")


def test_xss_payloads_render_as_text(site: Site, browser: Browser) -> None:
    _, page = login(browser, site.url, site.keys["team-a", "operator"])
    run_id = _start(page, "team-a/echo", XSS)
    expect(page.locator("#run-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("pre.input")).to_have_text(XSS)
    expect(page.locator("pre.tool-result")).to_contain_text(f"echo: {XSS}")
    assert page.locator("main img").count() == 0
    assert page.title() != "pwned"
    assert page.dialogs == []
    _, viewer = login(browser, site.url, site.keys["team-a", "xss"])
    expect(viewer.locator("header.top")).to_contain_text(f"ops{XSS}")  # a principal's name
    viewer.goto(f"{site.url}/runs/{run_id}")
    expect(viewer.locator("#run-status")).to_have_text("completed")
    assert viewer.locator("img").count() == 0
    assert viewer.title() != "pwned"


def test_csrf_and_framing_headers(site: Site, browser: Browser) -> None:
    context, page = login(browser, site.url, site.keys["team-a", "operator"])
    no_token = context.request.post(f"{site.url}/runs/{site.unknown_run}/cancel", form={})
    assert no_token.status == 403
    wrong = context.request.post(
        f"{site.url}/runs/{site.unknown_run}/cancel", form={"csrf": "0" * 64}
    )
    assert wrong.status == 403
    other_origin = context.request.post(
        f"{site.url}/runs/{site.unknown_run}/cancel", form={"csrf": csrf_of(page)},
        headers={"Origin": "https://evil.example"},
    )  # fmt: skip
    assert other_origin.status == 403
    for path in ("/login", "/runs", f"/runs/{site.unknown_run}", "/approvals"):
        headers = context.request.get(site.url + path).headers
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
    cookie = next(c for c in context.cookies() if c["name"] == "podium_session")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    anonymous = httpx.get(site.url + "/runs", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login"


def test_phone_width(site: Site, browser: Browser) -> None:
    _, page = login(browser, site.url, site.keys["team-a", "operator"])
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(site.url + "/runs")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing but the tables' own scroll boxes is wider
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    shot(page, "runs-phone")


def test_quickstart_demo_then_serve_decide_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    db = str(tmp_path / "podium.db")
    demo = subprocess.run(
        [sys.executable, "examples/support_desk.py"], capture_output=True, text=True,
        timeout=120, cwd=ROOT, env={**os.environ, "PODIUM_DB": db},
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert f".venv/bin/podium --db {db} serve" in demo.stdout
    link = re.search(r"http://127\.0\.0\.1:8000(/login#pdm_\S+)", demo.stdout)
    assert link, demo.stdout
    waiting = re.search(r"run (run_\w+): suspended \(the 1,499 EUR laptop refund\)", demo.stdout)
    assert waiting, demo.stdout
    with server(db, tmp_path) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(url + link.group(1))  # the link logs in by itself
        page.wait_for_url(re.compile(r".*/runs$"))
        expect(page.locator("tbody#rows")).to_contain_text("completed")
        expect(page.locator("tbody#rows")).to_contain_text("suspended")
        shot(page, "quickstart-runs")
        page.goto(url + "/approvals")
        card = page.locator(f"article.approval:has(a[href='/runs/{waiting.group(1)}'])")
        expect(card).to_contain_text('"amount": 1499.0')
        expect(card).to_contain_text("refunds over 500 EUR need a supervisor")
        shot(page, "quickstart-approval")
        card.get_by_role("button", name="Approve").click()
        page.wait_for_url(f"**/runs/{waiting.group(1)}")
        expect(page.locator("#run-status")).to_have_text("completed", timeout=30_000)
        refund = page.locator("tr.tool-call", has_text="issue_refund")
        expect(refund).to_contain_text("rf-A-2002")
        context.close()
