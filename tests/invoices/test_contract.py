"""The JSON contract of ``backoffice extract FILE --json`` stays exactly this shape."""

from __future__ import annotations

import json
import random
from pathlib import Path

from backoffice.invoices import extract
from backoffice.invoices.model import FIELD_NAMES

from tests.invoices.helpers import write_text_pdf

TOP_KEYS = ["file", "kind", "source", "language", "fields", "lines", "problems"]


def test_contract_shape(tmp_path: Path, rng: random.Random) -> None:
    path, invoice = write_text_pdf(tmp_path, rng, "pl", "classic")
    data = extract(path).to_json()
    assert list(data) == TOP_KEYS
    assert json.loads(json.dumps(data)) == data
    assert data["kind"] == "invoice"
    assert data["source"] == "text"
    assert data["language"] == "pl"
    assert set(data["fields"]) <= set(FIELD_NAMES)
    for field in data["fields"].values():
        assert list(field) == ["value", "confidence", "source", "page"]
        assert 0 <= field["confidence"] <= 1
    assert data["fields"]["issue_date"]["value"] == invoice.issue_date.isoformat()
    assert data["fields"]["total_gross"]["value"] == str(invoice.gross)
    assert all(isinstance(line["net"], str) for line in data["lines"])
    assert data["problems"] == []


def test_problem_shape(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"nothing")
    data = extract(path).to_json()
    assert list(data) == TOP_KEYS
    assert data["kind"] == "not_invoice"
    assert data["fields"] == {}
    assert [list(p) for p in data["problems"]] == [["code", "field", "message"]]
    assert data["problems"][0]["code"] == "UNSUPPORTED_FILE"
