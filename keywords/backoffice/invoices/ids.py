"""Tax IDs (NIP, INN, EU VAT) and IBANs: find candidates in text, validate checksums.

A checksum-valid candidate is far more likely to be the real value than an invalid one, so
validity both picks among candidates and raises the field's confidence. Invalid candidates
are still returned (flagged) so the rules can ask the sender to correct a wrong number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import vatin
from stdnum.pl import nip as pl_nip
from stdnum.ru import inn as ru_inn

# A tax ID as printed: 10 or 12 plain digits, a NIP grouped 123-456-78-90 / 123-45-67-890
# (dashes or spaces), or a country prefix and 8-12 digits (PL5260001246, DE136695976).
_TAX_ID_PATTERN = re.compile(
    r"(?<![\w-])(?:(?P<prefix>[A-Z]{2})\s?(?P<pdigits>\d{8,12})"
    r"|(?P<digits>\d{12}|\d{10}|\d{3}[- ]\d{3}[- ]\d{2}[- ]\d{2}|\d{3}[- ]\d{2}[- ]\d{2}[- ]\d{3}))"
    r"(?![\w-])"
)
# An EU VAT number with letters in it (e.g. FR, NL, IE, AT "ATU12345678").
_EU_VAT_PATTERN = re.compile(r"(?<![\w])(?P<vat>[A-Z]{2}[0-9A-Z]{8,12})(?![\w])")
_IBAN_PATTERN = re.compile(r"(?<![A-Z0-9])([A-Z]{2}\d{2}(?:\s?[A-Z0-9]{2,4}){3,8})(?![A-Z0-9])")
# The Polish domestic account number (NRB): an IBAN without "PL", 26 digits in groups.
_NRB_PATTERN = re.compile(r"(?<!\d)(\d{2}(?:\s?\d{4}){6})(?!\d)")

_SEVEN_DIGITS = re.compile(r"\d(?:\D*\d){6}")
_THIRTEEN_DIGITS = re.compile(r"\d(?:\D*\d){12}")

NIP_LENGTH = 10
INN_LENGTHS = (10, 12)


@dataclass(frozen=True)
class TaxIdCandidate:
    """A tax ID as found: normalised value, scheme and whether its checksum holds."""

    value: str
    scheme: str
    valid: bool
    start: int
    end: int


@dataclass(frozen=True)
class IbanCandidate:
    """An IBAN as found, compact, with its checksum validity."""

    value: str
    valid: bool
    start: int
    end: int


def normalise_tax_id(raw: str) -> str:
    """Compact form: separators dropped; a Polish NIP without its "PL" prefix."""
    compact = re.sub(r"[\s\-.]", "", raw).upper()
    if compact.startswith("PL") and len(compact) == NIP_LENGTH + 2 and compact[2:].isdigit():
        return compact[2:]
    return compact


def classify_tax_id(compact: str, hint: str | None = None) -> tuple[str, bool]:
    """Scheme ("pl_nip", "ru_inn", "eu_vat" or "unknown") and checksum validity.

    ``hint`` is the language of the document: a 10-digit number is both a possible NIP and a
    possible INN, and the checksum of one rarely holds for the other.
    """
    if compact.isdigit():
        nip_ok = len(compact) == NIP_LENGTH and pl_nip.is_valid(compact)
        inn_ok = len(compact) in INN_LENGTHS and ru_inn.is_valid(compact)
        if nip_ok and (hint != "ru" or not inn_ok):
            return "pl_nip", True
        if inn_ok:
            return "ru_inn", True
        if len(compact) == NIP_LENGTH:
            return ("ru_inn" if hint == "ru" else "pl_nip"), False
        if len(compact) in INN_LENGTHS:
            return "ru_inn", False
        return "unknown", False
    if vatin.is_valid(compact):
        return "eu_vat", True
    return ("eu_vat" if compact[:2].isalpha() else "unknown"), False


@lru_cache(maxsize=2048)
def find_tax_ids(text: str, hint: str | None = None) -> tuple[TaxIdCandidate, ...]:
    """Every plausible tax ID in ``text`` (10 or 12 digits, or an EU VAT number)."""
    # Every tax ID form has at least seven digits (Irish VAT IE1234567X).
    if not _SEVEN_DIGITS.search(text):
        return ()
    found: list[TaxIdCandidate] = []
    for match in _TAX_ID_PATTERN.finditer(text):
        prefix = match.group("prefix") or ""
        digits = re.sub(r"[\s\-]", "", match.group("pdigits") or match.group("digits"))
        compact = normalise_tax_id(prefix + digits)
        scheme, valid = classify_tax_id(compact, hint)
        if scheme == "unknown":
            continue
        found.append(TaxIdCandidate(compact, scheme, valid, match.start(), match.end()))
    for match in _EU_VAT_PATTERN.finditer(text):
        compact = match.group("vat")
        if any(c.start <= match.start() < c.end for c in found) or compact.isalpha():
            continue
        if vatin.is_valid(compact):
            value = normalise_tax_id(compact)
            scheme = "pl_nip" if value.isdigit() else "eu_vat"
            found.append(TaxIdCandidate(value, scheme, True, match.start(), match.end()))
    found.sort(key=lambda item: item.start)
    return tuple(found)


def iban_is_valid(compact: str) -> bool:
    """True when ``compact`` is an IBAN with a valid checksum and length for its country."""
    try:
        IBAN(compact)
    except (SchwiftyException, ValueError):
        return False
    return True


@lru_cache(maxsize=2048)
def find_ibans(text: str) -> tuple[IbanCandidate, ...]:
    """IBANs (and Polish 26-digit NRB account numbers, returned as PL IBANs) in ``text``."""
    # The shortest IBANs (Norway, 15 characters) have 13 digits.
    if not _THIRTEEN_DIGITS.search(text):
        return ()
    found: list[IbanCandidate] = []
    for match in _IBAN_PATTERN.finditer(text):
        compact = re.sub(r"\s", "", match.group(1))
        valid = iban_is_valid(compact)
        if not valid:
            # The greedy groups may have swallowed the next word: trim to a valid length.
            for cut in range(len(compact) - 1, 14, -1):
                if iban_is_valid(compact[:cut]):
                    compact, valid = compact[:cut], True
                    break
        found.append(IbanCandidate(compact, valid, match.start(), match.end()))
    for match in _NRB_PATTERN.finditer(text):
        if any(c.start <= match.start() < c.end for c in found):
            continue
        compact = "PL" + re.sub(r"\s", "", match.group(1))
        found.append(IbanCandidate(compact, iban_is_valid(compact), match.start(), match.end()))
    found.sort(key=lambda item: item.start)
    return tuple(found)
