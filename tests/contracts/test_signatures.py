"""The signature verdict over real PAdES signatures made with pyHanko and a generated PKI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backoffice.contracts.signatures import (
    SignatureReport,
    TrustRootError,
    signer_matches,
    verify_signatures,
)
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from tests.contracts import pki

CONTRACT_TEXT = ["Umowa nr K-2026-0042", "Zażółć gęślą jaźń", "Договор оказания услуг"]


@dataclass(frozen=True)
class World:
    """One PKI and the documents signed under it, built once per module (keys are slow-ish)."""

    root: pki.Identity
    other_root: pki.Identity
    jan: pki.Identity
    anna: pki.Identity
    expired: pki.Identity
    stranger: pki.Identity
    revoked: pki.Identity
    tsa: pki.Identity
    crl: bytes
    unsigned: bytes
    signed: bytes


@pytest.fixture(scope="module")
def world() -> World:
    now = datetime.now(UTC)
    root = pki.make_ca("Test Root CA")
    intermediate = pki.make_ca("Test Signing CA", issuer=root)
    other_root = pki.make_ca("Somebody Else's Root")
    jan = pki.make_signer(
        "Jan Kowalski",
        intermediate,
        email="jan.kowalski@firma.example",
        serial_number="PNOPL-80010112345",
        organization_identifier="VATPL-5260250274",
    )
    revoked = pki.make_signer("Revoked Signer", intermediate)
    unsigned = pki.make_pdf(CONTRACT_TEXT, pages=2)
    return World(
        root=root,
        other_root=other_root,
        jan=jan,
        anna=pki.make_signer("Anna Nowak", intermediate, email="anna@firma.example"),
        expired=pki.make_signer(
            "Old Signer",
            intermediate,
            not_before=now - timedelta(days=730),
            not_after=now - timedelta(days=365),
        ),
        stranger=pki.make_signer("Mallory", other_root),
        revoked=revoked,
        tsa=pki.make_signer("Test TSA", root, time_stamping=True),
        crl=pki.make_crl(intermediate, [revoked]),
        unsigned=unsigned,
        signed=pki.sign_pdf(unsigned, jan),
    )


def verify(world: World, data: bytes, **kwargs) -> SignatureReport:
    kwargs.setdefault("trust_roots", [world.root.pem])
    return verify_signatures(data, **kwargs)


def codes(report: SignatureReport) -> set[str]:
    return {p.code for p in report.all_problems}


def test_valid_trusted_signature(world: World) -> None:
    report = verify(world, world.signed)
    assert report.signed and report.valid, report.to_json()
    (sig,) = report.signatures
    assert sig.field == "Signature1"
    assert sig.intact and sig.trusted and sig.covers_whole_document
    assert not sig.modified_after_signing
    assert sig.problems == ()
    assert "CN=Jan Kowalski" in (sig.signer or "")
    assert sig.signing_time is not None and sig.signing_time.utcoffset() == timedelta(0)
    assert abs(sig.signing_time - datetime.now(UTC)) < timedelta(minutes=10)


def test_trust_root_as_path_and_der(world: World, tmp_path: Path) -> None:
    pem = tmp_path / "root.pem"
    pem.write_bytes(world.other_root.pem + world.root.pem)
    assert verify(world, world.signed, trust_roots=[pem]).valid
    assert verify(world, world.signed, trust_roots=[world.root.der]).valid
    with pytest.raises(TrustRootError):
        verify(world, world.signed, trust_roots=[b"not a certificate"])


def test_path_input(world: World, tmp_path: Path) -> None:
    path = tmp_path / "contract.pdf"
    path.write_bytes(world.signed)
    assert verify_signatures(path, trust_roots=[world.root.pem]).valid


def test_flipped_byte_in_signed_range_breaks_the_signature(world: World) -> None:
    data = bytearray(world.signed)
    at = data.index(b"ReportLab")
    data[at] ^= 0x01
    report = verify(world, bytes(data))
    assert report.signed and not report.valid
    (sig,) = report.signatures
    assert not sig.intact
    assert "SIGNATURE_BROKEN" in codes(report)


def _replace_page_text(pdf: bytes) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref, _resources = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    stream = generic.StreamObject(stream_data=b"BT /F1 12 Tf 60 780 Td (Kwota: 1 PLN) Tj ET")
    page["/Contents"] = writer.add_object(stream)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_changed_page_after_signing_is_modified_and_invalid(world: World) -> None:
    report = verify(world, _replace_page_text(world.signed))
    assert report.signed and not report.valid
    (sig,) = report.signatures
    assert sig.intact, "the signed revision itself is untouched"
    assert sig.modified_after_signing
    assert "MODIFIED_AFTER_SIGNING" in codes(report)


def test_second_signature_is_a_permitted_addition(world: World) -> None:
    twice = pki.sign_pdf(world.signed, world.anna, field_name="Signature2")
    report = verify(world, twice)
    assert report.valid, report.to_json()
    first, second = report.signatures
    assert (first.field, second.field) == ("Signature1", "Signature2")
    assert first.valid and not first.modified_after_signing
    assert [p.code for p in first.problems] == ["ADDED_AFTER_SIGNING"]
    assert second.problems == ()
    assert signer_matches(second, name="anna nowak", email="ANNA@firma.example")


def test_trusted_timestamp_gives_the_signing_time(world: World) -> None:
    stamped_at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    signed = pki.sign_pdf(
        world.unsigned, world.jan, timestamper=pki.time_stamper(world.tsa, stamped_at)
    )
    (sig,) = verify(world, signed).signatures
    assert sig.valid, sig.to_json()
    assert sig.signing_time == stamped_at


def test_document_timestamp_is_permitted_but_not_a_signature(world: World) -> None:
    stamper = pki.time_stamper(world.tsa)
    report = verify(world, pki.add_document_timestamp(world.signed, stamper))
    assert report.valid, report.to_json()
    signature, timestamp = report.signatures
    assert signature.kind == "signature" and timestamp.kind == "timestamp"
    assert [p.code for p in signature.problems] == ["ADDED_AFTER_SIGNING"]
    assert timestamp.valid and "CN=Test TSA" in (timestamp.signer or "")

    only_stamped = verify(world, pki.add_document_timestamp(world.unsigned, stamper))
    assert not only_stamped.signed and not only_stamped.valid
    assert [p.code for p in only_stamped.problems] == ["NO_SIGNATURE"]


def test_unsigned_pdf_has_no_signature(world: World) -> None:
    report = verify(world, world.unsigned)
    assert not report.signed and not report.valid
    assert [p.code for p in report.problems] == ["NO_SIGNATURE"]
    assert report.signatures == ()


def test_removed_signature_is_no_signature(world: World) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(world.signed), strict=False)
    form = writer.root["/AcroForm"]
    for field_ref in form["/Fields"]:
        field = field_ref.get_object()
        del field["/V"]
        writer.update_container(field)
    out = io.BytesIO()
    writer.write(out)
    report = verify(world, out.getvalue())
    assert not report.signed and not report.valid
    assert codes(report) == {"NO_SIGNATURE"}


def test_untrusted_root(world: World) -> None:
    report = verify(world, pki.sign_pdf(world.unsigned, world.stranger))
    (sig,) = report.signatures
    assert sig.intact and not sig.trusted and not report.valid
    assert "UNTRUSTED_CHAIN" in codes(report)
    # No trust roots at all: nothing is trusted, the operating system's list is not used.
    assert "UNTRUSTED_CHAIN" in codes(verify_signatures(world.signed))


def test_expired_signer(world: World) -> None:
    report = verify(world, pki.sign_pdf(world.unsigned, world.expired))
    assert not report.valid
    assert "CERT_EXPIRED" in codes(report)


def test_validation_time_after_expiry(world: World) -> None:
    later = datetime.now(UTC) + timedelta(days=400)
    report = verify(world, world.signed, at=later)
    assert "CERT_EXPIRED" in codes(report) and not report.valid
    with pytest.raises(ValueError, match="aware"):
        verify(world, world.signed, at=datetime(2026, 1, 1))


def test_revoked_signer_with_offline_crl(world: World) -> None:
    signed = pki.sign_pdf(world.unsigned, world.revoked)
    assert verify(world, signed).valid, "revocation off: the CRL is not consulted"
    report = verify(world, signed, revocation="soft", crls=[world.crl])
    assert "CERT_REVOKED" in codes(report) and not report.valid
    assert verify(world, signed, revocation="soft").valid, "soft: no CRL at hand is accepted"
    good = verify(world, world.signed, revocation="hard", crls=[world.crl])
    assert good.valid, good.to_json()


def test_hard_revocation_without_information(world: World) -> None:
    report = verify(world, world.signed, revocation="hard")
    assert not report.valid
    (sig,) = report.signatures
    assert sig.intact and sig.covers_whole_document and not sig.trusted
    assert [p.code for p in sig.problems] == ["REVOCATION_UNKNOWN"]


def test_malformed_signature_dictionary(world: World) -> None:
    start = world.signed.index(b"/Contents <") + len(b"/Contents <")
    end = world.signed.index(b">", start)
    garbage = b"0badc0de" * ((end - start) // 8) + b"0" * ((end - start) % 8)
    data = world.signed[:start] + garbage + world.signed[end:]
    report = verify(world, data)
    assert report.signed and not report.valid
    assert "SIGNATURE_MALFORMED" in codes(report)


def test_malformed_byte_range(world: World) -> None:
    start = world.signed.index(b"/ByteRange [") + len(b"/ByteRange [")
    end = world.signed.index(b"]", start)
    numbers = world.signed[start:end].split()
    numbers[0] = b"1"
    patched = b" ".join(numbers).ljust(end - start)
    report = verify(world, world.signed[:start] + patched + world.signed[end:])
    assert report.signed and not report.valid
    assert codes(report) & {"SIGNATURE_MALFORMED", "SIGNATURE_BROKEN", "NOT_WHOLE_DOCUMENT"}


def test_encrypted_pdf(world: World) -> None:
    report = verify(world, pki.make_pdf(CONTRACT_TEXT, encrypt="secret"))
    assert [p.code for p in report.problems] == ["PDF_ENCRYPTED"]
    assert not report.valid


def test_pdf_encrypted_with_an_empty_user_password_is_opened(world: World) -> None:
    # Owner-password-only PDFs open for everybody, so they are checked, not refused.
    from reportlab.lib.pdfencrypt import StandardEncryption

    data = pki.make_pdf(CONTRACT_TEXT, encrypt=StandardEncryption("", ownerPassword="owner"))
    assert [p.code for p in verify(world, data).problems] == ["NO_SIGNATURE"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "NOT_A_PDF"),
        (b"", "NOT_A_PDF"),
        (b"%PDF-1.7\n garbage without any structure", "PDF_DAMAGED"),
    ],
)
def test_not_a_pdf(world: World, data: bytes, code: str) -> None:
    report = verify(world, data)
    assert [p.code for p in report.problems] == [code]
    assert not report.signed and not report.valid
    assert report.problems[0].message


def test_truncated_signed_pdf(world: World) -> None:
    report = verify(world, world.signed[: len(world.signed) // 2])
    assert not report.valid
    assert report.all_problems


def test_signer_matches(world: World) -> None:
    (sig,) = verify(world, world.signed).signatures
    assert signer_matches(sig, name="Jan  KOWALSKI")
    assert signer_matches(sig, email="Jan.Kowalski@firma.example")
    assert signer_matches(sig, tax_id="PL 526-025-02-74")
    assert signer_matches(sig, tax_id="80010112345")
    assert signer_matches(sig, name="Jan Kowalski", tax_id="5260250274")
    assert not signer_matches(sig, name="Anna Nowak")
    assert not signer_matches(sig, name="Jan Kowalski", tax_id="1234567890")
    assert not signer_matches(sig, email="jan@other.example")
    assert not signer_matches(sig)


def test_json_contract(world: World) -> None:
    result = verify(world, world.signed).to_json()
    assert list(result) == ["signed", "valid", "signatures", "problems"]
    assert list(result["signatures"][0]) == [
        "field",
        "signer",
        "intact",
        "trusted",
        "covers_whole_document",
        "modified_after_signing",
        "signing_time",
        "valid",
        "problems",
    ]
    json.dumps(result)


def test_cli_verify_signature_json(world: World, tmp_path: Path) -> None:
    contract = tmp_path / "contract.pdf"
    contract.write_bytes(pki.sign_pdf(world.unsigned, world.stranger))
    root = tmp_path / "root.pem"
    root.write_bytes(world.root.pem)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "backoffice.cli",
            "verify-signature",
            str(contract),
            "--trust",
            str(root),
            "--revocation",
            "off",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert list(result) == ["signed", "valid", "signatures", "problems"]
    assert result["signed"] is True and result["valid"] is False
    (sig,) = result["signatures"]
    assert sig["trusted"] is False
    assert {p["code"] for p in sig["problems"]} == {"UNTRUSTED_CHAIN"}
    assert set(sig) == {
        "field",
        "signer",
        "intact",
        "trusted",
        "covers_whole_document",
        "modified_after_signing",
        "signing_time",
        "valid",
        "problems",
    }
