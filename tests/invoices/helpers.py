"""Writing real invoice files for the tests with the seeded corpus generator."""

from __future__ import annotations

import random
from pathlib import Path

from backoffice.invoices import corpus


def write_text_pdf(
    tmp_path: Path, rng: random.Random, language: str, layout: str, **kwargs: object
) -> tuple[Path, corpus.Invoice]:
    """Write one text PDF invoice and return its path and truth."""
    invoice = corpus.make_invoice(rng, language, **kwargs)  # type: ignore[arg-type]
    style = corpus.Style(rng, language)
    path = tmp_path / f"{language}_{layout}.pdf"
    path.write_bytes(corpus.render_pdf(invoice, layout, style))
    return path, invoice
