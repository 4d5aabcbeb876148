"""The access robot against a real HTTP server (and a real command), on SQLite and
PostgreSQL: signed webhook once per paid invoice, retries with backoff and the same key,
refusals and exhausted attempts for staff, the welcome email in the invoice's thread."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backoffice.access.models import AccessGrant, ProvisioningCall
from backoffice.access.service import (
    ACCESS_PROVISIONING_FAILED,
    ACCESS_PROVISIONING_REFUSED,
    grant_due,
)
from backoffice.billing.models import IssuedInvoice
from backoffice.errors import ConfigurationError
from backoffice.store import OutboxMessage, open_store
from backoffice.store.models import ReviewItem
from sqlalchemy import select

from tests.access.conftest import SECRET
from tests.receivables.helpers import at, book_payment, issue

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    at(monkeypatch, (T0 + timedelta(seconds=seconds)).isoformat())


def _all(store, model):
    with store.session() as session:
        return session.scalars(select(model).order_by(model.id)).all()


def _paid_invoice(store, settings, monkeypatch, key="paid-1", language="pl") -> IssuedInvoice:
    at(monkeypatch, T0.isoformat())
    invoice_id = issue(store, settings, key, email=f"{key}@example.test", language=language)
    book_payment(store, invoice_id, T0 + timedelta(days=1))
    with store.session() as session:
        invoice = session.get(IssuedInvoice, invoice_id)
        assert invoice is not None
        return invoice


def _welcomes(store) -> list[OutboxMessage]:
    return [m for m in _all(store, OutboxMessage) if m.idempotency_key.startswith("access/")]


COMMAND = """
import json, os, pathlib, sys
out = pathlib.Path(sys.argv[1])
key = os.environ["BACKOFFICE_IDEMPOTENCY_KEY"]
body = sys.stdin.buffer.read()
name = key.replace("/", "_").replace(":", "_")
first = out / (name + ".tried")
if not first.exists():
    first.write_text("once")
    sys.exit(75)  # try again later
(out / (name + ".json")).write_bytes(body)
"""


def _command(tmp_path: Path) -> tuple[str, Path]:
    """A provisioning command (COMMAND) and the folder it writes each body to."""
    script = tmp_path / "provision.py"
    script.write_text(COMMAND)
    out = tmp_path / "provisioned"
    out.mkdir()
    return f"{sys.executable} {script} {out}", out


def test_a_paid_invoice_is_provisioned_once_with_a_signed_webhook_and_welcomed(
    seller_settings, receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    settings = seller_settings("PL", access_webhook_url=url, access_webhook_secret=SECRET)
    store = open_store(settings)
    at(monkeypatch, T0.isoformat())
    unpaid = issue(store, settings, "unpaid", email="unpaid@example.test")
    assert grant_due(store, settings).recorded == 0
    assert state.deliveries == []

    invoice = _paid_invoice(store, settings, monkeypatch)
    _later(monkeypatch, 86400 + 60)
    report = grant_due(store, settings)
    assert (report.recorded, report.calls, report.granted, report.failed) == (1, 1, 1, 0)
    key = f"access-grant:{invoice.number}"
    assert [d.key for d in state.deliveries] == [key]
    delivery = state.deliveries[0]
    assert delivery.signature_ok
    body = delivery.payload
    assert body["schema"] == "backoffice.access.v1"
    assert body["idempotency_key"] == key
    assert body["customer"]["email"] == "paid-1@example.test"
    assert body["customer"]["tax_id"] == "5260001246"
    assert body["contract_ref"] == "UM/2026/0042"
    assert body["invoice"]["number"] == invoice.number
    assert body["invoice"]["total_gross"] == str(invoice.total_gross)
    assert body["paid_at"] == (T0 + timedelta(days=1)).isoformat()
    assert state.acted[key] == 1

    [grant] = _all(store, AccessGrant)
    assert (grant.invoice_pk, grant.status) == (invoice.id, "granted")
    [welcome] = _welcomes(store)
    assert welcome.idempotency_key == f"access/welcome/{invoice.id}"
    assert grant.welcome_key == welcome.idempotency_key
    original = next(
        m for m in _all(store, OutboxMessage) if m.idempotency_key == invoice.outbox_key
    )
    assert welcome.in_reply_to == original.message_id
    assert welcome.subject == f"Re: {original.subject}"
    assert welcome.to_addrs == ["paid-1@example.test"]
    assert welcome.language == "pl"
    assert "Dostęp do usługi (umowa UM/2026/0042)" in welcome.body_text
    assert invoice.number in welcome.body_text

    # Again, and again later: nothing new anywhere.
    _later(monkeypatch, 86400 * 3)
    again = grant_due(store, settings)
    assert (again.recorded, again.calls, again.granted) == (0, 0, 0)
    assert len(state.deliveries) == 1 and len(_welcomes(store)) == 1
    assert all(g.invoice_pk != unpaid for g in _all(store, AccessGrant))
    store.dispose()


def test_5xx_is_retried_with_exponential_backoff_and_the_same_key(
    seller_settings, receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    settings = seller_settings(
        "PL",
        access_webhook_url=url,
        access_webhook_secret=SECRET,
        access_timeout=1,
        access_backoff_seconds=60,
    )
    store = open_store(settings)
    invoice = _paid_invoice(store, settings, monkeypatch, key="flaky", language="ru")
    key = f"access-grant:{invoice.number}"
    state.answers[key] = [503, 502]
    _later(monkeypatch, 100)
    assert grant_due(store, settings).retry_later == 1
    assert grant_due(store, settings).retry_later == 0  # not due before the backoff ran out
    _later(monkeypatch, 100 + 61)
    assert grant_due(store, settings).retry_later == 1  # 502: the wait doubles to 120 s
    _later(monkeypatch, 100 + 61 + 119)
    assert grant_due(store, settings).calls == 0
    _later(monkeypatch, 100 + 61 + 121)
    report = grant_due(store, settings)
    assert (report.calls, report.granted) == (1, 1)
    assert state.calls(key) == 3
    assert len({d.body for d in state.deliveries}) == 1  # byte for byte the same body
    assert all(d.signature_ok for d in state.deliveries)
    assert state.acted[key] == 1
    [call] = _all(store, ProvisioningCall)
    assert (call.status, call.attempts, call.result) == ("done", 3, {"http_status": 200})
    [welcome] = _welcomes(store)
    assert "Доступ к сервису (договор UM/2026/0042)" in welcome.body_text
    store.dispose()


def test_a_timeout_is_retried_with_the_same_key_and_acted_on_once(
    seller_settings, receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    state.hang_first = True  # acts, then never answers the first request
    settings = seller_settings(
        "PL", access_webhook_url=url, access_webhook_secret=SECRET, access_timeout=1
    )
    store = open_store(settings)
    invoice = _paid_invoice(store, settings, monkeypatch, key="slow")
    _later(monkeypatch, 100)
    report = grant_due(store, settings)
    assert report.retry_later == 1
    [call] = _all(store, ProvisioningCall)
    assert "did not answer within 1 s" in call.last_error
    _later(monkeypatch, 100 + 61)
    assert grant_due(store, settings).granted == 1
    key = f"access-grant:{invoice.number}"
    assert state.calls(key) == 2 and state.acted[key] == 1
    store.dispose()


def test_a_refusal_goes_to_staff_and_nobody_is_welcomed(
    seller_settings, receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    command, out = _command(tmp_path)
    settings = seller_settings(
        "PL",
        access_webhook_url=url,
        access_webhook_secret=SECRET,
        access_command=command,
    )
    store = open_store(settings)
    invoice = _paid_invoice(store, settings, monkeypatch, key="refused")
    state.answers[f"access-grant:{invoice.number}"] = [422]
    _later(monkeypatch, 100)
    report = grant_due(store, settings)
    assert (report.failed, report.granted) == (1, 0)
    assert report.reasons[0].startswith(f"{ACCESS_PROVISIONING_REFUSED}: {invoice.number}")
    [grant] = _all(store, AccessGrant)
    assert (grant.status, grant.reason_code) == ("failed", ACCESS_PROVISIONING_REFUSED)
    [item] = [i for i in _all(store, ReviewItem) if i.reason_code == ACCESS_PROVISIONING_REFUSED]
    assert item.subject_ref == str(invoice.id) and "HTTP 422" in item.reason
    assert item.evidence["idempotency_key"] == f"access-grant:{invoice.number}"
    _later(monkeypatch, 86400)
    assert grant_due(store, settings).calls == 0
    assert len(state.deliveries) == 1 and _welcomes(store) == []
    # The grant failed at the webhook: its command is never run.
    assert list(out.iterdir()) == []
    assert {c.kind: c.status for c in _all(store, ProvisioningCall)} == {
        "webhook": "failed",
        "command": "pending",
    }
    store.dispose()


def test_attempts_run_out_for_staff(seller_settings, receiver, monkeypatch) -> None:
    state, url = receiver
    state.default_answers = [503] * 10
    settings = seller_settings(
        "PL",
        access_webhook_url=url,
        access_webhook_secret=SECRET,
        access_max_attempts=2,
        access_backoff_seconds=0,
    )
    store = open_store(settings)
    invoice = _paid_invoice(store, settings, monkeypatch, key="down")
    _later(monkeypatch, 100)
    assert grant_due(store, settings).retry_later == 1  # once per run, even without a wait
    report = grant_due(store, settings)
    assert report.failed == 1
    assert report.reasons[0].startswith(f"{ACCESS_PROVISIONING_FAILED}: {invoice.number}")
    assert "no answer after 2 attempts" in report.reasons[0]
    assert grant_due(store, settings).calls == 0 and len(state.deliveries) == 2
    store.dispose()


def test_a_command_and_the_webhook_both_before_the_welcome(
    seller_settings, receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    command, out = _command(tmp_path)
    settings = seller_settings(
        "PL",
        access_webhook_url=url,
        access_webhook_secret=SECRET,
        access_command=command,
        access_backoff_seconds=30,
    )
    store = open_store(settings)
    invoice = _paid_invoice(store, settings, monkeypatch, key="both")
    _later(monkeypatch, 100)
    report = grant_due(store, settings)
    # The webhook is done, the command said "later" (exit 75): no welcome yet.
    assert (report.calls, report.retry_later, report.granted) == (1, 1, 0)
    assert _welcomes(store) == []
    _later(monkeypatch, 131)
    report = grant_due(store, settings)
    assert (report.calls, report.granted) == (1, 1)
    key = f"access-grant:{invoice.number}"
    written = out / (key.replace("/", "_").replace(":", "_") + ".json")
    assert written.read_bytes() == state.deliveries[0].body
    assert json.loads(written.read_bytes())["idempotency_key"] == key
    assert len(_welcomes(store)) == 1
    store.dispose()


def test_configuration(seller_settings, receiver) -> None:
    _state, url = receiver
    store = open_store(seller_settings("PL"))
    report = grant_due(store, seller_settings("PL"))
    assert not report.configured and "not configured" in report.summary()
    with pytest.raises(ConfigurationError) as refused:
        grant_due(store, seller_settings("PL", access_webhook_url=url))
    assert refused.value.code == "ACCESS_WEBHOOK_SECRET_MISSING"
    with pytest.raises(ConfigurationError) as refused:
        grant_due(
            store,
            seller_settings("PL", access_webhook_url="ftp://x", access_webhook_secret=SECRET),
        )
    assert refused.value.code == "ACCESS_WEBHOOK_INVALID"
    store.dispose()
