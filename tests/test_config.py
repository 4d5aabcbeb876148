"""Settings: defaults are the embedded parts, secrets come from env or vault and never print."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from backoffice.config import Settings, load_settings, settings_table

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_embedded_parts(make_settings) -> None:
    settings = make_settings()
    assert settings.mail_source == "maildir"
    assert settings.outbox_transport == "maildir"
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_maildir == settings.home / "mailbox"


def test_secrets_come_from_the_vault_file_and_never_print(
    make_settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = tmp_path / "vault.json"
    vault.write_text(json.dumps({"backoffice": {"imap_password": "s3cr3t-imap"}}))
    monkeypatch.setenv("RPA_SECRET_FILE", str(vault))
    settings = make_settings(imap_host="mail.example.test")
    assert settings.imap_password.get_secret_value() == "s3cr3t-imap"
    assert "s3cr3t-imap" not in repr(settings)
    assert "s3cr3t-imap" not in str(settings.model_dump())
    assert "s3cr3t-imap" not in repr(settings.imap())


def test_environment_wins_over_the_vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = tmp_path / "vault.yaml"
    vault.write_text("backoffice:\n  smtp_password: from-vault\n")
    monkeypatch.setenv("RPA_SECRET_FILE", str(vault))
    monkeypatch.setenv("BACKOFFICE_SMTP_PASSWORD", "from-env")
    assert load_settings(home=tmp_path).smtp_password.get_secret_value() == "from-env"


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "robot.env"
    env.write_text("BACKOFFICE_IMAP_FOLDER=Faktury\nBACKOFFICE_SENDER_DENY=*@spam.test, x@y.test\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=env)
    assert settings.imap_folder == "Faktury"
    assert settings.sender_deny == ["*@spam.test", "x@y.test"]


def test_cli_settings_hides_secrets(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "BACKOFFICE_HOME": str(tmp_path),
        "BACKOFFICE_SMTP_PASSWORD": "hunter2-smtp",
        "BACKOFFICE_DATABASE_URL": "postgresql+psycopg://bo:pg-pass-42@db/bo",
    }
    out = subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "settings"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "BACKOFFICE_SMTP_PASSWORD=**********" in out
    assert "hunter2-smtp" not in out
    assert "pg-pass-42" not in out


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"BACKOFFICE_{name.upper()}"
        for name in Settings.model_fields
        if f"`BACKOFFICE_{name.upper()}`" not in readme
    ]
    assert not missing, f"README lacks {missing}; paste `backoffice settings --docs`"
    assert settings_table().count("\n") == len(Settings.model_fields) + 1
