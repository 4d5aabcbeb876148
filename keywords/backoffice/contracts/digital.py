"""The verdict on a digitally signed (PAdES) returned contract: signed well, by the customer,
and what was signed is the contract we issued.

``verify_signatures`` (pyHanko) says whether each signature is intact, trusted and covers the
document; this module adds what only we know: who the customer is and what we issued. The
text of every page is read back (pypdfium2) from the revision each signature covers and from
the document as it arrived, and compared clause by clause with the issued contract, so an
edit made before signing, or an incremental update after it, is named by page and clause.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, ClassVar

import pypdfium2 as pdfium
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import EmbeddedPdfSignature

from backoffice.contracts import signatures as sig
from backoffice.contracts import verdict as codes
from backoffice.contracts.model import IssuedContract, Language, Party
from backoffice.contracts.signatures import (
    Revocation,
    SignatureReport,
    signer_matches,
    verify_signatures,
)
from backoffice.contracts.verdict import Reason
from backoffice.pdfium_lock import serialised

log = logging.getLogger(__name__)

SIGNER_MISMATCH = "SIGNER_MISMATCH"
PAGE_COUNT_CHANGED = "PAGE_COUNT_CHANGED"
NO_TRUST_ROOTS = "NO_TRUST_ROOTS"

#: Signature problems a person must look at rather than the customer fix.
UNCLEAR = frozenset({sig.REVOCATION_UNKNOWN, NO_TRUST_ROOTS})

# Sentences for the customer (and staff) per signature problem; {detail} is filled in.
MESSAGES: dict[str, dict[Language, str]] = {
    sig.NOT_A_PDF: {
        "pl": "plik nie jest dokumentem PDF ({detail})",
        "ru": "файл не является документом PDF ({detail})",
        "en": "the file is not a PDF ({detail})",
    },
    sig.FILE_UNREADABLE: {
        "pl": "pliku nie da się odczytać",
        "ru": "файл не читается",
        "en": "the file cannot be read",
    },
    sig.NO_SIGNATURE: {
        "pl": "dokument nie ma podpisu elektronicznego",
        "ru": "в документе нет электронной подписи",
        "en": "the document carries no digital signature",
    },
    sig.SIGNATURE_MALFORMED: {
        "pl": "podpis elektroniczny jest uszkodzony i nie da się go odczytać; prosimy podpisać "
        "umowę ponownie",
        "ru": "электронная подпись повреждена и не читается; подпишите договор заново",
        "en": "the digital signature is damaged and cannot be read; please sign the contract again",
    },
    sig.SIGNATURE_BROKEN: {
        "pl": "podpis elektroniczny jest nieważny: dokument zmieniono po podpisaniu",
        "ru": "электронная подпись недействительна: документ изменён после подписания",
        "en": "the digital signature is invalid: the document was changed after signing",
    },
    sig.NOT_WHOLE_DOCUMENT: {
        "pl": "podpis nie obejmuje całego dokumentu",
        "ru": "подпись распространяется не на весь документ",
        "en": "the signature does not cover the whole document",
    },
    sig.MODIFIED_AFTER_SIGNING: {
        "pl": "dokument zmieniono po złożeniu podpisu",
        "ru": "документ изменён после подписания",
        "en": "the document was changed after it was signed",
    },
    sig.UNTRUSTED_CHAIN: {
        "pl": "certyfikat podpisu nie pochodzi od zaufanego dostawcy; prosimy użyć podpisu "
        "kwalifikowanego",
        "ru": "сертификат подписи выдан не доверенным удостоверяющим центром; используйте "
        "квалифицированную подпись",
        "en": "the signing certificate is not from a trusted provider; please use a qualified "
        "signature",
    },
    sig.CERT_EXPIRED: {
        "pl": "certyfikat podpisu wygasł",
        "ru": "срок действия сертификата подписи истёк",
        "en": "the signing certificate has expired",
    },
    sig.CERT_NOT_YET_VALID: {
        "pl": "certyfikat podpisu nie był jeszcze ważny",
        "ru": "сертификат подписи ещё не действовал",
        "en": "the signing certificate was not yet valid",
    },
    sig.CERT_REVOKED: {
        "pl": "certyfikat podpisu został unieważniony",
        "ru": "сертификат подписи отозван",
        "en": "the signing certificate was revoked",
    },
    sig.REVOCATION_UNKNOWN: {
        "pl": "nie udało się sprawdzić, czy certyfikat podpisu nie został unieważniony",
        "ru": "не удалось проверить, не отозван ли сертификат подписи",
        "en": "whether the signing certificate was revoked could not be checked",
    },
    NO_TRUST_ROOTS: {
        "pl": "brak skonfigurowanych zaufanych certyfikatów głównych",
        "ru": "не настроены доверенные корневые сертификаты",
        "en": "no trusted root certificates are configured",
    },
    SIGNER_MISMATCH: {
        "pl": "umowę podpisała inna osoba ({detail}); prosimy o podpis Zamawiającego",
        "ru": "договор подписан другим лицом ({detail}); нужна подпись Заказчика",
        "en": "the contract was signed by someone else ({detail}); it must be signed by the "
        "customer",
    },
    PAGE_COUNT_CHANGED: {
        "pl": "podpisany dokument ma {detail} stron zamiast wysłanych",
        "ru": "в подписанном документе {detail} страниц вместо отправленных",
        "en": "the signed document has {detail} pages, not the ones we sent",
    },
}


@dataclass(frozen=True)
class DigitalReason(Reason):
    """A reason about a digitally signed document; its sentences come from this module
    (signature problems) or from the scan verdict's (changed clauses, other version)."""

    messages_table: ClassVar[dict[str, dict[Language, str]]] = MESSAGES

    def message(self, language: Language) -> str:
        """The sentence in ``language``."""
        template = self.messages_table.get(self.code)
        if template is None:
            return super().message(language)
        return template[language].format(page=self.page, detail=self.detail)


@dataclass(frozen=True)
class DigitalVerdict:
    """The verdict on one digitally signed returned contract."""

    contract_id: str
    language: Language
    report: SignatureReport
    reasons: tuple[Reason, ...] = ()
    signer: str | None = None
    signing_time: datetime | None = None
    compared: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        """Validly signed, by the customer, over the contract we issued."""
        return not self.reasons

    @property
    def codes(self) -> list[str]:
        """The reason codes, in order."""
        return [r.code for r in self.reasons]

    @property
    def unclear(self) -> bool:
        """A person must decide (revocation unknown, nothing configured to trust)."""
        return any(r.code in UNCLEAR for r in self.reasons)

    def messages(self, language: Language | None = None) -> list[str]:
        """The reasons as sentences (default: the contract's language)."""
        return [r.message(language or self.language) for r in self.reasons]

    def to_json(self) -> dict[str, Any]:
        """JSON form: the signature report plus our reasons."""
        return {
            "contract_id": self.contract_id,
            "kind": "digital",
            "valid": self.valid,
            "signer": self.signer,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "reasons": [r.to_json() for r in self.reasons],
            "signature": self.report.to_json(),
            "compared_revisions": list(self.compared),
        }


def is_signed_pdf(data: bytes) -> bool:
    """Whether the file is a PDF with at least one filled signature field (even a broken
    one): then it is checked as a digitally signed contract, not as a scan."""
    if b"%PDF-" not in data[:1024]:
        return False
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypt_dict is not None:
            return b"/ByteRange" in data
        return any(True for _ in enumerate_sig_fields(reader, filled_status=True))
    # A damaged file: it is checked as a signed one when it plainly tried to be.
    except Exception:
        return b"/ByteRange" in data


def check_signed_contract(
    data: bytes,
    issued: IssuedContract,
    *,
    trust_roots: Sequence[Path | bytes],
    revocation: Revocation = "soft",
    crls: Sequence[bytes] = (),
    fetch_revocation: bool = False,
    at: datetime | None = None,
) -> DigitalVerdict:
    """Check a digitally signed returned contract against ``issued``; never raises on a bad file.

    Valid when every signature is valid (pyHanko), one of them is the customer's (name,
    email or tax ID in the certificate), and the text of every page, in each signed
    revision and in the document as received, is the text we issued.
    """
    report = verify_signatures(
        data,
        trust_roots=trust_roots,
        at=at,
        revocation=revocation,
        crls=crls,
        fetch_revocation=fetch_revocation,
    )
    reasons: list[Reason] = []
    seen: set[str] = set()
    if not trust_roots:
        reasons.append(DigitalReason(NO_TRUST_ROOTS))
    for problem in report.all_problems:
        if problem.blocking and problem.code not in seen:
            seen.add(problem.code)
            code = problem.code if problem.code in MESSAGES else sig.SIGNATURE_MALFORMED
            reasons.append(DigitalReason(code, detail=problem.message))
    signatures = [s for s in report.signatures if s.kind == "signature"]
    customer = _customer_signature(signatures, issued.customer)
    if signatures and customer is None:
        names = ", ".join(filter(None, (_common_name(s) for s in signatures))) or "?"
        reasons.append(DigitalReason(SIGNER_MISMATCH, detail=names))

    compared: list[str] = []
    text_reasons: list[Reason] = []
    for label, revision in _revisions(data):
        compared.append(label)
        for reason in _compare(revision, issued):
            if reason not in text_reasons:
                text_reasons.append(reason)
    reasons.extend(text_reasons)
    chosen = customer or (signatures[0] if signatures else None)
    return DigitalVerdict(
        contract_id=issued.contract_id,
        language=issued.language,
        report=report,
        reasons=tuple(reasons),
        signer=chosen.signer if chosen else None,
        signing_time=chosen.signing_time if chosen else None,
        compared=tuple(compared),
    )


def _customer_signature(signatures: list[Any], customer: Party) -> Any | None:
    # Any one of name, email or tax/personal ID identifies the customer: a company's
    # contract is often signed by its director, whose certificate names the company's NIP.
    # Validity is judged (and reported) on its own; here only who signed counts.
    for signature in sorted(signatures, key=lambda s: not s.valid):
        if (
            signer_matches(signature, name=customer.name)
            or signer_matches(signature, email=customer.email)
            or signer_matches(signature, tax_id=customer.tax_id)
        ):
            return signature
    return None


def _common_name(signature: Any) -> str:
    cert = signature.certificate
    if cert is None:
        return ""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else (signature.signer or "")


def _revisions(data: bytes) -> list[tuple[str, bytes]]:
    """Each signed revision (the file up to the end of its signature's byte range) and the
    whole file, deduplicated; what cannot be read is simply not compared."""
    out: dict[bytes, str] = {}
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypt_dict is not None:
            reader.decrypt(b"")
        for name, _value, sig_field in enumerate_sig_fields(reader, filled_status=True):
            try:
                byte_range = [
                    int(n) for n in EmbeddedPdfSignature(reader, sig_field, name).byte_range
                ]
            # The sender's signature dictionary may be garbage; pyHanko's verdict names it.
            except Exception as exc:
                log.debug("signature %s: byte range unreadable: %s", name, exc)
                continue
            if len(byte_range) == 4 and 0 < byte_range[2] + byte_range[3] <= len(data):
                out.setdefault(data[: byte_range[2] + byte_range[3]], f"signed:{name}")
    except Exception as exc:
        log.debug("signed revisions unreadable: %s", exc)
    out.setdefault(data, "received")
    return [(label, revision) for revision, label in out.items()]


@serialised
def _compare(pdf: bytes, issued: IssuedContract) -> list[Reason]:
    """Page by page, clause by clause: the text of ``pdf`` against the issued contract."""
    try:
        document = pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError:
        return []  # pyHanko's verdict already says the file is damaged or encrypted
    try:
        reasons: list[Reason] = []
        if len(document) != issued.page_count:
            reasons.append(DigitalReason(PAGE_COUNT_CHANGED, detail=str(len(document))))
        for page in issued.pages[: len(document)]:
            textpage = document[page.number - 1].get_textpage()
            for segment in page.segments:
                rect = segment.rect
                found = " ".join(
                    textpage.get_text_bounded(rect.x0, rect.y0, rect.x1, rect.y1).split()
                )
                if _words(found) == _words(segment.text):
                    continue
                removed, added = _diff(segment.text, found)
                code = codes.CLAUSE_CHANGED if segment.clause else codes.TEXT_CHANGED
                reasons.append(
                    Reason(
                        code, page=page.number, clause=segment.clause, removed=removed, added=added
                    )
                )
        return reasons
    finally:
        document.close()


_WORD = re.compile(r"\S+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _diff(issued: str, found: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    old, new = _words(issued), _words(found)
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += old[i1:i2]
            added += new[j1:j2]
    return tuple(removed[:20]), tuple(added[:20])
