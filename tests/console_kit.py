"""A real `podium serve` process and real Chromium (Playwright) for the console's tests.

One SQLite store per module holds: the ``pay`` deployment (an approval before an
``at_most_once`` payment) in ``team-a`` and ``team-b``, ``wire`` (a run left with an unknown
``at_most_once`` step) and ``echo`` (an XSS payload through input, tool result and answer) in
``team-a``, and API keys per role.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from podium.runtime import Runtime
from podium.service import ControlPlane
from podium.store.open import open_store
from server_kit import ADMIN, APPS, make_key, podium

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "console"
XSS = "<img src=x onerror=\"document.title='pwned'\">"


@dataclass
class Site:
    db: str
    url: str = ""
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    unknown_run: str = ""
    b_runs: list[str] = field(default_factory=list)


def prepare(tmp: Path) -> Site:
    """Deployments, keys and the runs that exist before the server starts."""
    site = Site(db=str(tmp / "podium.db"))
    for ns in ("team-a", "team-b"):
        done = podium(site.db, "deploy", f"{APPS}/payments.py:payer", "--name", "pay", "-n", ns)
        assert done.returncode == 0, done.stderr
        for role in ("viewer", "operator", "approver", "admin"):
            site.keys[ns, role] = make_key(site.db, ns, role, label=f"{ns}-{role}")
    for name, obj in (("wire", "wirer"), ("echo", "echoer")):
        done = podium(site.db, "deploy", f"{APPS}/console_apps.py:{obj}", "--name", name,
                      "-n", "team-a")  # fmt: skip
        assert done.returncode == 0, done.stderr
    site.keys["team-a", "xss"] = make_key(site.db, "team-a", "viewer", label=f"ops{XSS}")
    site.unknown_run, site.b_runs = anyio.run(_runs, site.db)
    return site


async def _runs(db: str) -> tuple[str, list[str]]:
    store = open_store(db)
    try:
        plane = ControlPlane(store)
        wire, _, _ = await plane.start(ADMIN, "team-a", "wire", "wire 100")
        os.environ["PODIUM_TEST_CRASH_WIRE"] = "1"
        try:  # the process "dies" after the intent
            with pytest.raises(BaseException, match="crashed after the intent"):
                await Runtime(store, namespace="team-a").resume(wire)
        finally:
            del os.environ["PODIUM_TEST_CRASH_WIRE"]
        await Runtime(store, namespace="team-a").resume(wire)  # finds the intent: unknown
        b_runs = [(await plane.start(ADMIN, "team-b", "pay", "CANARY-B invoice"))[0]]
        return wire, b_runs
    finally:
        await store.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def login(browser: Browser, url: str, token: str, **options: object) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **options)  # type: ignore[arg-type]
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.dialogs = dialogs  # type: ignore[attr-defined]  # any alert() is a failed XSS test
    page.goto(url + "/login")
    page.get_by_label("API key").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/runs$"))
    return context, page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def csrf_of(page: Page) -> str:
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))
