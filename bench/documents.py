"""Peak memory of ``extract`` over 1,000 documents against 100, each run in a fresh process.

The documents are distinct (no two files alike, so no cache hides a leak): text PDFs of
every layout and language of the corpus generator, and one in five a structured XML
invoice (UBL, KSeF FA(3)) or a Factur-X PDF. Each process imports the reader, then
extracts the first N files one after the other, as a robot run does, and reports its peak
RSS. Scans are left out: OCR runs in Tesseract processes of its own, whose memory is not
the robot's. Target: peak RSS for 1,000 within 1.2x of that for 100 (flat).
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
from pathlib import Path

from backoffice.invoices import corpus

SEED = 20261123
COUNTS = (100, 1000)

_MEASURE = """
import resource, sys
from pathlib import Path
from backoffice.invoices import extract
files = sorted(Path(sys.argv[1]).iterdir())[: int(sys.argv[2])]
read = sum(1 for path in files if extract(path).fields)
print(read, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_documents(folder: Path, count: int, seed: int = SEED) -> None:
    """Write ``count`` distinct invoices: text PDFs, and one in five XML or Factur-X."""
    rng = random.Random(seed)
    for index in range(count):
        language = ("pl", "ru", "en")[index % 3]
        layout = rng.choice(corpus.LAYOUTS_BY_LANGUAGE[language])
        invoice = corpus.make_invoice(rng, language, show_items=layout != "no_items")
        style = corpus.Style(rng, language)
        pdf = corpus.render_pdf(invoice, layout, style)
        kind = index % 5
        if kind == 1:
            data, suffix = corpus.ubl_xml(invoice), ".xml"
        elif kind == 3 and language == "pl":
            data, suffix = corpus.ksef_xml(invoice), ".xml"
        elif kind == 3:
            data, suffix = corpus.facturx_pdf(pdf, invoice), ".pdf"
        else:
            data, suffix = pdf, ".pdf"
        (folder / f"{index:05d}_{language}{suffix}").write_bytes(data)


def _peak(folder: Path, count: int) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(folder), str(count)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def run() -> list[str]:
    """Measure and return the lines to print."""
    with tempfile.TemporaryDirectory(prefix="bench-documents-") as folder:
        write_documents(Path(folder), max(COUNTS))
        peaks = {}
        for count in COUNTS:
            read, peaks[count] = _peak(Path(folder), count)
            assert read == count, f"only {read} of {count} documents gave fields"
    small, large = (peaks[c] for c in COUNTS)
    return [
        f"peak RSS {COUNTS[0]:,} documents {small / 1024:.0f} MiB, "
        f"{COUNTS[1]:,} documents {large / 1024:.0f} MiB (text PDFs, XML, Factur-X)",
        f"RATIO peak-RSS {COUNTS[1]}/{COUNTS[0]} = {large / small:.2f} (target <= 1.2)",
    ]
