"""The MT940 ``:86:`` field: who paid and what for, in the flavours banks actually send.

- **Polish ZBP flavour** (PKO BP, mBank, ING, Pekao, Millennium...): an optional 3-digit
  transaction code, then sub-fields marked ``~NN`` (or ``<NN``, ``^NN``), each often on its
  own line: ``~00`` operation, ``~20``-``~29`` title, ``~30`` bank sort code + ``~31``
  account, ``~32``/``~33`` counterparty name, ``~34`` code, ``~38`` counterparty IBAN,
  ``~60``-``~63`` address. An empty sub-field may hold a lone ``˙`` placeholder.
- **German ``?NN`` flavour**: read by the mt-940 library itself (its structured-details
  processor, with SEPA ``EREF+``/``SVWZ+`` keywords); we take its fields.
- **SWIFT slash keywords** (``/NAME/.../REMI/.../IBAN/.../EREF/...``, ``/CNTP/``).
- **Free text**: the whole field is the remittance (Russian banks, plain exports).

Lines of ``:86:`` are wrapped at 65 characters and name/title sub-fields at 27-35, so a
wrapped piece is glued to the previous one without a space when that one was full; a
shorter piece was a line of its own and gets a space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Characters that stand for "empty" in sub-fields exported by some Polish banks.
PLACEHOLDERS = frozenset({"˙", "\xa0"})
#: A line of field 86 is at most 65 characters; a full one was wrapped mid-text.
LINE_WIDTH = 65
#: ZBP title and name sub-fields are 27 (title) to 35 (name) characters wide.
SUBFIELD_WIDTH = 27

_SUBFIELD_START = re.compile(r"^(?P<code>\d{3})?(?P<sep>[~<^])\d{2}")
_MARKER = re.compile(r"[~<^?]\d{2}")
_SLASH_KEYWORDS = ("NAME", "REMI", "IBAN", "EREF", "CNTP", "TRTP", "ORDP", "BENM", "ID", "BIC")
_SLASH_ALTERNATIVES = "|".join(_SLASH_KEYWORDS)
_SLASH_START = re.compile(rf"^/(?:{_SLASH_ALTERNATIVES})/")
_SLASH_SPLIT = re.compile(rf"/({_SLASH_ALTERNATIVES})/")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Details:
    """What field 86 said about one transaction (None where it said nothing)."""

    remittance: str = ""
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    counterparty_bank_code: str | None = None
    transaction_code: str | None = None
    end_to_end_id: str | None = None


def parse_details(data: dict[str, Any]) -> Details:
    """Read one mt-940 transaction's data (raw ``transaction_details`` or library fields)."""
    raw = data.get("transaction_details")
    if raw is None:
        # The library's own structured-details processor consumed a German ?NN field.
        return _from_library(data)
    lines = str(raw).splitlines()
    # ING sends a code-only ":86:150" before the structured ":86:150~00..."; the library
    # joins both, so a first line that is only the code is dropped.
    if len(lines) > 1 and lines[0].strip().isdigit() and len(lines[0].strip()) <= 3:
        lines = lines[1:]
    text = join_lines("\n".join(lines))
    match = _SUBFIELD_START.match(text)
    if match:
        return _from_subfields(text, match.group("sep"), match.group("code"))
    if _SLASH_START.match(text):
        return _from_slash_keywords(text)
    return Details(remittance=clean(text))


def join_lines(raw: str) -> str:
    """Undo the 65-character wrapping of a multi-line field."""
    joined = ""
    previous: str | None = None
    for line in raw.splitlines():
        if previous is not None and len(previous) < LINE_WIDTH and not _MARKER.match(line):
            # A short line ended on purpose: keep the word break (a sub-field needs none).
            joined += " "
        joined += line
        previous = line
    return joined


def clean(value: str | None) -> str:
    """Collapse whitespace and drop empty-field placeholders."""
    if not value:
        return ""
    text = _SPACES.sub(" ", value).strip()
    return "" if text in PLACEHOLDERS else text


def glue(pieces: list[str], width: int = SUBFIELD_WIDTH) -> str:
    """Join sub-field pieces: no space after a full (wrapped) piece, a space otherwise."""
    out = prev_raw = ""
    for piece in pieces:
        if piece.strip() in PLACEHOLDERS or not piece.strip():
            continue
        if out and len(prev_raw) < width:
            out += " "
        out += piece
        prev_raw = piece
    return clean(out)


def _subfields(text: str, sep: str) -> list[tuple[str, str]]:
    parts = re.split(re.escape(sep) + r"(\d{2})", text)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def _from_subfields(text: str, sep: str, code: str | None) -> Details:
    title: list[str] = []
    name: list[str] = []
    account = bank_code = iban = None
    operation = None
    for key, value in _subfields(text, sep):
        number = int(key)
        stripped = clean(value)
        if number == 0:
            operation = stripped or None
        elif 20 <= number <= 29:
            digits = stripped.replace(" ", "")
            # ING puts the counterparty's 26-digit account in ~29 instead of a title line.
            if number >= 26 and len(digits) == 26 and digits.isdigit():
                account = account or digits
            else:
                title.append(value)
        elif number == 30:
            bank_code = stripped or None
        elif number == 31:
            account = stripped.replace(" ", "") or account
        elif number in (32, 33):
            name.append(value)
        elif number == 34:
            code = code or stripped or None
        elif number == 38:
            iban = stripped.replace(" ", "") or None
    return Details(
        remittance=glue(title),
        counterparty_name=glue(name) or None,
        counterparty_account=iban or account,
        counterparty_bank_code=None if iban else bank_code,
        transaction_code=" ".join(part for part in (code, operation) if part) or None,
    )


def _from_slash_keywords(text: str) -> Details:
    parts = _SLASH_SPLIT.split(text)
    fields: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        fields.setdefault(key, clean(value))
    name = fields.get("NAME")
    account = fields.get("IBAN")
    counterparty = fields.get("CNTP") or fields.get("ORDP") or fields.get("BENM")
    if counterparty:
        # /CNTP/account/BIC/name/city/
        pieces = [clean(piece) for piece in counterparty.split("/")]
        account = account or (pieces[0] or None)
        name = name or (pieces[2] if len(pieces) > 2 and pieces[2] else None)
    eref = fields.get("EREF")
    return Details(
        remittance=fields.get("REMI", ""),
        counterparty_name=name or None,
        counterparty_account=(account or "").replace(" ", "") or None,
        transaction_code=fields.get("TRTP") or None,
        end_to_end_id=eref if eref and eref.upper() != "NOTPROVIDED" else None,
    )


def _from_library(data: dict[str, Any]) -> Details:
    eref = clean(data.get("end_to_end_reference"))
    code = data.get("transaction_code")
    return Details(
        remittance=clean(data.get("purpose")),
        counterparty_name=clean(data.get("applicant_name")) or None,
        counterparty_account=clean(data.get("applicant_iban")).replace(" ", "") or None,
        counterparty_bank_code=clean(data.get("applicant_bin")) or None,
        transaction_code=str(code) if code else None,
        end_to_end_id=eref if eref and eref.upper() != "NOTPROVIDED" else None,
    )
