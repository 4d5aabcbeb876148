"""Handing an accepted invoice to accounting: export files and the accounting-system hook.

The export is one JSON and one CSV file per invoice case in the export folder. File names
depend only on the case (``000012_5260001246_FV_2026_11_0007.json``), and each file is
written to a temporary name, fsynced and renamed into place, so a robot killed mid-export
and run again leaves exactly one whole file of each, never a half or a second copy.

The hook (``BACKOFFICE_INVOICE_HOOK``) gets the same JSON once per invoice: an ``http(s)://``
URL is POSTed to, anything else is run as a command with the JSON on stdin. Both get an
idempotency key (the ``Idempotency-Key`` header, the ``BACKOFFICE_IDEMPOTENCY_KEY``
variable) that the accounting system can use to refuse a second delivery.

A hook call ends in one of three ways the caller records: done; ``HookRetry`` (it surely did
not happen: connection refused, HTTP 429/5xx, exit code 75); ``HookRefused`` (the other side
said no: HTTP 4xx, any other exit code) or ``HookInDoubt`` (a timeout or a cut connection:
it may have happened, so only a person may call it again).
"""

from __future__ import annotations

import csv
import errno
import glob
import io
import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

#: The export JSON's version; a new field keeps it, a changed meaning bumps it.
SCHEMA = "backoffice.invoice.v1"
#: Exit code a hook command uses for "try again later" (BSD sysexits EX_TEMPFAIL).
EXIT_TEMPFAIL = 75
HTTP_OK = range(200, 300)
#: HTTP answers after which the hook is retried (nothing was taken on).
HTTP_RETRY = {408, 425, 429, 500, 502, 503, 504}
MAX_NAME_PART = 60
#: Invoice columns of the CSV, one row per invoice line (the invoice columns repeated).
CSV_INVOICE_COLUMNS = (
    "case_id",
    "invoice_number",
    "issue_date",
    "sale_date",
    "due_date",
    "seller_name",
    "seller_tax_id",
    "buyer_name",
    "buyer_tax_id",
    "iban",
    "currency",
    "total_net",
    "total_tax",
    "total_gross",
    "amount_due",
    "language",
    "source",
    "document_sha256",
    "accepted_at",
)
CSV_LINE_COLUMNS = (
    "line_no",
    "line_description",
    "line_quantity",
    "line_unit_price",
    "line_net",
    "line_tax_rate",
    "line_gross",
)
CSV_COLUMNS = CSV_INVOICE_COLUMNS + CSV_LINE_COLUMNS


class HookError(Exception):
    """A hook call that did not end in success; the subclass says what the caller may do."""


class HookRetry(HookError):
    """The hook surely did not take the invoice; calling it again later is safe."""


class HookRefused(HookError):
    """The accounting system refused the invoice; a person must look."""


class HookInDoubt(HookError):
    """The hook may or may not have taken the invoice; only a person may call it again."""


def export_payload(
    *,
    case_id: int,
    accepted_at: str,
    extraction: dict[str, Any],
    document: dict[str, Any],
    mail: dict[str, Any],
) -> dict[str, Any]:
    """The export JSON: the invoice's values, the full reading and where it came from.

    ``extraction`` is ``ExtractionResult.to_json()`` of the accepted version; ``invoice``
    repeats its values without confidences for systems that only want the data.
    """
    values: dict[str, Any] = {
        name: field["value"] for name, field in extraction.get("fields", {}).items()
    }
    values["lines"] = extraction.get("lines", [])
    return {
        "schema": SCHEMA,
        "case_id": case_id,
        "accepted_at": accepted_at,
        "invoice": values,
        "extraction": extraction,
        "document": document,
        "mail": mail,
    }


def file_stem(case_id: int, seller_tax_id: str, invoice_number: str) -> str:
    """The export files' name without extension; the same case always gets the same name."""
    parts = [f"{case_id:06d}", _safe(seller_tax_id), _safe(invoice_number)]
    return "_".join(part for part in parts if part)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text or "").strip("._-")[:MAX_NAME_PART]


def csv_text(payload: dict[str, Any]) -> str:
    """The CSV form: a header row, then one row per invoice line (one row when none)."""
    invoice = payload["invoice"]
    head = {
        "case_id": payload["case_id"],
        "source": payload["extraction"].get("source"),
        "language": payload["extraction"].get("language"),
        "document_sha256": payload["document"].get("sha256", ""),
        "accepted_at": payload["accepted_at"],
    }
    for column in CSV_INVOICE_COLUMNS:
        head.setdefault(column, invoice.get(column))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    lines = invoice.get("lines") or [{}]
    for number, line in enumerate(lines, start=1):
        row = dict(head)
        if line:
            row.update(
                {
                    "line_no": number,
                    "line_description": line.get("description"),
                    "line_quantity": line.get("quantity"),
                    "line_unit_price": line.get("unit_price"),
                    "line_net": line.get("net"),
                    "line_tax_rate": line.get("tax_rate"),
                    "line_gross": line.get("gross"),
                }
            )
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """The JSON as sent and written: UTF-8, keys in a stable order."""
    return json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=False).encode("utf-8")


def write_export(folder: Path, stem: str, payload: dict[str, Any]) -> dict[str, str]:
    """Write ``<stem>.json`` and ``<stem>.csv`` atomically; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    json_name, csv_name = f"{stem}.json", f"{stem}.csv"
    for name in (json_name, csv_name):
        # A robot killed mid-write leaves its hidden temporary file; this run replaces it.
        for stale in folder.glob(f".{glob.escape(name)}.*.tmp"):
            stale.unlink(missing_ok=True)
    write_atomically(folder / json_name, payload_bytes(payload) + b"\n")
    write_atomically(folder / csv_name, csv_text(payload).encode("utf-8"))
    return {"json": json_name, "csv": csv_name}


def write_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` so that readers see the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def is_http(hook: str) -> bool:
    """Whether the hook setting names a URL rather than a command."""
    return hook.strip().lower().startswith(("http://", "https://"))


def call_hook(
    hook: str,
    payload: dict[str, Any],
    *,
    key: str,
    timeout: float,
    token: SecretStr | None = None,
) -> dict[str, Any]:
    """Deliver ``payload`` to the hook once; return what happened (status, exit code).

    Raises ``HookRetry``, ``HookRefused`` or ``HookInDoubt`` (see the module docstring).
    """
    headers = {}
    if token is not None and token.get_secret_value():
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    return deliver(
        hook,
        payload_bytes(payload),
        key=key,
        timeout=timeout,
        headers=headers,
        env={"BACKOFFICE_INVOICE_CASE": str(payload["case_id"])},
    )


def deliver(
    hook: str,
    body: bytes,
    *,
    key: str,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    agent: str = "backoffice-invoices",
) -> dict[str, Any]:
    """POST ``body`` (JSON) to an http(s) URL or pipe it into a command, once.

    The idempotency key goes in the ``Idempotency-Key`` header or the
    ``BACKOFFICE_IDEMPOTENCY_KEY`` variable; ``headers`` and ``env`` are added to them.
    Raises ``HookRetry``, ``HookRefused`` or ``HookInDoubt`` (see the module docstring).
    """
    if is_http(hook):
        return _post(hook.strip(), body, key=key, timeout=timeout, extra=headers, agent=agent)
    return _run(hook, body, key=key, timeout=timeout, extra=env)


def _post(
    url: str,
    body: bytes,
    *,
    key: str,
    timeout: float,
    extra: Mapping[str, str] | None,
    agent: str,
) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": key,
        "User-Agent": agent,
        **(extra or {}),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return {"http_status": response.status}
    except urllib.error.HTTPError as exc:
        detail = f"HTTP {exc.code} {exc.reason}"
        if exc.code in HTTP_RETRY:
            raise HookRetry(detail) from exc
        raise HookRefused(detail) from exc
    except urllib.error.URLError as exc:
        if _never_reached(exc.reason):
            raise HookRetry(f"{url} unreachable: {exc.reason}") from exc
        raise HookInDoubt(f"{url}: {exc.reason}") from exc
    except TimeoutError as exc:
        raise HookInDoubt(f"{url} did not answer within {timeout:g} s") from exc
    except (ConnectionError, OSError) as exc:
        # The request was (maybe partly) sent when the connection broke.
        raise HookInDoubt(f"{url}: connection broken: {exc}") from exc


def _never_reached(reason: object) -> bool:
    # Refused, unknown host, no route, a certificate refused in the handshake: the request
    # body cannot have been sent.
    if isinstance(reason, ConnectionRefusedError | socket.gaierror | ssl.SSLCertVerificationError):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def _run(
    command: str, body: bytes, *, key: str, timeout: float, extra: Mapping[str, str] | None
) -> dict[str, Any]:
    args = shlex.split(command)
    env = {**os.environ, "BACKOFFICE_IDEMPOTENCY_KEY": key, **(extra or {})}
    try:
        done = subprocess.run(
            args, input=body, env=env, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise HookRetry(f"the hook command {args[0]!r} does not exist") from exc
    except PermissionError as exc:
        raise HookRetry(f"the hook command {args[0]!r} may not be run: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise HookInDoubt(
            f"the hook command ran longer than {timeout:g} s and was stopped"
        ) from exc
    if done.returncode == 0:
        return {"exit_code": 0}
    stderr = done.stderr.decode("utf-8", "replace").strip()[-500:]
    detail = f"the hook command exited with {done.returncode}: {stderr}"
    if done.returncode == EXIT_TEMPFAIL:
        raise HookRetry(detail)
    raise HookRefused(detail)
