"""Test keywords for the acceptance suites: a fresh Dovecot mailbox and a fresh store.

Talks to the real Dovecot IMAP server started by ``scripts/servers.sh``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

from imapclient import IMAPClient
from robot.api.deco import keyword, library
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backoffice.config import load_settings  # noqa: E402
from backoffice.samples import SAMPLES  # noqa: E402
from backoffice.store import Message, ReviewItem, open_store  # noqa: E402

HOST, PORT = "127.0.0.1", 10143
PASSWORD = "secret"  # Dovecot's static test password


@library(scope="SUITE", auto_keywords=False)
class MailTestLibrary:
    """A fresh IMAP user and store per suite, and checks on both."""

    def __init__(self) -> None:
        self.user = f"acceptance-{uuid.uuid4().hex[:8]}@example.test"
        self.home = tempfile.mkdtemp(prefix="bo-acceptance-")
        #: A secret only this run knows; the suite checks it never reaches the logs.
        self.secret = f"smtp-{uuid.uuid4().hex}"
        self.samples = 0

    def _client(self) -> IMAPClient:
        client = IMAPClient(HOST, port=PORT, ssl=False)
        client.login(self.user, PASSWORD)
        return client

    @keyword
    def put_the_sample_mail_into_the_imap_mailbox(self) -> int:
        """Append every bundled sample email to the user's INBOX; return the count."""
        samples = sorted(SAMPLES.glob("*.eml"))
        with self._client() as client:
            for path in samples:
                client.append("INBOX", path.read_bytes())
        self.samples = len(samples)
        return self.samples

    @keyword
    def sample_message_count(self) -> int:
        """How many sample emails the suite put into the mailbox."""
        return self.samples

    @keyword
    def robot_environment(self) -> dict[str, str]:
        """Environment for running a robot against this mailbox and store."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
        env.update(
            BACKOFFICE_HOME=self.home,
            BACKOFFICE_MAIL_SOURCE="imap",
            BACKOFFICE_IMAP_HOST=HOST,
            BACKOFFICE_IMAP_PORT=str(PORT),
            BACKOFFICE_IMAP_SECURITY="none",
            BACKOFFICE_IMAP_USER=self.user,
            BACKOFFICE_IMAP_PASSWORD=PASSWORD,
            BACKOFFICE_SMTP_PASSWORD=self.secret,
            PYTHONPATH=str(ROOT / "keywords"),
        )
        return env

    @keyword
    def messages_in_folder(self, folder: str) -> int:
        """How many messages the IMAP folder holds."""
        with self._client() as client:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, ["MESSAGES"])[b"MESSAGES"])

    @keyword
    def stored_messages(self, status: str | None = None) -> int:
        """How many messages the robot's store holds (optionally in one status)."""
        settings = load_settings(home=Path(self.home))
        store = open_store(settings)
        try:
            with store.session() as session:
                query = select(func.count(Message.id))
                if status:
                    query = query.where(Message.status == status)
                return int(session.scalar(query))
        finally:
            store.dispose()

    @keyword
    def open_review_items(self, reason_code: str) -> int:
        """How many open review items with this reason code the robot left for staff."""
        store = open_store(load_settings(home=Path(self.home)))
        try:
            with store.session() as session:
                query = select(func.count(ReviewItem.id)).where(
                    ReviewItem.reason_code == reason_code, ReviewItem.status == "open"
                )
                return int(session.scalar(query))
        finally:
            store.dispose()

    @keyword
    def the_secret_given_to_the_robot(self) -> str:
        """A secret set in the robot's environment, to check it never appears in output."""
        return self.secret
