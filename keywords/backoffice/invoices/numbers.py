"""Locale-aware money parsing: "1 230,00", "1.230,00", "1,230.00", "1230.00" → Decimal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

# Spaces printed inside numbers: normal, no-break, thin, narrow no-break, figure space, and
# the apostrophe Swiss invoices use for thousands.
GROUP_SPACES = " \u00a0\u2009\u202f\u2007'’"
_SPACE_CLASS = "[ \u00a0\u2009\u202f\u2007'’]"

# An amount as printed on invoices: optional sign, thousands groups separated by a space,
# dot or comma, and exactly two decimals (invoices print cents; whole numbers in text are
# quantities, years or IDs far more often than money).
AMOUNT_PATTERN = re.compile(
    r"(?<![\w.,/-])"
    r"(?P<sign>-|−)?\s?"
    r"(?P<number>\d{1,3}(?:(?:" + _SPACE_CLASS + r"|[.,])\d{3})+[.,]\d{2}|\d+[.,]\d{2})"
    r"(?![\d])(?![.,]\d)"
)

_THOUSANDS_ONLY = re.compile(r"^\d{1,3}([.,])\d{3}(\1\d{3})*$")


@dataclass(frozen=True)
class AmountMatch:
    """An amount found in a string, with its character span."""

    value: Decimal
    start: int
    end: int


def parse_amount(text: str) -> Decimal | None:
    """Parse one printed amount in any of the usual European/US formats, or None.

    The last of "," and "." is the decimal separator when both occur; a lone separator
    followed by exactly three digits in groups ("1.230", "12,500,000") is a thousands
    separator. Currency symbols and codes around the number are ignored.
    """
    cleaned = text.strip()
    cleaned = re.sub(r"[^\d,.\-−" + GROUP_SPACES + r"]", "", cleaned)
    for char in GROUP_SPACES:
        cleaned = cleaned.replace(char, "")
    negative = cleaned.startswith(("-", "−"))
    cleaned = cleaned.lstrip("-−")
    if not cleaned or not any(ch.isdigit() for ch in cleaned):
        return None
    if "," in cleaned and "." in cleaned:
        decimal_sep = "," if cleaned.rfind(",") > cleaned.rfind(".") else "."
        group_sep = "." if decimal_sep == "," else ","
        cleaned = cleaned.replace(group_sep, "").replace(decimal_sep, ".")
    elif "," in cleaned or "." in cleaned:
        if _THOUSANDS_ONLY.match(cleaned):
            cleaned = cleaned.replace(",", "").replace(".", "")
        elif cleaned.count(",") + cleaned.count(".") > 1:
            return None
        else:
            cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return -value if negative else value


# The extractor asks about the same line and cell texts many times (totals, currency,
# items, breakdown): remembering the last few thousand answers halves its time.
@lru_cache(maxsize=4096)
def find_amounts(text: str) -> tuple[AmountMatch, ...]:
    """All amounts with two decimals in ``text``, left to right."""
    if not any(ch.isdigit() for ch in text):
        return ()
    found = []
    for match in AMOUNT_PATTERN.finditer(text):
        value = parse_amount(match.group("number"))
        if value is None:
            continue
        if match.group("sign"):
            value = -value
        found.append(AmountMatch(value, match.start(), match.end()))
    return tuple(found)


def parse_decimal(text: str) -> Decimal | None:
    """Parse a plain number such as a quantity ("2", "1,5", "1 000") or None."""
    value = parse_amount(text)
    if value is not None:
        return value
    stripped = text.strip()
    if re.fullmatch(r"-?\d+", stripped):
        return Decimal(stripped)
    return None
