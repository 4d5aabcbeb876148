"""Checking returned wet-ink scans: made here from the issued PDFs, signed, scanned, broken.

Every scan goes through real pypdfium2 rendering, zxing-cpp and Tesseract. The set covers
valid contracts in three languages (turned, shifted, specked, JPEG-compressed, one page
upside down, one with its QR codes destroyed) and the broken ones the issue names; each
verdict is asserted by its exact reason codes, pages and clauses, so an invalid scan
accepted, a valid one rejected or a rejection for the wrong reason all fail.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from backoffice.contracts.generate import generate
from backoffice.contracts.model import IssuedContract
from backoffice.contracts.scan import check_contract
from backoffice.contracts.verdict import ScanVerdict
from PIL import Image, ImageDraw

from tests.contracts import pki, requests, scans

DPI = 200


@dataclass(frozen=True)
class Case:
    issued: IssuedContract
    printed: list[Image.Image]  # the pages as printed, not yet signed

    def signed(self, skip: tuple[str, ...] = ()) -> list[Image.Image]:
        pages = [p.copy() for p in self.printed]
        for box in self.issued.boxes:
            if box.kind not in skip:
                scans.sign(pages[box.page - 1], box, self.issued.page_size[1], DPI, seed=box.page)
        return pages


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    out = {}
    for language in ("pl", "ru", "en"):
        issued = generate(requests.request(language), "contract")
        out[language] = Case(issued, scans.render(issued.pdf, DPI))
    return out


def scanned(pages: list[Image.Image], angles: tuple[float, ...] = (), **kwargs) -> bytes:
    turned = [
        scans.scan(page, angle=angles[i] if i < len(angles) else 0.0, seed=i, **kwargs)
        for i, page in enumerate(pages)
    ]
    return scans.to_pdf(turned, DPI)


def reasons(verdict: ScanVerdict) -> list[tuple[str, int | None, str | None]]:
    return [(r.code, r.page, r.clause) for r in verdict.reasons]


@pytest.mark.parametrize("language", ["pl", "ru", "en"])
def test_signed_scan_turned_shifted_and_noisy_is_valid(
    cases: dict[str, Case], language: str
) -> None:
    case = cases[language]
    data = scanned(case.signed(), angles=(2.5, -3.0), shift=(25, -15), noise=0.002, jpeg_quality=70)
    verdict = check_contract(data, case.issued)
    assert verdict.valid, verdict.to_json()
    assert [p.page for p in verdict.pages] == [1, 2]
    assert [p.found_by for p in verdict.pages] == ["qr", "qr"]
    assert verdict.pages[0].rotation == pytest.approx(2.5, abs=0.4)
    assert verdict.pages[1].rotation == pytest.approx(-3.0, abs=0.4)
    assert all(b.inked for p in verdict.pages for b in p.boxes)
    assert verdict.to_json()["valid"] is True


def test_upside_down_page_and_tiff_instead_of_pdf(cases: dict[str, Case]) -> None:
    case = cases["pl"]
    first, second = case.signed()
    pages = [scans.scan(first, angle=-1.5), scans.scan(second, angle=181.0)]
    tiff = io.BytesIO()
    pages[0].save(tiff, "TIFF", save_all=True, append_images=pages[1:])
    verdict = check_contract(tiff.getvalue(), case.issued)
    assert verdict.valid, verdict.to_json()
    assert verdict.pages[1].rotation == pytest.approx(-179.0, abs=0.5) or verdict.pages[
        1
    ].rotation == pytest.approx(181.0, abs=0.5)


def test_unreadable_qr_codes_fall_back_to_the_printed_id(cases: dict[str, Case]) -> None:
    case = cases["en"]
    pages = case.signed()
    scale = DPI / 72
    height = case.issued.page_size[1]
    draw = ImageDraw.Draw(pages[0])
    for mark in case.issued.qr_marks:
        # A coffee stain over both codes of page 1.
        draw.rectangle(
            (
                mark.x0 * scale,
                (height - mark.y1) * scale,
                mark.x1 * scale,
                (height - mark.y0) * scale,
            ),
            fill=90,
        )
    verdict = check_contract(scanned(pages, angles=(1.0, 0.5)), case.issued)
    assert verdict.valid, verdict.to_json()
    assert [p.found_by for p in verdict.pages] == ["ocr", "qr"]


def test_missing_page(cases: dict[str, Case]) -> None:
    case = cases["pl"]
    verdict = check_contract(scanned(case.signed()[1:], angles=(-2.0,)), case.issued)
    assert reasons(verdict) == [("PAGE_MISSING", 1, None)]
    assert verdict.messages("pl") == ["brakuje strony 1"]
    assert verdict.messages("en") == ["page 1 is missing"]


def test_pages_out_of_order(cases: dict[str, Case]) -> None:
    case = cases["en"]
    first, second = case.signed()
    verdict = check_contract(scanned([second, first], angles=(1.5, -1.0)), case.issued)
    assert reasons(verdict) == [("PAGE_OUT_OF_ORDER", 1, None)]
    assert verdict.reasons[0].order == (2, 1)


def test_duplicated_page(cases: dict[str, Case]) -> None:
    case = cases["ru"]
    first, second = case.signed()
    verdict = check_contract(scanned([first, first, second]), case.issued)
    assert reasons(verdict) == [("PAGE_DUPLICATED", 1, None)]


def test_empty_signature_box(cases: dict[str, Case]) -> None:
    case = cases["ru"]
    verdict = check_contract(
        scanned(case.signed(skip=("signature",)), angles=(2.0, -2.5), noise=0.002, jpeg_quality=60),
        case.issued,
    )
    assert reasons(verdict) == [("SIGNATURE_EMPTY", 2, None)]
    assert verdict.messages("ru") == ["страница 2: поле для подписи не заполнено"]
    assert verdict.messages("en") == ["page 2: the signature box is empty"]
    (signature,) = [b for b in verdict.pages[1].boxes if b.kind == "signature"]
    assert signature.ink < 0.001


def test_missing_initials_and_date(cases: dict[str, Case]) -> None:
    case = cases["pl"]
    verdict = check_contract(
        scanned(case.signed(skip=("initials", "date")), angles=(-2.0, 3.0)), case.issued
    )
    assert reasons(verdict) == [("INITIALS_EMPTY", 1, None), ("DATE_EMPTY", 2, None)]


def test_unsigned_original_sent_back(cases: dict[str, Case]) -> None:
    case = cases["en"]
    verdict = check_contract(case.issued.pdf, case.issued)
    assert reasons(verdict) == [
        ("INITIALS_EMPTY", 1, None),
        ("SIGNATURE_EMPTY", 2, None),
        ("DATE_EMPTY", 2, None),
    ]


def _clause_page(issued: IssuedContract, clause: str) -> int:
    return next(p.number for p in issued.pages for s in p.segments if s.clause == clause)


def test_edited_clause_numbers(cases: dict[str, Case]) -> None:
    case = cases["pl"]
    pages = case.signed()
    page = _clause_page(case.issued, "4.2")
    scans.edit_clause(case.issued, pages[page - 1], page, "terminie 14 dni", "terminie 45 dni")
    verdict = check_contract(scanned(pages, angles=(1.0, -1.5), noise=0.001), case.issued)
    assert reasons(verdict) == [("CLAUSE_CHANGED", page, "4.2")]
    reason = verdict.reasons[0]
    assert "14" in reason.removed and "45" in reason.added
    assert reason.message("en") == f"page {page}: clause 4.2 was changed (“14” → “45”)"
    assert reason.message("pl") == f"strona {page}: zmieniono punkt 4.2 („14” → „45”)"


def test_edited_clause_words(cases: dict[str, Case]) -> None:
    case = cases["en"]
    pages = case.signed()
    page = _clause_page(case.issued, "6.2")
    scans.edit_clause(case.issued, pages[page - 1], page, "Neither party is", "Either party is")
    verdict = check_contract(scanned(pages, angles=(-2.0, 2.0), jpeg_quality=75), case.issued)
    assert reasons(verdict) == [("CLAUSE_CHANGED", page, "6.2")]
    assert verdict.reasons[0].removed == ("Neither",)
    assert verdict.reasons[0].added == ("Either",)


def test_edited_customer_in_the_preamble(cases: dict[str, Case]) -> None:
    case = cases["ru"]
    pages = case.signed()
    scans.edit_clause(case.issued, pages[0], 1, "«Ромашка»", "«Василёк»")
    verdict = check_contract(scanned(pages, angles=(0.8, -0.6)), case.issued)
    assert reasons(verdict) == [("TEXT_CHANGED", 1, None)]
    assert verdict.reasons[0].added == ("«Василёк»,",) or "Василёк" in " ".join(
        verdict.reasons[0].added
    )


def test_page_of_another_version(cases: dict[str, Case]) -> None:
    case = cases["pl"]
    cheaper = generate(requests.request("pl", price="9900.00"), "contract")
    old_first = scans.render(cheaper.pdf, DPI)[0]
    scans.sign(old_first, cheaper.boxes[0], cheaper.page_size[1], DPI)
    verdict = check_contract(scanned([old_first, case.signed()[1]]), case.issued)
    assert reasons(verdict) == [("OTHER_VERSION", 1, None)]


def test_another_contract(cases: dict[str, Case]) -> None:
    other = generate(requests.request("en", contract_id="K-2026-0999"), "contract")
    pages = scans.render(other.pdf, DPI)
    verdict = check_contract(scanned(pages), cases["en"].issued)
    assert [r.code for r in verdict.reasons] == ["OTHER_CONTRACT", "OTHER_CONTRACT"]
    assert verdict.reasons[0].detail == "K-2026-0999"
    assert "another contract" in verdict.messages("en")[0]


def test_not_our_document(cases: dict[str, Case]) -> None:
    stranger = pki.make_pdf(["Faktura VAT nr FV/1/2026", "Sprzedawca: Inna Firma"], pages=2)
    verdict = check_contract(stranger, cases["pl"].issued)
    assert reasons(verdict) == [("NOT_OUR_DOCUMENT", None, None)]
    assert [p.page for p in verdict.pages] == [None, None]


def test_bad_files_have_a_clear_reason(cases: dict[str, Case], tmp_path) -> None:
    issued = cases["pl"].issued
    encrypted = pki.make_pdf(["Umowa"], encrypt="secret")
    assert reasons(check_contract(encrypted, issued)) == [("PDF_ENCRYPTED", None, None)]
    assert reasons(check_contract(b"%PDF-1.7\n garbage", issued)) == [("PDF_DAMAGED", None, None)]
    verdict = check_contract(b"PK\x03\x04 a zip, not a scan", issued)
    assert reasons(verdict) == [("NOT_A_SCAN", None, None)]
    assert verdict.messages("en")[0].startswith("the file is neither a PDF nor an image")
    missing = check_contract(tmp_path / "nowhere.pdf", issued)
    assert reasons(missing) == [("NOT_A_SCAN", None, None)]
    many = scans.to_pdf([Image.new("L", (100, 140), 255)] * 12, 72)
    assert reasons(check_contract(many, issued)) == [("TOO_MANY_PAGES", None, None)]
