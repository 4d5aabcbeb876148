"""The real servers on 127.0.0.1 that ``scripts/servers.sh`` starts, as the tests see them."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
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
    """Where the test servers listen. Any IMAP/SMTP user name logs in with ``password``."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    host: str = "127.0.0.1"
    imap_port: int = 10143
    imaps_port: int = 10993
    lmtp_port: int = 10024
    smtp_port: int = 10025
    smtp_starttls_port: int = 10587
    smtps_port: int = 10465
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
