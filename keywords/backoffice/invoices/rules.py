"""Validation rules over an extracted invoice: each finding says what is wrong, in plain words.

A rule is a small function ``check(result, context) -> Iterable[Finding]`` wrapped in a
``Rule`` with its code, and listed once in ``RULES``; ``run_rules`` runs them all in that
order. A rule reads the ``ExtractionResult`` and the ``RuleContext`` (what the store knows:
our own tax IDs, suppliers' known bank accounts, earlier invoices), never the store itself,
so every rule is tested on a real document without a database.

Each ``Finding`` has a severity that drives the decision (``decide.py``):

- ``fixable``: the sender made a mistake they can correct (a wrong check digit, totals that
  do not add up); the sender is asked for a corrected invoice. The same finding on values
  read by OCR is ``review``: a misreading is as likely, so a person looks first;
- ``review``: a person must look (a changed bank account, a duplicate, an uncertain reading);
  never answered automatically;
- ``info``: worth recording, changes nothing.

To add a rule:

1. write ``def _check_something(result: ExtractionResult, context: RuleContext)`` yielding
   ``Finding`` objects; name the value found in the message;
2. add its message (pl, ru, en) as a ``Template`` in ``messages.py``;
3. append ``Rule("SOMETHING_WRONG", _check_something, "one line")`` to ``RULES``;
4. add a test in ``tests/invoices/test_rules.py`` with a real document that breaks it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from backoffice import clock
from backoffice.invoices import messages as M
from backoffice.invoices.ids import classify_tax_id, iban_is_valid, normalise_tax_id
from backoffice.invoices.model import ExtractionResult, Kind, Source, TaxRate

log = logging.getLogger(__name__)

Severity = Literal["fixable", "review", "info"]
FIXABLE: Severity = "fixable"
REVIEW: Severity = "review"
INFO: Severity = "info"

CENT = Decimal("0.01")
PERCENT = Decimal(100)
# A field read with less confidence than this needs a person's eye.
LOW_CONFIDENCE_THRESHOLD = 0.6
# The reader halves the confidence of a tax ID or IBAN whose checksum fails, on purpose: such
# a value is judged against this lower bar, since the checksum rule already reports it.
INVALID_CHECKSUM_THRESHOLD = 0.45
# Fields whose misreading would pay the wrong amount, the wrong party or the wrong account.
# (The currency is left out: without a symbol it is inferred from the language, which is
# right far more often than its low confidence says.)
KEY_FIELDS = (
    "invoice_number",
    "issue_date",
    "total_gross",
    "seller_tax_id",
    "buyer_tax_id",
    "iban",
)
REQUIRED_FIELDS = (
    "invoice_number",
    "issue_date",
    "seller_name",
    "seller_tax_id",
    "buyer_tax_id",
    "total_gross",
)
# Extraction problems another rule already speaks for.
COVERED_PROBLEMS = ("FIELD_MISSING", "NOT_AN_INVOICE")
# An issue date may be "tomorrow" where the sender's time zone is ahead of ours.
FUTURE_DATE_TOLERANCE = dt.timedelta(days=1)
# Polish VAT law lets an invoice be issued at most 60 days before the supply (art. 106i
# ust. 7); a later supply date is taken for a typo.
MAX_SUPPLY_AFTER_ISSUE = dt.timedelta(days=60)
TAX_ID_FIELDS = ("seller_tax_id", "buyer_tax_id")
# The line items, named like a field where a finding is about them.
LINES = "lines"
COUNTRY_PREFIX_LENGTH = 2


@dataclass(frozen=True)
class Finding:
    """One thing a rule found: its code, the field, how serious, the value and the words."""

    code: str
    field: str | None
    severity: Severity
    value: str | None
    message_by_lang: M.Texts

    def message(self, language: str | None) -> str:
        """The message in ``language`` (English when the suite does not write it)."""
        return self.message_by_lang.in_language(language)

    def to_json(self) -> dict[str, object]:
        """JSON form: code, field, severity, value and messages by language."""
        return {
            "code": self.code,
            "field": self.field,
            "severity": self.severity,
            "value": self.value,
            "messages": self.message_by_lang.to_json(),
        }


@dataclass(frozen=True)
class SupplierAccount:
    """A bank account already known for a supplier (from accepted invoices or master data)."""

    tax_id: str
    iban: str


@dataclass(frozen=True)
class EarlierInvoice:
    """An invoice seen before, to find duplicates; ``reference`` names it in messages."""

    reference: str
    seller_tax_id: str | None = None
    invoice_number: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class RuleContext:
    """What the rules need beyond the document; the caller fills it from the store.

    ``earlier_invoices`` must not contain the document being checked. ``today`` defaults
    to the clock's date (``BACKOFFICE_NOW`` pins it).
    """

    own_tax_ids: tuple[str, ...] = ()
    supplier_accounts: tuple[SupplierAccount, ...] = ()
    earlier_invoices: tuple[EarlierInvoice, ...] = ()
    file_sha256: str | None = None
    today: dt.date | None = None
    confidence_threshold: float = LOW_CONFIDENCE_THRESHOLD

    @property
    def current_date(self) -> dt.date:
        """The date "now" for the date rules."""
        return self.today or clock.utcnow().date()


Check = Callable[[ExtractionResult, RuleContext], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """One rule: its code, the check, and a line saying what it verifies."""

    code: str
    check: Check
    summary: str


# --- reading typed values -------------------------------------------------------------------


def _text(result: ExtractionResult, name: str) -> str | None:
    value = result.value(name)
    return value if isinstance(value, str) and value.strip() else None


def _decimal(result: ExtractionResult, name: str) -> Decimal | None:
    value = result.value(name)
    return value if isinstance(value, Decimal) else None


def _date(result: ExtractionResult, name: str) -> dt.date | None:
    value = result.value(name)
    return value if isinstance(value, dt.date) else None


def _breakdown(result: ExtractionResult) -> tuple[TaxRate, ...]:
    value = result.value("tax_breakdown")
    return value if isinstance(value, tuple) else ()


def _tax_id_forms(raw: str) -> set[str]:
    # "PL5260001246", "5260001246" and "526-000-12-46" are the same NIP; "DE136695976" may be
    # printed without its prefix too.
    compact = normalise_tax_id("".join(ch for ch in raw if ch.isalnum()))
    forms = {compact}
    if compact[:COUNTRY_PREFIX_LENGTH].isalpha():
        forms.add(compact[COUNTRY_PREFIX_LENGTH:])
    return forms


def _tax_id_scheme(raw: str, language: str | None) -> tuple[str, bool]:
    return classify_tax_id(normalise_tax_id(raw), language)


def _shown_tax_id(raw: str, language: str | None) -> str:
    compact = normalise_tax_id(raw)
    scheme, _ = classify_tax_id(compact, language)
    return M.format_tax_id(compact, scheme)


def _compact_iban(raw: str) -> str:
    return "".join(raw.split()).upper()


def _normal_number(raw: str) -> str:
    return "".join(raw.split()).casefold()


# --- checksums ------------------------------------------------------------------------------


def _tax_id_checksum(role: str, code: str) -> Check:
    name = f"{role}_tax_id"

    def check(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
        raw = _text(result, name)
        if raw is None:
            return
        scheme, valid = _tax_id_scheme(raw, result.language)
        if valid:
            return
        shown = _shown_tax_id(raw, result.language)
        yield Finding(
            code,
            name,
            _fixable(result, name),
            shown,
            M.TAX_ID_CHECKSUM.render(
                scheme=M.SCHEME_NAMES[scheme], value=shown, role=M.ROLE_NAMES[role]
            ),
        )

    check.__doc__ = f"The {role}'s tax ID (NIP, INN, EU VAT) has a valid check digit."
    return check


def check_iban(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """The IBAN has a valid check sum and length for its country (schwifty)."""
    raw = _text(result, "iban")
    if raw is None or iban_is_valid(_compact_iban(raw)):
        return
    shown = M.format_iban(raw)
    yield Finding(
        "IBAN_CHECKSUM",
        "iban",
        _fixable(result, "iban"),
        shown,
        M.IBAN_CHECKSUM.render(value=shown),
    )


# --- arithmetic -----------------------------------------------------------------------------


def _fixable(result: ExtractionResult, *names: str) -> Severity:
    """FIXABLE, unless a value involved was read by OCR: a misread digit is then as likely
    as the sender's mistake, and a person looks before the sender is asked to correct it."""
    sources = {result.fields[name].source for name in names if name in result.fields}
    if LINES in names and result.lines:
        sources.add(result.source)
    return REVIEW if Source.OCR in sources else FIXABLE


def _tolerance(items: int) -> Decimal:
    # Each rounded line or rate may move a sum by up to a cent.
    return CENT * max(1, items)


def check_totals(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """Net + VAT = gross; the VAT breakdown sums to the totals, each rate's VAT is net x rate;
    the lines sum to the net total (each within rounding)."""
    net = _decimal(result, "total_net")
    tax = _decimal(result, "total_tax")
    gross = _decimal(result, "total_gross")
    breakdown = _breakdown(result)
    lines = result.lines
    rounding = _tolerance(max(len(lines), len(breakdown)))
    if net is not None and tax is not None and gross is not None:
        expected = net + tax
        if abs(expected - gross) > rounding:
            yield Finding(
                "TOTALS_MISMATCH",
                "total_gross",
                _fixable(result, "total_net", "total_tax", "total_gross"),
                str(gross),
                M.NET_PLUS_TAX.render(net=net, tax=tax, expected=expected, gross=gross),
            )
    severity = _fixable(result, "tax_breakdown", "total_net", "total_tax")
    yield from _check_breakdown(breakdown, net, tax, len(lines), severity)
    line_nets = [line.net for line in lines]
    # Credit notes list lines before and after the correction: their sum means nothing.
    if (
        result.kind is Kind.INVOICE
        and net is not None
        and line_nets
        and all(value is not None for value in line_nets)
    ):
        expected = sum((value for value in line_nets if value is not None), Decimal(0))
        if abs(expected - net) > _tolerance(len(line_nets)):
            yield Finding(
                "TOTALS_MISMATCH",
                LINES,
                _fixable(result, "total_net", LINES),
                str(expected),
                M.LINES_SUM.render(expected=expected, net=net),
            )


def _check_breakdown(
    breakdown: Sequence[TaxRate],
    net: Decimal | None,
    tax: Decimal | None,
    lines: int,
    severity: Severity,
) -> Iterable[Finding]:
    if not breakdown:
        return
    rounding = _tolerance(len(breakdown))
    for total, what, part in (
        (net, M.field_name("total_net"), [row.net for row in breakdown]),
        (tax, M.field_name("total_tax"), [row.tax for row in breakdown]),
    ):
        if total is None or any(value is None for value in part):
            continue
        expected = sum((value for value in part if value is not None), Decimal(0))
        if abs(expected - total) > rounding:
            yield Finding(
                "TOTALS_MISMATCH",
                "tax_breakdown",
                severity,
                str(expected),
                M.BREAKDOWN_SUM.render(expected=expected, what=what, total=total),
            )
    for row in breakdown:
        rate = _numeric_rate(row.rate)
        if rate is None or row.net is None or row.tax is None:
            continue
        expected = (row.net * rate / PERCENT).quantize(CENT)
        if abs(expected - row.tax) > _tolerance(lines):
            yield Finding(
                "TOTALS_MISMATCH",
                "tax_breakdown",
                severity,
                str(row.tax),
                M.RATE_TAX.render(
                    rate=_rate_text(rate), net=row.net, expected=expected, tax=row.tax
                ),
            )


# --- VAT rates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VatRate:
    """A VAT rate valid in ``country`` from ``valid_from`` until ``valid_to`` (inclusive)."""

    country: str
    rate: str
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def valid_on(self, day: dt.date | None) -> bool:
        """True when the rate applies on ``day`` (any day when ``day`` is unknown)."""
        if day is None:
            return True
        return (self.valid_from is None or day >= self.valid_from) and (
            self.valid_to is None or day <= self.valid_to
        )


EXEMPT = "exempt"
NOT_TAXABLE = "np"
REVERSE_CHARGE = "oo"
# Words printed instead of a percentage, as the one code the table uses.
RATE_WORDS = {
    "zw": EXEMPT,
    "zwolniony": EXEMPT,
    "exempt": EXEMPT,
    "без ндс": EXEMPT,
    "не облагается": EXEMPT,
    "np": NOT_TAXABLE,
    "n/a": NOT_TAXABLE,
    "oo": REVERSE_CHARGE,
    "reverse charge": REVERSE_CHARGE,
}
RU_2026 = dt.date(2026, 1, 1)
RU_SIMPLIFIED_FROM = dt.date(2025, 1, 1)
VAT_RATES = (
    *(VatRate("PL", rate) for rate in ("23", "8", "5", "0", EXEMPT, NOT_TAXABLE, REVERSE_CHARGE)),
    # 20 % stays accepted in 2026: invoices for 2025 supplies and their corrections carry it.
    *(VatRate("RU", rate) for rate in ("20", "10", "0", EXEMPT)),
    VatRate("RU", "22", valid_from=RU_2026),
    # The simplified-tax (USN) payers' reduced rates.
    *(VatRate("RU", rate, valid_from=RU_SIMPLIFIED_FROM) for rate in ("5", "7")),
    *(VatRate("DE", rate) for rate in ("19", "7", "0", EXEMPT, REVERSE_CHARGE)),
    *(VatRate("GB", rate) for rate in ("20", "5", "0", EXEMPT)),
)
"""The VAT rates accepted per country; a country not listed is not checked."""


def _rate_key(raw: str) -> str | None:
    text = raw.strip().lower().removesuffix("%").strip().rstrip(".")
    if not text:
        return None
    if text in RATE_WORDS:
        return RATE_WORDS[text]
    numeric = _numeric_rate(text)
    return None if numeric is None else _rate_text(numeric)


def _numeric_rate(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.strip().removesuffix("%").strip().replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _rate_text(rate: Decimal) -> str:
    return str(rate.to_integral()) if rate == rate.to_integral() else str(rate.normalize())


def vat_country(result: ExtractionResult) -> str | None:
    """The country whose VAT the seller charges: from the seller's tax ID, else the language."""
    seller = _text(result, "seller_tax_id")
    if seller is not None:
        compact = normalise_tax_id(seller)
        scheme, _ = classify_tax_id(compact, result.language)
        if scheme == "pl_nip":
            return "PL"
        if scheme == "ru_inn":
            return "RU"
        if compact[:COUNTRY_PREFIX_LENGTH].isalpha():
            return compact[:COUNTRY_PREFIX_LENGTH]
    return {"pl": "PL", "ru": "RU"}.get(result.language or "")


def check_vat_rates(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """Every VAT rate printed (summary and lines) is valid in the seller's country."""
    country = vat_country(result)
    known = [rate for rate in VAT_RATES if rate.country == country]
    if not known:
        return
    day = _date(result, "sale_date") or _date(result, "issue_date")
    printed = [row.rate for row in _breakdown(result)]
    printed += [line.tax_rate for line in result.lines if line.tax_rate]
    reported: set[str] = set()
    for raw in printed:
        key = _rate_key(raw)
        if key is None or key in reported:
            continue
        if any(rate.rate == key and rate.valid_on(day) for rate in known):
            continue
        reported.add(key)
        shown = f"{key}%" if _numeric_rate(key) is not None else raw
        yield Finding(
            "VAT_RATE_INVALID",
            "tax_breakdown",
            _fixable(result, "tax_breakdown", LINES),
            shown,
            M.VAT_RATE_INVALID.render(
                rate=shown, country=country or "", date=day or context.current_date
            ),
        )


# --- dates ----------------------------------------------------------------------------------


def check_dates(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """Due not before issue; issue and supply dates not in the future (beyond a day); supply
    at most 60 days after issue."""
    issue = _date(result, "issue_date")
    sale = _date(result, "sale_date")
    due = _date(result, "due_date")
    latest = context.current_date + FUTURE_DATE_TOLERANCE
    if issue is not None and due is not None and due < issue:
        yield Finding(
            "DATE_ORDER",
            "due_date",
            _fixable(result, "issue_date", "due_date"),
            due.isoformat(),
            M.DUE_BEFORE_ISSUE.render(due=due, issue=issue),
        )
    if issue is not None and issue > latest:
        yield Finding(
            "DATE_ORDER",
            "issue_date",
            _fixable(result, "issue_date"),
            issue.isoformat(),
            M.DATE_IN_FUTURE.render(name=M.field_name("issue_date"), date=issue),
        )
    if issue is not None and sale is not None and sale - issue > MAX_SUPPLY_AFTER_ISSUE:
        yield Finding(
            "DATE_ORDER",
            "sale_date",
            _fixable(result, "issue_date", "sale_date"),
            sale.isoformat(),
            M.SALE_AFTER_ISSUE.render(sale=sale, issue=issue, days=MAX_SUPPLY_AFTER_ISSUE.days),
        )


# --- presence, parties, history -------------------------------------------------------------


def check_required(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """Each required field is present. Missing from structured XML, it is surely missing
    (fixable); missing from a PDF or scan, the reading may have failed (review)."""
    severity = FIXABLE if result.source is Source.XML else REVIEW
    for name in REQUIRED_FIELDS:
        if result.value(name) is None:
            yield Finding(
                "REQUIRED_FIELD_MISSING",
                name,
                severity,
                None,
                M.REQUIRED_FIELD_MISSING.render(name=M.field_name(name)),
            )


def check_buyer(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """The buyer's tax ID is one of ours (``own_tax_ids``); off when none is configured."""
    buyer = _text(result, "buyer_tax_id")
    if buyer is None or not context.own_tax_ids:
        return
    ours = set().union(*(_tax_id_forms(own) for own in context.own_tax_ids))
    if _tax_id_forms(buyer) & ours:
        return
    shown = _shown_tax_id(buyer, result.language)
    yield Finding("BUYER_NOT_US", "buyer_tax_id", REVIEW, shown, M.BUYER_NOT_US.render(value=shown))


def check_duplicate(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """Not seen before: neither the same file (sha256) nor the same seller tax ID + number."""
    seller = _text(result, "seller_tax_id")
    number = _text(result, "invoice_number")
    seller_forms = _tax_id_forms(seller) if seller else set()
    for earlier in context.earlier_invoices:
        if context.file_sha256 and earlier.sha256 == context.file_sha256:
            yield Finding(
                "DUPLICATE_INVOICE",
                None,
                REVIEW,
                earlier.reference,
                M.DUPLICATE_FILE.render(earlier=earlier.reference),
            )
            return
    if not (seller_forms and number):
        return
    for earlier in context.earlier_invoices:
        if (
            earlier.seller_tax_id
            and earlier.invoice_number
            and _tax_id_forms(earlier.seller_tax_id) & seller_forms
            and _normal_number(earlier.invoice_number) == _normal_number(number)
        ):
            yield Finding(
                "DUPLICATE_INVOICE",
                "invoice_number",
                REVIEW,
                number,
                M.DUPLICATE_NUMBER.render(
                    number=number,
                    seller=_shown_tax_id(seller or "", result.language),
                    earlier=earlier.reference,
                ),
            )
            return


def check_bank_account(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """The IBAN is one already known for this supplier (a changed account is a classic fraud:
    always a person's decision, never accepted automatically)."""
    seller = _text(result, "seller_tax_id")
    iban = _text(result, "iban")
    if seller is None or iban is None:
        return
    forms = _tax_id_forms(seller)
    known = [
        _compact_iban(account.iban)
        for account in context.supplier_accounts
        if _tax_id_forms(account.tax_id) & forms
    ]
    if not known or _compact_iban(iban) in known:
        return
    shown = M.format_iban(iban)
    yield Finding(
        "BANK_ACCOUNT_CHANGED",
        "iban",
        REVIEW,
        shown,
        M.BANK_ACCOUNT_CHANGED.render(
            value=shown,
            seller=_shown_tax_id(seller, result.language),
            known=", ".join(M.format_iban(value) for value in dict.fromkeys(known)),
        ),
    )


# --- how sure the reading is ----------------------------------------------------------------


def _checksum_fails(name: str, value: str, language: str | None) -> bool:
    if name in TAX_ID_FIELDS:
        return not _tax_id_scheme(value, language)[1]
    if name == "iban":
        return not iban_is_valid(_compact_iban(value))
    return False


def low_confidence_findings(result: ExtractionResult, threshold: float) -> list[Finding]:
    """A review finding for each key field read with a confidence under ``threshold``."""
    found = []
    for name in KEY_FIELDS:
        read = result.fields.get(name)
        if read is None:
            continue
        bar = threshold
        if isinstance(read.value, str) and _checksum_fails(name, read.value, result.language):
            bar = min(threshold, INVALID_CHECKSUM_THRESHOLD)
        if read.confidence >= bar:
            continue
        value = read.value
        shown = value.isoformat() if isinstance(value, dt.date) else str(value)
        found.append(
            Finding(
                "LOW_CONFIDENCE",
                name,
                REVIEW,
                shown,
                M.LOW_CONFIDENCE.render(
                    name=M.field_name(name),
                    confidence=f"{read.confidence:.2f}",
                    value=value if isinstance(value, Decimal | dt.date) else shown,
                ),
            )
        )
    return found


def check_confidence(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """Every key field was read with at least ``context.confidence_threshold``."""
    return low_confidence_findings(result, context.confidence_threshold)


def kind_finding(result: ExtractionResult) -> Finding | None:
    """A review finding when the document is not a plain invoice (credit note, other)."""
    if result.kind is Kind.INVOICE:
        return None
    return Finding(
        "KIND_NOT_INVOICE",
        None,
        REVIEW,
        result.kind.value,
        M.KIND_NOT_INVOICE.render(kind=result.kind.value),
    )


def check_kind(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """The document is an invoice (credit notes and other documents go to a person)."""
    found = kind_finding(result)
    return [] if found is None else [found]


def check_read_problems(result: ExtractionResult, context: RuleContext) -> Iterable[Finding]:
    """Problems met while reading (truncated PDF, pages not OCRed, ...) go to a person."""
    for problem in result.problems:
        if problem.code in COVERED_PROBLEMS:
            continue
        yield Finding(
            "READ_PROBLEM",
            problem.field,
            REVIEW,
            problem.code,
            M.READ_PROBLEM.render(message=f"{problem.code}: {problem.message}"),
        )


# --- the registry ---------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule("KIND_NOT_INVOICE", check_kind, "The document is a plain invoice."),
    Rule("READ_PROBLEM", check_read_problems, "The document was read without problems."),
    Rule("REQUIRED_FIELD_MISSING", check_required, "Each required field is present."),
    Rule(
        "SELLER_TAX_ID_CHECKSUM",
        _tax_id_checksum("seller", "SELLER_TAX_ID_CHECKSUM"),
        "The seller's tax ID has a valid check digit.",
    ),
    Rule(
        "BUYER_TAX_ID_CHECKSUM",
        _tax_id_checksum("buyer", "BUYER_TAX_ID_CHECKSUM"),
        "The buyer's tax ID has a valid check digit.",
    ),
    Rule("IBAN_CHECKSUM", check_iban, "The IBAN has a valid check sum."),
    Rule("TOTALS_MISMATCH", check_totals, "Net + VAT = gross; lines and rates add up."),
    Rule("VAT_RATE_INVALID", check_vat_rates, "VAT rates are valid in the seller's country."),
    Rule("DATE_ORDER", check_dates, "Issue, supply and due dates are plausible."),
    Rule("BUYER_NOT_US", check_buyer, "The buyer is us."),
    Rule("DUPLICATE_INVOICE", check_duplicate, "The invoice was not received before."),
    Rule("BANK_ACCOUNT_CHANGED", check_bank_account, "The supplier's account is the known one."),
    Rule("LOW_CONFIDENCE", check_confidence, "Key fields were read with confidence."),
)
"""Every rule, in the order findings are reported."""

RULE_CODES = tuple(rule.code for rule in RULES)


def run_rules(
    result: ExtractionResult, context: RuleContext, rules: Sequence[Rule] = RULES
) -> list[Finding]:
    """Run ``rules`` over ``result``; a rule that crashes becomes a review finding."""
    findings: list[Finding] = []
    for rule in rules:
        try:
            findings.extend(rule.check(result, context))
        except Exception as exc:
            log.exception("rule %s failed on %s", rule.code, result.file)
            findings.append(
                Finding(
                    "RULE_FAILED",
                    None,
                    REVIEW,
                    rule.code,
                    M.RULE_FAILED.render(rule=rule.code, error=repr(exc)),
                )
            )
    return findings


__all__ = [
    "RULES",
    "EarlierInvoice",
    "Finding",
    "Rule",
    "RuleContext",
    "Severity",
    "SupplierAccount",
    "VatRate",
    "run_rules",
]
