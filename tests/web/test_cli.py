"""``backoffice user add`` and ``backoffice serve`` as staff and the RPA developer run them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from backoffice.cli import app
from backoffice.config import Settings
from backoffice.store import open_store
from backoffice.web.models import StaffUser
from sqlalchemy import select
from typer.testing import CliRunner

SECRET = "Tajne-Hasło-2026!"


def test_user_add_asks_for_the_password_without_echo(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    monkeypatch.setenv("BACKOFFICE_HOME", str(settings.home))
    runner = CliRunner()
    result = runner.invoke(
        app, ["user", "add", "Anna", "--role", "admin"], input=f"{SECRET}\n{SECRET}\n"
    )
    assert result.exit_code == 0, result.output
    assert "user anna added as admin" in result.output
    assert SECRET not in result.output
    monkeypatch.setenv("NEW_PASSWORD", SECRET)
    again = runner.invoke(app, ["user", "add", "anna", "--password-env", "NEW_PASSWORD"])
    assert again.exit_code == 2 and "USER_EXISTS" in again.output
    short = runner.invoke(app, ["user", "add", "bob"], input="short\nshort\n")
    assert short.exit_code == 2 and "PASSWORD_TOO_SHORT" in short.output
    role = runner.invoke(app, ["user", "add", "ewa", "--role", "root"], input="")
    assert role.exit_code == 2
    store = open_store(settings)
    try:
        with store.session() as session:
            users = {u.username: u for u in session.scalars(select(StaffUser))}
    finally:
        store.dispose()
    assert set(users) == {"anna"}
    assert users["anna"].role == "admin"
    assert users["anna"].password_hash.startswith("$argon2id$")
    assert SECRET not in users["anna"].password_hash


def test_serve_listens_and_asks_for_sign_in(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOFFICE_")}
    env.update(BACKOFFICE_HOME=str(tmp_path / "home"), BACKOFFICE_ENV_FILE=str(tmp_path / "none"))
    process = subprocess.Popen(
        [sys.executable, "-m", "backoffice.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                opener.open(f"http://127.0.0.1:{port}/queue", timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 303
                assert exc.headers["location"] == "/sign-in?next=%2Fqueue"
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "serve did not start listening"
                time.sleep(0.2)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "BACKOFFICE_WEB_SESSION_SECRET is not set" in output


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
