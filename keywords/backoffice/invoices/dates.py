"""Dates as printed on invoices in Polish, Russian, English and German → datetime.date."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

# Month names by number; Polish and Russian in the genitive ("20 listopada", "20 ноября")
# and the nominative, German and English with their usual abbreviations.
_MONTH_WORDS: dict[int, tuple[str, ...]] = {
    1: ("stycznia", "styczeń", "styczen", "января", "январь", "january", "jan", "januar", "jänner"),
    2: ("lutego", "luty", "февраля", "февраль", "february", "feb", "februar"),
    3: ("marca", "marzec", "марта", "март", "march", "mar", "märz", "maerz"),
    4: ("kwietnia", "kwiecień", "kwiecien", "апреля", "апрель", "april", "apr"),
    5: ("maja", "maj", "мая", "май", "may", "mai"),
    6: ("czerwca", "czerwiec", "июня", "июнь", "june", "jun", "juni"),
    7: ("lipca", "lipiec", "июля", "июль", "july", "jul", "juli"),
    8: ("sierpnia", "sierpień", "sierpien", "августа", "август", "august", "aug"),
    9: ("września", "wrzesnia", "wrzesień", "сентября", "сентябрь", "september", "sep", "sept"),
    10: (
        "października",
        "pazdziernika",
        "październik",
        "октября",
        "октябрь",
        "october",
        "oct",
        "oktober",
        "okt",
    ),
    11: ("listopada", "listopad", "ноября", "ноябрь", "november", "nov"),
    12: (
        "grudnia",
        "grudzień",
        "grudzien",
        "декабря",
        "декабрь",
        "december",
        "dec",
        "dezember",
        "dez",
    ),
}
MONTHS = {word: number for number, words in _MONTH_WORDS.items() for word in words}
_MONTH_ALT = "|".join(sorted((re.escape(word) for word in MONTHS), key=len, reverse=True))

# Two-digit years are read as 20xx: invoices of the last century are not processed here.
_CENTURY = 2000
MIN_YEAR = 1990
MAX_YEAR = 2100

_PATTERNS = (
    # 2026-11-20, 2026.11.20, 2026/11/20
    ("ymd", re.compile(r"(?<!\d)(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?!\d)")),
    # 20.11.2026, 20/11/2026, 20-11-2026, 20.11.26
    ("dmy", re.compile(r"(?<![\d.])(\d{1,2})\s?[./-]\s?(\d{1,2})\s?[./-]\s?(\d{4}|\d{2})(?![\d])")),
    # 20 listopada 2026, «20» ноября 2026 г., 20. November 2026, 20-Nov-2026
    (
        "d_month_y",
        re.compile(
            r"(?<!\d)[«\"]?(\d{1,2})[»\"]?\.?[\s-]*(" + _MONTH_ALT + r")\.?[\s,-]*(\d{4})(?!\d)",
            re.IGNORECASE,
        ),
    ),
    # November 20, 2026 / Nov 20 2026
    (
        "month_d_y",
        re.compile(
            r"(?<![\w])(" + _MONTH_ALT + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)",
            re.IGNORECASE,
        ),
    ),
)


@dataclass(frozen=True)
class DateMatch:
    """A date found in a string, with its character span."""

    value: dt.date
    start: int
    end: int


def _make(year: int, month: int, day: int) -> dt.date | None:
    if year < 100:
        year += _CENTURY
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def find_dates(text: str) -> tuple[DateMatch, ...]:
    """All dates in ``text`` (day-first where ambiguous, as in PL/RU/DE), left to right."""
    if not any(ch.isdigit() for ch in text):
        return ()
    found: list[DateMatch] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue
            a, b, c = match.groups()
            value = None
            if kind == "ymd":
                value = _make(int(a), int(b), int(c))
            elif kind == "dmy":
                day, month = int(a), int(b)
                if month > 12 >= day:
                    # US order (11/20/2026) is only certain when the day cannot be a month.
                    day, month = month, day
                value = _make(int(c), month, day)
            elif kind == "d_month_y":
                value = _make(int(c), MONTHS[b.lower()], int(a))
            else:
                value = _make(int(c), MONTHS[a.lower()], int(b))
            if value is not None:
                found.append(DateMatch(value, match.start(), match.end()))
                taken.append((match.start(), match.end()))
    found.sort(key=lambda item: item.start)
    return tuple(found)


def parse_date(text: str) -> dt.date | None:
    """Parse the first date in ``text`` or return None."""
    found = find_dates(text)
    return found[0].value if found else None
