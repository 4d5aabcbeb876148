"""Where mail comes from: the embedded Maildir or an IMAP server.

A source hands out batches of raw messages and, once the store has committed them,
is told to mark them done (moved to a *Processed* folder, or flagged). Nothing is
marked before the commit, so a crash between the two only means the message is read
again next run and recognised as already stored.
"""

from __future__ import annotations

import contextlib
import ipaddress
import mailbox
import shlex
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from backoffice.clock import utcnow
from backoffice.config import ImapAccount, Settings
from backoffice.errors import ApplicationError, ConfigurationError

#: Messages fetched per IMAP round trip: large enough to hide latency, small enough
#: that memory stays flat whatever the mailbox size.
FETCH_BATCH = 25
#: Tries to move a batch while other robots move parts of it.
MOVE_ATTEMPTS = 5
#: A Maildir folder holding what intake has stored (Maildir++ naming).
MAILDIR_PROCESSED = "Processed"


@dataclass
class IncomingMail:
    """One raw message as the source delivered it."""

    ref: str
    raw: bytes
    #: Set when the message was larger than allowed and only its header was fetched.
    truncated_size: int | None = None


class MailSource(Protocol):
    """What intake needs from a mailbox."""

    name: str

    def batches(self) -> Iterator[list[IncomingMail]]:
        """Yield the pending messages, a batch at a time."""
        ...

    def mark_done(self, refs: Sequence[str]) -> None:
        """Move or flag messages whose records are committed."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _too_old(raw_date: str | None, max_age_days: int) -> bool:
    if not max_age_days or not raw_date:
        return False
    try:
        sent = parsedate_to_datetime(raw_date)
    except (TypeError, ValueError, IndexError):
        return False
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return sent < utcnow() - timedelta(days=max_age_days)


class MaildirSource:
    """The embedded mailbox: a Maildir folder on disk (the default for ``make run``)."""

    def __init__(self, path: Path, *, max_age_days: int = 0, max_bytes: int = 0) -> None:
        self.path = Path(path)
        self.name = f"maildir:{self.path}"
        self.max_age_days = max_age_days
        self.max_bytes = max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(self.path, factory=None, create=True)
        self._done = self._box.add_folder(MAILDIR_PROCESSED)

    def batches(self) -> Iterator[list[IncomingMail]]:
        """Yield the messages still in the inbox, oldest file first, a batch at a time."""
        keys = sorted(self._box.iterkeys(), key=self._mtime)
        for start in range(0, len(keys), FETCH_BATCH):
            batch = []
            for key in keys[start : start + FETCH_BATCH]:
                try:
                    path = self._path(key)
                    size = path.stat().st_size
                    if self.max_bytes and size > self.max_bytes:
                        batch.append(IncomingMail(key, _read_header(path), truncated_size=size))
                        continue
                    raw = path.read_bytes()
                except (KeyError, FileNotFoundError):
                    continue  # another robot took it meanwhile
                if _too_old(_header_value(raw, b"date"), self.max_age_days):
                    continue
                batch.append(IncomingMail(key, raw))
            if batch:
                yield batch

    def mark_done(self, refs: Sequence[str]) -> None:
        """Move the stored messages into the ``Processed`` folder, marked seen."""
        for key in refs:
            try:
                source = self._path(key)
            except KeyError:
                continue  # already moved by another robot
            target = Path(self._done._path) / "cur" / f"{key}:2,S"
            try:
                source.rename(target)
            except FileNotFoundError:
                continue

    def close(self) -> None:
        """Nothing to release for a folder."""

    def _path(self, key: str) -> Path:
        return Path(self._box._path) / self._box._lookup(key)

    def _mtime(self, key: str) -> float:
        try:
            return self._path(key).stat().st_mtime
        except (KeyError, FileNotFoundError):
            return 0.0


def _read_header(path: Path) -> bytes:
    with path.open("rb") as handle:
        head = handle.read(256 * 1024)
    end = head.find(b"\r\n\r\n")
    end = head.find(b"\n\n") if end < 0 else end
    return head if end < 0 else head[: end + 2]


def _header_value(raw: bytes, name: bytes) -> str | None:
    head = raw[: raw.find(b"\n\n") if b"\n\n" in raw[:65536] else 65536]
    for line in head.splitlines():
        if line.lower().startswith(name + b":"):
            return line.split(b":", 1)[1].strip().decode("ascii", "replace")
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect_imap(account: ImapAccount) -> IMAPClient:
    """Log in to an IMAP account (SSL, STARTTLS, or plain on loopback only)."""
    if account.security == "none" and not _is_loopback(account.host):
        raise ConfigurationError(
            f"refusing to send IMAP credentials unencrypted to {account.host}: "
            "set BACKOFFICE_IMAP_SECURITY to ssl or starttls",
            code="IMAP_INSECURE",
        )
    context = ssl.create_default_context(cafile=str(account.ca_file) if account.ca_file else None)
    try:
        client = IMAPClient(
            account.host,
            port=account.port,
            ssl=account.security == "ssl",
            ssl_context=context,
            timeout=account.timeout,
        )
        if account.security == "starttls":
            client.starttls(context)
        if account.oauth2_token is not None:
            client.oauth2_login(account.user, account.oauth2_token.get_secret_value())
        elif account.password is not None:
            client.login(account.user, account.password.get_secret_value())
        else:
            raise ConfigurationError(
                "no IMAP password or OAuth2 token is configured", code="IMAP_NO_CREDENTIALS"
            )
    except LoginError as exc:
        # A refused credential needs a person (a new token or password), not a retry.
        what = "XOAUTH2 token" if account.oauth2_token is not None else "password"
        raise ConfigurationError(
            f"IMAP {account.host}:{account.port} refused the {what} of {account.user} "
            f"(wrong, expired or revoked?): {str(exc)[:200]}",
            code="IMAP_LOGIN_FAILED",
        ) from exc
    except (OSError, IMAPClientError) as exc:
        # The server's text may echo the user name, never the secret; keep it short.
        raise ApplicationError(
            f"cannot log in to IMAP {account.host}:{account.port} as {account.user}: "
            f"{type(exc).__name__}: {str(exc)[:200]}",
            code="IMAP_UNAVAILABLE",
        ) from exc
    return client


def search_criteria(text: str, *, max_age_days: int, flag: str | None) -> list[str]:
    """Turn the configured criteria string into IMAPClient's list form."""
    criteria = shlex.split(text) if text.strip() else ["ALL"]
    if max_age_days:
        since = (utcnow() - timedelta(days=max_age_days)).date()
        criteria += ["SINCE", since.strftime("%d-%b-%Y")]
    if flag:
        criteria += ["NOT", "KEYWORD", flag]
    return criteria


class ImapSource:
    """An IMAP folder, read with IMAPClient; stored messages are moved or flagged."""

    def __init__(self, settings: Settings, account: ImapAccount | None = None) -> None:
        self.account = account or settings.imap()
        self.settings = settings
        self.name = f"imap:{self.account.user}@{self.account.host}/{self.account.folder}"
        self.processed_folder = settings.imap_processed_folder
        self._client = connect_imap(self.account)
        # Intake fetches the next batch in a thread while storing this one; IMAPClient
        # is not thread-safe, so every command goes through this lock.
        self._lock = threading.Lock()
        self._client.select_folder(self.account.folder)
        self._move = self._client.has_capability("MOVE")
        if self.processed_folder and not self._client.folder_exists(self.processed_folder):
            try:
                self._client.create_folder(self.processed_folder)
            except IMAPClientError:
                if not self._client.folder_exists(self.processed_folder):
                    raise

    @property
    def uidvalidity(self) -> int:
        """The folder's UIDVALIDITY: part of every ref so stale UIDs are never reused."""
        return int(self._client.folder_status(self.account.folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def pending_uids(self) -> list[int]:
        """UIDs matching the configured criteria, not yet moved or flagged."""
        flag = None if self.processed_folder else self.settings.imap_processed_flag
        criteria = search_criteria(
            self.settings.imap_search, max_age_days=self.settings.mail_max_age_days, flag=flag
        )
        charset = None if all(part.isascii() for part in criteria) else "UTF-8"
        return sorted(self._client.search(criteria, charset=charset))

    def batches(self) -> Iterator[list[IncomingMail]]:
        """Fetch pending messages in batches (body fetched with PEEK: nothing is marked)."""
        with self._lock:
            uids = self.pending_uids()
            validity = self.uidvalidity
        limit = self.settings.max_message_bytes
        for start in range(0, len(uids), FETCH_BATCH):
            chunk = uids[start : start + FETCH_BATCH]
            with self._lock:
                sizes = self._client.fetch(chunk, ["RFC822.SIZE"])
                small = [u for u in chunk if sizes.get(u, {}).get(b"RFC822.SIZE", 0) <= limit]
                large = [u for u in chunk if u not in small and u in sizes]
                bodies = self._client.fetch(small, ["BODY.PEEK[]"]) if small else {}
                heads = self._client.fetch(large, ["BODY.PEEK[HEADER]"]) if large else {}
            batch = []
            for uid in chunk:
                ref = f"{validity}:{uid}"
                if uid in bodies:
                    batch.append(IncomingMail(ref, bodies[uid][b"BODY[]"]))
                elif uid in heads:
                    size = sizes[uid][b"RFC822.SIZE"]
                    batch.append(IncomingMail(ref, heads[uid][b"BODY[HEADER]"], size))
            if batch:
                yield batch

    def mark_done(self, refs: Sequence[str]) -> None:
        """Move (or flag) the committed messages; UIDs from an old UIDVALIDITY are skipped."""
        with self._lock:
            self._mark_done(refs)

    def _mark_done(self, refs: Sequence[str]) -> None:
        validity = self.uidvalidity
        uids = [int(ref.split(":")[1]) for ref in refs if ref.split(":")[0] == str(validity)]
        if not uids:
            return
        for _attempt in range(MOVE_ATTEMPTS):
            # Another robot may have moved some of these meanwhile (after storing them:
            # robots move only what is committed); the server then refuses the whole
            # command, so ask which are still here and move those.
            try:
                self._move_or_flag(uids)
                return
            except IMAPClientError as exc:
                if "EXPUNGEISSUED" not in str(exc) and "no longer exist" not in str(exc):
                    raise
                uids = self._client.search(["UID", ",".join(map(str, uids))])
                if not uids:
                    return
        self._move_or_flag(uids)

    def _move_or_flag(self, uids: list[int]) -> None:
        if not self.processed_folder:
            self._client.add_flags(uids, [self.settings.imap_processed_flag])
        elif self._move:
            self._client.move(uids, self.processed_folder)
        else:
            self._client.copy(uids, self.processed_folder)
            self._client.delete_messages(uids)
            self._client.uid_expunge(uids)

    def close(self) -> None:
        """Log out, ignoring a connection that is already gone."""
        with contextlib.suppress(OSError, IMAPClientError):
            self._client.logout()


def open_source(settings: Settings) -> MailSource:
    """The source the settings name (embedded Maildir unless IMAP is configured)."""
    if settings.mail_source == "imap":
        return ImapSource(settings)
    return MaildirSource(
        settings.resolved_maildir,
        max_age_days=settings.mail_max_age_days,
        max_bytes=settings.max_message_bytes,
    )
