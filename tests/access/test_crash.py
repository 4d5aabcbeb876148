"""Exactly once across kills: the access robot (``backoffice access grant-due``, a real
process) is SIGKILLed during the provisioning call and restarted; the receiver (a real HTTP
server) acts on each idempotency key once, the store holds one grant per invoice, and the
customer's Dovecot mailbox gets one welcome email through the real SMTP server."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from backoffice.access.models import AccessGrant, ProvisioningCall
from backoffice.store import OutboxMessage, open_store
from sqlalchemy import select

from tests.access.conftest import SECRET
from tests.billing.requests import PL_SELLER
from tests.receivables.helpers import book_payment, issue

pytestmark = [pytest.mark.imap, pytest.mark.smtp]

GRANT = [sys.executable, "-m", "backoffice.cli", "access", "grant-due"]
SEND = [sys.executable, "-m", "backoffice.cli", "outbox", "send"]


def _env(settings, url: str, **extra: str) -> dict[str, str]:
    """A robot process's environment: these settings, the secret via env only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
    env.update(
        {
            "BACKOFFICE_HOME": str(settings.home),
            "BACKOFFICE_DATABASE_URL": settings.resolved_database_url,
            "BACKOFFICE_LEASE_SECONDS": "1",
            "BACKOFFICE_ACCESS_WEBHOOK_URL": url,
            "BACKOFFICE_ACCESS_WEBHOOK_SECRET": SECRET,
            "BACKOFFICE_ACCESS_TIMEOUT": "5",
            "BACKOFFICE_ACCESS_BACKOFF_SECONDS": "0",
            "BACKOFFICE_OUTBOX_TRANSPORT": "smtp",
            "BACKOFFICE_SMTP_HOST": settings.smtp_host,
            "BACKOFFICE_SMTP_PORT": str(settings.smtp_port),
            "BACKOFFICE_SMTP_SECURITY": "none",
        }
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return " ".join(done.stdout.split())  # rich wraps long lines


def _later(hours: float) -> str:
    """A clock far enough ahead that every lease a killed robot held has run out."""
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def test_killed_during_the_call_then_restarted_acts_once_and_welcomes_once(
    smtp_settings, mailbox, receiver, db_url: str
) -> None:
    state, url = receiver
    state.hang_first = True  # acts on the request, then the robot dies before the answer
    customer = mailbox("customer")
    settings = smtp_settings(database_url=db_url, **PL_SELLER)
    store = open_store(settings)
    invoice_id = issue(store, settings, "crash-1", email=customer.user)
    book_payment(store, invoice_id, datetime.now(UTC))
    env = _env(settings, url)

    robot = subprocess.Popen(GRANT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert state.got_request.wait(60), "the robot never called the receiver"
    robot.send_signal(signal.SIGKILL)
    robot.wait()
    with store.session() as session:
        [grant] = session.scalars(select(AccessGrant)).all()
        [call] = session.scalars(select(ProvisioningCall)).all()
        # The intent and the running call were committed before the call.
        assert (grant.status, call.status, call.attempts) == ("provisioning", "running", 1)
        key = grant.idempotency_key
    assert state.acted[key] == 1

    out = _run(GRANT, {**env, "BACKOFFICE_NOW": _later(1)})
    assert "1 resumed after a stop" in out and "1 granted" in out, out
    assert "0 granted" in _run(GRANT, {**env, "BACKOFFICE_NOW": _later(2)})
    assert state.calls(key) == 2  # the same key again after the kill...
    assert state.acted[key] == 1  # ...and the receiver acted on it once
    assert all(d.signature_ok for d in state.deliveries)

    # The welcome was queued under the clock the restarted robot ran with.
    _run(SEND, {**env, "BACKOFFICE_NOW": _later(3)})
    messages = customer.wait_for(2)  # the invoice, then the welcome
    welcomes = [m for m in messages if "Dostęp do usługi" in m.get_body(("plain",)).get_content()]
    assert len(welcomes) == 1
    with store.session() as session:
        invoice_mail = session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.idempotency_key == f"billing/invoice/{invoice_id}"
            )
        )
        assert invoice_mail is not None
        assert welcomes[0]["In-Reply-To"] == invoice_mail.message_id
        assert session.scalar(select(AccessGrant.status)) == "granted"
    _run(SEND, {**env, "BACKOFFICE_NOW": _later(4)})
    assert customer.count() == 2
    store.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_robots_killed_repeatedly_grant_each_paid_invoice_once(
    smtp_settings, mailbox, receiver, pg_url: str
) -> None:
    state, url = receiver
    state.delay = 0.8  # each call takes a while, so kills land inside calls too
    customer = mailbox("customers")
    settings = smtp_settings(database_url=pg_url, **PL_SELLER)
    store = open_store(settings)
    invoices = 12
    for n in range(invoices):
        invoice_id = issue(store, settings, f"kill-{n}", email=customer.user)
        book_payment(store, invoice_id, datetime.now(UTC))
    env = _env(settings, url)
    seed = int(os.environ.get("ACCESS_CRASH_SEED", "20261123"))
    print(f"ACCESS_CRASH_SEED={seed}")
    failures: list[BaseException] = []

    def robot(rng: random.Random) -> None:
        try:
            for _ in range(4):
                seen = len(state.deliveries)
                proc = subprocess.Popen(
                    GRANT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                # Kill it once it is calling (start-up takes seconds on a busy machine):
                # just after the receiver got a new request, while it waits for the answer.
                while proc.poll() is None and len(state.deliveries) == seen:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 0.6))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=robot, args=(random.Random(seed + n),)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    _run(GRANT, {**env, "BACKOFFICE_NOW": _later(1)})
    _run(GRANT, {**env, "BACKOFFICE_NOW": _later(2)})

    with store.session() as session:
        grants = session.scalars(select(AccessGrant)).all()
        assert len(grants) == invoices and {g.status for g in grants} == {"granted"}
        keys = {g.idempotency_key for g in grants}
        welcome_rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.like("access/welcome/%"))
        ).all()
        assert len(welcome_rows) == invoices
    assert set(state.acted) == keys and set(state.acted.values()) == {1}
    assert all(d.signature_ok for d in state.deliveries)
    print(f"receiver: {len(state.deliveries)} requests for {len(keys)} keys")

    _run(SEND, {**env, "BACKOFFICE_NOW": _later(3)})
    messages = customer.wait_for(2 * invoices)
    welcomes = [m for m in messages if "Dostęp do usługi" in m.get_body(("plain",)).get_content()]
    assert len(welcomes) == invoices
    assert len({m["Message-ID"] for m in welcomes}) == invoices
    store.dispose()
