"""The verdict on a returned scan of a contract: reasons with a code, page, clause and words.

Each reason carries its sentence in Polish, Russian and English, so the correction email goes
out in the customer's language and staff read it in theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backoffice.contracts.model import BoxKind, Language

# Reason codes, UPPER_SNAKE like every problem code of the suite.
NOT_A_SCAN = "NOT_A_SCAN"
PDF_ENCRYPTED = "PDF_ENCRYPTED"
PDF_DAMAGED = "PDF_DAMAGED"
IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
TOO_MANY_PAGES = "TOO_MANY_PAGES"
NOT_OUR_DOCUMENT = "NOT_OUR_DOCUMENT"
OTHER_CONTRACT = "OTHER_CONTRACT"
OTHER_VERSION = "OTHER_VERSION"
PAGE_UNIDENTIFIED = "PAGE_UNIDENTIFIED"
PAGE_MISSING = "PAGE_MISSING"
PAGE_DUPLICATED = "PAGE_DUPLICATED"
PAGE_OUT_OF_ORDER = "PAGE_OUT_OF_ORDER"
SIGNATURE_EMPTY = "SIGNATURE_EMPTY"
INITIALS_EMPTY = "INITIALS_EMPTY"
DATE_EMPTY = "DATE_EMPTY"
CLAUSE_CHANGED = "CLAUSE_CHANGED"
TEXT_CHANGED = "TEXT_CHANGED"

EMPTY_BOX_CODES: dict[BoxKind, str] = {
    "signature": SIGNATURE_EMPTY,
    "initials": INITIALS_EMPTY,
    "date": DATE_EMPTY,
}

# {page}, {clause}, {words}, {order}, {detail}, {scan_page} are filled from the reason.
MESSAGES: dict[str, dict[Language, str]] = {
    NOT_A_SCAN: {
        "pl": "plik nie jest ani PDF-em, ani obrazem ({detail})",
        "ru": "файл не является ни PDF, ни изображением ({detail})",
        "en": "the file is neither a PDF nor an image ({detail})",
    },
    PDF_ENCRYPTED: {
        "pl": "PDF jest zabezpieczony hasłem; prosimy przesłać kopię bez hasła",
        "ru": "PDF защищён паролем; пришлите, пожалуйста, копию без пароля",
        "en": "the PDF is password-protected; please send a copy without a password",
    },
    PDF_DAMAGED: {
        "pl": "PDF jest uszkodzony i nie da się go otworzyć ({detail})",
        "ru": "PDF повреждён и не открывается ({detail})",
        "en": "the PDF is damaged and cannot be opened ({detail})",
    },
    IMAGE_TOO_LARGE: {
        "pl": "obraz jest zbyt duży do sprawdzenia ({detail})",
        "ru": "изображение слишком велико для проверки ({detail})",
        "en": "the image is too large to check ({detail})",
    },
    TOO_MANY_PAGES: {
        "pl": "dokument ma za dużo stron ({detail})",
        "ru": "в документе слишком много страниц ({detail})",
        "en": "the document has too many pages ({detail})",
    },
    NOT_OUR_DOCUMENT: {
        "pl": "to nie jest nasza umowa: na żadnej stronie nie ma jej kodu QR ani numeru",
        "ru": "это не наш договор: ни на одной странице нет его QR-кода или номера",
        "en": "this is not our contract: no page carries its QR code or number",
    },
    OTHER_CONTRACT: {
        "pl": "strona {scan_page} skanu pochodzi z innej umowy ({detail})",
        "ru": "страница {scan_page} скана относится к другому договору ({detail})",
        "en": "page {scan_page} of the scan belongs to another contract ({detail})",
    },
    OTHER_VERSION: {
        "pl": "strona {page} pochodzi z innej wersji umowy; prosimy podpisać aktualną wersję",
        "ru": "страница {page} относится к другой редакции договора; подпишите актуальную",
        "en": "page {page} is from another version of the contract; please sign the current one",
    },
    PAGE_UNIDENTIFIED: {
        "pl": "strona {scan_page} skanu nie należy do umowy albo jest nieczytelna",
        "ru": "страница {scan_page} скана не относится к договору или нечитаема",
        "en": "page {scan_page} of the scan is not part of the contract or cannot be read",
    },
    PAGE_MISSING: {
        "pl": "brakuje strony {page}",
        "ru": "отсутствует страница {page}",
        "en": "page {page} is missing",
    },
    PAGE_DUPLICATED: {
        "pl": "strona {page} występuje więcej niż raz",
        "ru": "страница {page} встречается несколько раз",
        "en": "page {page} appears more than once",
    },
    PAGE_OUT_OF_ORDER: {
        "pl": "strona {page} jest w złej kolejności (kolejność w skanie: {order})",
        "ru": "страница {page} стоит не на своём месте (порядок в скане: {order})",
        "en": "page {page} is out of order (order in the scan: {order})",
    },
    SIGNATURE_EMPTY: {
        "pl": "strona {page}: pole podpisu jest puste",
        "ru": "страница {page}: поле для подписи не заполнено",
        "en": "page {page}: the signature box is empty",
    },
    INITIALS_EMPTY: {
        "pl": "strona {page}: brak parafy",
        "ru": "страница {page}: нет инициалов (парафа)",
        "en": "page {page}: the initials box is empty",
    },
    DATE_EMPTY: {
        "pl": "strona {page}: nie wpisano daty podpisania",
        "ru": "страница {page}: не указана дата подписания",
        "en": "page {page}: the date of signing is not filled in",
    },
    CLAUSE_CHANGED: {
        "pl": "strona {page}: zmieniono punkt {clause} ({words})",
        "ru": "страница {page}: изменён пункт {clause} ({words})",
        "en": "page {page}: clause {clause} was changed ({words})",
    },
    TEXT_CHANGED: {
        "pl": "strona {page}: zmieniono tekst umowy ({words})",
        "ru": "страница {page}: изменён текст договора ({words})",
        "en": "page {page}: the contract text was changed ({words})",
    },
}
_ARROW = " → "
_QUOTES: dict[Language, tuple[str, str]] = {"pl": ("„", "”"), "ru": ("«", "»"), "en": ("“", "”")}
_NOTHING: dict[Language, str] = {"pl": "nic", "ru": "ничего", "en": "nothing"}


@dataclass(frozen=True)
class Reason:
    """One thing wrong with the returned contract.

    ``page`` is the contract's page number (None when the reason is about the file or a page
    that could not be identified, then ``scan_page`` is its position in the scan); ``clause``
    the clause number ("4.2"); ``removed``/``added`` the words the OCR diff found changed.
    """

    code: str
    page: int | None = None
    clause: str | None = None
    scan_page: int | None = None
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    detail: str = ""
    order: tuple[int, ...] = ()

    def message(self, language: Language) -> str:
        """The sentence for the customer or staff, in ``language`` (pl, ru or en)."""
        template = MESSAGES[self.code][language]
        return template.format(
            page=self.page,
            clause=self.clause,
            scan_page=self.scan_page,
            detail=self.detail,
            order=", ".join(map(str, self.order)),
            words=self._words(language),
        )

    def _words(self, language: Language) -> str:
        left, right = _QUOTES[language]
        before = f"{left}{' '.join(self.removed)}{right}" if self.removed else _NOTHING[language]
        after = f"{left}{' '.join(self.added)}{right}" if self.added else _NOTHING[language]
        return f"{before}{_ARROW}{after}"

    def to_json(self) -> dict[str, Any]:
        """JSON form: code, page, clause, scan_page, words, and the message in pl/ru/en."""
        return {
            "code": self.code,
            "page": self.page,
            "clause": self.clause,
            "scan_page": self.scan_page,
            "removed": list(self.removed),
            "added": list(self.added),
            "messages": {lang: self.message(lang) for lang in ("pl", "ru", "en")},
        }


@dataclass(frozen=True)
class BoxCheck:
    """How much ink one box holds (share of its inner area, printed frame ignored)."""

    kind: BoxKind
    ink: float
    inked: bool

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"kind": self.kind, "ink": round(self.ink, 4), "inked": self.inked}


@dataclass(frozen=True)
class PageCheck:
    """What was found on one page of the scan (``scan_page`` counts from 1 in scan order)."""

    scan_page: int
    page: int | None
    found_by: str | None
    rotation: float | None = None
    boxes: tuple[BoxCheck, ...] = ()
    words_read: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "scan_page": self.scan_page,
            "page": self.page,
            "found_by": self.found_by,
            "rotation": None if self.rotation is None else round(self.rotation, 2),
            "boxes": [b.to_json() for b in self.boxes],
            "words_read": self.words_read,
        }


@dataclass(frozen=True)
class ScanVerdict:
    """The verdict on one returned scan: valid when there is no reason against it."""

    contract_id: str
    language: Language
    reasons: tuple[Reason, ...] = ()
    pages: tuple[PageCheck, ...] = field(default=())

    @property
    def valid(self) -> bool:
        """Every page present and in order, every box filled, the text unchanged."""
        return not self.reasons

    @property
    def codes(self) -> list[str]:
        """The reason codes, in order."""
        return [r.code for r in self.reasons]

    def messages(self, language: Language | None = None) -> list[str]:
        """The reasons as sentences (default: the contract's language)."""
        return [r.message(language or self.language) for r in self.reasons]

    def to_json(self) -> dict[str, Any]:
        """JSON form: contract_id, valid, reasons, pages."""
        return {
            "contract_id": self.contract_id,
            "kind": "scan",
            "valid": self.valid,
            "reasons": [r.to_json() for r in self.reasons],
            "pages": [p.to_json() for p in self.pages],
        }
