"""Template-free field extraction from positioned text (PDF text layer or OCR).

The extractor looks for *labels* (labels.py) and takes the value of the expected shape that
is nearest to each label: after it in the same segment, in the next segments of the line,
or below it in the same column. Amounts are then chosen by consistency (net + VAT = gross,
the largest total, a "to pay" label), tax IDs and IBANs by their checksums. Each value
carries a confidence built from how it was found and whether its checks hold.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from backoffice.invoices import labels as L
from backoffice.invoices.dates import find_dates
from backoffice.invoices.ids import find_ibans, find_tax_ids
from backoffice.invoices.layout import Line, PageText, Segment
from backoffice.invoices.model import FieldValue, Kind, LineItem, Source, TaxRate
from backoffice.invoices.numbers import find_amounts, parse_decimal

# Confidence by how a value was found.
SAME_SEGMENT = 0.92
SAME_LINE = 0.88
BELOW = 0.82
FALLBACK = 0.5
# A date after "№ 12 от" / "z dnia" away from the invoice number: below every labelled one.
AFTER_NUMBER = 0.8
# How far below a label its value may be (lines).
MAX_LINES_BELOW = 3
PARTY_BLOCK_LINES = 8
# Lines around an IBAN that count as the same bank-details block (a footer column).
BANK_BLOCK_LINES = 3
CENT = Decimal("0.01")
# VAT rates in use in PL, RU, DE and the EU (percent): a net/tax pair at one of these is
# more likely to be the real totals than a coincidence.
STANDARD_RATES = (
    Decimal(23),
    Decimal(8),
    Decimal(5),
    Decimal(20),
    Decimal(10),
    Decimal(19),
    Decimal(7),
    Decimal(0),
    Decimal(21),
    Decimal(22),
    Decimal(25),
    Decimal(4),
)
CURRENCY_SYMBOLS = {
    "zł": "PLN",
    "zl": "PLN",
    "pln": "PLN",
    "руб": "RUB",
    "₽": "RUB",
    "rub": "RUB",
    "р.": "RUB",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "$": "USD",
    "usd": "USD",
    "£": "GBP",
    "gbp": "GBP",
    "chf": "CHF",
    "czk": "CZK",
    "kč": "CZK",
    "uah": "UAH",
    "грн": "UAH",
    "sek": "SEK",
    "nok": "NOK",
    "dkk": "DKK",
    "huf": "HUF",
    "kzt": "KZT",
    "byn": "BYN",
    "cny": "CNY",
}
# Matched lower-cased (labels.Label): the code is looked up lower-cased anyway.
_CURRENCY_PATTERN = L.Label(
    r"(?<![a-zа-яё])(pln|eur|usd|rub|gbp|chf|czk|uah|sek|nok|dkk|huf|kzt|byn|cny|zł|zl|"
    r"руб|₽|€|\$|£|kč|грн)(?![a-zа-яё])"
)
DEFAULT_CURRENCY = {"pl": "PLN", "ru": "RUB", "de": "EUR"}
_NUMBER_TOKEN = re.compile(
    r"^\s*[:#№.\s]*(?:nr\.?|no\.?|№)?\s*[:#]?\s*([A-ZА-Я0-9][\w/\-.]*)", re.I
)
# Upper-case letters (a series), one space, then a token with a digit.
_SPACED_NUMBER = re.compile(r"[A-ZА-Я]{1,4} (?=[\w/\-.]*\d)[A-ZА-Я0-9][\w/\-.]*")
_RATE_PATTERN = re.compile(
    r"(?<![\d,.])(\d{1,2}(?:[.,]\d{1,2})?)\s?%|(?<!\w)(zw|np|oo|z\.?w\.?)(?!\w)", re.I
)
# The same, lower-cased, where only the rate's value is used (_rate_key lower-cases it).
_RATE_LABEL = L.Label(_RATE_PATTERN.pattern)
_WORD = re.compile(r"[^\W\d_]{3,}")
_NAME_STOP = re.compile(
    r"\s*(?:,?\s*(?:NIP|ИНН|VAT|USt|REGON|KRS|Tax ID|ul\.|адрес)\b.*$|,\s*\d{2}-\d{3}.*$)", re.I
)


@dataclass(frozen=True)
class Hit:
    """A candidate value near a label and how near it was."""

    value: object
    confidence: float
    line: Line
    segment: Segment


@dataclass(frozen=True)
class AmountAt:
    """An amount on a line, with the labels on its left."""

    value: Decimal
    line: Line
    segment: Segment
    index: int
    gross_label: bool
    due_label: bool
    net_label: bool
    tax_label: bool


class Document:
    """The pages of one document as one list of lines, with lookup helpers."""

    def __init__(self, pages: list[PageText]) -> None:
        self.pages = pages
        self.lines = [line for page in pages for line in page.lines]
        self.source = Source.OCR if any(p.source is Source.OCR for p in pages) else Source.TEXT
        self.text = "\n".join(line.text for line in self.lines)

    def below(self, index: int, segment: Segment, count: int) -> Iterator[tuple[Line, Segment]]:
        """Segments in the next ``count`` lines that overlap ``segment`` horizontally."""
        for line in self.lines[index + 1 : index + 1 + count]:
            if line.page != self.lines[index].page:
                return
            for candidate in line.segments:
                if _overlaps(candidate, segment):
                    yield line, candidate
                    break


def _overlaps(a: Segment, b: Segment) -> bool:
    return min(a.box[2], b.box[2]) - max(a.box[0], b.box[0]) > 0


def _first_hit(
    shape: Callable[[str], list[Any]],
    candidates: Iterable[tuple[Line, Segment]],
    place: float,
) -> Hit | None:
    """The first (line, segment) whose text has the value's shape, as a hit at ``place``."""
    for line, segment in candidates:
        found = shape(segment.text)
        if found:
            return Hit(found[0][0], _with_ocr(place, line, segment), line, segment)
    return None


def _labelled(in_line: bool, label: re.Pattern[str], left: str) -> bool:
    """Whether ``label`` occurs in ``left`` (known not to when the whole line lacks it)."""
    return in_line and label.search(left) is not None


def _with_ocr(confidence: float, line: Line, segment: Segment) -> float:
    # OCR word confidence lowers the field's confidence; text-layer segments are 1.0.
    return round(confidence * min(1.0, 0.4 + segment.confidence * 0.65), 3)


def find_near_label(
    doc: Document,
    label: re.Pattern[str],
    shape: Callable[[str], list[tuple[object, int]]],
    *,
    segment_start: bool = False,
) -> list[Hit]:
    """Values of a given shape nearest each match of ``label``, best first."""
    hits: list[Hit] = []
    # A label found in a segment is also found in its line's text, unless the pattern is
    # anchored at the start of a segment: one search per line skips most segments.
    anchored = "^" in label.pattern
    for index, line in enumerate(doc.lines):
        if not anchored and not label.search(line.text):
            continue
        for seg_index, segment in enumerate(line.segments):
            for match in label.finditer(segment.text):
                if segment_start and segment.text[: match.start()].strip():
                    continue
                rest = segment.text[match.end() :]
                found = shape(rest)
                if found:
                    value, _ = found[0]
                    hits.append(Hit(value, _with_ocr(SAME_SEGMENT, line, segment), line, segment))
                    continue
                if rest.strip(" :.-—–#№\t"):
                    # The label is followed by other words in its cell: not a label of a
                    # value, unless the value starts there and wraps onto the next line
                    # ("Счёт № 12 от 17 марта" / "2026 г.").
                    hit = _wrapped(doc, index, seg_index, rest, shape)
                    if hit is not None:
                        hits.append(hit)
                    continue
                same_line = ((line, nxt) for nxt in line.segments[seg_index + 1 : seg_index + 3])
                hit = _first_hit(shape, same_line, SAME_LINE) or _first_hit(
                    shape, doc.below(index, segment, MAX_LINES_BELOW), BELOW
                )
                if hit is not None:
                    hits.append(hit)
    hits.sort(key=lambda hit: -hit.confidence)
    return hits


def _wrapped(
    doc: Document,
    index: int,
    seg_index: int,
    rest: str,
    shape: Callable[[str], list[tuple[object, int]]],
) -> Hit | None:
    """A value that begins in ``rest`` (the end of the last segment of line ``index``) and
    goes on at the start of the next line, right under it."""
    line = doc.lines[index]
    if seg_index != len(line.segments) - 1 or index + 1 >= len(doc.lines):
        return None
    segment = line.segments[seg_index]
    following = doc.lines[index + 1]
    first = following.segments[0]
    height = segment.box[3] - segment.box[1]
    if (
        following.page != line.page
        or not segment.box[0] - height <= first.box[0] < segment.box[2]
        or first.box[1] - segment.box[3] > height
    ):
        return None
    found = shape(f"{rest} {first.text}")
    if not found or found[0][1] >= len(rest):
        return None
    return Hit(found[0][0], _with_ocr(BELOW, following, first), line, segment)


def _dates(text: str) -> list[tuple[object, int]]:
    return [(found.value, found.start) for found in find_dates(text)[:1] if found.start < 40]


def _invoice_number(text: str) -> list[tuple[object, int]]:
    match = _NUMBER_TOKEN.match(text)
    if not match:
        return []
    token = match.group(1).rstrip(".,;:")
    if not any(ch.isdigit() for ch in token):
        # A series prefix set apart from the number: "FV 12/03/2026", "СФ 45".
        spaced = _SPACED_NUMBER.match(text, match.start(1))
        if spaced is None:
            return []
        token = spaced.group(0).rstrip(".,;:")
    if len(token) > 40:
        return []
    # A date where the number should be ("Nr: 15 sierpnia 2026", "Nr: 15.08.2026") is not
    # a number; "15/08/2026" is: sequence/month/year is how Polish invoices are numbered.
    if any(
        found.start == match.start(1) and "/" not in text[found.start : found.end]
        for found in find_dates(text)
    ):
        return []
    return [(token, match.start(1))]


# Runs of anything but letters ([^\W\d_]) and but Cyrillic: the counts are the lengths of
# what is left after removing them (one replacement per run, not a list of every letter).
_NOT_LETTER = re.compile(r"[\W\d_]+")
_NOT_CYRILLIC = re.compile("[^\u0400-\u04ff]+")
# Frequent invoice words by language. "\bword\b" is written "w(?<!\ww)ord\b" (the same
# matches): every branch then starts with a letter and the engine skips to candidates.
_LANGUAGE_WORDS = {
    "pl": re.compile(r"[ąćęłńóśźż]|faktura|nabywca|sprzedawca|razem|netto|zapłaty|z(?<!\wz)ł\b"),
    "de": re.compile(r"[äöüß]|rechnung|mwst|ust-id|gesamt|betrag|datum|u(?<!\wu)nd\b|zahlbar"),
    "en": re.compile(
        r"i(?<!\wi)nvoice\b|t(?<!\wt)otal\b|d(?<!\wd)ate\b|a(?<!\wa)mount\b|t(?<!\wt)he\b"
        r"|d(?<!\wd)ue\b|b(?<!\wb)ill\b"
    ),
}


def detect_language(text: str) -> str:
    """pl, ru, en or de from the script and frequent invoice words."""
    letters = len(_NOT_LETTER.sub("", text))
    if not letters:
        return "en"
    cyrillic = len(_NOT_CYRILLIC.sub("", text))
    if cyrillic / letters > 0.3:
        return "ru"
    lowered = text.lower()
    scores = {language: len(words.findall(lowered)) for language, words in _LANGUAGE_WORDS.items()}
    best = max(scores, key=lambda key: scores[key])
    return best if scores[best] else "en"


def detect_kind(text: str, has_total: bool) -> Kind:
    """Credit note, invoice or not an invoice, from title words and whether totals exist."""
    head = text[:3000]
    if L.CREDIT_NOTE.search(head):
        return Kind.CREDIT_NOTE
    if L.INVOICE_WORDS.search(text) and has_total:
        return Kind.INVOICE
    return Kind.NOT_INVOICE


class TextFieldExtractor:
    """Finds every field in one document's positioned text."""

    def __init__(self, pages: list[PageText]) -> None:
        self.doc = Document(pages)
        self.language = detect_language(self.doc.text)
        self.fields: dict[str, FieldValue] = {}
        self.lines: list[LineItem] = []
        self._number_line: Line | None = None

    def _put(
        self,
        name: str,
        value: object,
        confidence: float,
        line: Line | None,
        segment: Segment | None = None,
    ) -> None:
        self.fields[name] = FieldValue(
            value=value,  # type: ignore[arg-type]
            confidence=max(0.0, min(1.0, confidence)),
            source=self.doc.source,
            page=None if line is None else line.page,
            box=None if segment is None else segment.box,
        )

    def run(self) -> tuple[dict[str, FieldValue], list[LineItem], Kind, str]:
        """Extract all fields; returns fields, line items, kind and language."""
        self._number()
        self._dates()
        self._amounts()
        self._currency()
        self._parties()
        self._iban()
        self._items()
        self._breakdown()
        kind = detect_kind(self.doc.text, "total_gross" in self.fields)
        return self.fields, self.lines, kind, self.language

    # --- number and dates -------------------------------------------------------------

    def _number(self) -> None:
        hits = find_near_label(self.doc, L.INVOICE_NUMBER, _invoice_number)
        for title in (L.INVOICE_TITLE, L.INVOICE_TITLE_ALONE):
            if hits:
                break
            hits = [
                Hit(h.value, h.confidence * 0.85, h.line, h.segment)
                for h in find_near_label(self.doc, title, _invoice_number)
            ]
        if hits:
            # Numbers repeated on every page or in the footer agree: count them.
            counts = Counter(hit.value for hit in hits)
            best = max(hits, key=lambda hit: (hit.confidence, counts[hit.value]))
            bonus = 0.04 if counts[best.value] > 1 else 0.0
            value = str(best.value)
            if self.doc.source is Source.OCR:
                # OCR reads the zero of "INV00727" as the letter O; numbers end in digits.
                value = re.sub(r"[OoО](?=[OoО0]*\d+$)", "0", value)
            self._put("invoice_number", value, best.confidence + bonus, best.line, best.segment)
            self._number_line = best.line

    def _dates(self) -> None:
        found: dict[str, Hit] = {}
        for name, label in (
            ("issue_date", L.ISSUE_DATE),
            ("sale_date", L.SALE_DATE),
            ("due_date", L.DUE_DATE),
        ):
            hits = find_near_label(self.doc, label, _dates)
            if name == "issue_date":
                hits += self._dated_after_number()
                hits.sort(key=lambda hit: -hit.confidence)
            if hits:
                found[name] = hits[0]
        if "issue_date" not in found:
            hits = find_near_label(self.doc, L.ISSUE_DATE_GENERIC, _dates, segment_start=True)
            if hits:
                found["issue_date"] = Hit(
                    hits[0].value, hits[0].confidence * 0.9, hits[0].line, hits[0].segment
                )
        if "issue_date" not in found:
            for line in self.doc.lines:
                dates = find_dates(line.text)
                if dates:
                    segment = line.segment_at(dates[0].start)
                    found["issue_date"] = Hit(dates[0].value, FALLBACK, line, segment)
                    break
        if "due_date" not in found and "issue_date" in found:
            self._due_in_days(found)
        for name, hit in found.items():
            self._put(name, hit.value, hit.confidence, hit.line, hit.segment)
        issue = found.get("issue_date")
        due = found.get("due_date")
        if issue and due and due.value < issue.value:  # type: ignore[operator]
            # A due date before the issue date is a misread more often than a real term.
            self.fields["due_date"] = FieldValue(
                due.value,
                0.4,
                self.doc.source,
                due.line.page,
                due.segment.box,  # type: ignore[arg-type]
            )

    def _dated_after_number(self) -> list[Hit]:
        """Dates after "№ 12 от", "nr 12 z dnia", "dated": the invoice's own in the line
        of its number, else weaker than any labelled date (contracts, orders in items)."""
        return [
            hit
            if hit.line is self._number_line
            else Hit(hit.value, hit.confidence * AFTER_NUMBER, hit.line, hit.segment)
            for hit in find_near_label(self.doc, L.ISSUE_DATE_AFTER_NUMBER, _dates)
        ]

    def _due_in_days(self, found: dict[str, Hit]) -> None:
        pattern = re.compile(r"(\d{1,3})\s*(?:dni|days|tage|дн|календарных)", re.I)
        for hit in find_near_label(
            self.doc,
            L.DUE_DATE,
            lambda text: [(int(m.group(1)), m.start()) for m in pattern.finditer(text)][:1],
        ):
            issue: dt.date = found["issue_date"].value  # type: ignore[assignment]
            found["due_date"] = Hit(
                issue + dt.timedelta(days=hit.value),  # type: ignore[arg-type]
                hit.confidence * 0.85,
                hit.line,
                hit.segment,
            )
            return

    # --- amounts ----------------------------------------------------------------------

    def _amounts_on_lines(self) -> list[AmountAt]:
        found: list[AmountAt] = []
        previous_labels = ""
        for line in self.doc.lines:
            text = line.text
            amounts = find_amounts(text)
            if not amounts:
                previous_labels = text
                continue
            # A label left of an amount is also in the whole line: one search per line and
            # label tells which labels need looking for left of each amount.
            in_line = {
                name: pattern.search(text) is not None
                for name, pattern in (("gross", L.GROSS), ("due", L.DUE), ("net", L.NET))
            } | {"tax": L.TAX.search(text) is not None}
            header_gross = bool(previous_labels) and L.GROSS.search(previous_labels) is not None
            for index, match in enumerate(amounts):
                left = text[: match.start]
                segment = line.segment_at(match.start)
                # A header row above (one label per column) labels the values below it.
                under_header = header_gross and not _WORD.search(left)
                found.append(
                    AmountAt(
                        value=match.value,
                        line=line,
                        segment=segment,
                        index=index,
                        gross_label=_labelled(in_line["gross"], L.GROSS, left) or under_header,
                        due_label=_labelled(in_line["due"], L.DUE, left),
                        net_label=_labelled(in_line["net"], L.NET, left),
                        tax_label=_labelled(in_line["tax"], L.TAX, left),
                    )
                )
            previous_labels = ""
        return found

    def _amounts(self) -> None:
        amounts = self._amounts_on_lines()
        if not amounts:
            return
        values = {abs(a.value) for a in amounts}
        largest = max(values)
        tax_labelled = {abs(a.value) for a in amounts if a.tax_label and not a.gross_label}
        net_labelled = {abs(a.value) for a in amounts if a.net_label}

        zero = Decimal(0)
        # The pair depends only on the amount and its line: every amount is scored, and
        # the same totals recur (per-rate rows, a "to pay" line, page footers).
        known: dict[tuple[Decimal, int], tuple[float, Decimal, Decimal] | None] = {}

        def pair_for(gross_at: AmountAt) -> tuple[float, Decimal, Decimal] | None:
            key = (abs(gross_at.value), id(gross_at.line))
            if key not in known:
                known[key] = find_pair(gross_at)
            return known[key]

        on_line: dict[int, set[Decimal]] = {}
        for a in amounts:
            on_line.setdefault(id(a.line), set()).add(abs(a.value))

        def find_pair(gross_at: AmountAt) -> tuple[float, Decimal, Decimal] | None:
            gross = abs(gross_at.value)
            same_line = on_line[id(gross_at.line)]
            pairs = []
            for net in values:
                tax = gross - net
                if not (zero <= tax < net) or net == gross:
                    continue
                printed = tax in values or tax == 0
                # Several rates may print only per-rate VAT ("в т.ч. НДС 20%", "НДС 10%").
                summed = not printed and len(tax_labelled) > 1 and sum(tax_labelled) == tax
                if not printed and not summed:
                    continue
                rate = (tax / net * 100).quantize(Decimal(1)) if net else Decimal(0)
                points = 0.0
                points += 1.0 if rate in STANDARD_RATES else 0.0
                points += 1.5 if net in same_line and tax in same_line else 0.0
                points += 1.0 if net in net_labelled else 0.0
                points += 1.0 if tax in tax_labelled or summed else 0.0
                pairs.append((points, net, tax))
            if not pairs:
                return None
            return max(pairs, key=lambda item: (item[0], item[1]))

        def score(item: AmountAt) -> tuple[float, Decimal]:
            value = abs(item.value)
            points = 0.0
            if item.gross_label or item.due_label:
                points += 3
            if item.net_label and not item.gross_label:
                points -= 2
            if item.tax_label and not item.gross_label:
                points -= 1
            pair = pair_for(item)
            if pair:
                points += 2 + 0.5 * pair[0]
            if value == largest:
                points += 1.5
            return points, value

        best = max(amounts, key=score)
        gross = abs(best.value)
        sign = -1 if best.value < 0 else 1
        points, _ = score(best)
        confidence = min(0.97, 0.5 + 0.05 * points)
        pair = pair_for(best)
        self._put("total_gross", sign * gross, confidence, best.line, best.segment)
        if pair:
            _, net, tax = pair
            net_at = next((a for a in amounts if abs(a.value) == net), None)
            tax_at = next((a for a in amounts if abs(a.value) == tax), None)
            self._put(
                "total_net",
                sign * net,
                confidence,
                net_at.line if net_at else None,
                net_at.segment if net_at else None,
            )
            self._put(
                "total_tax",
                sign * tax,
                confidence,
                tax_at.line if tax_at else None,
                tax_at.segment if tax_at else None,
            )
        else:
            for name, flag in (("total_net", "net_label"), ("total_tax", "tax_label")):
                labelled = [a for a in amounts if getattr(a, flag) and abs(a.value) < gross]
                if labelled:
                    pick = max(labelled, key=lambda a: abs(a.value))
                    self._put(name, pick.value, 0.6, pick.line, pick.segment)
            tax_field = self.fields.get("total_tax")
            if "total_net" not in self.fields and tax_field is not None:
                # VAT printed only as included in the total ("в том числе НДС", "inkl.
                # MwSt"): the net is what is left of the gross.
                tax_value: Decimal = abs(tax_field.value)  # type: ignore[arg-type,assignment]
                self._put("total_net", sign * (gross - tax_value), 0.6, None)
        due = [a for a in amounts if a.due_label]
        if due:
            pick = max(due, key=lambda a: abs(a.value))
            agree = abs(pick.value) == gross
            self._put("amount_due", pick.value, 0.95 if agree else 0.8, pick.line, pick.segment)
        else:
            self._put("amount_due", sign * gross, confidence * 0.9, best.line, best.segment)

    def _breakdown(self) -> None:
        net_field = self.fields.get("total_net")
        tax_field = self.fields.get("total_tax")
        if net_field is None or tax_field is None:
            return
        net_total: Decimal = abs(net_field.value)  # type: ignore[arg-type,assignment]
        tax_total: Decimal = abs(tax_field.value)  # type: ignore[arg-type,assignment]
        confidence = min(net_field.confidence, tax_field.confidence)
        # 1. Summary rows printed per rate: "23%  1 000,00  230,00  1 230,00".
        rows: dict[str, TaxRate] = {}
        for line in self.doc.lines:
            rates = list(_RATE_LABEL.finditer(line.text))
            if len(rates) != 1:
                continue
            rate_match = rates[0]
            rate_key = _rate_key(rate_match)
            line_amounts = [a.value for a in find_amounts(line.text)]
            pick = _rate_row(rate_key, line_amounts)
            if pick is not None:
                rows[rate_key] = pick
        if (
            rows
            and sum((r.net or Decimal(0)) for r in rows.values()) == net_total
            and sum((r.tax or Decimal(0)) for r in rows.values()) == tax_total
        ):
            self._put("tax_breakdown", tuple(rows.values()), confidence, None)
            return
        # 2. Line items grouped by rate, when they add up to the totals.
        if self.lines and all(item.net is not None and item.tax_rate for item in self.lines):
            nets: dict[str, Decimal] = {}
            for item in self.lines:
                key = (item.tax_rate or "").rstrip("%")
                nets[key] = nets.get(key, Decimal(0)) + (item.net or Decimal(0))
            derived = []
            for key, net in nets.items():
                try:
                    tax = (net * Decimal(key) / 100).quantize(CENT, ROUND_HALF_UP)
                except ArithmeticError:
                    tax = Decimal("0.00")
                derived.append(TaxRate(rate=key, net=net, tax=tax))
            if sum(r.net for r in derived) == net_total and abs(
                sum(r.tax for r in derived) - tax_total
            ) <= CENT * len(derived):
                self._put("tax_breakdown", tuple(derived), confidence * 0.9, None)
                return
        # 3. One standard rate explains the totals exactly.
        for rate in STANDARD_RATES:
            if net_total and (net_total * rate / 100).quantize(CENT, ROUND_HALF_UP) == tax_total:
                self._put(
                    "tax_breakdown",
                    (TaxRate(rate=str(rate), net=net_total, tax=tax_total),),
                    confidence * 0.85,
                    None,
                )
                return

    # --- currency ---------------------------------------------------------------------

    def _currency(self) -> None:
        counts: Counter[str] = Counter()
        label_hit = None
        for line in self.doc.lines:
            weight = 3 if find_amounts(line.text) else 1
            for match in _CURRENCY_PATTERN.finditer(line.text):
                code = CURRENCY_SYMBOLS.get(match.group(1).lower(), match.group(1).upper())
                counts[code] += weight
                if L.CURRENCY_LABEL.search(line.text[: match.start()]):
                    label_hit = (code, line)
        if label_hit:
            self._put("currency", label_hit[0], 0.95, label_hit[1])
            return
        if counts:
            code, count = counts.most_common(1)[0]
            total = sum(counts.values())
            self._put("currency", code, 0.6 + 0.35 * count / total, None)
            return
        default = DEFAULT_CURRENCY.get(self.language)
        if default and "total_gross" in self.fields:
            self._put("currency", default, 0.4, None)

    # --- parties ----------------------------------------------------------------------

    def _party_block(self, label: re.Pattern[str]) -> tuple[list[tuple[Line, Segment]], str] | None:
        for index, line in enumerate(self.doc.lines):
            for seg_index, segment in enumerate(line.segments):
                match = label.search(segment.text)
                if not match or match.start() > 3:
                    continue
                rest = segment.text[match.end() :].lstrip(" :.-—–").rstrip(" ,;:")
                # "ИНН/КПП продавца" or "NIP nabywcy" are not the party heading.
                if re.match(r"^(?:nip|инн|vat|tax|ust|kpp|кпп)", segment.text, re.I):
                    continue
                if len(rest) > 0 and rest[:1].islower() and not rest[:1].isdigit():
                    continue
                block: list[tuple[Line, Segment]] = []
                anchor = segment
                first = ""
                if rest:
                    first = rest
                    block.append((line, segment))
                elif seg_index + 1 < len(line.segments) and not (
                    L.BUYER.search(line.segments[seg_index + 1].text)
                    or L.SELLER.search(line.segments[seg_index + 1].text)
                ):
                    anchor = line.segments[seg_index + 1]
                    first = anchor.text
                    block.append((line, anchor))
                for below_line, below_segment in self.doc.below(index, anchor, PARTY_BLOCK_LINES):
                    if L.SELLER.match(below_segment.text) or L.BUYER.match(below_segment.text):
                        break
                    if anchor is not segment and _labelled_left(below_line, anchor):
                        # Details in the cell right of the label: the next party's label
                        # in that label column ends this party ("Поставщик | ..." then
                        # "Покупатель | ...").
                        break
                    block.append((below_line, below_segment))
                    if not first:
                        first = below_segment.text
                return block, first
        return None

    def _parties(self) -> None:
        used: set[str] = set()
        for role, label in (("seller", L.SELLER), ("buyer", L.BUYER)):
            found = self._party_block(label)
            if not found:
                continue
            block, first = found
            name = clean_name(_NAME_STOP.sub("", first).strip(" ,;:"))
            if name and block:
                self._put(
                    f"{role}_name",
                    name,
                    0.85 * block[0][1].confidence ** 0.5,
                    block[0][0],
                    block[0][1],
                )
            block_text = "\n".join(segment.text for _, segment in block)
            candidates = find_tax_ids(block_text, self.language)
            candidates = [c for c in candidates if c.value not in used] or candidates
            if candidates:
                best = max(candidates, key=lambda c: (c.valid, -c.start))
                used.add(best.value)
                self._put(
                    f"{role}_tax_id", best.value, 0.95 if best.valid else 0.5, block[0][0], None
                )
        self._tax_ids_by_role_labels(used)

    def _tax_ids_by_role_labels(self, used: set[str]) -> None:
        # "ИНН/КПП продавца: ...", "NIP nabywcy: ..." name the role in the label itself, and
        # documents without party headings list the seller's ID first.
        role_words = {
            "seller": re.compile(r"продавц|поставщик|sprzedawc|seller|supplier|verkäufer", re.I),
            "buyer": re.compile(r"покупател|заказчик|nabywc|buyer|customer|käufer|kunde", re.I),
        }
        all_ids = []
        for line in self.doc.lines:
            for candidate in find_tax_ids(line.text, self.language):
                left = line.text[: candidate.start]
                all_ids.append((candidate, line))
                for role, words in role_words.items():
                    field = f"{role}_tax_id"
                    if (
                        words.search(left)
                        and L.TAX_ID_LABEL.search(left)
                        and (field not in self.fields or self.fields[field].confidence < 0.9)
                    ):
                        self._put(field, candidate.value, 0.95 if candidate.valid else 0.5, line)
        distinct = []
        for candidate, line in all_ids:
            if candidate.value not in [c.value for c, _ in distinct]:
                distinct.append((candidate, line))
        if len(distinct) > 1 and "seller_tax_id" not in self.fields:
            # The payee's bank account is the seller's: of IDs no label assigns, the one
            # printed with the bank details (a letter's footer) is the seller's, even when
            # the buyer's stands first under the address window.
            near_bank = self._near_bank_details()
            distinct.sort(key=lambda item: id(item[1]) not in near_bank)
        for role, position in (("seller", 0), ("buyer", 1)):
            field = f"{role}_tax_id"
            taken = {
                self.fields[f].value for f in ("seller_tax_id", "buyer_tax_id") if f in self.fields
            }
            free = [(c, line) for c, line in distinct if c.value not in taken]
            if field not in self.fields and len(distinct) > position and free:
                candidate, line = free[0]
                self._put(field, candidate.value, 0.6 if candidate.valid else 0.3, line)

    def _near_bank_details(self) -> set[int]:
        """ids of the lines within ``BANK_BLOCK_LINES`` of a line holding a valid IBAN."""
        lines = self.doc.lines
        banks = [
            index for index, line in enumerate(lines) if any(c.valid for c in find_ibans(line.text))
        ]
        return {
            id(line)
            for index, line in enumerate(lines)
            if any(
                abs(index - bank) <= BANK_BLOCK_LINES and lines[bank].page == line.page
                for bank in banks
            )
        }

    # --- bank account -----------------------------------------------------------------

    def _iban(self) -> None:
        best = None
        for line in self.doc.lines:
            for candidate in find_ibans(line.text):
                labelled = bool(L.IBAN_LABEL.search(line.text[: candidate.start]))
                key = (candidate.valid, labelled)
                if best is None or key > best[0]:
                    best = (key, candidate, line)
        if best:
            (valid, labelled), candidate, line = best
            confidence = (0.9 if valid else 0.45) + (0.06 if labelled else 0)
            self._put("iban", candidate.value, confidence, line)

    # --- line items -------------------------------------------------------------------

    def _items(self) -> None:
        lines = self.doc.lines
        # Every line is asked whether it is a header, rows after a header twice more.
        known: dict[int, list[tuple[str, Segment]] | None] = {}

        def header_columns(line: Line) -> list[tuple[str, Segment]] | None:
            if id(line) not in known:
                known[id(line)] = _header_columns(line)
            return known[id(line)]

        for index, line in enumerate(lines):
            columns = header_columns(line)
            if columns is None:
                continue
            start = index + 1
            above = lines[index - 1] if index else None
            if (
                above is not None
                and above.page == line.page
                and line.box[1] - above.box[3] < (line.box[3] - line.box[1]) / 2
                and not find_amounts(above.text)
                and all(any(_overlaps(a, b) for b in line.segments) for a in above.segments)
            ):
                # Header cells aligned to the bottom wrap upwards ("Cena" over "netto"):
                # the upper words lead each column's name.
                merged = _merge_header(line, above, above=True)
                columns = _header_columns(merged) or columns
            if start < len(lines) and not find_amounts(lines[start].text):
                # A header wrapped onto a second line ("Wartość / netto"): join by column.
                merged = _merge_header(line, lines[start])
                columns = _header_columns(merged) or columns
                start += 1
            items = []
            for row in lines[start:]:
                if row.page != line.page and not header_columns(row):
                    pass
                if L.TOTALS_ROW.search(row.text.strip()) or header_columns(row):
                    break
                if not find_amounts(row.text):
                    if items and len(row.segments) == 1 and not L.SELLER.search(row.text):
                        last = items[-1]
                        items[-1] = LineItem(
                            f"{last.description} {row.text}".strip(),
                            last.quantity,
                            last.unit_price,
                            last.net,
                            last.tax_rate,
                            last.gross,
                        )
                        continue
                    if items:
                        break
                    continue
                item = _item_from_row(row, columns)
                if item is None:
                    break
                items.append(item)
            if items:
                self.lines = items
                return


def _labelled_left(line: Line, anchor: Segment) -> bool:
    """Whether ``line`` has a seller or buyer label left of ``anchor``."""
    return any(
        segment.box[2] <= anchor.box[0]
        and (L.SELLER.match(segment.text) or L.BUYER.match(segment.text))
        for segment in line.segments
    )


# Legal forms as OCR misreads them ("Sp. z 0.0.", "Sp. Zz o.o", "Sp. 2 0.0.") and as they
# are written.
_LEGAL_FORMS = (
    (re.compile(r"\bsp\.?\s*(?:z+|2)\s*[o0]\.?\s*[o0]\.?(?=\s|$|,)", re.I), "Sp. z o.o."),
    (re.compile(r"(?<!\w)[s$]p\.\s*k\.(?=\s|$|,)", re.I), "sp.k."),
    (re.compile(r"\bsp\.\s*j\.(?=\s|$|,)", re.I), "sp.j."),
    (re.compile(r"\bS\.\s*A\.(?=\s|$|,)"), "S.A."),
    # "plc" read as "ple", "pic", "p1c" at the end of a British company name.
    (re.compile(r"(?<=\w )p[li1I][ce]$"), "plc"),
)


def clean_name(name: str) -> str:
    """A party name with spacing normalised and legal forms written the usual way."""
    name = " ".join(name.replace("“", '"').replace("”", '"').replace("„", '"').split())
    # OCR reads the Cyrillic "ООО" (limited company) as three zeros.
    name = re.sub(r"^[0OО]{3}(?=\s)", "ООО", name)
    for pattern, form in _LEGAL_FORMS:
        name = pattern.sub(form, name)
    return name


def _rate_key(match: re.Match[str]) -> str:
    text = (match.group(1) or match.group(2) or "").replace(",", ".").lower()
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _rate_row(rate: str, amounts: list[Decimal]) -> TaxRate | None:
    try:
        percent = Decimal(rate)
    except ArithmeticError:
        percent = Decimal(0)
    # net, tax[, gross] are the last amounts of a summary row, in this order.
    for start in range(len(amounts) - 1):
        net, tax = amounts[start], amounts[start + 1]
        expected = (net * percent / 100).quantize(CENT, ROUND_HALF_UP)
        if abs(expected - tax) <= CENT * 2:
            gross = amounts[start + 2] if start + 2 < len(amounts) else None
            if gross is not None and gross != net + tax:
                gross = None
            return TaxRate(rate=rate, net=net, tax=tax, gross=gross)
    return None


def _merge_header(first: Line, second: Line, above: bool = False) -> Line:
    segments = []
    for segment in first.segments:
        extra = [other.text for other in second.segments if _overlaps(other, segment)]
        text = " ".join([*extra, segment.text] if above else [segment.text, *extra])
        segments.append(Segment(text, segment.box, segment.confidence))
    return Line(segments, first.page)


def _header_columns(line: Line) -> list[tuple[str, Segment]] | None:
    # Most lines are not headers: without a description column word they cannot be one.
    if not L.ITEMS_HEADER["description"].search(line.text):
        return None
    columns = []
    for segment in line.segments:
        if find_amounts(segment.text):
            return None
        for name, pattern in L.ITEMS_HEADER.items():
            if pattern.search(segment.text) and name not in [c[0] for c in columns]:
                columns.append((name, segment))
                break
    names = {name for name, _ in columns}
    if "description" in names and len(names & {"quantity", "unit_price", "net", "gross"}) >= 2:
        return columns
    return None


def _item_from_row(row: Line, columns: list[tuple[str, Segment]]) -> LineItem | None:
    values: dict[str, str] = {}
    edges = [(name, segment.box[0], segment.box[2]) for name, segment in columns]
    for segment in row.segments:
        center = (segment.box[0] + segment.box[2]) / 2
        # The column under the segment's centre, else the one with the nearest edge (the
        # first of equals, as min() picks).
        name = ""
        nearest = None
        for column, left, right in edges:
            distance = (
                0
                if left - 2 <= center <= right + 2
                else min(abs(center - left), abs(center - right))
            )
            if nearest is None or distance < nearest:
                name, nearest = column, distance
        if name not in values:
            values[name] = segment.text
        elif name == "description":
            values[name] += " " + segment.text
    description = values.get("description", "")
    description = re.sub(r"^\d{1,3}[.)]?\s+", "", description).strip()
    if not description or not re.search(r"[^\W\d_]", description):
        return None
    rate = values.get("tax_rate")
    rate_match = _RATE_PATTERN.search(rate or "")
    return LineItem(
        description=description,
        quantity=_number(values.get("quantity")),
        unit_price=_money(values.get("unit_price")),
        net=_money(values.get("net")),
        tax_rate=(rate_match.group(1) or rate_match.group(2)).replace(",", ".")
        if rate_match
        else None,
        gross=_money(values.get("gross")),
    )


def _number(text: str | None) -> Decimal | None:
    if not text:
        return None
    match = re.search(r"-?\d[\d\s.,]*", text)
    return parse_decimal(match.group(0).strip()) if match else None


def _money(text: str | None) -> Decimal | None:
    if not text:
        return None
    found = find_amounts(text)
    return found[0].value if found else None
