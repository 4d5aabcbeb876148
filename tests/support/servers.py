"""The real servers on 127.0.0.1 that ``scripts/servers.sh`` starts, as the tests see them."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVERS_SCRIPT = ROOT / "scripts" / "servers.sh"

#: Exit codes of ``servers.sh start`` that mean "cannot run here" rather than "broken".
NOT_INSTALLED = 4
NEEDS_ROOT = 5

PG_ADMIN_URL = "postgresql+psycopg://backoffice:backoffice@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class TestServers:
    """Where the test servers listen. Any IMAP/SMTP user name logs in with ``password``;
    over IMAP also with XOAUTH2/OAUTHBEARER and a token from ``issue_token``."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    host: str = "127.0.0.1"
    imap_port: int = 10143
    imaps_port: int = 10993
    lmtp_port: int = 10024
    smtp_port: int = 10025
    smtp_starttls_port: int = 10587
    smtps_port: int = 10465
    oauth_port: int = 10080
    password: str = "secret"
    ca_file: Path = Path("/tmp/backoffice-servers/ca.pem")
    state_dir: Path = Path("/tmp/backoffice-servers")
    pg_admin_url: str = PG_ADMIN_URL

    @property
    def smtp_spool(self) -> Path:
        """Folder where the SMTP server keeps a numbered ``.eml`` (and ``.json``) per mail."""
        return self.state_dir / "smtp"

    @property
    def dovecot_conf(self) -> Path:
        """The private Dovecot's config, for ``doveadm -c``."""
        return self.state_dir / "dovecot" / "dovecot.conf"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the servers' private CA (and verifies host names)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def oauth_url(self) -> str:
        """The test OAuth2 server (``tests/servers/oauth_server.py``)."""
        return f"http://{self.host}:{self.oauth_port}"

    def issue_token(self, user: str, expires_in: int = 3600) -> str:
        """A fresh bearer token for ``user`` from the test OAuth2 server; Dovecot accepts it
        for that user only, until it expires (``expires_in`` < 0: already expired)."""
        status, answer = self.oauth_post("/token", {"username": user, "expires_in": expires_in})
        assert status == 200, answer
        return str(answer["access_token"])

    def revoke_token(self, token: str) -> None:
        """Revoke a token (RFC 7009): Dovecot refuses it from now on."""
        status, answer = self.oauth_post("/revoke", {"token": token})
        assert status == 200, answer

    def oauth_post(
        self, path: str, form: dict[str, object], headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        """POST a form to the test OAuth2 server: (HTTP status, JSON answer or {})."""
        connection = http.client.HTTPConnection(self.host, self.oauth_port, timeout=30)
        try:
            connection.request(
                "POST",
                path,
                body=urllib.parse.urlencode(form),
                headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
            )
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        return response.status, json.loads(body) if body else {}


class ServersUnavailable(Exception):
    """The servers cannot run on this machine (not installed, or not root)."""


def state_dir() -> Path:
    return Path(os.environ.get("BACKOFFICE_SERVERS_DIR") or "/tmp/backoffice-servers")


def start_servers(timeout: float = 300.0) -> TestServers:
    """Run ``scripts/servers.sh start`` (idempotent) and describe the running servers.

    Raises ServersUnavailable when this machine cannot run them, RuntimeError when they
    should run but did not come up.
    """
    state = state_dir()
    env = dict(os.environ, BACKOFFICE_SERVERS_DIR=str(state))
    # The SMTP server needs aiosmtpd: the interpreter running the tests has it.
    env.setdefault("BACKOFFICE_SERVERS_PYTHON", sys.executable)
    try:
        result = subprocess.run(
            [str(SERVERS_SCRIPT), "start"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{SERVERS_SCRIPT} start took longer than {timeout}s") from exc
    output = (result.stdout + result.stderr).strip()
    if result.returncode in (NOT_INSTALLED, NEEDS_ROOT):
        raise ServersUnavailable(output)
    if result.returncode != 0:
        raise RuntimeError(
            f"{SERVERS_SCRIPT} start failed with exit code {result.returncode}:\n{output}"
        )
    return TestServers(ca_file=state / "ca.pem", state_dir=state)
