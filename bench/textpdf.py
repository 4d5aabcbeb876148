"""Text-PDF invoices/s of ``extract`` against invoice2data with its pdftotext reader.

Both read the same text PDFs (every layout of the generated corpus in Polish, Russian and
English, written afresh with a fixed seed) one after the other in this process.
Baseline: ``invoice2data.extract_data(path, templates, input_module=pdftotext)`` with the
template set in bench/corpus/invoice2data_templates/ (one per language, written for the corpus
layouts as a user writes one per supplier; invoice2data's bundled templates match none of
these invoices, and a run that matches no template would measure only pdftotext).
invoice2data then runs poppler's ``pdftotext -layout`` and its regexes; ``extract`` reads
the text layer with positions (pypdfium2), finds every field without a template and checks
them. Target: ratio >= 3. Both sides' hits on invoice number and gross total are printed,
so the baseline is seen to really extract.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from backoffice.invoices import corpus, extract

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PER_LAYOUT = int(os.environ.get("BENCH_TEXTPDF_PER_LAYOUT", "8"))
TEMPLATES = Path(__file__).resolve().parent / "corpus" / "invoice2data_templates"
SEED = 20261121


def write_text_pdfs(folder: Path, per_layout: int, seed: int = SEED) -> list[tuple[Path, object]]:
    """Write ``per_layout`` text PDFs for every language and layout; return paths and truth."""
    rng = random.Random(seed)
    written = []
    for language, layouts in corpus.LAYOUTS_BY_LANGUAGE.items():
        for layout in layouts:
            for n in range(per_layout):
                invoice = corpus.make_invoice(
                    rng,
                    language,
                    "credit_note" if rng.random() < 0.1 else "invoice",
                    show_items=layout != "no_items",
                    multi_rate=rng.random() < 0.3 and layout != "no_items",
                )
                path = folder / f"{language}_{layout}_{n:03d}.pdf"
                path.write_bytes(corpus.render_pdf(invoice, layout, corpus.Style(rng, language)))
                written.append((path, invoice))
    return written


def _ours(paths: list[Path]) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    results = [extract(path) for path in paths]
    elapsed = time.perf_counter() - started
    return elapsed, [
        {
            "number": r.value("invoice_number"),
            "gross": r.value("total_gross"),
        }
        for r in results
    ]


def _invoice2data(paths: list[Path], templates: list) -> tuple[float, list[dict]]:
    from invoice2data import extract_data
    from invoice2data.input import pdftotext

    started = time.perf_counter()
    results = [extract_data(str(path), templates, input_module=pdftotext) for path in paths]
    elapsed = time.perf_counter() - started
    return elapsed, [
        {
            "number": r.get("invoice_number"),
            "gross": None if r.get("amount") is None else Decimal(str(r["amount"])),
        }
        for r in results
    ]


def _hits(found: list[dict], truth: list) -> tuple[int, int]:
    numbers = sum(f["number"] == t.number for f, t in zip(found, truth, strict=True))
    gross = sum(
        f["gross"] is not None and abs(f["gross"]) == abs(t.gross)
        for f, t in zip(found, truth, strict=True)
    )
    return numbers, gross


def run() -> list[str]:
    """Measure and return the lines to print."""
    from invoice2data.extract.loader import read_templates
    from invoice2data.input import pdftotext

    if not pdftotext.is_available():
        return ["SKIPPED: pdftotext (poppler-utils) is not installed: make bench installs it"]
    # invoice2data logs every file at INFO and every miss at ERROR.
    logging.getLogger("invoice2data").setLevel(logging.CRITICAL)
    templates = read_templates(str(TEMPLATES))
    with tempfile.TemporaryDirectory(prefix="bench-textpdf-") as folder:
        written = write_text_pdfs(Path(folder), PER_LAYOUT)
        paths = [path for path, _ in written]
        truth = [invoice for _, invoice in written]
        # Warm both up (imports, fonts, regex compilation, page cache).
        _ours(paths[:5])
        _invoice2data(paths[:5], templates)
        ours, base, ratios = [], [], []
        for round_ in range(ROUNDS):
            # invoice2data caches each file's text by path: every round reads new paths.
            fresh = Path(folder) / f"round{round_}"
            fresh.mkdir()
            copies = [Path(shutil.copy(path, fresh)) for path in paths]
            base_seconds, base_found = _invoice2data(copies, templates)
            our_seconds, our_found = _ours(copies)
            base.append(len(paths) / base_seconds)
            ours.append(len(paths) / our_seconds)
            ratios.append(base_seconds / our_seconds)
    n = len(paths)
    our_numbers, our_gross = _hits(our_found, truth)
    base_numbers, base_gross = _hits(base_found, truth)
    return [
        f"extract {statistics.median(ours):.0f} invoices/s, invoice2data+pdftotext "
        f"{statistics.median(base):.0f} invoices/s over {n} text PDFs x {ROUNDS} rounds",
        f"right invoice number / gross: extract {our_numbers}/{n} {our_gross}/{n}, "
        f"invoice2data {base_numbers}/{n} {base_gross}/{n}",
        f"RATIO extract/invoice2data = {statistics.median(ratios):.2f} (target >= 3)",
    ]
