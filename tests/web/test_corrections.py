"""Invoice cases in the review queue, on SQLite and PostgreSQL: correct and approve through
the invoices robot's export path, learning the supplier's layout; reject with an email in
the thread; the as-you-type validation endpoint. Real PDFs from the project's generator
go through the real intake and the real invoices robot."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from backoffice.invoices import corpus
from backoffice.invoices.service import process_invoices
from backoffice.store import Store, open_store
from backoffice.store.models import (
    InvoiceCase,
    InvoiceCaseDocument,
    InvoiceEffect,
    OutboxMessage,
    ReviewItem,
    SupplierBankAccount,
    SupplierProfile,
)
from backoffice.web.app import create_app
from backoffice.web.models import AuditEntry
from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.invoices.mailing import clean_invoice, invoice_email, mail_in, pdf_of
from tests.web.support import add_staff, sign_in

#: A supplier whose invoices print the number after a label the generic reader does not
#: know: it finds no number, so the first invoice goes to a person.
ODD_LABEL = "Faktura VAT - znak dokumentu:"


@pytest.fixture
def robot(db_url: str, make_settings: Any) -> Iterator[tuple[Store, Any]]:
    """The store the robots and the web app share, and its settings."""
    settings = make_settings(database_url=db_url, web_session_secret="s" * 40)
    store = open_store(settings)
    yield store, settings
    store.dispose()


@pytest.fixture
def odd_label(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polish corpus invoices print their number after ``ODD_LABEL``."""
    monkeypatch.setitem(corpus.TEXTS, "pl", {**corpus.TEXTS["pl"], "invoice": ODD_LABEL})


@pytest.fixture
def web(robot: tuple[Store, Any]) -> Iterator[TestClient]:
    store, settings = robot
    with TestClient(create_app(settings, store), follow_redirects=False) as client:
        yield client


def _mail(store: Store, settings: Any, invoice: corpus.Invoice, n: int) -> None:
    raw = invoice_email(pdf_of(invoice), message_id=f"<inv-{n}@dostawca.example>")
    mail_in(store, settings, raw)


def _item(store: Store, case_id: int) -> ReviewItem:
    with store.session() as session:
        return session.scalars(
            select(ReviewItem).where(
                ReviewItem.subject_type == "invoice_case", ReviewItem.subject_ref == str(case_id)
            )
        ).one()


def _case(store: Store, number: str) -> InvoiceCase:
    with store.session() as session:
        return session.scalars(
            select(InvoiceCase).where(InvoiceCase.invoice_number == number)
        ).one()


def _only_case(store: Store) -> InvoiceCase:
    with store.session() as session:
        return session.scalars(select(InvoiceCase).order_by(InvoiceCase.id.desc())).first()


def _odd_invoice_in_review(store: Store, settings: Any, seed: int) -> corpus.Invoice:
    """A supplier's invoice with its number after ``ODD_LABEL``, taken in and checked."""
    add_staff(store, "ola", "clerk")
    invoice = clean_invoice(seed)
    invoice.number = f"ZS-{seed:04d}/11/2026"
    _mail(store, settings, invoice, 1)
    report = process_invoices(store, settings)
    assert (report.review, report.accepted) == (1, 0)
    return invoice


def test_a_corrected_invoice_teaches_the_layout_and_the_next_two_pass_without_review(
    robot: tuple[Store, Any], web: TestClient, odd_label: None
) -> None:
    store, settings = robot
    first = _odd_invoice_in_review(store, settings, 41)
    case = _only_case(store)
    assert (case.state, case.reason_code) == ("review", "REQUIRED_FIELD_MISSING")
    item = _item(store, case.id)

    token = sign_in(web, "ola")
    page = web.get(f"/queue/{item.id}")
    assert 'name="f_invoice_number" value=""' in page.text
    assert "Prośba o korektę" in page.text  # the rejection email, prefilled in Polish

    # A wrong value is refused with its reason and changes nothing.
    bad = web.post(
        f"/queue/{item.id}/fields",
        data={"csrf_token": token, "f_seller_tax_id": "1234567890", "then": "save"},
    )
    assert bad.status_code == 303
    assert "error=FIELDS_INVALID" in bad.headers["location"]
    assert "bad=seller_tax_id" in bad.headers["location"]
    assert _only_case(store).seller_tax_id == first.seller.tax_id

    done = web.post(
        f"/queue/{item.id}/fields",
        data={
            "csrf_token": token,
            "f_invoice_number": " ZS-0041/11/2026 ",
            "f_seller_tax_id": case.seller_tax_id,  # unchanged: not a correction
            "then": "approve",
        },
    )
    assert done.headers["location"] == f"/queue/{item.id}?done=approve_learned"
    with store.session() as session:
        case = session.get(InvoiceCase, case.id)
        assert (case.state, case.invoice_number) == ("accepted", first.number)
        assert case.fields["fields"]["invoice_number"]["source"] == "staff"
        assert [e.kind for e in session.scalars(select(InvoiceEffect))] == ["export"]
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.subject_ref == str(item.id)).order_by(AuditEntry.id)
        ).all()
        assert [a.action for a in audit] == ["invoice.correct", "review.approve", "supplier.learn"]
        assert (audit[0].actor, audit[0].before, audit[0].after) == (
            "ola",
            {"invoice_number": ""},
            {"invoice_number": first.number},
        )
        profile = session.scalars(select(SupplierProfile)).one()
        place = profile.layout["invoice_number"]
        assert place["anchor"] == ODD_LABEL and place["page"] == 1
        assert all(0 <= v <= 1 for v in place["box"])
        assert profile.senders == ["faktury@dostawca.example"]
    history = web.get(f"/queue/{item.id}").text
    assert "invoice.correct" in history and "supplier.learn" in history

    # The robot makes the export it recorded: with the corrected number, once.
    assert process_invoices(store, settings).exported == 1
    [exported] = settings.resolved_invoice_export_dir.glob("*.json")
    assert json.loads(exported.read_text())["invoice"]["invoice_number"] == first.number
    assert process_invoices(store, settings).exported == 0

    # Measured: the supplier's next two invoices are read right and accepted unreviewed.
    for n, number in ((2, "ZS-0042/11/2026"), (3, "ZS-0107/12/2026")):
        nxt = clean_invoice(41)
        nxt.number = number
        _mail(store, settings, nxt, n)
    report = process_invoices(store, settings)
    assert (report.accepted, report.review, report.exported) == (2, 0, 2)
    for number in ("ZS-0042/11/2026", "ZS-0107/12/2026"):
        read = _case(store, number).fields["fields"]["invoice_number"]
        assert read["source"] == "learned" and read["confidence"] >= 0.9

    # Control: another supplier with the same odd label, never corrected, still goes to a
    # person - the generic reader alone does not read it.
    other = clean_invoice(43)
    assert other.seller.tax_id != first.seller.tax_id
    other.number = "ZS-0043/11/2026"
    raw = invoice_email(
        pdf_of(other), message_id="<other@inny.example>", sender="biuro@inny.example"
    )
    mail_in(store, settings, raw)
    assert process_invoices(store, settings).review == 1


def test_a_case_sent_back_is_read_again_as_the_same_case_with_what_was_learned(
    robot: tuple[Store, Any], web: TestClient, odd_label: None
) -> None:
    store, settings = robot
    first = _odd_invoice_in_review(store, settings, 41)
    # The supplier's next invoice came before anyone corrected the first: review too.
    second = clean_invoice(41)
    second.number = "ZS-0042/11/2026"
    _mail(store, settings, second, 2)
    assert process_invoices(store, settings).review == 1
    with store.session() as session:
        earlier, later = session.scalars(select(InvoiceCase).order_by(InvoiceCase.id)).all()
    token = sign_in(web, "ola")
    web.post(
        f"/queue/{_item(store, earlier.id).id}/fields",
        data={"csrf_token": token, "f_invoice_number": first.number, "then": "approve"},
    )

    item = _item(store, later.id)
    sent = web.post(f"/queue/{item.id}/send-back", data={"csrf_token": token})
    assert sent.headers["location"] == f"/queue/{item.id}?done=send_back"
    assert _case(store, "").state == "sent_back"
    report = process_invoices(store, settings)

    assert (report.accepted, report.review, report.documents) == (1, 0, 1)
    with store.session() as session:
        case = session.get(InvoiceCase, later.id)
        assert (case.state, case.invoice_number) == ("exported", second.number)
        assert case.fields["fields"]["invoice_number"]["source"] == "learned"
        assert session.scalar(select(func.count(InvoiceCase.id))) == 2
        # Still its one document, now with the outcome of the second reading.
        version = session.scalars(
            select(InvoiceCaseDocument).where(InvoiceCaseDocument.case_pk == case.id)
        ).one()
        assert (version.version, version.outcome) == (1, "accepted")
        audit = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_ref == str(later.id))
        ).all()
        assert "invoice_case.send_back" in audit
    # The item is closed: a second send-back is refused and changes nothing.
    again = web.post(f"/queue/{item.id}/send-back", data={"csrf_token": token})
    assert "error=ALREADY_DECIDED" in again.headers["location"]


def test_a_changed_iban_approved_by_staff_becomes_a_known_account(
    robot: tuple[Store, Any], web: TestClient
) -> None:
    store, settings = robot
    add_staff(store, "ola", "clerk")
    invoice = clean_invoice(16)
    old_iban = invoice.iban
    _mail(store, settings, invoice, 1)
    process_invoices(store, settings)
    invoice.number += "-2"
    invoice.iban = corpus.make_iban(random.Random(99), "PL")
    _mail(store, settings, invoice, 2)
    assert process_invoices(store, settings).review == 1
    case = _only_case(store)
    assert case.reason_code == "BANK_ACCOUNT_CHANGED"
    item = _item(store, case.id)

    token = sign_in(web, "ola")
    done = web.post(f"/queue/{item.id}/approve", data={"csrf_token": token})
    assert done.headers["location"] == f"/queue/{item.id}?done=approve"
    with store.session() as session:
        known = sorted(a.iban for a in session.scalars(select(SupplierBankAccount)))
        assert known == sorted([old_iban, invoice.iban])
        assert session.get(InvoiceCase, case.id).state == "accepted"
    assert process_invoices(store, settings).exported == 1

    invoice.number += "-3"
    _mail(store, settings, invoice, 3)
    assert process_invoices(store, settings).accepted == 1


def test_reject_emails_the_edited_correction_in_the_thread_and_the_case_waits(
    robot: tuple[Store, Any], web: TestClient, odd_label: None
) -> None:
    store, settings = robot
    _odd_invoice_in_review(store, settings, 52)
    case = _only_case(store)
    item = _item(store, case.id)
    token = sign_in(web, "ola")

    no_reason = web.post(
        f"/queue/{item.id}/reject",
        data={"csrf_token": token, "reason": " ", "subject": "x", "body": "y"},
    )
    assert no_reason.headers["location"] == f"/queue/{item.id}?error=REASON_REQUIRED"
    body = "Dzień dobry,\n\nproszę podać numer faktury w polu „Numer faktury”.\n"
    done = web.post(
        f"/queue/{item.id}/reject",
        data={
            "csrf_token": token,
            "reason": "number printed under an unknown label",
            "subject": "Prośba o korektę faktury",
            "body": body,
        },
    )
    assert done.headers["location"] == f"/queue/{item.id}?done=reject_mailed"
    again = web.post(
        f"/queue/{item.id}/reject",
        data={"csrf_token": token, "reason": "twice", "subject": "s", "body": "b"},
    )
    assert again.headers["location"] == f"/queue/{item.id}?error=ALREADY_DECIDED"
    with store.session() as session:
        [mail] = session.scalars(select(OutboxMessage)).all()
        case = session.get(InvoiceCase, case.id)
        assert mail.idempotency_key == f"invoice-case:{case.id}:correction:1"
        assert mail.in_reply_to == case.message_id == "<inv-1@dostawca.example>"
        assert mail.to_addrs == ["faktury@dostawca.example"]
        assert (mail.language, mail.body_text) == ("pl", body)
        assert (case.state, case.rounds, case.reason_code) == ("waiting", 1, "STAFF_REJECTED")
        assert case.correction_message_id == mail.message_id
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_ref == str(item.id))
        ).all()
        assert actions == ["review.reject", "invoice.correction_requested"]


def test_validation_endpoint_reads_values_as_the_robot_does(
    robot: tuple[Store, Any], web: TestClient
) -> None:
    store, _settings = robot
    add_staff(store, "ola", "clerk")
    token = sign_in(web, "ola")

    def check(field: str, value: str, language: str = "pl") -> dict[str, Any]:
        response = web.post(
            "/queue/validate",
            json={"field": field, "value": value, "language": language},
            headers={"X-CSRF-Token": token},
        )
        assert response.status_code == 200
        return response.json()

    assert check("issue_date", "20.11.2026") == {"ok": True, "shown": "2026-11-20"}
    assert check("issue_date", "31.02.2026")["ok"] is False
    assert check("total_gross", "1 234,50") == {"ok": True, "shown": "1234.50"}
    assert check("total_gross", "12abc")["ok"] is False
    assert check("total_gross", "1,005")["shown"] == "1005.00"
    assert check("seller_tax_id", "526-000-12-46") == {"ok": True, "shown": "5260001246"}
    assert "check digit" in check("seller_tax_id", "5260001247")["error"]
    assert check("seller_tax_id", "7707083893", "ru") == {"ok": True, "shown": "7707083893"}
    assert check("seller_tax_id", "DE136695976")["ok"] is True
    assert check("iban", "pl61 1090 1014 0000 0712 1981 2874")["shown"].startswith("PL61 1090")
    assert check("iban", "PL61 1090 1014 0000 0712 1981 2875")["ok"] is False
    assert check("invoice_number", "")["error"] == "this field is required"
    assert check("due_date", "") == {"ok": True, "shown": ""}
    assert check("tax_breakdown", "23%")["ok"] is False
    # Without the session's token the endpoint is refused like every POST.
    refused = web.post("/queue/validate", json={"field": "iban", "value": "x"})
    assert refused.status_code == 403
