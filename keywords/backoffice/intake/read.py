"""Reading incoming mail: parse, key and classify each message, before it is stored.

Reading is pure CPU work (the standard library's email parser, pdfium, XML) and has no
effect outside the process, so it runs in worker processes, a batch ahead of the store,
when at least two cores are idle (see :func:`reader_count`). This module is what a
worker needs: it stays clear of the database, the settings and the mail sources.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from backoffice.errors import ApplicationError
from backoffice.intake.classify import Classification, classify
from backoffice.intake.parse import Limits, ParsedMessage, Problem, dedupe_key, parse_message
from backoffice.outbox.bounces import Bounce, detect_bounce

#: Most worker processes used for reading; more rarely help, the store is serial.
MAX_READERS = 4
#: Batches smaller than this are read in the robot's own process (no start-up cost).
MIN_MESSAGES_FOR_WORKERS = 8
#: Linux prctl option: a signal sent to this process when its parent dies.
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ReadRules:
    """What reading needs from the settings (no secrets: it is sent to the workers)."""

    limits: Limits
    max_message_bytes: int
    sender_allow: frozenset[str] = frozenset()
    sender_deny: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Any) -> ReadRules:
        """The rules configured on a :class:`backoffice.config.Settings`."""
        return cls(
            limits=Limits.from_settings(settings),
            max_message_bytes=settings.max_message_bytes,
            sender_allow=frozenset(settings.sender_allow),
            sender_deny=frozenset(settings.sender_deny),
        )


@dataclass
class ReadMail:
    """One message parsed, keyed and judged: everything but the storing."""

    parsed: ParsedMessage
    #: The dedupe key: Message-ID + the kept attachments' sha256s.
    key: str
    #: Why the message is kept as a record only (rejected or ignored), else None.
    refusal: Problem | None
    #: One classification per attachment, None where the bytes were not kept.
    verdicts: list[Classification | None]
    #: The delivery report this message is (its attachments are not documents), else None.
    bounce: Bounce | None = None


def read_mail(raw: bytes, rules: ReadRules, *, truncated_size: int | None = None) -> ReadMail:
    """Parse, key and classify one raw message; never raises on bad input.

    ``truncated_size`` is the real size of a message of which the source fetched only
    the header because it was over the size limit.
    """
    parsed = parse_message(raw, rules.limits)
    if truncated_size is not None:
        parsed.attachments = []
        parsed.fatal = Problem(
            "MESSAGE_TOO_LARGE",
            f"the message is {truncated_size:,} bytes, over the limit of "
            f"{rules.max_message_bytes:,}; only its header was stored",
        )
    refusal = parsed.fatal or sender_refusal(parsed.sender, rules)
    bounce = None
    # A bounce answers our own mail: the allow list (meant for documents) does not apply.
    if parsed.fatal is None and (refusal is None or refusal.code == "SENDER_NOT_ALLOWED"):
        headers = parsed.headers
        bounce = detect_bounce(
            raw,
            content_type=headers.get("Content-Type", ""),
            sender=parsed.sender,
            subject=parsed.subject,
            return_path=headers.get("Return-Path", ""),
            reference_ids=[parsed.in_reply_to, *parsed.references],
        )
        if bounce is not None:
            refusal = None
    verdicts: list[Classification | None] = []
    if refusal is None and bounce is None:
        verdicts = [
            None
            if attachment.data is None
            else classify(
                attachment.filename,
                attachment.content_type,
                attachment.data,
                subject=parsed.subject,
                body=parsed.body_text,
            )
            for attachment in parsed.attachments
        ]
    return ReadMail(parsed, dedupe_key(parsed), refusal, verdicts, bounce)


def read_batch(mails: Sequence[tuple[bytes, int | None]], rules: ReadRules) -> list[ReadMail]:
    """:func:`read_mail` over (raw, truncated size) pairs: one worker's unit of work."""
    return [read_mail(raw, rules, truncated_size=size) for raw, size in mails]


def sender_refusal(sender: str, rules: ReadRules) -> Problem | None:
    """SENDER_DENIED or SENDER_NOT_ALLOWED by the allow/deny lists, else None."""
    domain = "*@" + sender.rsplit("@", 1)[-1] if "@" in sender else ""
    if sender in rules.sender_deny or (domain and domain in rules.sender_deny):
        return Problem("SENDER_DENIED", f"the sender {sender or '(none)'} is on the deny list")
    if rules.sender_allow and not (
        sender in rules.sender_allow or (domain and domain in rules.sender_allow)
    ):
        return Problem(
            "SENDER_NOT_ALLOWED", f"the sender {sender or '(none)'} is not on the allow list"
        )
    return None


def reader_count() -> int:
    """Worker processes worth starting now: one per core that is idle, none when fewer
    than two cores are idle.

    Measured on a shared 2-core machine whose load average stayed at 5-8 (other jobs):
    reading in two workers took the robot process from 6.5 to 3.0 ms of CPU per message
    but added a fifth to the total CPU (copying messages between processes), and the
    wall-clock rate did not change (medians 98 and 96 messages/s). Workers only pay off
    on cores nobody else is using.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        idle = cores - os.getloadavg()[0]
    except OSError:  # no load average on this system
        idle = cores
    workers = min(int(idle + 0.5), cores, MAX_READERS)
    return workers if workers >= 2 else 0


class Readers:
    """Reads batches of messages ahead of the store, in worker processes when useful.

    :meth:`submit` starts reading a batch and returns a function that waits for the
    result, so the robot stores one batch while the workers read the next.

    Workers are forked when the readers are created, before the robot starts its fetch
    thread, and die with the robot if it is killed. Forking (not ``spawn`` or
    ``forkserver``) because those re-run the ``__main__`` script in every worker, and
    the script that calls intake is a robot's, not ours; a forked worker only reads
    bytes it is given and never touches the connections it inherits.
    """

    def __init__(self, rules: ReadRules, processes: int | None = None) -> None:
        self.rules = rules
        self.processes = reader_count() if processes is None else processes
        self._pool: ProcessPoolExecutor | None = None
        if self.processes >= 2:
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_started,
                initargs=(os.getpid(),),
            )
            # The pool forks all its workers on the first submit: do it now.
            self._pool.submit(int).result()

    def submit(self, mails: Sequence[tuple[bytes, int | None]]) -> Callable[[], list[ReadMail]]:
        """Start reading ``mails``; the returned function gives their ReadMails in order."""
        pool = self._pool
        if pool is None or len(mails) < MIN_MESSAGES_FOR_WORKERS:
            return lambda: read_batch(mails, self.rules)
        size = -(-len(mails) // self.processes)
        futures = [
            pool.submit(read_batch, mails[start : start + size], self.rules)
            for start in range(0, len(mails), size)
        ]
        return lambda: _gather(futures)

    def close(self) -> None:
        """Stop the workers, dropping work not yet started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Readers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _gather(futures: list[Future[list[ReadMail]]]) -> list[ReadMail]:
    try:
        return [read for future in futures for read in future.result()]
    except BrokenProcessPool as exc:
        # A worker died (killed, out of memory, or a library crashed on some input): the
        # batch is read again on the next run, nothing of it was stored or marked.
        raise ApplicationError(
            f"a mail reading process stopped unexpectedly: {exc}", code="READER_DIED"
        ) from exc


def _worker_started(robot_pid: int) -> None:
    """Worker set-up: leave Ctrl-C to the robot, and never outlive it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != robot_pid:  # the robot died before the signal was set
        os._exit(0)
    threading.Thread(target=_watch_robot, args=(robot_pid,), daemon=True).start()


def _watch_robot(robot_pid: int) -> None:
    """Exit once the robot is gone (for systems without a parent-death signal)."""
    while True:
        try:
            os.kill(robot_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # the pid was reused by another user's process
            os._exit(0)
        time.sleep(1.0)
