"""The invoices robot killed with SIGKILL and restarted, and two robots at once on PostgreSQL:
every document is decided once, every export, hook call and correction email made at most
once. Each robot is the real CLI in its own process; the hook is a real command.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from backoffice.clock import utcnow
from backoffice.store import Document, OutboxMessage, ReviewItem, open_store
from backoffice.store.models import InvoiceCase, InvoiceCaseDocument, InvoiceEffect
from sqlalchemy import func, select

from tests.invoices.mailing import clean_invoice, invoice_email, mail_in, pdf_of, with_wrong_nip

SEED = int(os.environ.get("CRASH_SEED", "20261123"))
CLI = [sys.executable, "-m", "backoffice.cli", "invoices"]
#: Far enough ahead that every lease a killed robot held has run out.
LATER = timedelta(hours=2)


def hook_script(tmp_path: Path, *, sleep: float = 0) -> tuple[str, Path]:
    """A hook command that appends its idempotency key to a log (then sleeps, if asked)."""
    log = tmp_path / "hook.log"
    script = tmp_path / "hook.py"
    script.write_text(
        "import os, sys, time\n"
        "sys.stdin.read()\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(os.environ['BACKOFFICE_IDEMPOTENCY_KEY'] + '\\n')\n"
        "    f.flush()\n"
        "    os.fsync(f.fileno())\n"
        f"time.sleep({sleep})\n"
    )
    return f"{sys.executable} {script}", log


def robot_env(settings, **extra: str) -> dict[str, str]:
    """Environment of a robot process using these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
    env.update(
        {
            "BACKOFFICE_HOME": str(settings.home),
            "BACKOFFICE_DATABASE_URL": settings.resolved_database_url,
            "BACKOFFICE_INVOICE_HOOK": settings.invoice_hook,
            "BACKOFFICE_INVOICE_REMINDER_DAYS": "1000",
            "BACKOFFICE_LEASE_SECONDS": "60",
        }
    )
    env.update(extra)
    return env


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(CLI, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the robot and whatever it started (the hook)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def mail_invoices(store, settings, clean: int, wrong: int) -> None:
    for n in range(clean + wrong):
        invoice = clean_invoice(100 + n)
        invoice.number = f"FV/{n + 1}/2026"
        if n >= clean:
            with_wrong_nip(invoice, seed=n)
        mail_in(store, settings, invoice_email(pdf_of(invoice), message_id=f"<n{n}@x.test>"))


def test_a_robot_killed_inside_the_hook_never_calls_it_again(
    db_url: str, make_settings, tmp_path: Path
) -> None:
    command, log = hook_script(tmp_path, sleep=600)
    settings = make_settings(database_url=db_url, invoice_hook=command)
    store = open_store(settings)
    mail_invoices(store, settings, clean=1, wrong=0)
    env = robot_env(settings, BACKOFFICE_INVOICE_HOOK_TIMEOUT="900")

    proc = subprocess.Popen(CLI, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and log.read_text()):
            assert proc.poll() is None, "the robot ended before calling the hook"
            assert time.monotonic() < deadline, "the hook was never called"
            time.sleep(0.1)
    finally:
        kill_group(proc)
    with store.session() as session:
        states = {e.kind: e.status for e in session.scalars(select(InvoiceEffect))}
    # Recorded before it was made: the store says the call was under way.
    assert states == {"export": "done", "hook": "running"}

    later = robot_env(settings, BACKOFFICE_NOW=(utcnow() + LATER).isoformat())
    out = run(later)
    run(later)

    assert "HOOK_IN_DOUBT" in out.stdout
    assert len(log.read_text().splitlines()) == 1
    with store.session() as session:
        [case] = session.scalars(select(InvoiceCase)).all()
        effects = {e.kind: e.status for e in session.scalars(select(InvoiceEffect))}
        [item] = session.scalars(select(ReviewItem)).all()
    assert effects == {"export": "done", "hook": "in_doubt"}
    assert case.state == "accepted"
    assert (item.subject_ref, item.reason_code) == (str(case.id), "HOOK_IN_DOUBT")
    files = sorted(p.name for p in settings.resolved_invoice_export_dir.iterdir())
    assert len(files) == 2
    store.dispose()


def check_acted_once(store, settings, log: Path, *, clean: int, wrong: int) -> Counter[str]:
    """Each document decided once, each case exported and hooked at most once, one
    correction email per wrong invoice; returns the case states."""
    hooked = Counter(log.read_text().splitlines() if log.exists() else [])
    assert all(count == 1 for count in hooked.values()), hooked
    with store.session() as session:
        documents = session.scalars(select(Document).where(Document.kind == "invoice")).all()
        assert {d.status for d in documents} == {"processed"}
        links = session.scalar(select(func.count(InvoiceCaseDocument.id)))
        assert links == clean + wrong
        cases = session.scalars(select(InvoiceCase)).all()
        states = Counter(case.state for case in cases)
        mails = session.scalars(select(OutboxMessage)).all()
        effects = session.scalars(select(InvoiceEffect)).all()
        doubts = {
            item.subject_ref
            for item in session.scalars(
                select(ReviewItem).where(ReviewItem.reason_code == "HOOK_IN_DOUBT")
            )
        }
    assert len(cases) == clean + wrong
    assert states["waiting"] == wrong
    assert states["exported"] + states["accepted"] == clean
    assert sorted(m.idempotency_key for m in mails) == sorted(
        f"invoice-case:{case.id}:correction:1" for case in cases if case.state == "waiting"
    )
    for effect in effects:
        if effect.kind == "hook":
            assert effect.status in {"done", "in_doubt"}, effect.status
            if effect.status == "done":
                assert hooked[effect.key] == 1
            else:
                assert str(effect.case_pk) in doubts
        else:
            assert effect.status == "done"
    exported = sorted(p.name for p in settings.resolved_invoice_export_dir.iterdir())
    assert len([n for n in exported if n.endswith(".json")]) == clean
    assert len([n for n in exported if n.endswith(".csv")]) == clean
    return states


@pytest.mark.slow
def test_invoices_robot_killed_repeatedly_acts_once_per_invoice(
    db_url: str, make_settings, tmp_path: Path
) -> None:
    command, log = hook_script(tmp_path)
    settings = make_settings(database_url=db_url, invoice_hook=command)
    store = open_store(settings)
    mail_invoices(store, settings, clean=10, wrong=6)
    env = robot_env(settings)
    rng = random.Random(SEED)
    for attempt in range(6):
        proc = subprocess.Popen(CLI, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
        delay = rng.uniform(0.5, 4.0)
        try:
            proc.wait(timeout=delay)
            print(f"run {attempt}: finished before the kill at {delay:.2f}s")
        except subprocess.TimeoutExpired:
            kill_group(proc)
            print(f"run {attempt}: killed after {delay:.2f}s")
    run(robot_env(settings, BACKOFFICE_NOW=(utcnow() + LATER).isoformat()))

    states = check_acted_once(store, settings, log, clean=10, wrong=6)
    print(f"case states: {dict(states)}")
    store.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_invoice_robots_at_once_on_postgresql(
    pg_url: str, make_settings, tmp_path: Path
) -> None:
    command, log = hook_script(tmp_path)
    settings = make_settings(database_url=pg_url, invoice_hook=command)
    store = open_store(settings)
    mail_invoices(store, settings, clean=16, wrong=8)
    env = robot_env(settings)
    procs = [
        subprocess.Popen(
            CLI,
            env={**env, "BACKOFFICE_WORKER_ID": f"robot-{i}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-2000:] + err[-2000:]

    states = check_acted_once(store, settings, log, clean=16, wrong=8)
    assert states == Counter({"exported": 16, "waiting": 8})
    assert len(log.read_text().splitlines()) == 16
    # Between them the two robots read each document once.
    read = [int(out.split(" documents read")[0].rsplit(" ", 1)[-1]) for out, _ in outputs]
    assert sum(read) == 24, outputs
    store.dispose()
