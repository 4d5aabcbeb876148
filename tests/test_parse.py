"""intake.parse over the bad-input fixtures and the bundled sample mailbox (real files)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from backoffice.intake.parse import (
    Attachment,
    Limits,
    ParsedMessage,
    dedupe_key,
    parse_message,
    safe_filename,
    thread_id,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "mail"
SAMPLES = ROOT / "resources" / "samples" / "mailbox"


def parse(name: str, limits: Limits = Limits()) -> ParsedMessage:  # noqa: B008
    return parse_message((FIXTURES / name).read_bytes(), limits)


def codes(parsed: ParsedMessage) -> set[str]:
    return {p.code for p in parsed.problems}


def build(*attachments: tuple[str, str, bytes]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Tester <tester@example.com>"
    msg["To"] = "intake@example.com"
    msg["Subject"] = "built in the test"
    msg["Message-ID"] = "<built@example.com>"
    msg.set_content("see attachments")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def zip_of(members: list[tuple[str, bytes]], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return out.getvalue()


# --- every fixture is read without an exception ------------------------------------------------

EXPECTED_CODES = {
    "empty.eml": "EMPTY_MESSAGE",
    "not-an-email.eml": "NOT_AN_EMAIL",
    "broken-garbage-boundary.eml": "BROKEN_MIME",
    "broken-missing-end.eml": "BROKEN_MIME",
    "unknown-charset.eml": "UNKNOWN_CHARSET",
    "no-message-id.eml": "MISSING_MESSAGE_ID",
    "unsafe-names.eml": "UNSAFE_FILENAME",
    "zip-bomb.eml": "ZIP_BOMB",
}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda p: p.name)
def test_every_fixture_parses_without_raising(path: Path) -> None:
    parsed = parse_message(path.read_bytes())
    assert parsed.message_id.startswith("<") and parsed.message_id.endswith(">")
    expected = EXPECTED_CODES.get(path.name)
    if expected in ("EMPTY_MESSAGE", "NOT_AN_EMAIL"):
        assert parsed.fatal is not None and parsed.fatal.code == expected
        assert parsed.attachments == []
        assert parsed.message_id_synthetic
    elif expected:
        assert parsed.fatal is None
        assert expected in codes(parsed), parsed.problems
    for problem in [*parsed.problems, parsed.fatal]:
        if problem is not None:
            assert problem.code.isupper() and problem.message.endswith(".")


def test_whitespace_only_is_empty() -> None:
    assert parse_message(b" \r\n\t\n").fatal.code == "EMPTY_MESSAGE"


@pytest.mark.parametrize("raw", [b"%PDF-1.7\n%\xe2\xe3", b"hello world\nno headers", b"\x00" * 50])
def test_non_mail_is_not_an_email(raw: bytes) -> None:
    assert parse_message(raw).fatal.code == "NOT_AN_EMAIL"


def test_broken_mime_keeps_what_it_can() -> None:
    parsed = parse("broken-missing-end.eml")
    assert parsed.body_text == "Hello, invoice attached."
    assert [a.filename for a in parsed.attachments] == ["faktura.pdf"]
    assert parsed.attachments[0].data.startswith(b"%PDF")
    sample = parse_message((SAMPLES / "08-broken-truncated.eml").read_bytes())
    assert "BROKEN_MIME" in codes(sample)
    assert sample.subject == "Korekta faktury 5/2024"


# --- charsets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "subject", "body"),
    [
        ("windows-1250.eml", "Faktura za usługi – Łódź", "Zażółć gęślą jaźń. Proszę o zapłatę"),
        ("koi8-r.eml", "Счёт на оплату N 17", "Добрый день! Высылаем счёт на оплату."),
        ("iso-8859-2.eml", "Wyciąg bankowy", "Wyciąg z rachunku za maj, saldo końcowe."),
    ],
)
def test_legacy_charsets_decode(name: str, subject: str, body: str) -> None:
    parsed = parse(name)
    assert parsed.subject == subject
    assert parsed.body_text.startswith(body)
    assert parsed.problems == []


def test_unknown_charset_is_best_effort() -> None:
    parsed = parse("unknown-charset.eml")
    assert parsed.body_text == "Faktura płatna"
    assert "x-no-such-charset" in parsed.problems[0].message


def test_russian_sample_body_in_windows_1251() -> None:
    parsed = parse_message((SAMPLES / "05-schet-faktura-ru.eml").read_bytes())
    assert parsed.subject == "Счёт-фактура № 245 от 14.05.2024"
    assert "Направляем счёт-фактуру № 245" in parsed.body_text
    assert parsed.sender_name == "ООО «Северный Ветер»"
    assert parsed.attachments[0].filename == "Счёт-фактура_245.pdf"


# --- headers ----------------------------------------------------------------------------------


def test_headers_of_a_sample() -> None:
    parsed = parse_message((SAMPLES / "06-contract-signed-en.eml").read_bytes())
    assert parsed.message_id == "<sample-06.20240515@mail.example>"
    assert not parsed.message_id_synthetic
    assert parsed.sender == "john.smith@northwind-analytics.example"
    assert parsed.sender_name == "John Smith"
    assert parsed.recipients == ["umowy@baltic-trade.example", "faktury@baltic-trade.example"]
    assert parsed.sent_at == datetime(2024, 5, 13, 14, 20, tzinfo=UTC)
    assert parsed.in_reply_to == "<offer-CT-2024-0042@baltic-trade.example>"
    assert parsed.references == ["<offer-CT-2024-0042@baltic-trade.example>"]
    assert thread_id(parsed) == "<offer-CT-2024-0042@baltic-trade.example>"
    assert parsed.headers["DKIM-Signature"] == "absent"
    assert parsed.headers["X-Mailer"] == "make_samples.py"


def test_missing_message_id_is_synthetic_and_stable() -> None:
    first, second = parse("no-message-id.eml"), parse("no-message-id.eml")
    assert first.message_id_synthetic
    assert first.message_id.endswith("@backoffice.invalid>")
    assert first.message_id == second.message_id
    assert thread_id(first) == first.message_id


def test_oversized_message_is_fatal_but_headers_are_read() -> None:
    raw = (SAMPLES / "01-faktura-pdf.eml").read_bytes()
    parsed = parse_message(raw, Limits(max_message_bytes=1000))
    assert parsed.fatal.code == "MESSAGE_TOO_LARGE"
    assert f"{len(raw):,}" in parsed.fatal.message
    assert parsed.subject == "Faktura VAT FV/2024/05/0117"
    assert parsed.attachments == []


# --- attachments and names ------------------------------------------------------------------


def test_unsafe_names_are_sanitised_and_kept() -> None:
    parsed = parse("unsafe-names.eml")
    by_original = {a.original_filename: a for a in parsed.attachments}
    expected = {
        "../../etc/passwd": "passwd",
        "C:\\Windows\\x.exe": "x.exe",
        "..": "attachment-4.bin",
        "faktura\u202efdp.exe": "fakturafdp.exe",
        "....": "attachment-6.bin",
        "nul\x00byte.pdf": "nulbyte.pdf",
    }
    for original, safe in expected.items():
        attachment = by_original[original]
        assert attachment.filename == safe
        assert attachment.data is not None
        assert attachment.problem.code == "UNSAFE_FILENAME"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("faktura.pdf", "faktura.pdf"),
        ("/etc/shadow", "shadow"),
        (".htaccess", "htaccess"),
        ("CON.txt", "_CON.txt"),
        ("a<b>c?.pdf", "a_b_c_.pdf"),
        ("", "fallback.bin"),
        ("   ", "fallback.bin"),
        ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
        ("ж" * 200 + ".pdf", "ж" * 118 + ".pdf"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name, "fallback.bin") == safe
    assert len(safe_filename(name, "fallback.bin").encode()) <= 240


def test_rfc2231_and_encoded_word_names() -> None:
    parsed = parse("rfc2231-names.eml")
    assert [a.filename for a in parsed.attachments] == [
        "Faktura zaliczkowa Łódź.pdf",
        "Счёт № 17.pdf",
        "Umowa_podpisana_żółw.pdf",
    ]
    assert all(a.problem is None for a in parsed.attachments)


def test_nested_forward_descends_and_skips_the_wrapper() -> None:
    parsed = parse("nested-forward.eml")
    assert [(a.part_path, a.filename) for a in parsed.attachments] == [
        ("2/2", "faktura_9_2024.pdf")
    ]
    assert parsed.body_text == "Przesyłam dalej."


def test_forward_without_files_is_kept_as_eml() -> None:
    inner = EmailMessage()
    inner["Subject"] = "just text"
    inner.set_content("nothing attached")
    outer = EmailMessage()
    outer["From"] = "a@example.com"
    outer["Message-ID"] = "<outer@example.com>"
    outer.set_content("fwd")
    outer.add_attachment(inner)
    parsed = parse_message(outer.as_bytes())
    assert [(a.part_path, a.filename, a.content_type) for a in parsed.attachments] == [
        ("2", "forwarded.eml", "message/rfc822")
    ]
    assert b"nothing attached" in parsed.attachments[0].data


def test_nesting_limit() -> None:
    raw = (FIXTURES / "nested-forward.eml").read_bytes()
    parsed = parse_message(raw, Limits(max_nesting=0))
    assert parsed.attachments[0].problem.code == "NESTING_TOO_DEEP"
    assert parsed.attachments[0].data is not None


def test_oversized_attachment_is_not_kept() -> None:
    raw = build(("big.pdf", "application/pdf", b"%PDF" + b"x" * 5000))
    parsed = parse_message(raw, Limits(max_attachment_bytes=1000))
    attachment = parsed.attachments[0]
    assert attachment.data is None
    assert attachment.problem.code == "ATTACHMENT_TOO_LARGE"
    assert "5,004 bytes" in attachment.problem.message


def test_too_many_attachments_reported_once() -> None:
    raw = build(*[(f"f{i}.pdf", "application/pdf", f"%PDF-{i}".encode()) for i in range(5)])
    parsed = parse_message(raw, Limits(max_attachments=3))
    assert len(parsed.attachments) == 3
    assert [p.code for p in parsed.problems] == ["TOO_MANY_ATTACHMENTS"]


def test_inline_image_without_name_gets_a_fallback_name() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg.set_content("logo below")
    msg.add_related(b"\x89PNG\r\n\x1a\nxx", maintype="image", subtype="png", cid="<logo>")
    parsed = parse_message(msg.as_bytes())
    assert parsed.attachments[0].filename.startswith("attachment-")
    assert parsed.attachments[0].filename.endswith(".png")


# --- zips --------------------------------------------------------------------------------------


def test_zip_with_two_pdfs_is_unpacked() -> None:
    parsed = parse("zip-two-pdfs.eml")
    assert [(a.part_path, a.filename) for a in parsed.attachments] == [
        ("2/invoices/a.pdf", "a.pdf"),
        ("2/invoices/b.pdf", "b.pdf"),
    ]
    assert all(a.content_type == "application/pdf" for a in parsed.attachments)
    assert all(a.data.startswith(b"%PDF") for a in parsed.attachments)


def test_zip_bomb_is_caught_by_the_ratio() -> None:
    parsed = parse("zip-bomb.eml")
    (member,) = parsed.attachments
    assert member.data is None
    assert member.problem.code == "ZIP_BOMB"
    assert "1,029:1" in member.problem.message


def test_lying_zip_header_is_caught_while_reading() -> None:
    """A member whose header understates its size cannot get past the actual-bytes guard."""
    payload = bytes(3_000_000)
    archive = bytearray(zip_of([("zeros.bin", payload)]))
    info = zipfile.ZipFile(io.BytesIO(bytes(archive))).infolist()[0]
    # Patch the declared size in both headers to look harmless (1 MB of a 3 MB member).
    fake = (1_000_000).to_bytes(4, "little")
    local = archive.index(b"PK\x03\x04")
    archive[local + 22 : local + 26] = fake
    central = archive.index(b"PK\x01\x02")
    archive[central + 24 : central + 28] = fake
    assert info.compress_size < 10_000
    parsed = parse_message(build(("z.zip", "application/zip", bytes(archive))))
    (member,) = parsed.attachments
    assert member.data is None
    assert member.problem.code in ("ZIP_BOMB", "ZIP_CORRUPT")


def test_zip_limits_total_members_and_slip() -> None:
    archive = zip_of(
        [
            ("../../evil.pdf", b"%PDF-evil"),
            ("dir/", b""),
            ("ok/a.txt", b"a" * 10),
            ("ok/b.txt", b"b" * 10),
        ]
    )
    parsed = parse_message(build(("arch.zip", "application/octet-stream", archive)))
    paths = [a.part_path for a in parsed.attachments]
    assert paths == ["2/evil.pdf", "2/ok/a.txt", "2/ok/b.txt"]
    assert parsed.attachments[0].problem.code == "UNSAFE_FILENAME"
    limited = parse_message(
        build(("arch.zip", "application/zip", archive)), Limits(zip_max_members=2)
    )
    assert len(limited.attachments) == 2
    assert "ZIP_TOO_MANY_MEMBERS" in codes(limited)
    big = zip_of([(f"f{i}.txt", bytes([65 + i]) * 400_000) for i in range(3)])
    total = parse_message(
        build(("big.zip", "application/zip", big)), Limits(zip_max_total_bytes=1_000_000)
    )
    assert [a.data is not None for a in total.attachments] == [True, True, False]
    assert total.attachments[2].problem.code == "ZIP_BOMB"


def test_encrypted_and_corrupt_zips() -> None:
    archive = bytearray(zip_of([("secret.pdf", b"%PDF-secret")], method=zipfile.ZIP_STORED))
    archive[6] |= 0x1  # general-purpose flag bit 0 in the local header: encrypted
    central = archive.index(b"PK\x01\x02")
    archive[central + 8] |= 0x1
    parsed = parse_message(build(("s.zip", "application/zip", bytes(archive))))
    assert parsed.attachments[0].problem.code == "ZIP_ENCRYPTED"
    assert parsed.attachments[0].data is None
    corrupt = parse_message(build(("c.zip", "application/zip", b"PK\x03\x04garbage")))
    assert corrupt.attachments[0].problem.code == "ZIP_CORRUPT"
    assert corrupt.attachments[0].data == b"PK\x03\x04garbage"


def test_nested_zip_and_office_documents() -> None:
    inner = zip_of([("deep.pdf", b"%PDF-deep")])
    outer = zip_of([("inner.zip", inner), ("report.docx", b"PK\x03\x04not unpacked")])
    parsed = parse_message(build(("o.zip", "application/zip", outer)))
    assert [a.part_path for a in parsed.attachments] == ["2/inner.zip/deep.pdf", "2/report.docx"]
    shallow = parse_message(build(("o.zip", "application/zip", outer)), Limits(max_nesting=1))
    assert shallow.attachments[0].problem.code == "NESTING_TOO_DEEP"


# --- dedupe ------------------------------------------------------------------------------------


def test_dedupe_key_stable_and_sensitive_to_attachments() -> None:
    raw = (SAMPLES / "01-faktura-pdf.eml").read_bytes()
    key = dedupe_key(parse_message(raw))
    assert key == dedupe_key(parse_message(raw))
    assert len(key) == 64
    changed = parse_message(raw)
    changed.attachments[0] = Attachment("2", "x.pdf", "x.pdf", "application/pdf", b"%PDF-other")
    assert dedupe_key(changed) != key
    reordered = build(("a.pdf", "application/pdf", b"1"), ("b.pdf", "application/pdf", b"2"))
    swapped = build(("b.pdf", "application/pdf", b"2"), ("a.pdf", "application/pdf", b"1"))
    assert dedupe_key(parse_message(reordered)) == dedupe_key(parse_message(swapped))


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.eml")), ids=lambda p: p.name)
def test_samples_parse(path: Path) -> None:
    parsed = parse_message(path.read_bytes())
    assert parsed.fatal is None
    assert parsed.sender and parsed.subject and parsed.sent_at is not None
    assert len(parsed.attachments) == 1
    assert parsed.attachments[0].data
