"""Matching a credit on our account to the invoices we issued: plain functions, no store.

Two ways to find the invoices a payment is for, strongest first:

1. **The invoice number in the transfer title**, in any common spelling: ``FV/2026/11/0001``,
   ``FV 2026 11 1``, ``fv2026110001``, ``FV-2026-11-0001``, ``2026/11/0001`` without the
   series, with OCR-ish confusions (``O`` for ``0``, ``I``/``l`` for ``1``, Cyrillic look-alike
   letters) and any separators. Both the title and our numbers are reduced to the same
   *skeleton* and cut into letter and digit runs, so the comparison needs no patterns per
   number format; a title may name several invoices.
2. **The amount together with the customer**: the payer's IBAN (known from the customer's
   earlier payments), the buyer's tax ID in the title, or the payer's name (legal forms,
   case, diacritics and punctuation left out) picks the customer; an open invoice of
   exactly that amount (the oldest due first), or all of the customer's open invoices when
   the amount is their sum, is what it pays. The amount alone never matches.

``decide`` then splits the amount over the open invoices found (oldest due date first) and
says what is left for staff: an overpayment, an underpayment after the due date, a payment
for an invoice already paid, another currency, or no invoice at all.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher

from backoffice.clock import utcnow

ZERO = Decimal("0.00")
#: Review reason codes of a payment.
UNMATCHED = "PAYMENT_UNMATCHED"
OVERPAID = "PAYMENT_OVERPAID"
UNDERPAID = "PAYMENT_UNDERPAID"
ALREADY_PAID = "PAYMENT_ALREADY_PAID"
CURRENCY_MISMATCH = "PAYMENT_CURRENCY_MISMATCH"

#: How the invoices were found (BankTransactionRecord.matched_by).
BY_NUMBER = "number"
BY_IBAN = "amount+iban"
BY_TAX_ID = "amount+tax_id"
BY_NAME = "amount+name"

#: Cyrillic letters that look like Latin ones (titles typed on a Russian keyboard, OCR),
#: then the digit look-alikes OCR and people mix up. Applied to titles and numbers alike.
_SKELETON = str.maketrans(
    "АВЕКМНОРСТХУІЈЅ" + "OQIL",
    "ABEKMHOPCTXYIJS" + "0011",
)
_RUNS = re.compile(r"[A-Z]+|[0-9]+")
#: Most tokens of a title one invoice number can span (FV / 2026 / 11 / 0001 is 4).
MAX_SPAN = 6
#: A number key shorter than this is too likely to turn up by chance in a title.
MIN_KEY = 4
_TAX_ID = re.compile(r"(?<![0-9])[0-9][0-9 \-]{8,16}[0-9](?![0-9])")
_NAME_WORD = re.compile(r"\w+")
#: Words of legal forms and fillers left out when names are compared.
_LEGAL = frozenset(
    [
        "sp",
        "z",
        "o",
        "oo",
        "zoo",
        "spzoo",
        "k",
        "j",
        "sa",
        "sc",
        "spolka",
        "spółka",
        "komandytowa",
        "jawna",
        "akcyjna",
        "cywilna",
        "ooo",
        "ооо",
        "ао",
        "пао",
        "зао",
        "оао",
        "ип",
        "ao",
        "pao",
        "zao",
        "oao",
        "ip",
        "gmbh",
        "ag",
        "kg",
        "ug",
        "ltd",
        "llc",
        "inc",
        "plc",
        "co",
        "company",
        "corp",
        "the",
        "и",
        "i",
        "and",
        "und",
        "oraz",
    ]
)
NAME_SIMILARITY = 0.88


def skeleton(text: str) -> str:
    """Upper case with look-alike letters and digits folded (same for titles and numbers)."""
    return text.upper().translate(_SKELETON)


def _runs(text: str) -> list[str]:
    return _RUNS.findall(skeleton(text))


def _group(token: str) -> str | int:
    return int(token) if token.isdigit() else token


def number_keys(number: str) -> list[tuple[str, object]]:
    """The keys an invoice number is found under: its concatenation, its groups with the
    numbers' leading zeros dropped, and the concatenation from its first digit on."""
    tokens = _runs(number)
    if not tokens:
        return []
    joined = "".join(tokens)
    keys: list[tuple[str, object]] = []
    if len(joined) >= MIN_KEY:
        keys.append(("c", joined))
    keys.append(("g", tuple(_group(t) for t in tokens)))
    first_digit = next((i for i, t in enumerate(tokens) if t.isdigit()), None)
    if first_digit:
        digits = "".join(tokens[first_digit:])
        # Only long ones: "2026/11/0001" is a number, "11/01" may be a date.
        if len(digits) >= 8 and len(tokens) - first_digit >= 2:
            keys.append(("d", digits))
    return keys


def title_keys(title: str) -> Iterable[tuple[str, object]]:
    """Every key a span of the title's tokens could be (see ``number_keys``)."""
    tokens = _runs(title)
    groups = [_group(t) for t in tokens]
    for start in range(len(tokens)):
        joined = ""
        for end in range(start, min(start + MAX_SPAN, len(tokens))):
            joined += tokens[end]
            if len(joined) >= MIN_KEY:
                yield ("c", joined)
                yield ("d", joined)
            yield ("g", tuple(groups[start : end + 1]))


def name_words(name: str) -> frozenset[str]:
    """The words of a person's or company's name that tell it apart (lower case, no
    diacritics, legal forms and one-letter words left out)."""
    folded = unicodedata.normalize("NFKD", name.casefold().replace("ł", "l"))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    # "Sp. z o.o." -> "sp z o o": dotted abbreviations become single letters, dropped below.
    return frozenset(
        word for word in _NAME_WORD.findall(plain) if len(word) > 1 and word not in _LEGAL
    )


def same_name(payer: frozenset[str], buyer: frozenset[str]) -> bool:
    """Whether a payer's name as the bank printed it names the buyer: every word of the
    buyer is in it (banks append the address), or it has two or more words and each is a
    word of the buyer or, cut short by the bank's field length, the start of one."""
    if not payer or not buyer:
        return False
    if buyer <= payer:
        return True
    if len(payer) >= 2 and all(_in_name(word, buyer) for word in payer):
        return True
    ratio = SequenceMatcher(None, " ".join(sorted(payer)), " ".join(sorted(buyer))).ratio()
    return ratio >= NAME_SIMILARITY


def _in_name(word: str, words: frozenset[str]) -> bool:
    return word in words or (len(word) >= 4 and any(w.startswith(word) for w in words))


def compact_tax_id(raw: str) -> str:
    """A tax ID as digits only (NIP, ИНН), the way a title may carry it."""
    return "".join(ch for ch in raw if ch.isdigit())


@dataclass
class Invoice:
    """An issued invoice as matching sees it; ``paid_total`` moves as payments land."""

    id: int
    number: str
    currency: str
    total_gross: Decimal
    paid_total: Decimal
    due_date: dt.date
    buyer_key: str
    buyer_name: str = ""

    @property
    def outstanding(self) -> Decimal:
        """What is still to pay (never negative)."""
        return max(self.total_gross - self.paid_total, ZERO)


@dataclass(frozen=True)
class Credit:
    """A bank transaction as matching sees it (``amount`` positive)."""

    amount: Decimal
    currency: str
    booking_date: dt.date | None
    counterparty_name: str
    counterparty_iban: str
    remittance: str


def buyer_key(buyer: dict[str, object]) -> str:
    """Who the customer is across invoices: the tax ID, else the name's words."""
    tax_id = compact_tax_id(str(buyer.get("tax_id") or ""))
    if tax_id:
        return f"tax:{tax_id}"
    return "name:" + " ".join(sorted(name_words(str(buyer.get("name") or ""))))


class InvoiceIndex:
    """What matching looks invoices up by: number keys, customers, tax IDs, names, IBANs."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, object], set[int]] = defaultdict(set)
        self._by_buyer: dict[str, set[int]] = defaultdict(set)
        self._tax_ids: dict[str, str] = {}
        self._names: dict[str, frozenset[str]] = {}
        self._name_word: dict[str, set[str]] = defaultdict(set)
        self._ibans: dict[str, set[str]] = defaultdict(set)
        self.buyer_names: dict[str, str] = {}

    def add(self, invoice_id: int, number: str, buyer: dict[str, object]) -> None:
        """Index one issued invoice."""
        for key in number_keys(number):
            self._by_key[key].add(invoice_id)
        key = buyer_key(buyer)
        self._by_buyer[key].add(invoice_id)
        self.buyer_names.setdefault(key, str(buyer.get("name") or ""))
        tax_id = compact_tax_id(str(buyer.get("tax_id") or ""))
        if len(tax_id) >= 10:
            self._tax_ids[tax_id] = key
        words = name_words(str(buyer.get("name") or ""))
        if words:
            self._names[key] = words
            for word in words:
                self._name_word[word].add(key)

    def learn_iban(self, iban: str, key: str) -> None:
        """Remember that this customer pays from this account."""
        if iban:
            self._ibans[iban].add(key)

    def by_number(self, title: str) -> set[int]:
        """Invoices the title names. A key more than one invoice has is not trusted."""
        found: set[int] = set()
        for key in title_keys(title):
            ids = self._by_key.get(key)
            if ids and len(ids) == 1:
                found |= ids
        return found

    def customers(self, credit: Credit) -> tuple[set[str], str]:
        """(the customers the payer may be, how they were recognised)."""
        known = self._ibans.get(credit.counterparty_iban) if credit.counterparty_iban else None
        if known:
            return set(known), BY_IBAN
        in_title = {
            self._tax_ids[digits]
            for match in _TAX_ID.finditer(credit.remittance)
            if (digits := compact_tax_id(match.group())) in self._tax_ids
        }
        if in_title:
            return in_title, BY_TAX_ID
        payer = name_words(credit.counterparty_name)
        candidates = {key for word in payer for key in self._name_word.get(word, ())}
        named = {key for key in candidates if same_name(payer, self._names[key])}
        return named, BY_NAME if named else ""

    def invoices_of(self, keys: Iterable[str]) -> set[int]:
        """Every invoice of these customers."""
        return {invoice_id for key in keys for invoice_id in self._by_buyer.get(key, ())}


@dataclass
class Decision:
    """What a credit pays: allocations per invoice id and what is left for staff."""

    matched_by: str = ""
    allocations: list[tuple[Invoice, Decimal]] = field(default_factory=list)
    unallocated: Decimal = ZERO
    #: Empty when nothing waits for staff.
    review_code: str = ""
    reason: str = ""


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:.2f} {currency}"


def _by_due(invoices: Iterable[Invoice]) -> list[Invoice]:
    return sorted(invoices, key=lambda inv: (inv.due_date, inv.id))


def decide_by_number(credit: Credit, invoices: list[Invoice]) -> Decision:
    """Split a credit over the invoices its title names (oldest due date first)."""
    numbers = ", ".join(inv.number for inv in _by_due(invoices))
    same = [inv for inv in invoices if inv.currency == credit.currency]
    if not same:
        other = ", ".join(sorted({inv.currency for inv in invoices}))
        return Decision(
            BY_NUMBER,
            unallocated=credit.amount,
            review_code=CURRENCY_MISMATCH,
            reason=f"the payment of {_money(credit.amount, credit.currency)} names invoice "
            f"{numbers}, which is in {other}; a payment is only counted in the invoice's "
            "currency",
        )
    open_ = [inv for inv in _by_due(same) if inv.outstanding > 0]
    if not open_:
        return Decision(
            BY_NUMBER,
            unallocated=credit.amount,
            review_code=ALREADY_PAID,
            reason=f"the payment of {_money(credit.amount, credit.currency)} names invoice "
            f"{numbers}, which is already paid in full; it was not allocated (a double "
            "payment to refund or to credit)",
        )
    return _split(credit, open_, BY_NUMBER)


def decide_by_customer(credit: Credit, invoices: list[Invoice], how: str, who: str) -> Decision:
    """A credit without an invoice number: an open invoice of the customer for exactly the
    amount (the oldest due first), or all of them when the amount is their sum."""
    open_ = [
        inv for inv in _by_due(invoices) if inv.currency == credit.currency and inv.outstanding > 0
    ]
    exact = [inv for inv in open_ if inv.outstanding == credit.amount]
    if exact:
        return _split(credit, exact[:1], how)
    if len(open_) > 1 and sum((inv.outstanding for inv in open_), ZERO) == credit.amount:
        return _split(credit, open_, how)
    listed = "; ".join(
        f"{inv.number} {_money(inv.outstanding, inv.currency)} open" for inv in open_[:10]
    )
    return Decision(
        how,
        unallocated=credit.amount,
        review_code=UNMATCHED,
        reason=f"the payment of {_money(credit.amount, credit.currency)} from {who} names no "
        "invoice number and its amount is not what any open invoice of that customer (or "
        f"all of them) still owes ({listed or 'none open in ' + credit.currency})",
    )


def unmatched(credit: Credit) -> Decision:
    """A credit that names no invoice and comes from no customer we know."""
    payer = credit.counterparty_name or "an unnamed payer"
    iban = f" ({credit.counterparty_iban})" if credit.counterparty_iban else ""
    return Decision(
        "",
        unallocated=credit.amount,
        review_code=UNMATCHED,
        reason=f"the payment of {_money(credit.amount, credit.currency)} from {payer}{iban} "
        f"names no invoice number we issued (title: {credit.remittance.strip()!r}) and the "
        "payer is not one of our customers by account, tax ID or name",
    )


def _split(credit: Credit, open_: list[Invoice], how: str) -> Decision:
    decision = Decision(how)
    left = credit.amount
    for inv in open_:
        if left <= 0:
            break
        part = min(left, inv.outstanding)
        decision.allocations.append((inv, part))
        left -= part
    decision.unallocated = left
    money = _money(credit.amount, credit.currency)
    if left > 0:
        due = _money(sum((part for _inv, part in decision.allocations), ZERO), credit.currency)
        numbers = ", ".join(inv.number for inv in open_)
        decision.review_code = OVERPAID
        decision.reason = (
            f"the payment of {money} is {_money(left, credit.currency)} more than invoice "
            f"{numbers} still owed ({due}); "
            "the invoice is paid and the excess waits for a refund or a credit"
        )
        return decision
    last, part = decision.allocations[-1]
    still = last.outstanding - part
    day = credit.booking_date or utcnow().date()
    if still > 0 and day > last.due_date:
        decision.review_code = UNDERPAID
        decision.reason = (
            f"the payment of {money} on {day.isoformat()} leaves "
            f"{_money(still, credit.currency)} of invoice {last.number} unpaid after its due "
            f"date {last.due_date.isoformat()}"
        )
    return decision
