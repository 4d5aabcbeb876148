"""The verdict on a digitally signed (PAdES) contract: is each signature intact, trusted, whole?

Built on pyHanko, which does what a PDF signature check needs and a CMS library alone does
not: it reads the exact ``/ByteRange`` each signature covers, tells whether that range is the
whole revision, and runs a *difference analysis* over every incremental update written after
the signature, so a later second signature or form filling is told apart from a changed page.

``verify_signatures`` never raises on a bad document: whatever is wrong with the file (not a
PDF, encrypted, a garbled signature dictionary) ends as a :class:`Problem` with an
UPPER_SNAKE code. Only bad *configuration* (an unreadable trust root, a naive ``at``) raises.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.crypt.api import AuthStatus
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel, SuspiciousModification
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentTimestampStatus,
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    SignatureCoverageLevel,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko_certvalidator import ValidationContext

from backoffice.errors import ConfigurationError

logger = logging.getLogger(__name__)

Revocation = Literal["off", "soft", "hard"]

# Problem codes. The ones in BLOCKING make a signature (or the document) invalid; the others
# are reported so a person can see them but do not, by themselves, reject the contract.
NOT_A_PDF = "NOT_A_PDF"
PDF_DAMAGED = "PDF_DAMAGED"
PDF_ENCRYPTED = "PDF_ENCRYPTED"
FILE_UNREADABLE = "FILE_UNREADABLE"
NO_SIGNATURE = "NO_SIGNATURE"
SIGNATURE_MALFORMED = "SIGNATURE_MALFORMED"
SIGNATURE_BROKEN = "SIGNATURE_BROKEN"
NOT_WHOLE_DOCUMENT = "NOT_WHOLE_DOCUMENT"
MODIFIED_AFTER_SIGNING = "MODIFIED_AFTER_SIGNING"
UNTRUSTED_CHAIN = "UNTRUSTED_CHAIN"
CERT_EXPIRED = "CERT_EXPIRED"
CERT_NOT_YET_VALID = "CERT_NOT_YET_VALID"
CERT_REVOKED = "CERT_REVOKED"
REVOCATION_UNKNOWN = "REVOCATION_UNKNOWN"
ADDED_AFTER_SIGNING = "ADDED_AFTER_SIGNING"

BLOCKING = frozenset(
    {
        NOT_A_PDF,
        PDF_DAMAGED,
        PDF_ENCRYPTED,
        FILE_UNREADABLE,
        NO_SIGNATURE,
        SIGNATURE_MALFORMED,
        SIGNATURE_BROKEN,
        NOT_WHOLE_DOCUMENT,
        MODIFIED_AFTER_SIGNING,
        UNTRUSTED_CHAIN,
        CERT_EXPIRED,
        CERT_NOT_YET_VALID,
        CERT_REVOKED,
        REVOCATION_UNKNOWN,
    }
)

# Changes pyHanko's difference analysis accepts after a signature without touching what was
# signed: LTV data and document timestamps, further signatures, form values.
_PERMITTED_LEVELS = (
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
)

_LEGACY_REVOCATION_MODE = {"off": "none", "soft": "soft-fail", "hard": "hard-fail"}

# A PDF header may legally sit after some junk, but only within the first 1024 bytes.
_HEADER_WINDOW = 1024


# Names for the subject attributes qualified certificates carry (RFC 4514 knows only a few).
_ATTRIBUTE_NAMES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "SN",
}


class TrustRootError(ConfigurationError):
    """A configured trust root is not a readable X.509 certificate (PEM or DER)."""

    code = "TRUST_ROOT_UNREADABLE"


@dataclass(frozen=True)
class Problem:
    """Why a signature or a document is not (fully) acceptable; ``code`` is UPPER_SNAKE."""

    code: str
    message: str

    @property
    def blocking(self) -> bool:
        """True when this problem alone makes the verdict invalid."""
        return self.code in BLOCKING

    def to_json(self) -> dict[str, str]:
        """JSON form of the contract."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class SignatureVerdict:
    """One signature field's verdict.

    ``covers_whole_document``: the signed byte range is the whole revision it signs (nothing
    but the signature value itself left out). ``modified_after_signing``: a later incremental
    update changes what was signed (pyHanko's difference analysis found more than LTV data,
    further signatures or form filling). Permitted later additions are listed as
    ``ADDED_AFTER_SIGNING`` in ``problems`` and leave the signature valid.
    """

    field: str
    signer: str | None
    intact: bool
    trusted: bool
    covers_whole_document: bool
    modified_after_signing: bool
    signing_time: datetime | None
    problems: tuple[Problem, ...] = ()
    certificate: x509.Certificate | None = None
    #: "timestamp" for a document timestamp (/DocTimeStamp): checked like a signature, but
    #: it proves when, not who, so it never makes a document "signed" on its own.
    kind: Literal["signature", "timestamp"] = "signature"

    @property
    def valid(self) -> bool:
        """Intact, trusted, whole, unmodified and without any blocking problem."""
        return (
            self.intact
            and self.trusted
            and self.covers_whole_document
            and not self.modified_after_signing
            and not any(p.blocking for p in self.problems)
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form of the contract (times as ISO 8601 UTC)."""
        return {
            "field": self.field,
            "signer": self.signer,
            "intact": self.intact,
            "trusted": self.trusted,
            "covers_whole_document": self.covers_whole_document,
            "modified_after_signing": self.modified_after_signing,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "valid": self.valid,
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass(frozen=True)
class SignatureReport:
    """The verdict on one file: its signatures and the problems of the document itself."""

    signatures: tuple[SignatureVerdict, ...] = ()
    problems: tuple[Problem, ...] = field(default=())

    @property
    def signed(self) -> bool:
        """At least one filled signature field (even a malformed one), timestamps aside."""
        return any(s.kind == "signature" for s in self.signatures)

    @property
    def valid(self) -> bool:
        """Signed, every signature valid, and no blocking problem with the document."""
        return (
            self.signed
            and all(s.valid for s in self.signatures)
            and not any(p.blocking for p in self.problems)
        )

    @property
    def all_problems(self) -> tuple[Problem, ...]:
        """Document problems first, then each signature's (for correction requests)."""
        return self.problems + tuple(p for s in self.signatures for p in s.problems)

    def to_json(self) -> dict[str, Any]:
        """JSON form of the contract: signed, valid, signatures, problems."""
        return {
            "signed": self.signed,
            "valid": self.valid,
            "signatures": [s.to_json() for s in self.signatures],
            "problems": [p.to_json() for p in self.problems],
        }


def verify_signatures(
    path_or_bytes: Path | str | bytes,
    *,
    trust_roots: Sequence[Path | bytes] = (),
    at: datetime | None = None,
    revocation: Revocation = "off",
    crls: Sequence[bytes] = (),
    fetch_revocation: bool = False,
) -> SignatureReport:
    """Check every signature in a PDF and say, with reasons, whether the document is validly signed.

    ``trust_roots``: PEM/DER certificates (paths or bytes; a PEM file may hold several) that a
    signer's chain must end in; none means nothing is trusted. ``at``: the aware time to
    validate certificates at (default now). ``revocation``: "off" skips revocation checks;
    "soft" uses what is at hand and accepts "unknown"; "hard" rejects a certificate whose
    declared revocation source cannot be checked. ``crls`` are DER CRLs to use offline;
    ``fetch_revocation`` allows network look-ups of CRL/OCSP (off by default and in tests).

    Never raises on a bad document; raises :class:`TrustRootError` for an unreadable trust
    root and ``ValueError`` for a naive ``at`` or an unknown ``revocation`` mode.
    """
    if at is not None and at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime")
    if revocation not in _LEGACY_REVOCATION_MODE:
        raise ValueError(f"revocation must be off, soft or hard, not {revocation!r}")
    roots = _load_trust_roots(trust_roots)

    try:
        data = (
            path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
        )
    except OSError as exc:
        return SignatureReport(
            problems=(Problem(FILE_UNREADABLE, f"cannot read the file: {_reason(exc)}"),)
        )
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        return SignatureReport(problems=(Problem(NOT_A_PDF, _not_a_pdf_message(data)),))

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypt_dict is not None and not _open_encrypted(reader):
            return SignatureReport(
                problems=(
                    Problem(
                        PDF_ENCRYPTED,
                        "the PDF is password-protected; send a copy without a password",
                    ),
                )
            )
        fields = list(enumerate_sig_fields(reader, filled_status=True))
    # pyHanko raises a range of errors (PdfReadError, KeyError, ValueError, ...) on broken
    # structure; all of them mean the same to the sender: the file is damaged.
    except Exception as exc:
        logger.info("unreadable PDF structure", exc_info=exc)
        return SignatureReport(
            problems=(Problem(PDF_DAMAGED, f"the PDF structure cannot be read: {_reason(exc)}"),)
        )
    if not fields:
        return SignatureReport(
            problems=(Problem(NO_SIGNATURE, "the document carries no digital signature"),)
        )

    verdicts = tuple(
        _verify_field(
            reader,
            name,
            sig_field,
            roots=roots,
            at=at,
            revocation=revocation,
            crls=crls,
            fetch=fetch_revocation,
        )
        for name, _value, sig_field in fields
    )
    if not any(v.kind == "signature" for v in verdicts):
        return SignatureReport(
            signatures=verdicts,
            problems=(Problem(NO_SIGNATURE, "the document carries only timestamps, no signature"),),
        )
    return SignatureReport(signatures=verdicts)


def signer_matches(
    signature: SignatureVerdict,
    *,
    name: str | None = None,
    email: str | None = None,
    tax_id: str | None = None,
) -> bool:
    """Whether the signer's certificate names this customer; every given criterion must match.

    ``name`` is compared with the subject CN (case and spacing ignored); ``email`` with the
    subject emailAddress or a SAN rfc822Name (case ignored); ``tax_id`` with the digits of the
    subject serialNumber / organizationIdentifier (``VATPL-1234567890``, ``PNOPL-…``,
    ``INNRU-…``, or bare digits), so "PL 123-456-78-90" matches "VATPL-1234567890".
    A signature without a readable certificate matches nothing.
    """
    cert = signature.certificate
    if cert is None or (name is None and email is None and tax_id is None):
        return False
    subject = cert.subject
    if name is not None:
        names = {_fold(v) for v in _attributes(subject, NameOID.COMMON_NAME)}
        if _fold(name) not in names:
            return False
    if email is not None:
        emails = {e.lower() for e in _attributes(subject, NameOID.EMAIL_ADDRESS)}
        emails |= {e.lower() for e in _san_emails(cert)}
        if email.strip().lower() not in emails:
            return False
    if tax_id is not None:
        wanted = _digits(tax_id)
        ids = _attributes(subject, NameOID.SERIAL_NUMBER) + _attributes(
            subject, NameOID.ORGANIZATION_IDENTIFIER
        )
        if not wanted or wanted not in {_digits(i) for i in ids}:
            return False
    return True


def _verify_field(
    reader: PdfFileReader,
    name: str,
    sig_field: Any,
    *,
    roots: list[asn1_x509.Certificate],
    at: datetime | None,
    revocation: Revocation,
    crls: Sequence[bytes],
    fetch: bool,
) -> SignatureVerdict:
    def malformed(message: str, certificate: x509.Certificate | None = None) -> SignatureVerdict:
        return SignatureVerdict(
            field=name,
            signer=_subject(certificate) if certificate else None,
            intact=False,
            trusted=False,
            covers_whole_document=False,
            modified_after_signing=False,
            signing_time=None,
            problems=(Problem(SIGNATURE_MALFORMED, message),),
            certificate=certificate,
        )

    try:
        embedded = EmbeddedPdfSignature(reader, sig_field, name)
    # The signature dictionary and its CMS blob come from the sender: anything can be in
    # there, and asn1crypto/pyHanko fail with many exception types on garbage.
    except Exception as exc:
        return malformed(f"signature {name!r} cannot be read: {_reason(exc)}")
    try:
        certificate = x509.load_der_x509_certificate(embedded.signer_cert.dump())
    except Exception as exc:
        return malformed(f"signature {name!r} has no readable signer certificate: {_reason(exc)}")
    kind: Literal["signature", "timestamp"] = (
        "timestamp" if embedded.sig_object_type == "/DocTimeStamp" else "signature"
    )
    mode = _LEGACY_REVOCATION_MODE[revocation]
    gaps: list[Problem] = []
    if mode == "hard-fail" and not crls and not fetch:
        # Nothing to check revocation against: certvalidator refuses such a context, but the
        # rest of the verdict is still worth having, so check without revocation and fail closed.
        mode = "none"
        gaps.append(
            Problem(
                REVOCATION_UNKNOWN,
                f"signature {name!r}: hard revocation checking needs CRLs or fetching; "
                "the revocation status is unknown",
            )
        )
    try:
        context = ValidationContext(
            trust_roots=roots,
            moment=at,
            allow_fetching=fetch,
            crls=list(crls) or None,
            revocation_mode=mode,
        )
        status: PdfSignatureStatus | DocumentTimestampStatus = (
            validate_pdf_timestamp(embedded, context)
            if kind == "timestamp"
            else validate_pdf_signature(embedded, context)
        )
    except Exception as exc:
        return malformed(f"signature {name!r} cannot be checked: {_reason(exc)}", certificate)
    verdict = _verdict(name, status, certificate, kind)
    if gaps:
        verdict = replace(verdict, trusted=False, problems=verdict.problems + tuple(gaps))
    return verdict


def _verdict(
    name: str,
    status: PdfSignatureStatus | DocumentTimestampStatus,
    certificate: x509.Certificate,
    kind: Literal["signature", "timestamp"],
) -> SignatureVerdict:
    problems: list[Problem] = []
    if not status.intact:
        problems.append(
            Problem(
                SIGNATURE_BROKEN,
                f"signature {name!r}: the signed bytes changed after signing (digest mismatch)",
            )
        )
    elif not status.valid:
        problems.append(
            Problem(
                SIGNATURE_BROKEN,
                f"signature {name!r}: the signature value does not verify with the signer's key",
            )
        )

    whole = (
        status.coverage is not None and status.coverage >= SignatureCoverageLevel.ENTIRE_REVISION
    )
    if not whole:
        problems.append(
            Problem(
                NOT_WHOLE_DOCUMENT,
                f"signature {name!r} does not cover the whole document it claims to sign",
            )
        )

    modified = False
    if status.coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        level = status.modification_level
        if isinstance(status.diff_result, SuspiciousModification) or level not in _PERMITTED_LEVELS:
            modified = True
            detail = (
                f": {status.diff_result}"
                if isinstance(status.diff_result, SuspiciousModification)
                else ""
            )
            problems.append(
                Problem(
                    MODIFIED_AFTER_SIGNING,
                    f"the document was changed after signature {name!r}{detail}",
                )
            )
        elif status.docmdp_ok is False:
            modified = True
            problems.append(
                Problem(
                    MODIFIED_AFTER_SIGNING,
                    f"changes after signature {name!r} exceed what its signer permitted (DocMDP)",
                )
            )
        else:
            problems.append(
                Problem(
                    ADDED_AFTER_SIGNING,
                    f"after signature {name!r} only permitted additions were made "
                    f"({level.name.lower() if level else 'unknown'}: further signatures, "
                    "form filling or validation data)",
                )
            )

    trusted = status.trust_problem_indic is None and status.validation_path is not None
    if not trusted:
        problems.append(_trust_problem(name, status))

    return SignatureVerdict(
        field=name,
        signer=_subject(certificate),
        intact=bool(status.intact and status.valid),
        trusted=trusted,
        covers_whole_document=whole,
        modified_after_signing=modified,
        signing_time=_signing_time(status),
        problems=tuple(problems),
        certificate=certificate,
        kind=kind,
    )


def _trust_problem(name: str, status: PdfSignatureStatus | DocumentTimestampStatus) -> Problem:
    indic = status.trust_problem_indic
    horizon = status.error_time_horizon
    when = f" on {horizon.isoformat()}" if horizon else ""
    details = status.revocation_details
    if status.revoked or indic in (
        AdESFailure.REVOKED,
        AdESIndeterminate.REVOKED_NO_POE,
        AdESIndeterminate.REVOKED_CA_NO_POE,
    ):
        whose = (
            "a CA certificate in the chain"
            if details and details.ca_revoked
            else "the signer's certificate"
        )
        return Problem(CERT_REVOKED, f"signature {name!r}: {whose} was revoked{when}")
    if indic in (AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, AdESIndeterminate.EXPIRED):
        return Problem(CERT_EXPIRED, f"signature {name!r}: the signer's certificate expired{when}")
    if indic in (AdESFailure.NOT_YET_VALID, AdESIndeterminate.NOT_YET_VALID):
        return Problem(
            CERT_NOT_YET_VALID, f"signature {name!r}: the signer's certificate was not yet valid"
        )
    if indic in (AdESIndeterminate.TRY_LATER, AdESIndeterminate.NO_POE):
        return Problem(
            REVOCATION_UNKNOWN,
            f"signature {name!r}: the certificate's revocation status could not be established",
        )
    reason = indic.name if indic is not None else "no path to a trusted root"
    return Problem(
        UNTRUSTED_CHAIN,
        f"signature {name!r}: the signer's certificate does not chain to a trusted root ({reason})",
    )


def _signing_time(status: PdfSignatureStatus | DocumentTimestampStatus) -> datetime | None:
    if isinstance(status, DocumentTimestampStatus):
        return status.timestamp
    # A trusted timestamp token proves the time; otherwise the signer's own claim is all we have.
    token = status.timestamp_validity
    if token is not None and token.intact and token.valid and token.trusted:
        return token.timestamp
    return status.signer_reported_dt


def _open_encrypted(reader: PdfFileReader) -> bool:
    # Signed PDFs are often encrypted with an empty user password (owner password only, to
    # stop edits); such a file opens for everybody, so it can be checked like any other.
    try:
        return reader.decrypt(b"").status != AuthStatus.FAILED
    except Exception:
        return False


def _load_trust_roots(trust_roots: Sequence[Path | bytes]) -> list[asn1_x509.Certificate]:
    roots: list[asn1_x509.Certificate] = []
    for root in trust_roots:
        try:
            data = root if isinstance(root, bytes) else Path(root).read_bytes()
            certs = (
                x509.load_pem_x509_certificates(data)
                if b"-----BEGIN" in data
                else [x509.load_der_x509_certificate(data)]
            )
        except (OSError, ValueError) as exc:
            label = root if isinstance(root, Path | str) else "<bytes>"
            raise TrustRootError(
                f"trust root {label} is not a certificate: {_reason(exc)}"
            ) from exc
        roots += [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in certs]
    return roots


def _not_a_pdf_message(data: bytes) -> str:
    kinds = {
        b"\x89PNG": "a PNG image",
        b"\xff\xd8\xff": "a JPEG image",
        b"II*\x00": "a TIFF image",
        b"MM\x00*": "a TIFF image",
        b"PK\x03\x04": "a ZIP archive (perhaps a Word or ODF document)",
    }
    if not data:
        return "the file is empty, not a PDF"
    kind = next((k for magic, k in kinds.items() if data.startswith(magic)), None)
    return f"the file is {kind}, not a signed PDF" if kind else "the file is not a PDF"


def _reason(exc: BaseException) -> str:
    # Library messages on garbage can quote kilobytes of it; a person needs the first words.
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string(_ATTRIBUTE_NAMES)


def _attributes(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def _san_emails(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.RFC822Name))


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())
