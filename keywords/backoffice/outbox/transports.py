"""Ways the outbox hands a message over, behind one small interface.

``send(msg, envelope_from, recipients)`` either returns (the message was handed over:
some recipients may have been refused, listed in the result) or raises:

- ``TransientSendError``: nothing went out, trying again later may work (connection
  refused, timeout, a 4xx answer, failed log-in);
- ``PermanentSendError``: nothing went out and the server said it never will (5xx);
- ``UncertainSendError``: the whole message was transmitted but the server's final
  answer never arrived, so it may or may not have gone out. The caller must not resend
  blindly; it asks ``was_delivered`` and otherwise leaves the message to staff.

``was_delivered(message_id)`` answers True/False when the transport can tell for sure,
None when it cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from imapclient import IMAPClient

from backoffice.config import ImapAccount, SmtpServer
from backoffice.errors import ApplicationError, BusinessError, ConfigurationError

CRLF = b"\r\n"


class TransientSendError(ApplicationError):
    """Nothing went out; a later attempt may succeed."""

    code = "OUTBOX_TRANSIENT"

    def __init__(self, message: str, *, code: str | None = None, smtp_code: int = 0) -> None:
        super().__init__(message, code=code)
        self.smtp_code = smtp_code


class PermanentSendError(BusinessError):
    """Nothing went out and the server refuses this message for good."""

    code = "OUTBOX_REJECTED"

    def __init__(self, message: str, *, code: str | None = None, smtp_code: int = 0) -> None:
        super().__init__(message, code=code)
        self.smtp_code = smtp_code


class UncertainSendError(ApplicationError):
    """The message was transmitted but the server's verdict was lost."""

    code = "OUTBOX_UNCERTAIN"


class JournalUnavailableError(ApplicationError):
    """The journal mailbox could not be searched right now."""

    code = "OUTBOX_JOURNAL_UNAVAILABLE"


@dataclass(frozen=True)
class SendResult:
    """What the server said about a message it accepted."""

    #: Recipients the server refused while accepting the others: address → answer.
    refused: dict[str, str] = field(default_factory=dict)
    #: The server's final answer, e.g. ``250 2.0.0 Ok: queued as 1234``.
    answer: str = ""


class Transport(Protocol):
    """One way to hand a message over."""

    name: str

    def send(
        self, msg: EmailMessage, envelope_from: str, recipients: list[str]
    ) -> SendResult:  # pragma: no cover - protocol
        """Hand ``msg`` over for ``recipients``; raise a *SendError when it did not go out."""
        ...

    def was_delivered(self, message_id: str) -> bool | None:  # pragma: no cover - protocol
        """True/False when it is known whether the message went out, else None."""
        ...

    def close(self) -> None:  # pragma: no cover - protocol
        """Release connections."""
        ...


def _answer(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}".strip()


# --- Maildir --------------------------------------------------------------------------


class MaildirTransport:
    """The embedded transport: every message becomes one file in a local Maildir.

    The file name is derived from the Message-ID, so writing the same message twice
    leaves one file and ``was_delivered`` is exact. The write is atomic: the bytes go
    to ``tmp/``, are fsynced, then linked into ``new/`` (a link never overwrites).
    """

    name = "maildir"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"MaildirTransport({str(self.root)!r})"

    @staticmethod
    def file_name(message_id: str) -> str:
        """The Maildir file name of a message (no ``:`` info suffix, so it stays unread)."""
        return hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:40] + ".backoffice"

    def _ensure(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def send(self, msg: EmailMessage, envelope_from: str, recipients: list[str]) -> SendResult:
        """Deliver into ``new/``; a message already there is left as it is."""
        message_id = str(msg["Message-ID"] or "")
        if not message_id:
            raise PermanentSendError("the message has no Message-ID", code="OUTBOX_INVALID")
        try:
            self._ensure()
            if self.was_delivered(message_id):
                return SendResult(answer="already in the outbox folder")
            name = self.file_name(message_id)
            # The envelope is not in the headers (journal copies, Bcc); a delivery agent
            # records it the same way, so whoever relays this folder later can use it.
            envelope = f"Return-Path: <{envelope_from}>\n".encode()
            envelope += f"X-Envelope-To: {', '.join(recipients)}\n".encode()
            # Local mail files use LF line ends, as mailbox.Maildir and MUAs write them.
            data = envelope + msg.as_bytes(policy=policy.SMTP.clone(linesep="\n"))
            tmp = self.root / "tmp" / f"{name}.{os.getpid()}"
            with tmp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, self.root / "new" / name)
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(self.root / "new")
        except OSError as exc:
            raise TransientSendError(
                f"cannot write to the outbox folder {self.root}: {exc.strerror or exc}",
                code="OUTBOX_FOLDER",
            ) from exc
        return SendResult(answer=f"written to {self.root / 'new' / name}")

    def was_delivered(self, message_id: str) -> bool | None:
        """Exact: is the file in ``new/`` or (read by a mail client) in ``cur/``?"""
        name = self.file_name(message_id)
        if (self.root / "new" / name).exists():
            return True
        cur = self.root / "cur"
        if cur.is_dir():
            return any(entry.name.split(":", 1)[0] == name for entry in os.scandir(cur))
        return False

    def close(self) -> None:
        """Nothing to release."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- SMTP -----------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificate-checking TLS context, trusting ``ca_file`` too when given."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class SmtpTransport:
    """Hand messages to an SMTP relay (ssl, starttls, or plain on loopback).

    One connection is kept for a run and reused between messages; ``close`` ends it.
    With a journal address, the journal is added as an extra envelope recipient of the
    same transaction, first: if the server refuses it, nothing is sent, so the journal
    holds a copy exactly when the server accepted the message, and ``was_delivered``
    can search it over IMAP.
    """

    def __init__(
        self,
        server: SmtpServer,
        *,
        journal_address: str = "",
        journal_imap: ImapAccount | None = None,
    ) -> None:
        self.server = server
        self.name = f"smtp:{server.name}"
        self.journal_address = journal_address
        self.journal_imap = journal_imap
        self._smtp: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        s = self.server
        return f"SmtpTransport({s.name} {s.security}://{s.host}:{s.port} user={s.user!r})"

    # connection ------------------------------------------------------------------
    def _connect(self) -> smtplib.SMTP:
        s = self.server
        where = f"{s.name} SMTP server {s.host}:{s.port}"
        try:
            context = tls_context(s.ca_file)
            smtp: smtplib.SMTP
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            try:
                smtp.ehlo()
                if s.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise TransientSendError(
                            f"{where} does not offer STARTTLS", code="OUTBOX_NO_STARTTLS"
                        )
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if s.user:
                    if s.security == "none" and not _is_loopback(s.host):
                        raise ConfigurationError(
                            f"refusing to send the SMTP password to {s.host} unencrypted; "
                            "set the security to ssl or starttls",
                            code="SMTP_PLAINTEXT_AUTH",
                        )
                    password = s.password.get_secret_value() if s.password else ""
                    smtp.login(s.user, password)
            except BaseException:
                _drop(smtp)
                raise
        except smtplib.SMTPAuthenticationError as exc:
            # Counted like any failure of this server, so a broken log-in moves the
            # outbox to the fallback server instead of failing the mail.
            raise TransientSendError(
                f"{where} refused the log-in of {s.user!r}: "
                f"{_answer(exc.smtp_code, exc.smtp_error)}",
                code="OUTBOX_AUTH",
                smtp_code=exc.smtp_code,
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise TransientSendError(
                f"{where} answered {_answer(exc.smtp_code, exc.smtp_error)}",
                smtp_code=exc.smtp_code,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientSendError(
                f"cannot reach the {where}: {_describe(exc)}", code="OUTBOX_UNREACHABLE"
            ) from None
        return smtp

    def close(self) -> None:
        """Say QUIT and drop the connection."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                _drop(smtp)

    # sending ---------------------------------------------------------------------
    def send(self, msg: EmailMessage, envelope_from: str, recipients: list[str]) -> SendResult:
        """One SMTP transaction: MAIL, RCPT (journal first), DATA."""
        data = _dot_stuffed(msg.as_bytes(policy=policy.SMTP))
        reused = self._smtp is not None
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            return self._transaction(self._smtp, data, envelope_from, recipients)
        except _StaleConnection:
            self._forget()
            if not reused:
                raise TransientSendError(
                    f"the {self.server.name} SMTP server closed the connection",
                    code="OUTBOX_UNREACHABLE",
                ) from None
            # A kept connection may have timed out on the server's side since the last
            # message; nothing of this message was sent yet, so one fresh try is safe.
            self._smtp = self._connect()
            try:
                return self._transaction(self._smtp, data, envelope_from, recipients)
            except _StaleConnection:
                self._forget()
                raise TransientSendError(
                    f"the {self.server.name} SMTP server closed the connection",
                    code="OUTBOX_UNREACHABLE",
                ) from None

    def _transaction(
        self, smtp: smtplib.SMTP, data: bytes, envelope_from: str, recipients: list[str]
    ) -> SendResult:
        where = f"the {self.server.name} SMTP server"
        try:
            try:
                code, resp = smtp.mail(envelope_from, self._mail_options(smtp, data))
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                raise _StaleConnection() from exc
            if code in _AUTH_CODES:
                self._reset(smtp)
                # The server wants a log-in or TLS we did not give: a setting of ours is
                # wrong, not this mail, so it counts towards the fallback and is retried.
                raise TransientSendError(
                    f"{where} requires a log-in or TLS: {_answer(code, resp)}",
                    code="OUTBOX_AUTH",
                    smtp_code=code,
                )
            if code != 250:
                self._reset(smtp)
                raise _refusal(f"{where} refused the sender {envelope_from}", code, resp)
            if self.journal_address:
                code, resp = smtp.rcpt(self.journal_address)
                if code not in (250, 251):
                    self._reset(smtp)
                    # Without the journal copy a crash could not be settled later.
                    raise TransientSendError(
                        f"{where} refused the journal address {self.journal_address}: "
                        f"{_answer(code, resp)}",
                        code="OUTBOX_JOURNAL_REFUSED",
                        smtp_code=code,
                    )
            refused: dict[str, tuple[int, str]] = {}
            for rcpt in recipients:
                code, resp = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, _answer(code, resp))
            if len(refused) == len(recipients):
                self._reset(smtp)
                answers = "; ".join(f"{addr}: {answer}" for addr, (_c, answer) in refused.items())
                if any(400 <= c < 500 for c, _a in refused.values()):
                    raise TransientSendError(
                        f"{where} refused every recipient for now: {answers}",
                        code="OUTBOX_RECIPIENTS_DEFERRED",
                        smtp_code=max(c for c, _a in refused.values() if c < 500),
                    )
                raise PermanentSendError(
                    f"{where} rejected every recipient: {answers}",
                    smtp_code=min(c for c, _a in refused.values()),
                )
            code, resp = smtp.docmd("DATA")
            if code != 354:
                self._reset(smtp)
                raise _refusal(f"{where} refused to take the message", code, resp)
            smtp.send(data)
        except (TransientSendError, PermanentSendError, _StaleConnection):
            raise
        except (smtplib.SMTPException, OSError) as exc:
            # Before the final dot was fully sent the server cannot have accepted it.
            self._forget()
            raise TransientSendError(
                f"{where} connection failed before the message was sent: {_describe(exc)}",
                code="OUTBOX_UNREACHABLE",
            ) from None
        try:
            code, resp = smtp.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._forget()
            raise UncertainSendError(
                f"{where} received the whole message but its answer never came: {_describe(exc)}"
            ) from None
        if code != 250:
            raise _refusal(f"{where} did not accept the message", code, resp)
        return SendResult(
            refused={addr: answer for addr, (_c, answer) in refused.items()},
            answer=_answer(code, resp),
        )

    @staticmethod
    def _mail_options(smtp: smtplib.SMTP, data: bytes) -> list[str]:
        options = [f"SIZE={len(data)}"] if smtp.has_extn("size") else []
        if smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return options

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._forget()

    def _forget(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            _drop(smtp)

    # in-doubt check ------------------------------------------------------------------
    def was_delivered(self, message_id: str) -> bool | None:
        """Search the journal mailbox for the Message-ID; None without a journal."""
        if not (self.journal_address and self.journal_imap):
            return None
        return journal_contains(self.journal_imap, message_id)


#: Answers meaning "log in (or start TLS) first" (RFC 4954, RFC 3207).
_AUTH_CODES = frozenset({530, 534, 535, 538})


class _StaleConnection(Exception):
    """The kept connection was closed before this message's transaction started."""


def _refusal(prefix: str, code: int, resp: bytes | str) -> Exception:
    answer = _answer(code, resp)
    if 500 <= code < 600:
        return PermanentSendError(f"{prefix}: {answer}", smtp_code=code)
    return TransientSendError(f"{prefix}: {answer}", smtp_code=code)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message})"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _drop(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: CRLF line ends, leading dots doubled, the final ``.`` line."""
    data = re.sub(rb"\r\n|\n|\r", CRLF, data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(CRLF):
        data += CRLF
    return data + b"." + CRLF


def journal_contains(account: ImapAccount, message_id: str) -> bool:
    """True when the journal mailbox holds a message with this Message-ID."""
    try:
        context = tls_context(account.ca_file)
        client = IMAPClient(
            account.host,
            port=account.port,
            ssl=account.security == "ssl",
            ssl_context=context if account.security == "ssl" else None,
            timeout=account.timeout,
        )
        try:
            if account.security == "starttls":
                client.starttls(context)
            if account.oauth2_token is not None:
                client.oauth2_login(account.user, account.oauth2_token.get_secret_value())
            else:
                password = account.password.get_secret_value() if account.password else ""
                client.login(account.user, password)
            client.select_folder(account.folder, readonly=True)
            found = client.search(["HEADER", "Message-ID", message_id])
        finally:
            # The answer is already known; a failing LOGOUT does not change it.
            with contextlib.suppress(Exception):
                client.logout()
    except Exception as exc:
        raise JournalUnavailableError(
            f"cannot search the journal mailbox {account.user!r} on {account.host}: "
            f"{_describe(exc)}"
        ) from None
    return bool(found)
