"""THE numbering crash test: 4 billing robots on PostgreSQL, SIGKILLed and restarted.

Four robot processes issue the same queue of invoice requests at once while each is killed
at random moments (seeded, printed) and restarted, next to an outbox robot killed the same
way; the invoice emails go through the real SMTP server into Dovecot. At the end: every
request has exactly one invoice, the numbers are 1..N without a gap or a duplicate, and
the customer's mailbox holds each invoice's email exactly once.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from itertools import pairwise

import pytest
from backoffice.billing.model import parse_request
from backoffice.billing.models import InvoiceRequest, IssuedInvoice
from backoffice.billing.service import queue_requests
from backoffice.store import OutboxMessage, open_store
from sqlalchemy import func, select

from tests.billing.requests import PL_SELLER, pl_request
from tests.test_crash import KILLS, SEED, robot_env, run_killed

pytestmark = [pytest.mark.slow, pytest.mark.imap, pytest.mark.smtp, pytest.mark.postgres]

INVOICES = int(os.environ.get("BILLING_CRASH_INVOICES", "500"))
ROBOTS = 4


class _WhileIssuing(random.Random):
    """Kill delays shifted past a robot's start-up (~1.5 s of imports on a busy machine),
    so the SIGKILLs land while it is numbering, drawing and queueing invoices."""

    def uniform(self, a: float, b: float) -> float:
        return super().uniform(a + 1.5, b + 4.0)


@pytest.mark.timeout(3600)
def test_four_billing_robots_killed_repeatedly_number_without_gaps_and_email_once(
    mailbox, imap_settings, test_servers, pg_url: str
) -> None:
    customer = mailbox("customer")
    journal = mailbox("journal")
    smtp = {
        "outbox_transport": "smtp",
        "smtp_host": test_servers.host,
        "smtp_port": test_servers.smtp_port,
        "smtp_security": "none",
        "outbox_journal_address": journal.user,
        "journal_imap_user": journal.user,
    }
    settings = imap_settings(journal, database_url=pg_url, **smtp, **PL_SELLER)
    store = open_store(settings)
    requests = []
    for n in range(INVOICES):
        data = pl_request(f"crash-{n}")
        data["buyer"] = dict(data["buyer"], email=customer.user)
        requests.append(parse_request(data))
    queue_requests(store, settings, requests)
    env = robot_env(
        settings,
        **{
            f"BACKOFFICE_{name.upper()}": str(value)
            for name, value in {**smtp, **PL_SELLER}.items()
        },
    )
    issue = [sys.executable, "-m", "backoffice.cli", "invoice", "issue-due"]
    send = [sys.executable, "-m", "backoffice.cli", "outbox", "send"]
    failures: list[BaseException] = []

    def robot(args: list[str], seed: int) -> None:
        try:
            run_killed(args, env, _WhileIssuing(seed), kills=KILLS)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=robot, args=(issue, SEED + 10 + n)) for n in range(ROBOTS)
    ] + [threading.Thread(target=robot, args=(send, SEED + 20))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    with store.session() as session:
        left = dict(
            session.execute(
                select(IssuedInvoice.status, func.count()).group_by(IssuedInvoice.status)
            ).all()
        )
    print(f"after the killed runs: invoices per status {left} of {INVOICES}")

    # The last robot standing finishes what the killed ones left (leases of 2 s).
    time.sleep(2.5)
    subprocess.run(issue, env=env, check=True, capture_output=True, timeout=1800)
    for _ in range(10):
        subprocess.run(send, env=env, check=True, capture_output=True, timeout=1800)
        with store.session() as session:
            pending = session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.status != "sent")
            )
        if not pending:
            break
        time.sleep(2.5)
    assert pending == 0

    with store.session() as session:
        invoices = list(session.scalars(select(IssuedInvoice).order_by(IssuedInvoice.seq)))
        statuses = dict(
            session.execute(
                select(InvoiceRequest.status, func.count()).group_by(InvoiceRequest.status)
            ).all()
        )
        per_request = list(session.scalars(select(InvoiceRequest.invoice_pk)))
        outbox = session.scalar(select(func.count(OutboxMessage.id)))
    assert statuses == {"issued": INVOICES}
    assert len(set(per_request)) == INVOICES
    assert len(invoices) == INVOICES
    assert [row.seq for row in invoices] == list(range(1, INVOICES + 1)), "a gap or a duplicate"
    assert len({row.number for row in invoices}) == INVOICES
    assert {row.status for row in invoices} == {"emailed"}
    # invoice n was numbered no earlier than invoice n-1
    assert all(a.issued_at <= b.issued_at for a, b in pairwise(invoices))
    assert outbox == INVOICES

    delivered = customer.wait_for(INVOICES, timeout=120)
    ids = [msg["Message-ID"] for msg in delivered]
    assert len(ids) == INVOICES, f"{len(ids)} delivered"
    assert len(set(ids)) == INVOICES, "an invoice was emailed twice"
    subjects = sorted(str(msg["Subject"]) for msg in delivered)
    assert subjects == sorted(f"Faktura VAT nr {row.number}" for row in invoices)
    attached = {part.get_filename() for msg in delivered for part in msg.iter_attachments()}
    assert len(attached) == 2 * INVOICES  # one PDF and one FA(3) XML each
    store.dispose()
