"""The welcome email, in the customer's language, a reply in the invoice's thread."""

from __future__ import annotations

from backoffice.receivables.mail import Mail, reply_subject

_BODIES = {
    "pl": (
        "Dzień dobry,\n\n"
        "dziękujemy za opłacenie faktury VAT nr {number}. Dostęp do usługi{contract} "
        "został właśnie włączony.\n\n"
        "W razie pytań prosimy odpowiedzieć na tę wiadomość.\n\n"
        "Z poważaniem\n{seller}\n"
    ),
    "ru": (
        "Здравствуйте!\n\n"
        "Благодарим за оплату счёта-фактуры № {number}. Доступ к сервису{contract} "
        "только что открыт.\n\n"
        "Если у вас есть вопросы, просто ответьте на это письмо.\n\n"
        "С уважением,\n{seller}\n"
    ),
    "en": (
        "Hello,\n\n"
        "thank you for paying invoice {number}. Your access to the service{contract} "
        "has just been switched on.\n\n"
        "If you have any questions, simply reply to this message.\n\n"
        "Kind regards\n{seller}\n"
    ),
}
_CONTRACT = {"pl": " (umowa {ref})", "ru": " (договор {ref})", "en": " (contract {ref})"}


def welcome_mail(
    language: str, *, number: str, contract_ref: str, seller: str, invoice_subject: str
) -> Mail:
    """The welcome email for a granted access."""
    language = language if language in _BODIES else "en"
    contract = _CONTRACT[language].format(ref=contract_ref) if contract_ref else ""
    body = _BODIES[language].format(number=number, contract=contract, seller=seller)
    return Mail(subject=reply_subject(invoice_subject), body=body)
