"""Bad input ends as a result with a clear problem code, quickly, never as an exception."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

from backoffice.invoices import corpus, extract
from backoffice.invoices.limits import Limits
from PIL import Image
from pypdf import PdfWriter

from tests.invoices.helpers import write_text_pdf


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


def test_three_thousand_pages_are_refused_quickly(tmp_path: Path) -> None:
    writer = PdfWriter()
    for _ in range(3000):
        writer.add_blank_page(595, 842)
    path = tmp_path / "huge.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    started = time.perf_counter()
    codes = _codes(path)
    assert codes == ["TOO_MANY_PAGES"]
    assert time.perf_counter() - started < 5


def test_image_bomb(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000), 1).save(path)
    assert _codes(path) == ["IMAGE_TOO_LARGE"]


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
