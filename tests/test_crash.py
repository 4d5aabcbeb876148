"""Nothing lost, nothing twice: robots killed with SIGKILL mid-run and restarted.

Each test runs the real CLI as a separate process against the real servers, kills it
at random moments (seeded, printed) and restarts it, then checks the end state.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from backoffice.store import Message, open_store
from sqlalchemy import func, select

from tests.support.mails import invoice_mail

pytestmark = [pytest.mark.slow, pytest.mark.imap]

KILLS = 6
SEED = int(os.environ.get("CRASH_SEED", "20261123"))


def robot_env(settings, **extra: str) -> dict[str, str]:
    """Environment for a robot process using these settings (secrets via env only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
    env.update(
        {
            "BACKOFFICE_HOME": str(settings.home),
            "BACKOFFICE_DATABASE_URL": settings.resolved_database_url,
            "BACKOFFICE_MAIL_SOURCE": settings.mail_source,
            "BACKOFFICE_IMAP_HOST": settings.imap_host,
            "BACKOFFICE_IMAP_PORT": str(settings.imap_port),
            "BACKOFFICE_IMAP_SECURITY": settings.imap_security,
            "BACKOFFICE_IMAP_USER": settings.imap_user,
            "BACKOFFICE_IMAP_PASSWORD": "secret",
            "BACKOFFICE_LEASE_SECONDS": "2",
        }
    )
    env.update(extra)
    return env


def run_killed(args: list[str], env: dict[str, str], rng: random.Random, *, kills: int) -> None:
    """Start the command, SIGKILL it after a random delay, ``kills`` times, then finish."""
    for attempt in range(kills):
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        delay = rng.uniform(0.3, 2.5)
        try:
            proc.wait(timeout=delay)
            print(f"run {attempt}: finished before the kill at {delay:.2f}s")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            print(f"run {attempt}: killed after {delay:.2f}s")
    # A killed robot's lease (2 s here) must run out before a new robot takes over.
    time.sleep(float(env["BACKOFFICE_LEASE_SECONDS"]) + 0.5)
    final = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "nothing done" not in final.stdout, final.stdout


def test_intake_killed_repeatedly_stores_each_message_exactly_once(
    mailbox, imap_settings, db_url: str
) -> None:
    box = mailbox("crash")
    for n in range(200):
        box.append(invoice_mail(n))
    settings = imap_settings(box, database_url=db_url)
    rng = random.Random(SEED)
    cli = [sys.executable, "-m", "backoffice.cli", "intake"]
    run_killed(cli, robot_env(settings), rng, kills=KILLS)

    store = open_store(settings)
    with store.session() as session:
        total = session.scalar(select(func.count(Message.id)))
        distinct = session.scalar(select(func.count(func.distinct(Message.message_id))))
        messages = session.scalars(select(Message)).all()
        for message in messages:
            raw = store.blobs.read(message.raw_path)
            assert hashlib.sha256(raw).hexdigest() == message.raw_sha256
            assert len(message.documents) == 1
            assert store.blobs.read(message.documents[0].blob_path)
    assert (total, distinct) == (200, 200)
    assert box.count("INBOX") == 0
    assert box.count("Processed") == 200


def _intake_until_empty(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "intake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.postgres
def test_two_intake_robots_at_once_on_postgresql(mailbox, imap_settings, pg_url: str) -> None:
    box = mailbox("pair")
    for n in range(150):
        box.append(invoice_mail(n))
    settings = imap_settings(box, database_url=pg_url)
    env = robot_env(settings)
    open_store(settings).dispose()  # schema first, so both robots start on equal terms
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "backoffice.cli", "intake"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    store = open_store(settings)
    with store.session() as session:
        total = session.scalar(select(func.count(Message.id)))
        distinct = session.scalar(select(func.count(func.distinct(Message.message_id))))
    assert (total, distinct) == (150, 150)
    assert box.count("INBOX") == 0
    assert box.count("Processed") == 150


def test_killed_robot_leaves_no_partial_blob(tmp_path: Path) -> None:
    """Blob writes are tmp+rename: after a kill only whole files carry a sha256 name."""
    from backoffice.store.blobs import BlobStore

    blobs = BlobStore(tmp_path)
    code = (
        "import sys; from pathlib import Path; from backoffice.store.blobs import BlobStore;"
        "b = BlobStore(Path(sys.argv[1]));"
        "[b.put(bytes([i % 251]) * 3_000_000) for i in range(10_000)]"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)])
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.startswith(".tmp-"):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    assert blobs.root == tmp_path


@pytest.mark.smtp
def test_outbox_killed_repeatedly_delivers_each_email_exactly_once(
    mailbox, imap_settings, test_servers, db_url: str
) -> None:
    from backoffice.outbox.service import enqueue
    from backoffice.store import OutboxMessage

    customer = mailbox("customer")
    journal = mailbox("journal")
    settings = imap_settings(
        journal,
        database_url=db_url,
        outbox_transport="smtp",
        smtp_host=test_servers.host,
        smtp_port=test_servers.smtp_port,
        smtp_security="none",
        outbox_journal_address=journal.user,
        journal_imap_user=journal.user,
    )
    store = open_store(settings)
    for n in range(100):
        enqueue(
            store,
            settings,
            key=f"crash-test/{n}",
            to=[customer.user],
            subject=f"Faktura FV/{n:03d}/2026 — przypomnienie",
            body_text=f"Dzień dobry, przypominamy o fakturze nr {n}.",
        )
    env = robot_env(
        settings,
        BACKOFFICE_OUTBOX_TRANSPORT="smtp",
        BACKOFFICE_SMTP_HOST=test_servers.host,
        BACKOFFICE_SMTP_PORT=str(test_servers.smtp_port),
        BACKOFFICE_SMTP_SECURITY="none",
        BACKOFFICE_OUTBOX_JOURNAL_ADDRESS=journal.user,
        BACKOFFICE_JOURNAL_IMAP_USER=journal.user,
    )
    cli = [sys.executable, "-m", "backoffice.cli", "outbox", "send"]
    run_killed(cli, env, random.Random(SEED + 1), kills=KILLS)
    # a send a kill left in doubt is settled once its lease (2 s) has run out
    for _ in range(5):
        with store.session() as session:
            pending = session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.status != "sent")
            )
        if not pending:
            break
        time.sleep(2.5)
        subprocess.run(cli, env=env, check=True, capture_output=True, timeout=600)
    assert pending == 0
    delivered = customer.wait_for(100, timeout=60)
    ids = [msg["Message-ID"] for msg in delivered]
    assert len(ids) == 100, f"{len(ids)} delivered"
    assert len(set(ids)) == 100, "an email was delivered twice"
