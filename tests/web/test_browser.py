"""The web app in a real browser: Playwright drives Debian's Chromium against uvicorn.

Screenshots of each page land in ``output/screenshots/`` as test artefacts.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from backoffice.config import Settings
from backoffice.store import Store
from backoffice.web.app import create_app
from backoffice.web.models import AuditEntry
from sqlalchemy import select

from tests.web.support import PASSWORD, add_document_item, add_items, add_staff

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "output" / "screenshots"

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def server(store: Store, web_settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread."""
    if store.dialect != "sqlite":
        pytest.skip("the browser flow runs once, on SQLite")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        create_app(web_settings, store), host="127.0.0.1", port=port, log_level="warning"
    )
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    web.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def browser() -> Iterator[object]:
    """Debian's Chromium under Playwright (its own browser builds are never downloaded)."""
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed (scripts/install-system.sh --test)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _sign_in(page: object, base: str, name: str) -> None:
    page.goto(f"{base}/queue")
    assert "/sign-in" in page.url
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/queue")


def test_sign_in_open_an_item_approve_and_see_the_audit_entry(
    server: str, browser: object, store: Store
) -> None:
    add_staff(store, "ola", "clerk")
    add_staff(store, "admin", "admin")
    add_items(store, 3)
    item_id, _ = add_document_item(store)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()

    page.goto(f"{server}/sign-in")
    _shot(page, "01-sign-in")
    _sign_in(page, server, "ola")
    assert page.locator("#queue tbody tr").count() == 4
    _shot(page, "02-queue")

    page.select_option("select[name=reason]", "TOTALS_MISMATCH")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/queue?*reason=TOTALS_MISMATCH*")
    assert page.locator("#queue tbody tr").count() == 1
    page.click(f"#queue a[href='/queue/{item_id}']")
    page.wait_for_url(f"{server}/queue/{item_id}")
    image = page.locator("#page-1 img")
    image.scroll_into_view_if_needed()
    # The page image is drawn by the server; wait until the browser has decoded it.
    deadline = time.monotonic() + 30
    while not image.evaluate("img => img.complete && img.naturalWidth > 0"):
        assert time.monotonic() < deadline, "the page image never loaded"
        page.wait_for_timeout(100)
    assert page.locator("table.fields").inner_text().count("total_gross") == 1
    _shot(page, "03-item")

    page.click("#approve")
    page.wait_for_url(f"{server}/queue/{item_id}?done=approve")
    assert page.locator(".flash.notice").inner_text() == "Approved."
    entry = page.locator("#history li.audit[data-action='review.approve']")
    assert entry.count() == 1
    assert "ola" in entry.inner_text()
    _shot(page, "04-item-approved")
    with store.session() as session:
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "review.approve"))
        assert (audit.actor, audit.subject_ref) == ("ola", str(item_id))
        assert (audit.before["status"], audit.after["status"]) == ("open", "done")

    response = page.goto(f"{server}/admin/users")
    assert response.status == 403
    context.close()

    admin = browser.new_context(viewport={"width": 1400, "height": 900})
    page = admin.new_page()
    _sign_in(page, server, "admin")
    page.click("text=Users")
    page.wait_for_url(f"{server}/admin/users")
    assert page.locator("#users tbody tr").count() == 2
    _shot(page, "05-users")
    admin.close()
