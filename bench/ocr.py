"""OCR pages/s of our pipeline against plain single-threaded ``tesseract`` processes.

Input: scanned invoice pages from the corpus generator (Polish, Russian and English; clean
300 DPI greyscale PNG and noisy 200/300 DPI JPEG photos, tilted up to 3 degrees), written
once as files. Baseline: the ``tesseract`` command on each file with the language pair the
page needs (``pol+eng`` or ``rus+eng``), ``--oem 1 --psm 3``, TSV output, one process per
core at a time (``OMP_THREAD_LIMIT=1``). Ours: ``readers.ocr.read_pages`` on the same files
decoded by ``load_images``: it finds the script and tilt itself, reads the words and
straightens their boxes, a pool of single-threaded Tesseract processes across the cores.
Target: ratio >= 0.9. Rounds alternate which side runs first; the median is reported.
Figures are noisy on a shared machine: compare ratios, not pages/s across runs.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backoffice.invoices import corpus
from backoffice.invoices.limits import Limits
from backoffice.invoices.readers.ocr import load_images, read_pages

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PAGES = int(os.environ.get("BENCH_OCR_PAGES", "12"))
SEED = 20261122
PAIR = {"pl": "pol+eng", "en": "pol+eng", "ru": "rus+eng"}


def write_pages(folder: Path, count: int, seed: int = SEED) -> list[tuple[Path, str]]:
    """Write ``count`` scanned invoice pages; return each file and its language."""
    rng = random.Random(seed)
    written = []
    for index in range(count):
        language = ("pl", "ru", "en")[index % 3]
        layout = rng.choice(corpus.LAYOUTS_BY_LANGUAGE[language])
        invoice = corpus.make_invoice(rng, language, show_items=layout != "no_items")
        pdf = corpus.render_pdf(invoice, layout, corpus.Style(rng, language))
        data, suffix = corpus.scan(pdf, rng, "png" if index % 2 else "photo")
        path = folder / f"page{index:03d}_{language}{suffix}"
        path.write_bytes(data)
        written.append((path, language))
    return written


def _tesseract(path: Path, language: str) -> int:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    out = subprocess.run(
        ["tesseract", str(path), "stdout", "-l", PAIR[language], "--oem", "1", "--psm", "3", "tsv"],
        capture_output=True,
        env=env,
        check=True,
    ).stdout
    return out.count(b"\n")


def _plain(pages: list[tuple[Path, str]]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        rows = list(pool.map(lambda item: _tesseract(*item), pages))
    assert all(rows), "tesseract read nothing"
    return time.perf_counter() - started


def _ours(pages: list[tuple[Path, str]]) -> tuple[float, int]:
    started = time.perf_counter()
    images = [
        (n + 1, load_images(path.read_bytes(), Limits())[0]) for n, (path, _) in enumerate(pages)
    ]
    read = read_pages(images)
    elapsed = time.perf_counter() - started
    assert all(page.text.lines for page in read), "a page read empty"
    return elapsed, sum(len(page.text.lines) for page in read)


def run() -> list[str]:
    """Measure and return the lines to print."""
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as folder:
        pages = write_pages(Path(folder), PAGES)
        # Warm the page cache and Tesseract's model files.
        _plain(pages[:2])
        ratios, ours, base = [], [], []
        for round_ in range(ROUNDS):
            if round_ % 2:
                plain = _plain(pages)
                mine, _ = _ours(pages)
            else:
                mine, _ = _ours(pages)
                plain = _plain(pages)
            base.append(len(pages) / plain)
            ours.append(len(pages) / mine)
            ratios.append(plain / mine)
    cores = os.cpu_count() or 1
    return [
        f"pipeline {statistics.median(ours):.2f} pages/s, plain tesseract x{cores} "
        f"{statistics.median(base):.2f} pages/s over {len(pages)} pages x {ROUNDS} rounds "
        f"(ratios {', '.join(f'{r:.2f}' for r in ratios)})",
        f"RATIO pipeline/plain-tesseract = {statistics.median(ratios):.2f} (target >= 0.9)",
    ]
