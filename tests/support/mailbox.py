"""A mailbox of one fresh user on the test Dovecot, driven over real IMAP."""

from __future__ import annotations

import email
import re
import secrets
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

from imapclient import IMAPClient

_APPENDUID = re.compile(rb"APPENDUID\s+\d+\s+(\d+)", re.IGNORECASE)


def unique_user(name: str | None = None, domain: str = "example.test") -> str:
    """``<name>-<hex8>@example.test`` (``t-<hex8>@...`` without a name)."""
    return f"{name or 't'}-{secrets.token_hex(4)}@{domain}".lower()


@dataclass(frozen=True)
class TestMailbox:
    """One user's mailbox. Every call opens its own IMAP connection, so it is safe to use
    from any thread or process and always sees the server's current state."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    user: str
    password: str = "secret"
    host: str = "127.0.0.1"
    port: int = 10143
    timeout: float = 30.0
    dovecot_conf: Path | None = None

    @property
    def address(self) -> str:
        """The user name is also the email address mail is delivered to."""
        return self.user

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in IMAPClient for anything the helpers below do not cover."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=self.timeout)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:
                with suppress(Exception):
                    client.shutdown()

    # --- writing -------------------------------------------------------------------
    def append(
        self,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str | bytes] = (),
        msg_time: datetime | None = None,
    ) -> int | None:
        """APPEND a raw message (the folder is created when missing); returns its UID."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        match = _APPENDUID.search(response if isinstance(response, bytes) else b"")
        return int(match.group(1)) if match else None

    def create_folder(self, name: str) -> None:
        """Create (and subscribe) a folder; a no-op when it exists."""
        with self.client() as client:
            if not client.folder_exists(name):
                client.create_folder(name)
            client.subscribe_folder(name)

    def set_uidvalidity(self, folder: str, value: int) -> None:
        """Change the folder's UIDVALIDITY the way a server migration would (doveadm)."""
        if self.dovecot_conf is None:
            raise RuntimeError("set_uidvalidity needs the Dovecot config path")
        subprocess.run(
            [
                "doveadm",
                "-c",
                str(self.dovecot_conf),
                "mailbox",
                "update",
                "-u",
                self.user,
                "--uid-validity",
                str(value),
                folder,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )

    # --- reading -------------------------------------------------------------------
    def folders(self) -> list[str]:
        with self.client() as client:
            return sorted(name for _flags, _delim, name in client.list_folders())

    def count(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID -> flags and keywords (as text, e.g. ``\\Seen``, ``$BackofficeStored``)."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return {}
            data = client.get_flags(uids)
        return {
            uid: {f.decode() if isinstance(f, bytes) else str(f) for f in flags}
            for uid, flags in sorted(data.items())
        }

    def raw_messages(self, folder: str = "INBOX") -> list[bytes]:
        """Every message's bytes in UID order, read without setting ``\\Seen``."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            if not uids:
                return []
            data = client.fetch(uids, [b"BODY.PEEK[]"])
        return [data[uid][b"BODY[]"] for uid in uids if uid in data]

    def messages(self, folder: str = "INBOX") -> list[EmailMessage]:
        """Every message parsed with ``email.policy.default``, in UID order."""
        return [
            email.message_from_bytes(raw, policy=policy.default)  # type: ignore[misc]
            for raw in self.raw_messages(folder)
        ]

    def wait_for(
        self, count: int, folder: str = "INBOX", timeout: float = 30
    ) -> list[EmailMessage]:
        """Poll until the folder holds at least ``count`` messages; return them all."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            seen = self.count(folder)
            if seen >= count:
                return self.messages(folder)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        subjects = [str(m.get("Subject")) for m in self.messages(folder)]
        raise AssertionError(
            f"{self.user} {folder}: expected at least {count} messages within {timeout}s, "
            f"saw {seen}: subjects {subjects}"
        )
