"""Mail intake from Dovecot: messages/s against a plain IMAPClient fetch loop, and memory.

Baseline: the same messages fetched by a bare IMAPClient loop (search, then
``BODY.PEEK[]`` in batches of the same size intake uses), nothing stored. Intake does
that plus parsing, classifying, writing blobs, committing each message and moving it.
Target: ratio >= 0.8. Memory: peak RSS of an intake process over 1,000 and 5,000
messages (target: within 1.2x, i.e. flat).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from backoffice.intake.sources import FETCH_BATCH
from imapclient import IMAPClient

HOST, PORT, PASSWORD = "127.0.0.1", 10143, "secret"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MESSAGES = int(os.environ.get("BENCH_INTAKE_MESSAGES", "400"))
ROOT = Path(__file__).resolve().parents[1]


def _fill(user: str, count: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.support.mails import invoice_mail

    with IMAPClient(HOST, port=PORT, ssl=False) as client:
        client.login(user, PASSWORD)
        for n in range(count):
            client.append("INBOX", invoice_mail(n, attachment=os.urandom(20_000)))


def _plain_fetch(user: str) -> float:
    start = time.perf_counter()
    with IMAPClient(HOST, port=PORT, ssl=False) as client:
        client.login(user, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        got = 0
        for i in range(0, len(uids), FETCH_BATCH):
            got += len(client.fetch(uids[i : i + FETCH_BATCH], ["BODY.PEEK[]"]))
    assert got == len(uids)
    return time.perf_counter() - start


def _intake_env(user: str, home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
    env.update(
        BACKOFFICE_HOME=home,
        BACKOFFICE_MAIL_SOURCE="imap",
        BACKOFFICE_IMAP_HOST=HOST,
        BACKOFFICE_IMAP_PORT=str(PORT),
        BACKOFFICE_IMAP_SECURITY="none",
        BACKOFFICE_IMAP_USER=user,
        BACKOFFICE_IMAP_PASSWORD=PASSWORD,
    )
    return env


_MEASURE = """
import resource, sys, time
from backoffice.config import load_settings
from backoffice.store import open_store
from backoffice.intake.service import run_intake
settings = load_settings()
store = open_store(settings)
start = time.perf_counter()
report = run_intake(store, settings)
elapsed = time.perf_counter() - start
print(report.stored, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _intake(user: str) -> tuple[int, float, int]:
    """Run intake in its own process; return stored count, seconds, peak RSS in KiB."""
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as home:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE],
            env=_intake_env(user, home),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def run() -> list[str]:
    """Measure and return the lines to print."""
    ratios, ours, base = [], [], []
    for _ in range(ROUNDS):
        user = f"bench-{uuid.uuid4().hex[:8]}@example.test"
        _fill(user, MESSAGES)
        plain = _plain_fetch(user)
        stored, elapsed, _rss = _intake(user)
        assert stored == MESSAGES, f"intake stored {stored} of {MESSAGES}"
        base.append(MESSAGES / plain)
        ours.append(MESSAGES / elapsed)
        ratios.append(plain / elapsed)
    lines = [
        f"intake {statistics.median(ours):.0f} msg/s, plain IMAPClient fetch "
        f"{statistics.median(base):.0f} msg/s over {MESSAGES} messages x {ROUNDS} rounds",
        f"RATIO intake/plain-fetch = {statistics.median(ratios):.2f} (target >= 0.8)",
    ]
    peaks = {}
    for count in (1000, 5000):
        user = f"bench-mem-{uuid.uuid4().hex[:8]}@example.test"
        _fill(user, count)
        stored, _elapsed, rss = _intake(user)
        assert stored == count
        peaks[count] = rss
    lines.append(
        f"peak RSS 1,000 msgs {peaks[1000] / 1024:.0f} MiB, 5,000 msgs {peaks[5000] / 1024:.0f} MiB"
    )
    lines.append(f"RATIO peak-RSS 5000/1000 = {peaks[5000] / peaks[1000]:.2f} (target <= 1.2)")
    return lines
