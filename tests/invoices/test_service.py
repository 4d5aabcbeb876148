"""The invoices robot's use case on SQLite and PostgreSQL: cases, corrections, reminders,
export and hook, duplicates, bad documents. Real PDFs go through the real intake first."""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from backoffice.clock import utcnow
from backoffice.invoices import corpus, service
from backoffice.invoices.export import CSV_COLUMNS, SCHEMA
from backoffice.invoices.service import process_invoices
from backoffice.store import Document, OutboxMessage, ReviewItem, Store, open_store
from backoffice.store.models import (
    InvoiceCase,
    InvoiceCaseDocument,
    InvoiceEffect,
    SupplierBankAccount,
)
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import select

from tests.invoices.mailing import (
    SUPPLIER,
    clean_invoice,
    invoice_email,
    mail_in,
    pdf_of,
    with_wrong_nip,
)


@pytest.fixture
def store_at(db_url: str, make_settings) -> Iterator:
    """Factory: ``store_at(**settings)`` -> (store, settings) on the test's database."""
    opened: list[Store] = []

    def make(**overrides):
        settings = make_settings(database_url=db_url, **overrides)
        store = open_store(settings)
        opened.append(store)
        return store, settings

    yield make
    for store in opened:
        store.dispose()


def cases(store: Store) -> list[InvoiceCase]:
    with store.session() as session:
        return list(session.scalars(select(InvoiceCase).order_by(InvoiceCase.id)))


def outbox(store: Store) -> list[OutboxMessage]:
    with store.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def reviews(store: Store) -> list[ReviewItem]:
    with store.session() as session:
        return list(session.scalars(select(ReviewItem).order_by(ReviewItem.id)))


def versions(store: Store, case_id: int) -> list[tuple[int, str]]:
    with store.session() as session:
        return [
            (row.version, row.outcome)
            for row in session.scalars(
                select(InvoiceCaseDocument)
                .where(InvoiceCaseDocument.case_pk == case_id)
                .order_by(InvoiceCaseDocument.version)
            )
        ]


def exported_files(settings) -> list[str]:
    folder = settings.resolved_invoice_export_dir
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_clean_invoice_is_accepted_exported_once_and_its_iban_learned(store_at) -> None:
    store, settings = store_at()
    invoice = clean_invoice(11)
    mail_in(store, settings, invoice_email(pdf_of(invoice), message_id="<a1@dostawca.example>"))

    report = process_invoices(store, settings)

    assert (report.documents, report.accepted, report.exported) == (1, 1, 1)
    [case] = cases(store)
    assert case.state == "exported"
    assert case.invoice_number == invoice.number
    assert case.total_gross == invoice.gross
    names = exported_files(settings)
    assert len(names) == 2 and names[0].endswith(".csv") and names[1].endswith(".json")
    folder = settings.resolved_invoice_export_dir
    payload = json.loads((folder / names[1]).read_text(encoding="utf-8"))
    assert payload["schema"] == SCHEMA
    assert payload["case_id"] == case.id
    assert payload["invoice"]["invoice_number"] == invoice.number
    assert payload["invoice"]["total_gross"] == str(invoice.gross)
    assert payload["invoice"]["seller_tax_id"] == invoice.seller.tax_id
    assert payload["mail"]["message_id"] == "<a1@dostawca.example>"
    rows = list(csv.DictReader(io.StringIO((folder / names[0]).read_text(encoding="utf-8"))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == len(invoice.items)
    assert {row["total_gross"] for row in rows} == {str(invoice.gross)}
    assert [row["line_net"] for row in rows] == [str(item.net) for item in invoice.items]
    with store.session() as session:
        [account] = session.scalars(select(SupplierBankAccount)).all()
        assert (account.seller_key, account.iban) == (invoice.seller.tax_id, invoice.iban)
        assert session.get(Document, 1).status == "processed"

    again = process_invoices(store, settings)
    assert (again.documents, again.exported) == (0, 0)
    assert exported_files(settings) == names
    assert outbox(store) == []


def test_wrong_nip_asks_the_sender_in_polish_in_the_same_thread(store_at) -> None:
    store, settings = store_at()
    invoice = with_wrong_nip(clean_invoice(12))
    mail_in(
        store,
        settings,
        invoice_email(
            pdf_of(invoice),
            message_id="<b1@dostawca.example>",
            references=["<b0@dostawca.example>"],
        ),
    )

    report = process_invoices(store, settings)

    assert (report.corrections, report.accepted) == (1, 0)
    [case] = cases(store)
    assert (case.state, case.rounds, case.reason_code) == ("waiting", 1, "SELLER_TAX_ID_CHECKSUM")
    [mail] = outbox(store)
    assert mail.to_addrs == [SUPPLIER]
    assert mail.in_reply_to == "<b1@dostawca.example>"
    assert mail.references == ["<b0@dostawca.example>", "<b1@dostawca.example>"]
    assert mail.language == "pl"
    assert mail.subject == f"Prośba o korektę faktury {invoice.number}"
    assert "sprzedawcy ma błędną sumę kontrolną" in mail.body_text
    assert mail.idempotency_key == f"invoice-case:{case.id}:correction:1"
    assert case.correction_message_id == mail.message_id
    assert exported_files(settings) == []
    # Run again: nothing new is sent.
    process_invoices(store, settings)
    assert len(outbox(store)) == 1


def test_corrected_invoice_sent_as_a_reply_closes_the_case(store_at) -> None:
    store, settings = store_at()
    invoice = clean_invoice(13)
    good_nip = invoice.seller.tax_id
    with_wrong_nip(invoice)
    mail_in(store, settings, invoice_email(pdf_of(invoice), message_id="<c1@dostawca.example>"))
    process_invoices(store, settings)
    [request] = outbox(store)

    invoice.seller.tax_id = good_nip
    mail_in(
        store,
        settings,
        invoice_email(
            pdf_of(invoice),
            message_id="<c2@dostawca.example>",
            subject=f"Re: {request.subject}",
            in_reply_to=request.message_id,
            references=[*request.references, request.message_id],
        ),
    )
    report = process_invoices(store, settings)

    assert (report.matched, report.accepted, report.exported) == (1, 1, 1)
    [case] = cases(store)
    assert case.state == "exported"
    assert case.seller_tax_id == good_nip
    assert versions(store, case.id) == [(1, "correction_requested"), (2, "accepted")]
    assert len(outbox(store)) == 1
    assert len(exported_files(settings)) == 2


def test_corrected_invoice_in_a_new_thread_is_matched_by_seller_and_number(store_at) -> None:
    store, settings = store_at()
    invoice = clean_invoice(14)
    invoice.due_date = invoice.issue_date - timedelta(days=5)  # due before issued: fixable
    mail_in(store, settings, invoice_email(pdf_of(invoice), message_id="<d1@dostawca.example>"))
    process_invoices(store, settings)
    assert cases(store)[0].state == "waiting"

    invoice.due_date = invoice.issue_date + timedelta(days=14)
    mail_in(store, settings, invoice_email(pdf_of(invoice), message_id="<d2@dostawca.example>"))
    report = process_invoices(store, settings)

    assert (report.matched, report.accepted, report.duplicates) == (1, 1, 0)
    [case] = cases(store)
    assert case.state == "exported"
    assert [v for v, _ in versions(store, case.id)] == [1, 2]


def test_still_wrong_after_the_last_round_goes_to_review(store_at) -> None:
    store, settings = store_at(invoice_correction_rounds=2)
    invoice = with_wrong_nip(clean_invoice(15))
    pdf = pdf_of(invoice)
    mail_in(store, settings, invoice_email(pdf, message_id="<e1@dostawca.example>"))
    process_invoices(store, settings)
    for n in (2, 3):
        last = outbox(store)[-1]
        mail_in(
            store,
            settings,
            invoice_email(
                pdf,
                message_id=f"<e{n}@dostawca.example>",
                in_reply_to=last.message_id,
                references=[*last.references, last.message_id],
            ),
        )
        process_invoices(store, settings)

    [case] = cases(store)
    assert (case.state, case.rounds, case.reason_code) == (
        "review",
        2,
        "CORRECTION_ROUNDS_EXCEEDED",
    )
    first, second = outbox(store)
    assert first.idempotency_key.endswith(":correction:1")
    assert second.idempotency_key.endswith(":correction:2")
    assert second.in_reply_to == "<e2@dostawca.example>"
    assert "<e1@dostawca.example>" in second.references
    assert [o for _, o in versions(store, case.id)] == [
        "correction_requested",
        "correction_requested",
        "correction_requested",
    ]
    [item] = [r for r in reviews(store) if r.subject_type == "invoice_case"]
    assert item.reason_code == "CORRECTION_ROUNDS_EXCEEDED"
    assert item.evidence["findings"][0]["code"] == "SELLER_TAX_ID_CHECKSUM"


def test_changed_iban_of_a_known_supplier_goes_to_review_with_evidence(store_at) -> None:
    store, settings = store_at()
    invoice = clean_invoice(16)
    mail_in(store, settings, invoice_email(pdf_of(invoice), message_id="<f1@dostawca.example>"))
    process_invoices(store, settings)

    invoice.number += "-2"
    invoice.iban = corpus.make_iban(random.Random(99), "PL")
    mail_in(store, settings, invoice_email(pdf_of(invoice), message_id="<f2@dostawca.example>"))
    report = process_invoices(store, settings)

    assert (report.review, report.accepted) == (1, 0)
    first, second = cases(store)
    assert (first.state, second.state) == ("exported", "review")
    assert second.reason_code == "BANK_ACCOUNT_CHANGED"
    [item] = [r for r in reviews(store) if r.subject_type == "invoice_case"]
    assert (item.subject_ref, item.reason_code) == (str(second.id), "BANK_ACCOUNT_CHANGED")
    [finding] = item.evidence["findings"]
    assert finding["field"] == "iban"
    assert finding["value"].replace(" ", "") == invoice.iban
    assert finding["source"] == "text"
    assert finding["page"] == 1
    assert 0 < finding["confidence"] <= 1
    assert set(finding["messages"]) == {"pl", "ru", "en"}
    assert len(exported_files(settings)) == 2  # only the first invoice
    assert outbox(store) == []


def test_the_same_invoice_mailed_twice_is_a_duplicate_not_a_second_export(store_at) -> None:
    store, settings = store_at()
    pdf = pdf_of(clean_invoice(24))
    mail_in(store, settings, invoice_email(pdf, message_id="<g1@dostawca.example>"))
    process_invoices(store, settings)
    mail_in(store, settings, invoice_email(pdf, message_id="<g2@dostawca.example>"))

    report = process_invoices(store, settings)

    assert (report.duplicates, report.accepted, report.exported) == (1, 0, 0)
    [case] = cases(store)
    assert versions(store, case.id) == [(1, "accepted"), (2, "duplicate")]
    [item] = reviews(store)
    assert (item.subject_type, item.reason_code) == ("document", "DUPLICATE_INVOICE")
    assert item.evidence["case_id"] == case.id
    assert len(exported_files(settings)) == 2


def _bad_files(tmp_path: Path) -> dict[str, bytes]:
    good = pdf_of(clean_invoice(18))
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(good)
    writer = PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password="secret", algorithm="AES-256")
    encrypted = io.BytesIO()
    writer.write(encrypted)
    xxe = (
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&x;</Invoice>'
    )
    letter = PdfWriter()
    letter.add_blank_page(595, 842)
    blank = io.BytesIO()
    letter.write(blank)
    huge = PdfWriter()
    for _ in range(3000):
        huge.add_blank_page(595, 842)
    pages = io.BytesIO()
    huge.write(pages)
    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000), 1).save(bomb, format="PNG")
    return {
        "encrypted.pdf": encrypted.getvalue(),
        "truncated.pdf": good[:600],
        "xxe.xml": xxe,
        "blank.pdf": blank.getvalue(),
        "3000-pages.pdf": pages.getvalue(),
        "bomb.png": bomb.getvalue(),
    }


def test_unreadable_documents_get_a_reason_and_the_robot_goes_on(store_at, tmp_path) -> None:
    store, settings = store_at()
    for n, (name, data) in enumerate(_bad_files(tmp_path).items()):
        kind = {"xml": "application/xml", "png": "image/png"}.get(name[-3:], "application/pdf")
        raw = invoice_email(
            data,
            message_id=f"<h{n}@dostawca.example>",
            filename=f"faktura-{name}",
            content_type=kind,
        )
        mail_in(store, settings, raw)
    good = clean_invoice(19)
    mail_in(store, settings, invoice_email(pdf_of(good), message_id="<h9@dostawca.example>"))
    with store.session() as session:
        # Intake classifies by name and mail context too: every one reaches this robot.
        kinds = {d.filename: d.kind for d in session.scalars(select(Document))}
    assert set(kinds.values()) == {"invoice"}, kinds

    report = process_invoices(store, settings)

    assert (report.documents, report.rejected, report.accepted) == (7, 6, 1)
    with store.session() as session:
        rejected = {
            d.filename: (d.reason_code, d.reason)
            for d in session.scalars(select(Document).where(Document.status == "rejected"))
        }
    assert rejected["faktura-encrypted.pdf"][0] == "PDF_ENCRYPTED"
    assert rejected["faktura-truncated.pdf"][0] in {"PDF_TRUNCATED", "PDF_DAMAGED", "READ_FAILED"}
    assert rejected["faktura-xxe.xml"][0] == "XML_UNSAFE"
    assert rejected["faktura-blank.pdf"][0] == "NOT_AN_INVOICE"
    assert rejected["faktura-3000-pages.pdf"][0] == "TOO_MANY_PAGES"
    assert rejected["faktura-bomb.png"][0] == "IMAGE_TOO_LARGE"
    assert all(reason for _, reason in rejected.values())
    items = {(r.subject_type, r.reason_code) for r in reviews(store)}
    assert {("document", code) for code, _ in rejected.values()} <= items
    assert [c.state for c in cases(store)] == ["exported"]


def test_one_reminder_after_the_set_days_then_review(store_at, monkeypatch) -> None:
    store, settings = store_at(invoice_reminder_days=7)
    mail_in(
        store,
        settings,
        invoice_email(
            pdf_of(with_wrong_nip(clean_invoice(20))), message_id="<r1@dostawca.example>"
        ),
    )
    process_invoices(store, settings)
    start = utcnow()

    monkeypatch.setenv("BACKOFFICE_NOW", (start + timedelta(days=6)).isoformat())
    assert process_invoices(store, settings).reminders == 0
    monkeypatch.setenv("BACKOFFICE_NOW", (start + timedelta(days=8)).isoformat())
    assert process_invoices(store, settings).reminders == 1
    monkeypatch.setenv("BACKOFFICE_NOW", (start + timedelta(days=9)).isoformat())
    assert process_invoices(store, settings).reminders == 0

    request, reminder = outbox(store)
    assert reminder.in_reply_to == request.message_id
    assert "<r1@dostawca.example>" in reminder.references
    assert reminder.subject.startswith("Przypomnienie: prośba o korektę faktury")
    assert "sprzedawcy ma błędną sumę kontrolną" in reminder.body_text
    assert cases(store)[0].state == "waiting"

    monkeypatch.setenv("BACKOFFICE_NOW", (start + timedelta(days=16)).isoformat())
    report = process_invoices(store, settings)
    assert (report.expired, report.reminders) == (1, 0)
    [case] = cases(store)
    assert (case.state, case.reason_code) == ("review", "NO_CORRECTION_RECEIVED")
    assert len(outbox(store)) == 2


class _Hook(BaseHTTPRequestHandler):
    answers: list[int]
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[type[_Hook]]:
    """A real HTTP server on loopback that records each POST and answers as told."""
    handler = type("Hook", (_Hook,), {"answers": [], "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/invoices"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


def test_http_hook_gets_the_json_once_and_is_retried_after_a_503(
    store_at, hook_server, monkeypatch
) -> None:
    hook_server.answers[:] = [503]
    store, settings = store_at(invoice_hook=hook_server.url, invoice_hook_token="t0ken")
    invoice = clean_invoice(21)
    mail_in(store, settings, invoice_email(pdf_of(invoice), message_id="<k1@dostawca.example>"))

    first = process_invoices(store, settings)
    assert (first.exported, first.hooks, first.effects_waiting) == (1, 0, 1)
    assert cases(store)[0].state == "accepted"
    monkeypatch.setenv("BACKOFFICE_NOW", (utcnow() + timedelta(minutes=5)).isoformat())
    second = process_invoices(store, settings)
    process_invoices(store, settings)

    assert (second.hooks, second.effects_waiting) == (1, 0)
    assert cases(store)[0].state == "exported"
    assert len(hook_server.received) == 2  # the 503, then the one that was taken
    headers, body = hook_server.received[-1]
    assert headers["Idempotency-Key"] == f"invoice-case:{cases(store)[0].id}:hook"
    assert headers["Authorization"] == "Bearer t0ken"
    assert json.loads(body)["invoice"]["invoice_number"] == invoice.number


def test_hook_refusal_goes_to_review_and_is_not_called_again(store_at, hook_server) -> None:
    hook_server.answers[:] = [422]
    store, settings = store_at(invoice_hook=hook_server.url)
    mail_in(store, settings, invoice_email(pdf_of(clean_invoice(22)), message_id="<l1@x.test>"))

    report = process_invoices(store, settings)
    process_invoices(store, settings)

    assert len(hook_server.received) == 1
    assert report.reasons and report.reasons[0].startswith("HOOK_FAILED")
    [case] = cases(store)
    assert case.state == "accepted"
    [item] = reviews(store)
    assert (item.subject_ref, item.reason_code) == (str(case.id), "HOOK_FAILED")
    assert "HTTP 422" in item.reason


def test_command_hook_reads_the_json_on_stdin(store_at, tmp_path) -> None:
    log = tmp_path / "hook.log"
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        "data = json.load(sys.stdin)\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(os.environ['BACKOFFICE_IDEMPOTENCY_KEY'] + ' ' "
        "+ data['invoice']['invoice_number'] + '\\n')\n"
    )
    store, settings = store_at(invoice_hook=f"{sys.executable} {script}")
    invoice = clean_invoice(23)
    mail_in(store, settings, invoice_email(pdf_of(invoice), message_id="<m1@x.test>"))

    process_invoices(store, settings)
    process_invoices(store, settings)

    case = cases(store)[0]
    assert case.state == "exported"
    assert log.read_text().splitlines() == [f"invoice-case:{case.id}:hook {invoice.number}"]
    with store.session() as session:
        effects = {e.kind: (e.status, e.result) for e in session.scalars(select(InvoiceEffect))}
    assert effects["hook"] == ("done", {"exit_code": 0})
    assert effects["export"][0] == "done"


def test_case_keys_compare_tax_ids_and_numbers_as_the_rules_do() -> None:
    assert service.case_key_for("PL 526-000-12-46", "FV / 1 / 2026") == "5260001246|fv/1/2026"
    assert service.case_key_for("5260001246", "fv/1/2026") == "5260001246|fv/1/2026"
    assert service.case_key_for(None, "1") == ""
