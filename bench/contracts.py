"""Contract checks: scanned pages against plain Tesseract, signatures against pyHanko's own.

Scanned wet-ink contracts: a generated Polish contract is signed, turned and specked like a
scan (tests/contracts/scans.py). Baseline: the ``tesseract`` command line, single-threaded
(``OMP_THREAD_LIMIT=1``), reading the same page images (PNG) once each. The check does
rendering, QR decoding, the page mapping, ink in every box and OCR of the clause text.
RATIO = seconds per page of the check / seconds per page of plain Tesseract (target <= 1.5:
the check should cost little beyond the one OCR pass it cannot avoid).

Digital signatures: the same contract signed with a generated PKI. Baseline: pyHanko's
``validate_pdf_signature`` called directly on the same file with the same trust root.
``verify_signatures`` adds reading every field, coverage and modification analysis and the
verdict. RATIO = checks/s of verify_signatures / checks/s of the bare call (target >= 0.8).
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SIGNATURE_CHECKS = int(os.environ.get("BENCH_SIGNATURE_CHECKS", "20"))
DPI = 200


def _scan_pages():
    sys.path.insert(0, str(ROOT))
    from backoffice.contracts.generate import generate

    from tests.contracts import requests, scans

    issued = generate(requests.request("pl"), "contract")
    pages = scans.render(issued.pdf, DPI)
    scans.sign_all(issued, pages, DPI)
    angles = (2.0, -1.5)
    scanned = [
        scans.scan(page, angle=angles[i % 2], noise=0.001, jpeg_quality=75, seed=i)
        for i, page in enumerate(pages)
    ]
    return issued, scanned, scans.to_pdf(scanned, DPI)


def _plain_tesseract(paths: list[Path]) -> float:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    start = time.perf_counter()
    for path in paths:
        subprocess.run(
            ["tesseract", str(path), "stdout", "-l", "pol"],
            check=True,
            capture_output=True,
            env=env,
        )
    return (time.perf_counter() - start) / len(paths)


def _scan_lines() -> list[str]:
    from backoffice.contracts.scan import check_contract

    issued, pages, pdf = _scan_pages()
    ours, plain, ratios = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-contracts-") as tmp:
        paths = []
        for index, page in enumerate(pages):
            path = Path(tmp) / f"page-{index + 1}.png"
            page.save(path)
            paths.append(path)
        for _ in range(ROUNDS):
            base = _plain_tesseract(paths)
            start = time.perf_counter()
            verdict = check_contract(pdf, issued, workers=1)
            per_page = (time.perf_counter() - start) / len(pages)
            assert verdict.valid, verdict.to_json()
            plain.append(base)
            ours.append(per_page)
            ratios.append(per_page / base)
    return [
        f"scanned contract check {statistics.median(ours):.2f} s/page, plain tesseract "
        f"{statistics.median(plain):.2f} s/page ({len(pages)} pages x {ROUNDS} rounds, "
        "one process)",
        f"RATIO check/plain-tesseract = {statistics.median(ratios):.2f} (target <= 1.5)",
    ]


def _signature_lines() -> list[str]:
    from asn1crypto import x509 as asn1_x509
    from backoffice.contracts.generate import generate
    from backoffice.contracts.signatures import verify_signatures
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from tests.contracts import pki, requests

    root = pki.make_ca("Bench Root CA")
    signer = pki.make_signer("Jan Kowalski", root, email="jan.kowalski@firma.example")
    signed = pki.sign_pdf(generate(requests.request("pl"), "contract").pdf, signer)
    trust = asn1_x509.Certificate.load(root.der)

    def bare() -> None:
        reader = PdfFileReader(io.BytesIO(signed), strict=False)
        context = ValidationContext(trust_roots=[trust])
        status = validate_pdf_signature(reader.embedded_signatures[0], context)
        assert status.bottom_line

    def ours() -> None:
        assert verify_signatures(signed, trust_roots=[root.pem]).valid

    rates_ours, rates_bare, ratios = [], [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(SIGNATURE_CHECKS):
            bare()
        base = SIGNATURE_CHECKS / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(SIGNATURE_CHECKS):
            ours()
        mine = SIGNATURE_CHECKS / (time.perf_counter() - start)
        rates_bare.append(base)
        rates_ours.append(mine)
        ratios.append(mine / base)
    return [
        f"verify_signatures {statistics.median(rates_ours):.1f} checks/s, pyHanko "
        f"validate_pdf_signature {statistics.median(rates_bare):.1f} checks/s "
        f"({SIGNATURE_CHECKS} checks x {ROUNDS} rounds)",
        f"RATIO verify/pyhanko = {statistics.median(ratios):.2f} (target >= 0.8)",
    ]


def run() -> list[str]:
    """Measure and return the lines to print."""
    sys.path.insert(0, str(ROOT))
    return _scan_lines() + _signature_lines()
