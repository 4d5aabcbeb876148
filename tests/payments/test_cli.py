"""``backoffice statement FILE --json``: the contract on the bundled samples and on bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.payments.builders import OTHER_OWN_IBAN, OUR_IBAN, TOP_KEYS, TX_KEYS

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples" / "statements"
CAMT_SAMPLE = SAMPLES / "camt053_pko_2026-11-23.xml"
MT940_SAMPLE = SAMPLES / "mt940_pl_2026-11-23.sta"


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "statement", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("sample", "fmt", "count"), [(CAMT_SAMPLE, "camt.053", 5), (MT940_SAMPLE, "mt940", 4)]
)
def test_samples_print_the_contract(sample: Path, fmt: str, count: int) -> None:
    result = _run(sample, "--json", "--own-iban", OUR_IBAN)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no problems: the balances add up
    [line] = result.stdout.splitlines()
    data = json.loads(line)
    assert list(data) == TOP_KEYS
    assert (data["format"], data["account_iban"], data["currency"]) == (fmt, OUR_IBAN, "PLN")
    assert len(data["transactions"]) == count
    total = sum(Decimal(tx["amount"]) for tx in data["transactions"])
    assert Decimal(data["opening_balance"]) + total == Decimal(data["closing_balance"])
    for tx in data["transactions"]:
        assert list(tx) == TX_KEYS
        assert isinstance(tx["amount"], str) and Decimal(tx["amount"]) != 0
        assert len(tx["booking_date"]) == 10 and tx["booking_date"].startswith("2026-11-2")
    first = data["transactions"][0]
    assert first["amount"] == "2460.00"
    assert "FV/2026/11/0042" in first["remittance"]
    assert any(tx["amount"].startswith("-") for tx in data["transactions"])


def test_running_twice_gives_the_same_ids() -> None:
    ids = [
        [tx["id"] for tx in json.loads(_run(MT940_SAMPLE, "--json").stdout)["transactions"]]
        for _ in range(2)
    ]
    assert ids[0] == ids[1] and len(set(ids[0])) == 4


def test_human_output_lists_transactions() -> None:
    result = _run(MT940_SAMPLE)
    assert result.returncode == 0
    assert "4 transactions" in result.stdout
    assert "ANNA NOWAK" in result.stdout


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"<Document><BkToCstmrStmt><Stmt>", "STATEMENT_XML_MALFORMED"),
        (b"just some text\n", "STATEMENT_UNKNOWN_FORMAT"),
        (
            b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>',
            "STATEMENT_XML_UNSAFE",
        ),
    ],
)
def test_bad_files_exit_3_with_a_reason_and_no_traceback(
    tmp_path: Path, content: bytes, code: str
) -> None:
    path = tmp_path / "statement.bin"
    path.write_bytes(content)
    result = _run(path, "--json")
    assert result.returncode == 3
    assert result.stdout == ""
    assert code in result.stderr
    assert "Traceback" not in result.stderr


def test_truncated_mt940_exits_3(tmp_path: Path) -> None:
    data = MT940_SAMPLE.read_bytes()
    path = tmp_path / "cut.sta"
    path.write_bytes(data[: data.rindex(b":62F:")])
    result = _run(path, "--json")
    assert result.returncode == 3
    assert "STATEMENT_TRUNCATED" in result.stderr and "Traceback" not in result.stderr


def test_statement_for_another_account_is_refused() -> None:
    result = _run(CAMT_SAMPLE, "--json", "--own-iban", OTHER_OWN_IBAN)
    assert result.returncode == 3
    assert "STATEMENT_FOREIGN_ACCOUNT" in result.stderr
    assert result.stdout == ""


def test_balance_problem_is_printed_to_stderr_with_the_json(tmp_path: Path) -> None:
    data = MT940_SAMPLE.read_bytes().replace(b":61:2611231123C2460,00", b":61:2611231123C2406,00")
    path = tmp_path / "mismatch.sta"
    path.write_bytes(data)
    result = _run(path, "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["transactions"][0]["amount"] == "2406.00"
    assert "BALANCE_MISMATCH" in result.stderr
