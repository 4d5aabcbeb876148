"""The invoice email, in the customer's language."""

from __future__ import annotations

from dataclasses import dataclass

from backoffice.billing.document import IssuedDocument
from backoffice.billing.pdf import format_amount, format_date, spaced_account

SUBJECTS = {
    "pl": "Faktura VAT nr {number}",
    "ru": "Счёт-фактура № {number}",
    "en": "Invoice {number}",
}
BODIES = {
    "pl": (
        "Dzień dobry,\n\n"
        "w załączeniu przesyłamy fakturę VAT nr {number} z dnia {issue_date}.\n\n"
        "Kwota do zapłaty: {amount} {currency}\n"
        "Termin płatności: {due_date}\n"
        "Numer rachunku: {account}\n"
        "Tytuł przelewu: {reference}\n\n"
        "{ksef}"
        "Z poważaniem\n{seller}\n"
    ),
    "ru": (
        "Здравствуйте!\n\n"
        "Направляем вам счёт-фактуру № {number} от {issue_date}.\n\n"
        "Сумма к оплате: {amount} {currency}\n"
        "Срок оплаты: {due_date}\n"
        "Расчётный счёт: {account}\n"
        "Назначение платежа: {reference}\n\n"
        "С уважением,\n{seller}\n"
    ),
    "en": (
        "Hello,\n\n"
        "please find attached our invoice {number} of {issue_date}.\n\n"
        "Amount due: {amount} {currency}\n"
        "Due date: {due_date}\n"
        "Bank account: {account}\n"
        "Payment reference: {reference}\n\n"
        "{ksef}"
        "Kind regards\n{seller}\n"
    ),
}
KSEF_NOTE = {
    "pl": "Faktura w formacie KSeF FA(3) jest w załączniku XML.\n\n",
    "ru": "",
    "en": "The invoice in the Polish KSeF FA(3) format is attached as XML.\n\n",
}


@dataclass(frozen=True)
class InvoiceMail:
    """Subject and body of the invoice email."""

    subject: str
    body: str


def invoice_mail(doc: IssuedDocument, *, with_ksef: bool) -> InvoiceMail:
    """The email that carries the invoice, in its language."""
    language = doc.language
    values = {
        "number": doc.number,
        "issue_date": format_date(doc.issue_date, language),
        "amount": format_amount(doc.total_gross, language),
        "currency": doc.currency,
        "due_date": format_date(doc.due_date, language),
        "account": spaced_account(doc.bank.account),
        "reference": doc.payment_reference,
        "seller": doc.seller.name,
        "ksef": KSEF_NOTE[language] if with_ksef else "",
    }
    return InvoiceMail(
        subject=SUBJECTS[language].format(**values), body=BODIES[language].format(**values)
    )
