"""IMAP intake logging in with an XOAUTH2 token, against the real Dovecot.

Dovecot checks each token with the test OAuth2 server (``tests/servers/oauth_server.py``,
RFC 7662 introspection): a token is good only for the user it was issued to, until it
expires or is revoked. The token comes from the settings or the vault as a secret and
must never show up in errors, logs or the command's output.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys

import pytest
from backoffice.errors import ConfigurationError
from backoffice.intake.service import run_intake
from backoffice.store import Message, open_store
from sqlalchemy import func, select

from tests.support.mails import invoice_mail

pytestmark = pytest.mark.imap


def _stored(store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count(Message.id)))


def _wire_forms(user: str, token: str) -> list[str]:
    """The token as given and as it travels in XOAUTH2 / OAUTHBEARER (base64)."""
    xoauth2 = f"user={user}\1auth=Bearer {token}\1\1".encode()
    oauthbearer = f"n,a={user},\1auth=Bearer {token}\1\1".encode()
    return [token] + [base64.b64encode(raw).decode() for raw in (xoauth2, oauthbearer)]


def _assert_not_leaked(user: str, token: str, *texts: str) -> None:
    for text in texts:
        for form in _wire_forms(user, token):
            assert form not in text


@pytest.mark.parametrize("security", ["none", "ssl"])
def test_intake_with_an_xoauth2_token_stores_the_mail(
    mailbox, imap_settings, test_servers, caplog, security
) -> None:
    caplog.set_level(logging.DEBUG)  # IMAPClient logs the conversation at DEBUG
    box = mailbox(f"oauth-{security}")
    for n in range(1, 4):
        box.append(invoice_mail(n))
    token = test_servers.issue_token(box.user)
    tls = (
        {"imap_port": test_servers.imaps_port, "tls_ca_file": test_servers.ca_file}
        if security == "ssl"
        else {}
    )
    # No password at all: the only way in is the token.
    settings = imap_settings(
        box, imap_security=security, imap_password=None, imap_oauth2_token=token, **tls
    )
    assert settings.imap_password is None
    store = open_store(settings)
    report = run_intake(store, settings)
    assert (report.seen, report.stored) == (3, 3)
    assert _stored(store) == 3
    assert (box.count("INBOX"), box.count("Processed")) == (0, 3)
    _assert_not_leaked(box.user, token, caplog.text, repr(settings), str(settings.imap()))


def _refused_token(kind: str, box, other, test_servers) -> str:
    if kind == "unknown":
        return secrets.token_urlsafe(32)
    if kind == "expired":
        return test_servers.issue_token(box.user, expires_in=-60)
    if kind == "revoked":
        token = test_servers.issue_token(box.user)
        test_servers.revoke_token(token)
        return token
    if kind == "another user's":
        return test_servers.issue_token(other.user)
    assert kind == "the password"  # the shared IMAP password is no token
    return test_servers.password


@pytest.mark.parametrize(
    "kind", ["unknown", "expired", "revoked", "another user's", "the password"]
)
def test_a_refused_token_is_a_clear_login_error_without_the_token(
    mailbox, imap_settings, test_servers, caplog, kind
) -> None:
    caplog.set_level(logging.DEBUG)
    box, other = mailbox("refused"), mailbox("owner")
    box.append(invoice_mail(1))
    token = _refused_token(kind, box, other, test_servers)
    settings = imap_settings(box, imap_password=None, imap_oauth2_token=token)
    store = open_store(settings)
    with pytest.raises(ConfigurationError) as refused:
        run_intake(store, settings)
    error = refused.value
    assert error.code == "IMAP_LOGIN_FAILED"
    assert "refused the XOAUTH2 token" in str(error) and box.user in str(error)
    assert "AUTHENTICATIONFAILED" in str(error)  # the server's own word, for staff
    _assert_not_leaked(box.user, token, str(error), repr(error), caplog.text)
    # nothing stored, nothing moved
    assert _stored(store) == 0
    assert (box.count("INBOX"), box.count("Processed")) == (1, 0)


def test_the_token_also_comes_from_the_vault(
    mailbox, imap_settings, test_servers, tmp_path, monkeypatch
) -> None:
    box = mailbox("vault")
    box.append(invoice_mail(1))
    token = test_servers.issue_token(box.user)
    vault = tmp_path / "vault.json"
    vault.write_text(json.dumps({"backoffice": {"imap_oauth2_token": token}}))
    monkeypatch.setenv("RPA_SECRET_FILE", str(vault))
    settings = imap_settings(box, imap_password=None)
    assert settings.imap_oauth2_token is not None
    assert settings.imap_oauth2_token.get_secret_value() == token
    assert token not in repr(settings)
    assert run_intake(open_store(settings), settings).stored == 1
    assert box.count("Processed") == 1


def _cli_intake(settings, token: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
    env.pop("RPA_SECRET_FILE", None)
    env.update(
        {
            "BACKOFFICE_HOME": str(settings.home),
            "BACKOFFICE_MAIL_SOURCE": "imap",
            "BACKOFFICE_IMAP_HOST": settings.imap_host,
            "BACKOFFICE_IMAP_PORT": str(settings.imap_port),
            "BACKOFFICE_IMAP_SECURITY": settings.imap_security,
            "BACKOFFICE_IMAP_USER": settings.imap_user,
            "BACKOFFICE_IMAP_OAUTH2_TOKEN": token,
            "COLUMNS": "200",  # rich wraps long lines; keep the error on one
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "intake"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_intake_with_a_token_from_the_environment_never_prints_it(
    mailbox, make_settings, test_servers
) -> None:
    box = mailbox("cli")
    box.append(invoice_mail(1))
    settings = make_settings(
        imap_host=test_servers.host,
        imap_port=test_servers.imap_port,
        imap_security="none",
        imap_user=box.user,
    )
    expired = test_servers.issue_token(box.user, expires_in=-1)
    refused = _cli_intake(settings, expired)
    assert refused.returncode == 2, refused.stdout + refused.stderr  # configuration
    assert "IMAP_LOGIN_FAILED" in refused.stdout
    _assert_not_leaked(box.user, expired, refused.stdout, refused.stderr)
    assert box.count("INBOX") == 1

    token = test_servers.issue_token(box.user)
    done = _cli_intake(settings, token)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_not_leaked(box.user, token, done.stdout, done.stderr)
    assert box.count("Processed") == 1
