"""The decision over real documents, and the correction email in the invoice's language."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from pathlib import Path

import pytest
from backoffice.invoices import corpus
from backoffice.invoices.decide import NothingToCorrect, correction_email, decide
from backoffice.invoices.messages import Texts
from backoffice.invoices.rules import Finding, RuleContext, SupplierAccount, run_rules

from tests.invoices.test_rules import CONTEXT, TODAY, make, read_pdf


def _grouped_nip(nip: str) -> str:
    return f"{nip[:3]}-{nip[3:6]}-{nip[6:8]}-{nip[8:]}"


def test_clean_invoice_is_accepted(tmp_path: Path) -> None:
    invoice = make()
    result = read_pdf(tmp_path, invoice)
    context = RuleContext(
        today=TODAY,
        own_tax_ids=(invoice.buyer.tax_id,),
        supplier_accounts=(SupplierAccount(invoice.seller.tax_id, invoice.iban or ""),),
    )
    decision = decide(result, run_rules(result, context))
    assert decision.outcome == "accepted"
    assert decision.reasons == ()
    assert decision.to_json() == {"outcome": "accepted", "reasons": []}


def test_wrong_nip_asks_for_a_correction_in_polish(tmp_path: Path) -> None:
    invoice = make()
    invoice.seller.tax_id = corpus.make_nip(random.Random(3), valid=False)
    result = read_pdf(tmp_path, invoice)
    findings = run_rules(result, CONTEXT)
    decision = decide(result, findings)
    assert decision.outcome == "correction_requested"
    nip = _grouped_nip(invoice.seller.tax_id)
    assert [reason.message("pl") for reason in decision.reasons] == [
        f"NIP {nip} sprzedawcy ma błędną sumę kontrolną."
    ]
    subject, body = correction_email(result, findings, "pl")
    assert subject == f"Prośba o korektę faktury {invoice.number}"
    assert body.startswith("Dzień dobry,\n\n")
    assert f"dziękujemy za fakturę {invoice.number} z dnia " in body
    assert invoice.issue_date.strftime("%d.%m.%Y") in body
    assert f"1. NIP {nip} sprzedawcy ma błędną sumę kontrolną." in body
    assert "w odpowiedzi na tę wiadomość" in body


def test_changed_iban_goes_to_review(tmp_path: Path) -> None:
    invoice = make()
    result = read_pdf(tmp_path, invoice)
    old = SupplierAccount(invoice.seller.tax_id, corpus.make_iban(random.Random(9), "PL"))
    findings = run_rules(result, RuleContext(today=TODAY, supplier_accounts=(old,)))
    decision = decide(result, findings)
    assert decision.outcome == "review"
    assert [reason.code for reason in decision.reasons] == ["BANK_ACCOUNT_CHANGED"]


def test_review_wins_over_a_fixable_finding(tmp_path: Path) -> None:
    invoice = make()
    invoice.due_date = invoice.issue_date - dt.timedelta(days=3)
    result = read_pdf(tmp_path, invoice)
    old = SupplierAccount(invoice.seller.tax_id, corpus.make_iban(random.Random(9), "PL"))
    findings = run_rules(result, RuleContext(today=TODAY, supplier_accounts=(old,)))
    assert {f.code for f in findings} == {"DATE_ORDER", "BANK_ACCOUNT_CHANGED"}
    decision = decide(result, findings)
    assert decision.outcome == "review"
    assert [reason.code for reason in decision.reasons] == ["BANK_ACCOUNT_CHANGED"]
    # The email lists only what the sender can fix, never our doubts about the account.
    _, body = correction_email(result, findings, "en")
    assert "due date" in body and "bank account" not in body


def test_credit_note_goes_to_review_even_without_findings(tmp_path: Path) -> None:
    result = read_pdf(tmp_path, make(kind="credit_note"))
    decision = decide(result, [])
    assert decision.outcome == "review"
    assert [reason.code for reason in decision.reasons] == ["KIND_NOT_INVOICE"]


def test_low_confidence_goes_to_review_even_without_findings(tmp_path: Path) -> None:
    result = read_pdf(tmp_path, make())
    gross = result.fields["total_gross"]
    result.fields["total_gross"] = dataclasses.replace(gross, confidence=0.2)
    decision = decide(result, [])
    assert decision.outcome == "review"
    assert [(r.code, r.field) for r in decision.reasons] == [("LOW_CONFIDENCE", "total_gross")]
    assert decide(result, run_rules(result, CONTEXT)).reasons == decision.reasons


def test_info_findings_do_not_stop_acceptance(tmp_path: Path) -> None:
    result = read_pdf(tmp_path, make())
    note = Finding("NOTE", None, "info", None, Texts("uwaga", "заметка", "note"))
    decision = decide(result, [note])
    assert decision.outcome == "accepted"
    assert decision.reasons == (note,)


def test_russian_email_for_a_russian_invoice(tmp_path: Path) -> None:
    invoice = make("ru")
    invoice.seller.tax_id = corpus.make_inn(random.Random(3), valid=False)
    result = read_pdf(tmp_path, invoice, "ru_faktura")
    findings = run_rules(result, CONTEXT)
    assert decide(result, findings).outcome == "correction_requested"
    subject, body = correction_email(result, findings)
    assert subject == f"Просьба исправить счёт {invoice.number}"
    assert f"1. У ИНН продавца {invoice.seller.tax_id} неверное контрольное число." in body
    assert body.startswith("Здравствуйте!")


def test_english_email_and_fallback(tmp_path: Path) -> None:
    invoice = make()
    invoice.iban = corpus.make_iban(random.Random(3), "PL", valid=False)
    invoice.due_date = invoice.issue_date - dt.timedelta(days=3)
    result = read_pdf(tmp_path, invoice)
    findings = run_rules(result, CONTEXT)
    english = correction_email(result, findings, "en")
    assert correction_email(result, findings, "de") == english
    result.language = "de"
    assert correction_email(result, findings) == english
    subject, body = english
    assert subject == f"Correction needed: invoice {invoice.number}"
    assert "1. The bank account number PL" in body
    assert "2. The due date " in body
    assert invoice.issue_date.isoformat() in body


def test_no_email_without_anything_to_fix(tmp_path: Path) -> None:
    result = read_pdf(tmp_path, make())
    with pytest.raises(NothingToCorrect):
        correction_email(result, run_rules(result, CONTEXT), "pl")
