"""The reminder sent when a supplier has not answered a correction request, in pl/ru/en.

The correction request itself is ``decide.correction_email``; the reminder repeats its list
of problems (kept on the case) so the supplier need not look for the first mail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from backoffice.invoices import messages as M

REMINDER_SUBJECT = M.Template(
    pl="Przypomnienie: prośba o korektę faktury {number}",
    ru="Напоминание: просьба исправить счёт {number}",
    en="Reminder: correction needed for invoice {number}",
)
REMINDER_INTRO = M.Template(
    pl="{date} poprosiliśmy o poprawienie faktury {number} i nie otrzymaliśmy jeszcze "
    "poprawionej faktury. Przypominamy, co wymaga poprawy:",
    ru="{date} мы просили исправить счёт {number}, но исправленный счёт пока не получили. "
    "Напоминаем, что нужно исправить:",
    en="On {date} we asked for invoice {number} to be corrected and have not received a "
    "corrected invoice yet. As a reminder, this needs correcting:",
)


def reminder_email(
    *, language: str | None, number: str, asked_on: dt.date, findings: list[dict[str, Any]]
) -> tuple[str, str]:
    """Subject and body of the one reminder for a waiting correction request.

    ``findings`` are the case's stored findings (``Finding.to_json`` form); only the ones
    the sender can fix are listed, in ``language`` (pl, ru, en; else English).
    """
    lang = language if language in M.LANGUAGES else M.FALLBACK_LANGUAGE
    shown = number or M.UNNUMBERED.in_language(lang)
    problems = [
        f"{index}. {_in(finding['messages'], lang)}"
        for index, finding in enumerate(
            (f for f in findings if f.get("severity") == "fixable"), start=1
        )
    ]
    intro = REMINDER_INTRO.render(number=shown, date=asked_on).in_language(lang)
    body = "\n\n".join(
        [
            M.CORRECTION_GREETING.in_language(lang),
            intro + ("\n\n" + "\n".join(problems) if problems else ""),
            M.CORRECTION_REQUEST.in_language(lang),
            M.CORRECTION_CLOSING.in_language(lang),
        ]
    )
    return REMINDER_SUBJECT.render(number=shown).in_language(lang), body + "\n"


def _in(messages: dict[str, str], language: str) -> str:
    return messages.get(language) or messages.get(M.FALLBACK_LANGUAGE) or ""
