"""A real SMTP server for the tests, delivering into the test Dovecot over LMTP.

Started by ``scripts/servers.sh start`` as a background process::

    .venv/bin/python tests/servers/smtp_server.py --state /tmp/backoffice-servers

Listeners (all on 127.0.0.1):

* ``--port`` (10025): plain SMTP; AUTH PLAIN/LOGIN allowed without TLS, mail accepted with
  or without AUTH.
* ``--starttls-port`` (10587): submission; STARTTLS required, then AUTH required.
* ``--smtps-port`` (10465): implicit TLS; AUTH required.

Any user name authenticates with the password ``secret``; any other password gets 535.
RCPT to a local part starting with ``tempfail`` gets ``451 4.3.0``, with ``reject`` gets
``550 5.1.1``. Every accepted message is delivered over LMTP to each envelope recipient
before the final ``250`` (so the recipient's IMAP mailbox holds it when the client hears
OK) and saved as ``STATE/smtp/<counter>.eml`` with its envelope in ``<counter>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import smtplib
import socket
import ssl
import sys
import threading
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

log = logging.getLogger("smtp_server")

PASSWORD = b"secret"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class Authenticator:
    """Any login with the shared test password."""

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD:
            return AuthResult(success=True, auth_data=auth_data.login.decode("utf-8", "replace"))
        log.info("AUTH %s refused for %r", mechanism, getattr(auth_data, "login", None))
        return AuthResult(success=False, handled=False)


class Spool:
    """Numbered copies of every accepted message in STATE/smtp."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        numbers = [int(p.stem) for p in directory.glob("*.eml") if p.stem.isdigit()]
        self._counter = max(numbers, default=0)

    def save(self, content: bytes, envelope: dict[str, Any]) -> Path:
        with self._lock:
            self._counter += 1
            number = self._counter
        path = self.directory / f"{number:06d}.eml"
        for target, data in (
            (path.with_suffix(".json"), json.dumps(envelope, indent=1).encode()),
            (path, content),
        ):
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        return path


class Handler:
    """Decides on recipients and delivers over LMTP."""

    def __init__(self, spool: Spool, lmtp_host: str, lmtp_port: int, listener: str) -> None:
        self.spool = spool
        self.lmtp_host = lmtp_host
        self.lmtp_port = lmtp_port
        self.listener = listener

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        local = address.rsplit("@", 1)[0].lower()
        if local.startswith("tempfail"):
            return "451 4.3.0 try again later"
        if local.startswith("reject"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                None, self._deliver, envelope.mail_from or "", list(envelope.rcpt_tos), content
            )
        except Exception as exc:
            log.exception("LMTP delivery failed")
            return f"451 4.3.0 local delivery failed: {exc}"[:400]
        saved = self.spool.save(
            content,
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "listener": self.listener,
                "auth_user": session.auth_data if session.authenticated else None,
                "peer": list(session.peer) if session.peer else None,
                "received_at": datetime.now(UTC).isoformat(),
                "size": len(content),
            },
        )
        log.info(
            "accepted %s from %s to %s via %s",
            saved.name,
            envelope.mail_from,
            envelope.rcpt_tos,
            self.listener,
        )
        return "250 2.0.0 OK: queued as " + saved.stem

    def _deliver(self, mail_from: str, recipients: list[str], content: bytes) -> None:
        # One LMTP transaction per recipient: a failure is then unambiguous.
        for recipient in recipients:
            with smtplib.LMTP(self.lmtp_host, self.lmtp_port, timeout=30) as lmtp:
                refused = lmtp.sendmail(mail_from, [recipient], content)
                if refused:
                    raise smtplib.SMTPRecipientsRefused(refused)


def server_context(state: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(state / "server.pem", state / "server.key")
    return context


def build_controllers(args: argparse.Namespace) -> list[Controller]:
    state = Path(args.state)
    spool = Spool(state / "smtp")
    tls = server_context(state)
    authenticator = Authenticator()
    common: dict[str, Any] = {
        "hostname": args.host,
        "server_hostname": "localhost",
        "authenticator": authenticator,
        "data_size_limit": MAX_MESSAGE_BYTES,
        "enable_SMTPUTF8": True,
        "ready_timeout": 10.0,
    }

    def handler(name: str) -> Handler:
        return Handler(spool, args.lmtp_host, args.lmtp_port, name)

    return [
        Controller(
            handler("plain"),
            port=args.port,
            auth_require_tls=False,
            auth_required=False,
            **common,
        ),
        Controller(
            handler("starttls"),
            port=args.starttls_port,
            tls_context=tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            **common,
        ),
        Controller(
            handler("smtps"),
            port=args.smtps_port,
            ssl_context=tls,
            auth_required=True,
            # The whole connection is TLS, but aiosmtpd only knows about STARTTLS.
            auth_require_tls=False,
            **common,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", required=True, help="state dir with server.pem/server.key")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10025)
    parser.add_argument("--starttls-port", type=int, default=10587)
    parser.add_argument("--smtps-port", type=int, default=10465)
    parser.add_argument("--lmtp-host", default="127.0.0.1")
    parser.add_argument("--lmtp-port", type=int, default=10024)
    parser.add_argument("--pid-file", help="written once all listeners are up")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiosmtpd logs every command at INFO and warns about its own deprecations and about
    # AUTH on the SMTPS listener (which is TLS from the first byte); keep the log readable.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    # aiosmtpd reports a port in use only after its ready timeout; find out at once.
    for port in (args.port, args.starttls_port, args.smtps_port):
        try:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((args.host, port))
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", args.host, port, exc)
            return 1

    controllers = build_controllers(args)
    started: list[Controller] = []
    pid_file = Path(args.pid_file) if args.pid_file else None
    try:
        for controller in controllers:
            try:
                controller.start()
            except Exception as exc:
                log.error("cannot listen on %s:%s: %s", controller.hostname, controller.port, exc)
                return 1
            started.append(controller)
        if pid_file:
            pid_file.write_text(f"{os.getpid()}\n")
        log.info(
            "listening on %s ports %d (plain), %d (starttls), %d (smtps); LMTP to %s:%d",
            args.host,
            args.port,
            args.starttls_port,
            args.smtps_port,
            args.lmtp_host,
            args.lmtp_port,
        )
        while not stop.wait(1.0):
            pass
        log.info("stopping")
    finally:
        for controller in reversed(started):
            with contextlib.suppress(Exception):
                controller.stop()
        if pid_file:
            with contextlib.suppress(OSError):
                if pid_file.read_text().strip() == str(os.getpid()):
                    pid_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
