"""The receivables emails: the customer's reminder in the invoice's language, and the
account manager's task and the manager's escalation in the seller's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from backoffice.billing.pdf import format_amount, format_date, spaced_account


@dataclass(frozen=True)
class Mail:
    """Subject and body of one email."""

    subject: str
    body: str


@dataclass(frozen=True)
class Reminder:
    """What a reminder says about one invoice."""

    language: str
    number: str
    issue_date: date
    due_date: date
    days_to_due: int
    outstanding: Decimal
    currency: str
    account: str
    reference: str
    seller: str


def days_word(days: int, language: str) -> str:
    """``3 dni``, ``1 день``, ``5 дней``, ``1 day``: a count of days as the language says it."""
    n = abs(days)
    if language == "pl":
        return f"{n} {'dzień' if n == 1 else 'dni'}"
    if language == "ru":
        if n % 10 == 1 and n % 100 != 11:
            word = "день"
        elif n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
            word = "дня"
        else:
            word = "дней"
        return f"{n} {word}"
    return f"{n} {'day' if n == 1 else 'days'}"


_WHEN = {
    "pl": {
        "before": "upływa {due_date}, czyli za {days}",
        "today": "upływa dzisiaj, {due_date}",
        "overdue": "minął {due_date} ({days} temu)",
    },
    "ru": {
        "before": "истекает {due_date}, через {days}",
        "today": "истекает сегодня, {due_date}",
        "overdue": "истёк {due_date} ({days} назад)",
    },
    "en": {
        "before": "is {due_date}, in {days}",
        "today": "is today, {due_date}",
        "overdue": "was {due_date} ({days} ago)",
    },
}
_REMINDER = {
    "pl": (
        "Dzień dobry,\n\n"
        "{headline}: termin płatności faktury VAT nr {number} z dnia {issue_date} {when}.\n\n"
        "Kwota do zapłaty: {amount} {currency}\n"
        "Numer rachunku: {account}\n"
        "Tytuł przelewu: {reference}\n\n"
        "Jeśli płatność została już zlecona, prosimy uznać tę wiadomość za nieaktualną.\n\n"
        "Z poważaniem\n{seller}\n"
    ),
    "ru": (
        "Здравствуйте!\n\n"
        "{headline}: срок оплаты счёта-фактуры № {number} от {issue_date} {when}.\n\n"
        "Сумма к оплате: {amount} {currency}\n"
        "Расчётный счёт: {account}\n"
        "Назначение платежа: {reference}\n\n"
        "Если оплата уже произведена, просим не учитывать это письмо.\n\n"
        "С уважением,\n{seller}\n"
    ),
    "en": (
        "Hello,\n\n"
        "{headline}: the due date of our invoice {number} of {issue_date} {when}.\n\n"
        "Amount due: {amount} {currency}\n"
        "Bank account: {account}\n"
        "Payment reference: {reference}\n\n"
        "If you have already paid, please disregard this message.\n\n"
        "Kind regards\n{seller}\n"
    ),
}
_HEADLINE = {
    "pl": ("Uprzejmie przypominamy", "Prosimy o pilną zapłatę"),
    "ru": ("Напоминаем", "Просим срочно оплатить"),
    "en": ("A friendly reminder", "Please pay now"),
}


def reply_subject(subject: str) -> str:
    """``Re: <subject>``, so mail programs that thread by subject keep the reply in place."""
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def reminder_mail(reminder: Reminder, invoice_subject: str) -> Mail:
    """The customer's reminder, a reply in the invoice's thread and language."""
    language = reminder.language if reminder.language in _REMINDER else "en"
    days = reminder.days_to_due
    phase = "before" if days > 0 else "today" if days == 0 else "overdue"
    due = format_date(reminder.due_date, language)
    when = _WHEN[language][phase].format(due_date=due, days=days_word(days, language))
    body = _REMINDER[language].format(
        headline=_HEADLINE[language][1 if days < 0 else 0],
        number=reminder.number,
        issue_date=format_date(reminder.issue_date, language),
        when=when,
        amount=format_amount(reminder.outstanding, language),
        currency=reminder.currency,
        account=spaced_account(reminder.account),
        reference=reminder.reference,
        seller=reminder.seller,
    )
    return Mail(subject=reply_subject(invoice_subject), body=body)


@dataclass(frozen=True)
class Overdue:
    """What staff are told about one overdue invoice."""

    language: str
    number: str
    buyer: str
    buyer_email: str
    contract_ref: str
    due_date: date
    days_overdue: int
    outstanding: Decimal
    currency: str
    reminders: int


_STAFF_SUBJECT = {
    "task": {
        "pl": "Zadanie: zaległa faktura {number} ({buyer})",
        "ru": "Задача: просроченный счёт {number} ({buyer})",
        "en": "Task: overdue invoice {number} ({buyer})",
    },
    "escalation": {
        "pl": "Eskalacja: faktura {number} ({buyer}) nieopłacona od {days}",
        "ru": "Эскалация: счёт {number} ({buyer}) не оплачен {days}",
        "en": "Escalation: invoice {number} ({buyer}) unpaid for {days}",
    },
}
_STAFF_BODY = {
    "pl": (
        "{action}\n\n"
        "Faktura: {number}\nKlient: {buyer} <{buyer_email}>\nUmowa: {contract}\n"
        "Termin płatności: {due_date} (po terminie: {days})\n"
        "Do zapłaty: {amount} {currency}\nWysłane przypomnienia: {reminders}\n"
    ),
    "ru": (
        "{action}\n\n"
        "Счёт: {number}\nКлиент: {buyer} <{buyer_email}>\nДоговор: {contract}\n"
        "Срок оплаты: {due_date} (просрочка: {days})\n"
        "К оплате: {amount} {currency}\nОтправлено напоминаний: {reminders}\n"
    ),
    "en": (
        "{action}\n\n"
        "Invoice: {number}\nCustomer: {buyer} <{buyer_email}>\nContract: {contract}\n"
        "Due date: {due_date} (overdue: {days})\n"
        "Amount due: {amount} {currency}\nReminders sent: {reminders}\n"
    ),
}
_STAFF_ACTION = {
    "task": {
        "pl": "Faktura jest po terminie. Prosimy o kontakt z klientem w sprawie zapłaty.",
        "ru": "Счёт просрочен. Пожалуйста, свяжитесь с клиентом по поводу оплаты.",
        "en": "The invoice is overdue. Please contact the customer about the payment.",
    },
    "escalation": {
        "pl": "Faktura nadal nieopłacona mimo przypomnień i zadania dla opiekuna klienta. "
        "Prosimy o decyzję (wstrzymanie usługi, windykacja).",
        "ru": "Счёт всё ещё не оплачен после напоминаний и задачи менеджеру клиента. "
        "Просим принять решение (приостановка услуги, взыскание).",
        "en": "The invoice is still unpaid after the reminders and the account manager's "
        "task. Please decide (suspend the service, collection).",
    },
}


def staff_mail(kind: str, overdue: Overdue) -> Mail:
    """The account manager's task (``kind`` "task") or the manager's escalation."""
    language = overdue.language if overdue.language in _STAFF_BODY else "en"
    days = days_word(overdue.days_overdue, language)
    values = {
        "number": overdue.number,
        "buyer": overdue.buyer,
        "buyer_email": overdue.buyer_email,
        "contract": overdue.contract_ref or "-",
        "due_date": format_date(overdue.due_date, language),
        "days": days,
        "amount": format_amount(overdue.outstanding, language),
        "currency": overdue.currency,
        "reminders": overdue.reminders,
        "action": _STAFF_ACTION[kind][language],
    }
    return Mail(
        subject=_STAFF_SUBJECT[kind][language].format(**values),
        body=_STAFF_BODY[language].format(**values),
    )


def staff_language(seller_country: str) -> str:
    """The language of our own staff: the seller's country's."""
    return {"PL": "pl", "RU": "ru"}.get(seller_country.upper(), "en")
