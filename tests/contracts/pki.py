"""A small real PKI for the signature tests: CAs, signer certificates, CRLs, PDFs, signing.

Everything is generated with ``cryptography`` (EC P-256 keys, fast) and signed with pyHanko,
so the verifier meets the same bytes a real PAdES signer would produce.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_NAME = "ContractTestSans"
#: Declared in signer certificates so "soft"/"hard" revocation modes look for a CRL; the
#: tests hand the CRL in directly and never fetch (port 9 is discard: nothing answers).
CRL_URL = "http://127.0.0.1:9/test.crl"


@dataclass(frozen=True)
class Identity:
    """A key and its certificate, plus the chain up to (and including) its root."""

    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = field(default=())

    @property
    def pem(self) -> bytes:
        """The certificate as PEM (what ``--trust`` takes)."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        """The certificate as DER."""
        return self.cert.public_bytes(serialization.Encoding.DER)


def _name(common_name: str, **extra: str) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    oids = {
        "email": NameOID.EMAIL_ADDRESS,
        "serial_number": NameOID.SERIAL_NUMBER,
        "organization": NameOID.ORGANIZATION_NAME,
        "organization_identifier": NameOID.ORGANIZATION_IDENTIFIER,
        "country": NameOID.COUNTRY_NAME,
    }
    attributes += [x509.NameAttribute(oids[k], v) for k, v in extra.items()]
    return x509.Name(attributes)


def make_ca(
    common_name: str,
    *,
    issuer: Identity | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Identity:
    """A root CA (no ``issuer``) or an intermediate CA signed by ``issuer``."""
    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name, organization="Test PKI", country="PL")
    signing_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=3650))
        .not_valid_after(not_after or now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    cert = builder.sign(signing_key, hashes.SHA256())
    chain = (cert, *issuer.chain) if issuer else (cert,)
    return Identity(key, cert, chain)


def make_signer(
    common_name: str,
    issuer: Identity,
    *,
    email: str | None = None,
    serial_number: str | None = None,
    organization_identifier: str | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    time_stamping: bool = False,
) -> Identity:
    """An end-entity signing certificate (non-repudiation, CRL distribution point declared).

    ``time_stamping`` makes it a TSA certificate (critical timeStamping extended key usage)
    with an RSA key, since pyHanko's in-process time stamper signs with RSA only.
    """
    now = datetime.now(UTC)
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if time_stamping
        else ec.generate_private_key(ec.SECP256R1())
    )
    extra = {"country": "PL"}
    if serial_number:
        extra["serial_number"] = serial_number
    if organization_identifier:
        extra["organization_identifier"] = organization_identifier
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, **extra))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=30))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(CRL_URL)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    )
    if time_stamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    if email:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
        )
    cert = builder.sign(issuer.key, hashes.SHA256())
    return Identity(key, cert, (cert, *issuer.chain))


def make_crl(ca: Identity, revoked: list[Identity]) -> bytes:
    """A DER CRL from ``ca`` revoking ``revoked`` a day ago."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - timedelta(hours=1))
        .next_update(now + timedelta(days=7))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .add_extension(x509.CRLNumber(1), critical=False)
    )
    for identity in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(identity.cert.serial_number)
            .revocation_date(now - timedelta(days=1))
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def make_pdf(lines: list[str], *, pages: int = 1, encrypt: Any = None) -> bytes:
    """A text PDF (DejaVu, so Polish and Russian print); ``encrypt`` as reportlab takes it."""
    # Our own font name: the invoice corpus registers "DejaVu" together with its bold face
    # and takes the name as proof that both are there.
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH)))
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, encrypt=encrypt, invariant=True)
    for page in range(pages):
        pdf.setFont(FONT_NAME, 11)
        y = 800
        for line in [*lines, f"Page {page + 1} of {pages}"]:
            pdf.drawString(60, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def _asn1(identity: Identity) -> tuple[asn1_keys.PrivateKeyInfo, list[asn1_x509.Certificate]]:
    key_der = identity.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in identity.chain
    ]
    return asn1_keys.PrivateKeyInfo.load(key_der), chain


def simple_signer(identity: Identity) -> signers.SimpleSigner:
    """A pyHanko signer over the generated key, embedding its chain."""
    key, chain = _asn1(identity)
    return signers.SimpleSigner(
        signing_cert=chain[0],
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )


def time_stamper(tsa: Identity, at: datetime | None = None) -> DummyTimeStamper:
    """An in-process RFC 3161 time stamping authority (pyHanko's, no network), fixed at ``at``."""
    key, chain = _asn1(tsa)
    return DummyTimeStamper(
        tsa_cert=chain[0],
        tsa_key=key,
        certs_to_embed=SimpleCertificateStore.from_certs(chain),
        fixed_dt=at,
    )


def sign_pdf(
    pdf: bytes,
    identity: Identity,
    *,
    field_name: str = "Signature1",
    timestamper: DummyTimeStamper | None = None,
) -> bytes:
    """Sign ``pdf`` (PAdES baseline, incremental update) as ``identity``, optionally timestamped."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
    )
    out = io.BytesIO()
    signers.PdfSigner(metadata, signer=simple_signer(identity), timestamper=timestamper).sign_pdf(
        writer,
        output=out,
        existing_fields_only=False,
    )
    return out.getvalue()


def add_document_timestamp(pdf: bytes, timestamper: DummyTimeStamper) -> bytes:
    """Append a PAdES document timestamp (/DocTimeStamp), as LTA maintenance does."""
    out = io.BytesIO()
    signers.PdfTimeStamper(timestamper).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), "sha256", output=out
    )
    return out.getvalue()
