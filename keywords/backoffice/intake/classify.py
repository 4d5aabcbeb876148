"""A first, cheap and explainable guess of what an attachment is.

Signals are tried strongest first and the first decisive one wins:

1. structured XML: the root element and namespace (CII, ZUGFeRD 1.0, UBL, KSeF FA, the
   Russian FNS счёт-фактура / УПД, camt.053/054);
2. MT940 statement text;
3. PDF: embedded Factur-X/ZUGFeRD/XRechnung XML; a digital signature plus contract words;
   keywords in the text layer of the first pages;
4. the file name, then the mail's subject and body (images and scans: no OCR here, later
   stages do it), with lower confidence.

Every verdict carries the sentences that led to it, so staff can see why.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import defusedxml.ElementTree as SafeET
import pypdfium2 as pdfium
from defusedxml import DefusedXmlException

from backoffice.intake.parse import Limits
from backoffice.pdfium_lock import serialised

Kind = Literal["invoice", "signed_contract", "bank_statement", "other"]


@dataclass(frozen=True)
class Classification:
    """The guessed kind, how sure we are (0..1) and the evidence in plain sentences."""

    kind: Kind
    confidence: float
    reasons: list[str] = field(default_factory=list)


# --- confidence of each signal -------------------------------------------------------------
CONF_XML = 0.97
CONF_EMBEDDED_XML = 0.95
CONF_MT940 = 0.95
CONF_SIGNED_CONTRACT = 0.9
CONF_TEXT_BASE = 0.6
CONF_TEXT_PER_POINT = 0.05
CONF_TEXT_MAX = 0.9
CONF_NAME = 0.5
CONF_MAIL_CONTEXT = 0.35
CONF_OTHER = 0.5
CONF_UNSIGNED_CONTRACT = 0.45

#: Only the first pages are read: titles are there, and 5,000-page PDFs must stay cheap.
PDF_PAGES_READ = 2
#: Keywords in the first characters of a page (the title) count extra.
TITLE_CHARS = 200
TITLE_BONUS = 2
#: Occurrences of one keyword counted at most this many times.
MAX_HITS_PER_KEYWORD = 3
#: Bytes of plain text (MT940, CSV, TXT) looked at.
TEXT_SNIFF_BYTES = 200_000
#: Embedded XML larger than this is judged by its name only.
MAX_EMBEDDED_XML_BYTES = 10_000_000
#: Minimum text-layer length for a PDF page set to count as "has text" (not a scan).
MIN_TEXT_CHARS = 20
#: A text score needs this many points to beat "other".
MIN_TEXT_SCORE = 2

# --- the keyword table: every word the classifier looks for, in one place ------------------
# (kind, keyword as written, weight, where). Keywords are matched after case-folding and
# removing diacritics (so "wyciąg" = "wyciag", "счёт" = "счет"); "text" keywords are
# searched in document text, subject and body, "name" keywords only as whole tokens of a
# file name (abbreviations such as FV would match everywhere in text). "sign" rows are
# signature evidence that turns contract wording into a signed contract.
KEYWORDS: tuple[tuple[str, str, int, str], ...] = (
    # invoice
    ("invoice", "faktura vat", 3, "text"),
    ("invoice", "faktur", 2, "text"),
    ("invoice", "korekta", 1, "text"),
    ("invoice", "rachunek", 1, "text"),
    ("invoice", "счет-фактура", 3, "text"),
    ("invoice", "счет на оплату", 3, "text"),
    ("invoice", "счет", 1, "text"),
    ("invoice", "упд", 3, "text"),
    ("invoice", "универсальный передаточный документ", 3, "text"),
    ("invoice", "invoice", 2, "text"),
    ("invoice", "credit note", 2, "text"),
    ("invoice", "rechnung", 2, "text"),
    ("invoice", "fv", 2, "name"),
    ("invoice", "inv", 2, "name"),
    ("invoice", "schet", 2, "name"),
    ("invoice", "faktura", 2, "name"),
    ("invoice", "счет", 2, "name"),
    # contract
    ("signed_contract", "umow", 3, "text"),
    ("signed_contract", "договор", 3, "text"),
    ("signed_contract", "contract", 3, "text"),
    ("signed_contract", "agreement", 3, "text"),
    ("signed_contract", "vertrag", 3, "text"),
    ("signed_contract", "dogovor", 2, "name"),
    ("signed_contract", "umowa", 2, "name"),
    # signature evidence
    ("sign", "podpis", 1, "text"),
    ("sign", "подпис", 1, "text"),
    ("sign", "signature", 1, "text"),
    ("sign", "signed", 1, "text"),
    ("sign", "unterschrift", 1, "text"),
    # bank statement
    ("bank_statement", "wyciag", 3, "text"),
    ("bank_statement", "выписка", 3, "text"),
    ("bank_statement", "bank statement", 3, "text"),
    ("bank_statement", "account statement", 3, "text"),
    ("bank_statement", "statement", 1, "text"),
    ("bank_statement", "kontoauszug", 3, "text"),
    ("bank_statement", "saldo poczatkowe", 1, "text"),
    ("bank_statement", "opening balance", 1, "text"),
    ("bank_statement", "входящий остаток", 1, "text"),
    ("bank_statement", "mt940", 3, "name"),
    ("bank_statement", "camt", 3, "name"),
    ("bank_statement", "vypiska", 2, "name"),
)
#: Order used when two kinds score the same.
KIND_ORDER: tuple[Kind, ...] = ("invoice", "bank_statement", "signed_contract")

# --- structured formats ------------------------------------------------------------------------
#: (namespace fragment, root local name) → (kind, description).
XML_ROOTS: tuple[tuple[str, str, Kind, str], ...] = (
    ("CrossIndustryInvoice", "CrossIndustryInvoice", "invoice", "CII CrossIndustryInvoice"),
    (
        "urn:ferd:CrossIndustryDocument",
        "CrossIndustryDocument",
        "invoice",
        "ZUGFeRD 1.0 CrossIndustryDocument",
    ),
    ("ubl:schema:xsd:Invoice-2", "Invoice", "invoice", "UBL Invoice"),
    ("ubl:schema:xsd:CreditNote-2", "CreditNote", "invoice", "UBL CreditNote"),
    ("crd.gov.pl/wzor", "Faktura", "invoice", "KSeF Faktura (FA)"),
    ("camt.053", "Document", "bank_statement", "camt.053"),
    ("camt.054", "Document", "bank_statement", "camt.054"),
    ("camt.052", "Document", "bank_statement", "camt.052"),
)
#: Russian ФНС e-documents: root "Файл", the ИдФайл prefix tells the document type.
FNS_INVOICE_PREFIXES = ("ON_NSCHFDOPPR", "ON_NSCHFDOPPOK", "ON_NKORSCHFDOPPR")
#: ...and so does the КНД of its "Документ" when an EDO operator or 1C named the file its own
#: way: 1115131 счёт-фактура / УПД (formats 5.01-5.03), 1115125 and 1115101 earlier
#: счёт-фактура formats.
FNS_INVOICE_KND = ("1115131", "1115125", "1115101")
FNS_ROOT = "Файл"
FNS_DOCUMENT = "Документ"
#: Elements read before giving up on finding the FNS "Документ" (it follows the sender block).
FNS_DOCUMENT_WITHIN = 20
#: Names of the XML that hybrid PDF e-invoices embed.
EMBEDDED_INVOICE_XML = re.compile(
    r"(factur-?x|zugferd[-_]?invoice|zugferd|xrechnung)\.xml", re.IGNORECASE
)
MT940_TAGS = (":20:", ":25:", ":28c:", ":60f:", ":62f:")
MT940_MIN_TAGS = 4
PDF_SIGNATURE = re.compile(rb"/Type\s*/Sig\b|/FT\s*/Sig\b")
PDF_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[")
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8", b"BM")


def classify(
    filename: str,
    content_type: str,
    data: bytes,
    *,
    subject: str = "",
    body: str = "",
    max_pdf_bytes: int = Limits.max_attachment_bytes,
) -> Classification:
    """Guess whether a file is an invoice, a signed contract, a bank statement or other.

    Never raises on bad input: unreadable XML or PDFs fall back to the file name and the
    mail's subject and body, with a reason saying what could not be read.
    """
    reasons: list[str] = []
    ctype = (content_type or "").lower()
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or ctype.endswith("xml") or filename.lower().endswith(".xml"):
        verdict = _classify_xml(data, reasons)
        if verdict:
            return verdict
    if b"%PDF-" in data[:1024] or ctype == "application/pdf":
        verdict = _classify_pdf(data, max_pdf_bytes, reasons, subject, body, filename)
        if verdict:
            return verdict
    elif head.startswith(IMAGE_MAGIC) or ctype.startswith("image/"):
        reasons.append("it is an image: no text is read at intake (OCR comes later)")
    elif not head.startswith(b"PK") and _looks_like_text(head):
        text = _decode(data[:TEXT_SNIFF_BYTES])
        verdict = _classify_mt940(text) or _classify_text(text, "the text", reasons)
        if verdict:
            return verdict
    return _classify_by_context(filename, subject, body, reasons)


# --- signals ---------------------------------------------------------------------------------


def _classify_xml(data: bytes, reasons: list[str]) -> Classification | None:
    """Root element (and for camt its first child), parsed without DTDs or entities."""
    try:
        root_tag, first_child, attrs = _xml_root(data)
    except (SafeET.ParseError, DefusedXmlException, ValueError, UnicodeError) as exc:
        reasons.append(f"the XML could not be read safely ({type(exc).__name__}: {exc})")
        return None
    namespace, _, local = root_tag.rpartition("}")
    namespace = namespace.lstrip("{")
    for fragment, root_name, kind, label in XML_ROOTS:
        if local == root_name and fragment.lower() in namespace.lower():
            child = f" {first_child}" if first_child and kind == "bank_statement" else ""
            return Classification(kind, CONF_XML, [f"XML root is {label}{child}"])
    if local == FNS_ROOT:
        file_id = attrs.get("ИдФайл", "")
        if file_id.upper().startswith(FNS_INVOICE_PREFIXES):
            return Classification(
                "invoice",
                CONF_XML,
                [f"XML is a Russian FNS e-document {file_id[:14]} (УПД / счёт-фактура)"],
            )
        knd = _fns_document_knd(data)
        if knd in FNS_INVOICE_KND:
            return Classification(
                "invoice",
                CONF_XML,
                [f"XML is a Russian FNS e-document КНД {knd} (УПД / счёт-фактура)"],
            )
    reasons.append(f"XML root {local!r} in namespace {namespace!r} is not a known format")
    return None


def _xml_root(data: bytes) -> tuple[str, str, dict[str, str]]:
    """Tag and attributes of the root and the tag local name of its first child."""
    root_tag = ""
    attrs: dict[str, str] = {}
    for _event, element in SafeET.iterparse(io.BytesIO(data), events=("start",)):
        if not root_tag:
            root_tag = element.tag
            attrs = dict(element.attrib)
            continue
        return root_tag, element.tag.rpartition("}")[2], attrs
    if not root_tag:
        raise ValueError("no root element")
    return root_tag, "", attrs


def _fns_document_knd(data: bytes) -> str:
    """КНД attribute of an FNS file's "Документ" element ("" when there is none early on).

    XML that turns bad before that point is no FNS invoice here; the reader says why later.
    """
    try:
        for index, (_event, element) in enumerate(
            SafeET.iterparse(io.BytesIO(data), events=("start",))
        ):
            if element.tag.rpartition("}")[2] == FNS_DOCUMENT:
                return element.get("КНД", "")
            if index >= FNS_DOCUMENT_WITHIN:
                break
    except (SafeET.ParseError, DefusedXmlException, ValueError, UnicodeError):
        return ""
    return ""


def _classify_mt940(text: str) -> Classification | None:
    """SWIFT MT940: statement lines start with tags such as :20: :25: :60F: :62F:."""
    lines = {line.strip()[:5].lower() for line in text.splitlines()}
    found = [tag for tag in MT940_TAGS if any(line.startswith(tag) for line in lines)]
    if len(found) >= MT940_MIN_TAGS:
        tags = " ".join(tag.upper() for tag in found)
        return Classification("bank_statement", CONF_MT940, [f"MT940 statement lines {tags}"])
    return None


@serialised
def _classify_pdf(
    data: bytes,
    max_bytes: int,
    reasons: list[str],
    subject: str,
    body: str,
    filename: str,
) -> Classification | None:
    """Embedded e-invoice XML, digital signature, then the first pages' text."""
    if len(data) > max_bytes:
        reasons.append(
            f"the PDF is {len(data):,} bytes, over the {max_bytes:,}-byte limit; it was not read"
        )
        return None
    signed = bool(PDF_BYTE_RANGE.search(data) and PDF_SIGNATURE.search(data))
    try:
        pdf = pdfium.PdfDocument(data)
    except (pdfium.PdfiumError, ValueError, OSError) as exc:
        reasons.append(f"the PDF could not be read (encrypted or damaged: {exc})")
        return None
    try:
        embedded = _embedded_invoice_xml(pdf, reasons)
        if embedded:
            return embedded
        text = _pdf_text(pdf, reasons)
    finally:
        pdf.close()
    if not signed:
        # Signature dictionaries may sit in compressed object streams the regex cannot see.
        signed = _pdfium_signature_count(data) > 0
    if len(text.strip()) < MIN_TEXT_CHARS:
        reasons.append(f"the PDF has no text layer on its first {PDF_PAGES_READ} pages (a scan)")
        return None
    scores, evidence = _score(text, "first page text")
    if signed and scores.get("signed_contract", 0):
        return Classification(
            "signed_contract",
            CONF_SIGNED_CONTRACT,
            ["the PDF carries a digital signature (/ByteRange with /Sig)", *evidence],
        )
    verdict = _verdict(scores, evidence, CONF_TEXT_BASE)
    if verdict is None:
        reasons.append(f"the first {PDF_PAGES_READ} pages' text has no decisive keywords")
    elif signed:
        verdict.reasons.append("the PDF carries a digital signature (/ByteRange with /Sig)")
    return verdict


def _embedded_invoice_xml(pdf: pdfium.PdfDocument, reasons: list[str]) -> Classification | None:
    """Factur-X / ZUGFeRD / XRechnung: an invoice XML attached inside the PDF."""
    try:
        count = pdf.count_attachments()
        names = []
        for index in range(count):
            attachment = pdf.get_attachment(index)
            names.append((attachment.get_name(), attachment))
        for name, attachment in names:
            if not EMBEDDED_INVOICE_XML.search(name or ""):
                continue
            reason = f"the PDF embeds {name}"
            data = attachment.get_data()
            if len(data) <= MAX_EMBEDDED_XML_BYTES:
                inner = _classify_xml(bytes(data), [])
                if inner and inner.kind == "invoice":
                    reason += f" ({inner.reasons[0]})"
            return Classification("invoice", CONF_EMBEDDED_XML, [reason])
    except (pdfium.PdfiumError, ValueError, OSError) as exc:
        reasons.append(f"the PDF's embedded files could not be listed ({exc})")
    return None


def _pdf_text(pdf: pdfium.PdfDocument, reasons: list[str]) -> str:
    """Text layer of the first pages only."""
    pieces = []
    try:
        for index in range(min(PDF_PAGES_READ, len(pdf))):
            page = pdf[index]
            textpage = page.get_textpage()
            pieces.append(textpage.get_text_bounded())
            textpage.close()
            page.close()
    except (pdfium.PdfiumError, ValueError, OSError) as exc:
        reasons.append(f"the PDF's text could not be read ({exc})")
    return "\n".join(pieces)


@serialised
def _pdfium_signature_count(data: bytes) -> int:
    """Signature fields PDFium finds (it reads object streams too)."""
    try:
        pdf = pdfium.PdfDocument(data)
    except (pdfium.PdfiumError, ValueError, OSError):
        return 0  # the caller already read this PDF; a second failure adds nothing new
    try:
        return max(int(pdfium.raw.FPDF_GetSignatureCount(pdf.raw)), 0)
    finally:
        pdf.close()


def _classify_text(text: str, where: str, reasons: list[str]) -> Classification | None:
    """Plain text attachments (TXT, CSV) scored like a PDF's text, a little less sure."""
    scores, evidence = _score(text, where)
    return _verdict(scores, evidence, CONF_TEXT_BASE - 2 * CONF_TEXT_PER_POINT)


def _classify_by_context(
    filename: str, subject: str, body: str, reasons: list[str]
) -> Classification:
    """File name first, then the mail around it; always returns a verdict."""
    name_scores, name_evidence = _score_name(filename)
    verdict = _verdict(name_scores, name_evidence, CONF_NAME, cap=CONF_NAME)
    if verdict:
        return Classification(verdict.kind, verdict.confidence, [*verdict.reasons, *reasons])
    for label, text in (("the subject", subject), ("the mail body", body)):
        scores, evidence = _score(text, label, title_bonus=False)
        verdict = _verdict(scores, evidence, CONF_MAIL_CONTEXT, cap=CONF_MAIL_CONTEXT)
        if verdict:
            return Classification(verdict.kind, verdict.confidence, [*verdict.reasons, *reasons])
    return Classification(
        "other",
        CONF_OTHER,
        [*reasons, "no invoice, contract or statement signals in the file, its name or the mail"],
    )


# --- scoring ---------------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Case-folded text without diacritics ("Wyciąg" → "wyciag", "Счёт" → "счет")."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.replace("ł", "l").replace("–", "-").replace("—", "-")


#: KEYWORDS rows with the keyword normalised once: (kind, normalised, weight, where, shown).
_KEYWORDS = [(kind, normalize(word), weight, where, word) for kind, word, weight, where in KEYWORDS]


def _score(
    text: str, where: str, *, title_bonus: bool = True
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Points per kind and (kind, sentence) evidence for the text keywords found."""
    norm = normalize(text)
    title = norm[:TITLE_CHARS]
    scores: dict[str, int] = {}
    evidence: list[tuple[str, str]] = []
    for kind, word, weight, kind_of_row, shown in _KEYWORDS:
        if kind_of_row != "text":
            continue
        hits = min(norm.count(word), MAX_HITS_PER_KEYWORD)
        if not hits:
            continue
        points = weight * hits + (TITLE_BONUS if title_bonus and word in title else 0)
        scores[kind] = scores.get(kind, 0) + points
        evidence.append((kind, f"{where} contains '{shown}'"))
    return scores, evidence


def _score_name(filename: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Points from the file name: whole tokens for abbreviations, substrings otherwise."""
    norm = normalize(filename.rpartition(".")[0] or filename)
    tokens = set(re.split(r"[^\w]+|_", norm))
    scores: dict[str, int] = {}
    evidence: list[tuple[str, str]] = []
    for kind, word, weight, kind_of_row, shown in _KEYWORDS:
        found = word in tokens if kind_of_row == "name" else word in norm
        if found and kind != "sign":
            scores[kind] = scores.get(kind, 0) + weight
            sentence = (kind, f"the file name '{filename}' contains '{shown}'")
            if sentence not in evidence:
                evidence.append(sentence)
    return scores, evidence


def _verdict(
    scores: dict[str, int],
    evidence: Iterable[tuple[str, str]],
    base: float,
    *,
    cap: float = CONF_TEXT_MAX,
) -> Classification | None:
    """The best-scoring kind, its confidence and the sentences that back it."""
    evidence = list(evidence)
    candidates = [kind for kind in KIND_ORDER if scores.get(kind, 0) >= MIN_TEXT_SCORE]
    if not candidates:
        return None
    best = max(candidates, key=lambda kind: (scores[kind], -KIND_ORDER.index(kind)))
    margin = scores[best] - max((scores[k] for k in candidates if k != best), default=0)
    confidence = min(base + CONF_TEXT_PER_POINT * margin, cap)
    reasons = [sentence for kind, sentence in evidence if kind == best]
    if best == "signed_contract":
        signs = [sentence for kind, sentence in evidence if kind == "sign"]
        if signs:
            reasons.extend(signs)
        else:
            confidence = min(confidence, CONF_UNSIGNED_CONTRACT)
            reasons.append("contract wording but no signature found")
    return Classification(best, round(confidence, 2), reasons)


# --- small helpers -------------------------------------------------------------------------


def _looks_like_text(head: bytes) -> bool:
    """No NUL bytes in the first kilobyte: text, not binary."""
    return bool(head) and b"\x00" not in head


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Legacy statements and CSVs from Polish/Russian banks; cp1250 maps every byte
        # we care about closely enough for keyword search.
        return data.decode("cp1250", "replace")
