"""Bad input ends as a result with a clear problem code and sentence, never as an exception.

Each kind the issue names: an encrypted PDF, a truncated PDF, a 3,000-page PDF, an image
decompression bomb, XML with external entities and with entity expansion (billion laughs,
also inside a PDF as its Factur-X attachment), a non-invoice PDF. The last test reads all of
them in one process and then a good invoice: the reader goes on and reads it right.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from backoffice.invoices import corpus, extract
from backoffice.invoices.limits import Limits
from PIL import Image
from pypdf import PdfReader, PdfWriter

from tests.invoices.helpers import write_text_pdf
from tests.invoices.test_xml import BILLION_LAUGHS, XXE


def _codes(path: Path, limits: Limits | None = None) -> list[str]:
    return [problem.code for problem in extract(path, limits).problems]


def test_encrypted_pdf(tmp_path: Path, rng: random.Random) -> None:
    plain, _ = write_text_pdf(tmp_path, rng, "pl", "classic")
    writer = PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password="secret", algorithm="AES-256")
    path = tmp_path / "encrypted.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    assert _codes(path) == ["PDF_ENCRYPTED"]


def test_truncated_pdf(tmp_path: Path, rng: random.Random) -> None:
    plain, _ = write_text_pdf(tmp_path, rng, "en", "classic")
    path = tmp_path / "truncated.pdf"
    path.write_bytes(plain.read_bytes()[:600])
    assert "PDF_TRUNCATED" in _codes(path)


def test_pdf_cut_short_near_its_end_is_flagged(tmp_path: Path, rng: random.Random) -> None:
    plain, invoice = write_text_pdf(tmp_path, rng, "pl", "classic")
    data = plain.read_bytes()
    path = tmp_path / "cut-near-end.pdf"
    path.write_bytes(data[: len(data) - 200])
    result = extract(path)
    # pdfium rebuilds the cross-reference table, so the pages still read; the cut is said.
    assert "PDF_TRUNCATED" in [p.code for p in result.problems]
    assert result.value("invoice_number") in (invoice.number, None)


def _three_thousand_pages(tmp_path: Path) -> Path:
    writer = PdfWriter()
    for _ in range(3000):
        writer.add_blank_page(595, 842)
    path = tmp_path / "huge.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def test_three_thousand_pages_are_refused_unread(tmp_path: Path) -> None:
    result = extract(_three_thousand_pages(tmp_path))
    assert [p.code for p in result.problems] == ["TOO_MANY_PAGES"]
    assert "3000 pages" in result.problems[0].message
    # Refused from the page count alone: no page was OCRed (none has text).
    assert result.fields == {}
    assert result.source is None


def test_image_bomb(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000), 1).save(path)
    assert path.stat().st_size < 100_000  # 100 million pixels in a few kilobytes
    assert _codes(path) == ["IMAGE_TOO_LARGE"]


def test_image_bomb_beyond_pillows_own_guard(tmp_path: Path) -> None:
    # Above twice the pixel limit Pillow itself refuses to open the image.
    path = tmp_path / "bigger-bomb.png"
    Image.new("1", (12_000, 12_000), 1).save(path)
    result = extract(path)
    assert [p.code for p in result.problems] == ["IMAGE_TOO_LARGE"]
    assert "bomb" in result.problems[0].message or "pixels" in result.problems[0].message


def _with_attachment(tmp_path: Path, rng: random.Random, xml: bytes) -> tuple[Path, object]:
    plain, invoice = write_text_pdf(tmp_path, rng, "en", "classic")
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.add_attachment("factur-x.xml", xml)
    path = tmp_path / "hostile-facturx.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    return path, invoice


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_xml_inside_a_pdf_is_refused_and_the_text_read(
    tmp_path: Path, rng: random.Random, payload: bytes
) -> None:
    path, invoice = _with_attachment(tmp_path, rng, payload)
    result = extract(path)
    unsafe = [p for p in result.problems if p.code == "XML_UNSAFE"]
    assert unsafe and "factur-x.xml" in unsafe[0].message
    assert result.source.value == "text"
    assert result.value("invoice_number") == invoice.number
    assert result.value("total_gross") == invoice.gross


def test_page_rendering_bomb(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(14_400, 14_400)  # 200 x 200 inches, no text layer
    path = tmp_path / "giant-page.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    assert _codes(path) == ["IMAGE_TOO_LARGE"]


def test_truncated_image(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("L", (800, 600), 255).save(buffer, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[:300])
    assert _codes(path) == ["UNSUPPORTED_FILE"]


def test_not_an_invoice(tmp_path: Path) -> None:
    canvas = corpus.Canvas()
    canvas.text(40, 60, "Dear colleagues, the meeting moves to Tuesday at ten.", 11)
    canvas.text(40, 80, "Please bring the quarterly plan and your questions about it.", 11)
    path = tmp_path / "letter.pdf"
    path.write_bytes(canvas.finish())
    result = extract(path)
    assert result.kind.value == "not_invoice"
    assert "NOT_AN_INVOICE" in [p.code for p in result.problems]


def test_unknown_file_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01garbage")
    assert _codes(path) == ["UNSUPPORTED_FILE"]
    assert _codes(tmp_path / "nope.pdf") == ["UNSUPPORTED_FILE"]


def test_file_size_limit(tmp_path: Path) -> None:
    rng = random.Random(1)
    plain, _ = write_text_pdf(tmp_path, rng, "pl", "classic")
    assert _codes(plain, Limits(max_file_bytes=100)) == ["FILE_TOO_LARGE"]


def test_reading_goes_on_after_every_kind_of_bad_input(tmp_path: Path, rng: random.Random) -> None:
    bad = {}
    plain, _ = write_text_pdf(tmp_path, rng, "pl", "classic")
    writer = PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password="secret", algorithm="AES-256")
    bad["PDF_ENCRYPTED"] = tmp_path / "encrypted.pdf"
    with bad["PDF_ENCRYPTED"].open("wb") as handle:
        writer.write(handle)
    bad["PDF_TRUNCATED"] = tmp_path / "truncated.pdf"
    bad["PDF_TRUNCATED"].write_bytes(plain.read_bytes()[:600])
    bad["TOO_MANY_PAGES"] = _three_thousand_pages(tmp_path)
    bad["IMAGE_TOO_LARGE"] = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000), 1).save(bad["IMAGE_TOO_LARGE"])
    for name, payload in (("xxe", XXE), ("laughs", BILLION_LAUGHS)):
        bad[f"XML_UNSAFE {name}"] = tmp_path / f"{name}.xml"
        bad[f"XML_UNSAFE {name}"].write_bytes(payload)
    canvas = corpus.Canvas()
    canvas.text(40, 60, "Minutes of the board meeting held on Tuesday in the main office.", 11)
    bad["NOT_AN_INVOICE"] = tmp_path / "minutes.pdf"
    bad["NOT_AN_INVOICE"].write_bytes(canvas.finish())
    for expected, path in bad.items():
        result = extract(path)
        code = expected.split()[0]
        assert code in [p.code for p in result.problems], (path.name, result.problems)
        # A clear reason: a sentence for staff, never an exception text or a traceback.
        for problem in result.problems:
            assert len(problem.message) > 15 and "Traceback" not in problem.message
    good, invoice = write_text_pdf(tmp_path, rng, "ru", "ru_schet")
    result = extract(good)
    assert result.problems == [] or all(p.code != "READ_FAILED" for p in result.problems)
    assert result.value("invoice_number") == invoice.number
    assert result.value("total_gross") == invoice.gross
