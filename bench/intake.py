"""Mail intake from Dovecot: messages/s against a plain IMAPClient fetch loop, and memory.

Baseline: the same messages fetched by a bare IMAPClient loop (search, then
``BODY.PEEK[]`` in batches of the same size intake uses), nothing stored. Intake does
that plus parsing, classifying, writing blobs, committing each batch and moving it.
Target: ratio >= 0.8 (the RATIO line). For orientation the bench also prints intake
against a second floor, the same fetch loop writing each raw message durably to a blob
store (one sync per batch, as intake does), and the CPU intake spent per message in
the robot process and in its reader processes.

Memory: peak RSS of an intake process over 1,000 and 5,000 messages (target: within
1.2x, i.e. flat); the largest reader process is printed beside it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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


def _fetch_loop(user: str, each_batch: Callable[[list[bytes]], None] | None = None) -> float:
    """Seconds for a bare IMAPClient loop fetching every message of the user's INBOX."""
    start = time.perf_counter()
    with IMAPClient(HOST, port=PORT, ssl=False) as client:
        client.login(user, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        got = 0
        for i in range(0, len(uids), FETCH_BATCH):
            fetched = client.fetch(uids[i : i + FETCH_BATCH], ["BODY.PEEK[]"])
            if each_batch is not None:
                each_batch([data[b"BODY[]"] for data in fetched.values()])
            got += len(fetched)
    assert got == len(uids)
    return time.perf_counter() - start


def _plain_fetch(user: str) -> float:
    """The baseline: fetch only, nothing stored."""
    return _fetch_loop(user)


def _fetch_and_store_raw(user: str, blob_dir: str) -> float:
    """The fetch loop plus a durable raw blob per message: I/O only, no reading."""
    from backoffice.store.blobs import BlobStore

    blobs = BlobStore(Path(blob_dir))

    def store(raws: list[bytes]) -> None:
        with blobs.batch() as batch:
            for raw in raws:
                batch.put(raw)

    return _fetch_loop(user, store)


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
start, cpu = time.perf_counter(), time.process_time()
report = run_intake(store, settings)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
me = resource.getrusage(resource.RUSAGE_SELF)
workers = resource.getrusage(resource.RUSAGE_CHILDREN)
print(report.stored, elapsed, me.ru_maxrss, cpu, workers.ru_utime + workers.ru_stime,
      workers.ru_maxrss)
"""


@dataclass
class _Run:
    stored: int
    seconds: float
    #: peak RSS of the robot process and of its largest reader process, KiB
    rss: int
    reader_rss: int
    #: CPU seconds of the robot process and of its reader processes
    cpu: float
    reader_cpu: float


def _intake(user: str) -> _Run:
    """Run intake in its own process and return what it measured."""
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as home:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE],
            env=_intake_env(user, home),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return _Run(
        stored=int(out[0]),
        seconds=float(out[1]),
        rss=int(out[2]),
        cpu=float(out[3]),
        reader_cpu=float(out[4]),
        reader_rss=int(out[5]),
    )


def run() -> list[str]:
    """Measure and return the lines to print."""
    ratios, io_ratios, ours, base, io_base, cpu, reader_cpu = [], [], [], [], [], [], []
    for _ in range(ROUNDS):
        user = f"bench-{uuid.uuid4().hex[:8]}@example.test"
        _fill(user, MESSAGES)
        plain = _plain_fetch(user)
        with tempfile.TemporaryDirectory(prefix="bench-raw-") as blob_dir:
            raw_store = _fetch_and_store_raw(user, blob_dir)
        run = _intake(user)
        assert run.stored == MESSAGES, f"intake stored {run.stored} of {MESSAGES}"
        base.append(MESSAGES / plain)
        io_base.append(MESSAGES / raw_store)
        ours.append(MESSAGES / run.seconds)
        ratios.append(plain / run.seconds)
        io_ratios.append(raw_store / run.seconds)
        cpu.append(run.cpu / MESSAGES * 1000)
        reader_cpu.append(run.reader_cpu / MESSAGES * 1000)
    median = statistics.median
    lines = [
        f"intake {median(ours):.0f} msg/s, plain IMAPClient fetch {median(base):.0f} msg/s, "
        f"fetch + durable raw blob {median(io_base):.0f} msg/s "
        f"over {MESSAGES} messages x {ROUNDS} rounds",
        f"intake CPU per message: robot process {median(cpu):.2f} ms, "
        f"reader processes {median(reader_cpu):.2f} ms",
        f"ratio intake/fetch+raw-store = {median(io_ratios):.2f} (orientation only)",
        f"RATIO intake/plain-fetch = {median(ratios):.2f} (target >= 0.8)",
    ]
    peaks, reader_peaks = {}, {}
    for count in (1000, 5000):
        user = f"bench-mem-{uuid.uuid4().hex[:8]}@example.test"
        _fill(user, count)
        run = _intake(user)
        assert run.stored == count
        peaks[count], reader_peaks[count] = run.rss, run.reader_rss
    lines.append(
        f"peak RSS 1,000 msgs {peaks[1000] / 1024:.0f} MiB, 5,000 msgs {peaks[5000] / 1024:.0f} MiB"
        f" (largest reader process {reader_peaks[1000] / 1024:.0f} / "
        f"{reader_peaks[5000] / 1024:.0f} MiB)"
    )
    lines.append(f"RATIO peak-RSS 5000/1000 = {peaks[5000] / peaks[1000]:.2f} (target <= 1.2)")
    return lines
