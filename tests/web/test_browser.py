"""The web app in a real browser: Playwright drives Debian's Chromium against uvicorn.

Screenshots of each page land in ``output/screenshots/`` as test artefacts.
"""

from __future__ import annotations

import os
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.intake.service import run_intake
from backoffice.invoices import corpus
from backoffice.invoices.service import process_invoices
from backoffice.outbox.service import send_due
from backoffice.store import Store, open_store
from backoffice.store.models import InvoiceCase, ReviewItem
from backoffice.web.app import create_app
from backoffice.web.models import AuditEntry
from sqlalchemy import select

from tests.invoices.mailing import clean_invoice, invoice_email, pdf_of
from tests.web.support import PASSWORD, add_document_item, add_items, add_staff
from tests.web.test_corrections import ODD_LABEL

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "output" / "screenshots"

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def server(store: Store, web_settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread."""
    if store.dialect != "sqlite":
        pytest.skip("the browser flow runs once, on SQLite")
    with serve(store, web_settings) as base:
        yield base


@contextmanager
def serve(store: Store, web_settings: Settings) -> Iterator[str]:
    """Serve the app over ``store`` with uvicorn in a thread; yields its base URL."""
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
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


def _wait_text(locator: object, text: str) -> None:
    """Wait (bounded) until ``locator`` shows ``text`` - set by the page's script."""
    deadline = time.monotonic() + 30
    while text not in locator.inner_text():
        assert time.monotonic() < deadline, f"never showed {text!r}: {locator.inner_text()!r}"
        locator.page.wait_for_timeout(100)


@pytest.mark.smtp
@pytest.mark.imap
def test_correct_and_approve_then_reject_with_an_email_that_arrives_over_smtp(
    browser: object,
    mailbox: object,
    imap_settings: object,
    test_servers: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(corpus.TEXTS, "pl", {**corpus.TEXTS["pl"], "invoice": ODD_LABEL})
    ours, supplier = mailbox("ap"), mailbox("supplier")
    settings = imap_settings(
        ours,
        database_url=f"sqlite:///{tmp_path}/web.db",
        mail_from=f"Księgowość <{ours.address}>",
        outbox_transport="smtp",
        smtp_host=test_servers.host,
        smtp_port=test_servers.smtp_port,
        smtp_security="none",
        web_session_secret="browser-" + "s" * 40,
    )
    store = open_store(settings)
    add_staff(store, "ola", "clerk")
    fixed, rejected = clean_invoice(41), clean_invoice(52)
    fixed.number, rejected.number = "ZS-0041/11/2026", "ZS-0052/11/2026"
    with smtplib.SMTP(test_servers.host, test_servers.smtp_port, timeout=30) as smtp:
        for n, invoice in enumerate((fixed, rejected), start=1):
            raw = invoice_email(
                pdf_of(invoice), message_id=f"<odd-{n}@supplier.example>", sender=supplier.address
            )
            smtp.sendmail(supplier.address, [ours.address], raw)
    ours.wait_for(2)
    assert run_intake(store, settings).stored == 2
    assert process_invoices(store, settings).review == 2
    with store.session() as session:
        items = {
            case.id: item_id
            for case in session.scalars(select(InvoiceCase))
            for item_id in session.scalars(
                select(ReviewItem.id).where(ReviewItem.subject_ref == str(case.id))
            )
        }
    first_item, second_item = (items[key] for key in sorted(items))

    with serve(store, settings) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        _sign_in(page, base, "ola")

        # Correct a field: checked as it is typed, saved, approved, audited.
        page.goto(f"{base}/queue/{first_item}")
        nip = page.locator("#f_seller_tax_id")
        good_nip = nip.input_value()
        nip.fill(good_nip[:-1] + str((int(good_nip[-1]) + 1) % 10))
        _wait_text(page.locator("#check-seller_tax_id"), "check digit")
        assert nip.evaluate("input => !input.validity.valid")
        _shot(page, "06-correct-invalid")
        nip.fill(good_nip)
        page.fill("#f_invoice_number", fixed.number)
        deadline = time.monotonic() + 30
        while not nip.evaluate("input => input.validity.valid"):
            assert time.monotonic() < deadline
            page.wait_for_timeout(100)
        page.click("#save-approve")
        page.wait_for_url(f"{base}/queue/{first_item}?done=approve_learned")
        entry = page.locator("#history li.audit[data-action='invoice.correct']")
        assert entry.count() == 1
        assert fixed.number in entry.inner_text() and "ola" in entry.inner_text()
        _shot(page, "07-corrected-approved")

        # Reject with the prefilled Polish email, edited; it goes out in the thread.
        page.goto(f"{base}/queue/{second_item}")
        assert page.input_value("#reject-form input[name=subject]").startswith("Prośba o korektę")
        body = page.input_value("#reject-form textarea[name=body]")
        assert body.startswith("Dzień dobry,")
        page.fill("#reject-form textarea[name=reason]", "number under an unknown label")
        extra = "Prosimy o numer faktury w polu Numer faktury."
        page.fill("#reject-form textarea[name=body]", body.rstrip() + "\n\n" + extra)
        _shot(page, "08-reject-form")
        page.click("#reject")
        page.wait_for_url(f"{base}/queue/{second_item}?done=reject_mailed")
        assert page.locator("#history li.audit[data-action='review.reject']").count() == 1
        context.close()

    assert send_due(store, settings).sent == 1
    [reply] = supplier.wait_for(1)
    assert reply["In-Reply-To"] == "<odd-2@supplier.example>"
    assert reply["Content-Language"] == "pl"
    assert str(reply["Subject"]).startswith("Prośba o korektę")
    assert extra in reply.get_body(preferencelist=("plain",)).get_content()
    assert process_invoices(store, settings).exported == 1  # the approved one
    with store.session() as session:
        states = sorted(c.state for c in session.scalars(select(InvoiceCase)))
    assert states == ["exported", "waiting"]
    store.dispose()


def test_dashboard_renders_with_charts(server: str, browser: object, store: Store) -> None:
    add_staff(store, "boss", "manager")
    add_items(store, 4, start=utcnow() - timedelta(days=2))
    add_items(store, 3)
    add_document_item(store)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _sign_in(page, server, "boss")
    page.click("text=Dashboard")
    page.wait_for_url(f"{server}/dashboard")
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    for index in range(4):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 30
    assert page.locator("#figures .figure.bad .value").first.inner_text() == "4"
    assert page.locator("#table-overdue tbody tr").count() == 4
    assert page.locator("a.csv").count() == 8
    _shot(page, "09-dashboard")
    context.close()
