"""Smoke tests of the real test servers and the fixtures over them."""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
import subprocess
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from imapclient import IMAPClient
from sqlalchemy import create_engine, inspect, text

from tests.support.servers import SERVERS_SCRIPT


def _mail(to: str, subject: str, sender: str = "robot@firma.example") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="firma.example")
    msg.set_content(f"Treść: {subject}\n")
    return msg


def test_imap_append_and_fetch(mailbox) -> None:
    box = mailbox("append")
    assert box.user.startswith("append-") and box.user.endswith("@example.test")
    assert box.count() == 0
    raw = _mail(box.user, "Faktura 1/2026").as_bytes()
    uid = box.append(raw, flags=[r"\Seen", "$Invoice"])
    assert uid is not None
    assert box.count() == 1
    [msg] = box.messages()
    assert msg["Subject"] == "Faktura 1/2026"
    assert "Treść" in msg.get_content()
    assert box.flags()[uid] >= {r"\Seen", "$Invoice"}
    # reading does not mark as seen
    second = box.append(_mail(box.user, "unread").as_bytes())
    box.messages()
    assert r"\Seen" not in box.flags()[second]


def test_every_mailbox_is_fresh_and_folders_work(mailbox) -> None:
    first, second = mailbox(), mailbox()
    assert first.user != second.user and first.user.startswith("t-")
    first.append(_mail(first.user, "only in first").as_bytes())
    assert (first.count(), second.count()) == (1, 0)
    assert "Processed" in first.folders()
    first.create_folder("Faktury/2026")
    first.create_folder("Faktury/2026")  # idempotent
    first.append(_mail(first.user, "archived").as_bytes(), folder="Faktury/2026")
    assert first.count("Faktury/2026") == 1
    assert first.uidvalidity("INBOX") > 0


def test_imap_move_and_keywords(mailbox, test_servers) -> None:
    box = mailbox("move")
    uid = box.append(_mail(box.user, "to move").as_bytes())
    with IMAPClient(test_servers.host, port=test_servers.imap_port, ssl=False) as client:
        client.login(box.user, test_servers.password)
        assert b"MOVE" in client.capabilities()
        client.select_folder("INBOX")
        client.add_flags([uid], [b"$BackofficeStored"])
        assert b"$BackofficeStored" in client.get_flags([uid])[uid]
        client.move([uid], "Processed")
    assert (box.count(), box.count("Processed")) == (0, 1)


def test_uidvalidity_can_be_changed(mailbox) -> None:
    box = mailbox("uidv")
    box.append(_mail(box.user, "x").as_bytes())
    before = box.uidvalidity()
    box.set_uidvalidity("INBOX", before + 1000)
    assert box.uidvalidity() == before + 1000
    assert box.count() == 1


def test_wrong_imap_password_is_refused(mailbox, test_servers) -> None:
    box = mailbox()
    with (
        IMAPClient(test_servers.host, port=test_servers.imap_port, ssl=False) as client,
        pytest.raises(IMAPClient.Error),
    ):
        client.login(box.user, "wrong")


def test_dovecot_takes_oauth_tokens_only_for_their_user(mailbox, test_servers) -> None:
    box, other = mailbox("oauth"), mailbox("oauth-other")
    box.append(_mail(box.user, "for the token").as_bytes())
    token = test_servers.issue_token(box.user)

    def client() -> IMAPClient:
        return IMAPClient(test_servers.host, port=test_servers.imap_port, ssl=False)

    with client() as imap:
        assert {b"AUTH=XOAUTH2", b"AUTH=OAUTHBEARER"} <= set(imap.capabilities())
        imap.oauth2_login(box.user, token)
        assert imap.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 1
    with client() as imap:
        imap.oauthbearer_login(box.user, token)
        assert imap.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 1
    refused = [
        lambda imap: imap.oauth2_login(other.user, token),  # someone else's token
        lambda imap: imap.oauth2_login(box.user, "not-a-token"),
        lambda imap: imap.oauth2_login(box.user, test_servers.password),  # password != token
        lambda imap: imap.login(box.user, token),  # and a token is no password
    ]
    for attempt in refused:
        with client() as imap, pytest.raises(IMAPClient.Error, match="AUTHENTICATIONFAILED"):
            attempt(imap)
    test_servers.revoke_token(token)
    with client() as imap, pytest.raises(IMAPClient.Error, match="AUTHENTICATIONFAILED"):
        imap.oauth2_login(box.user, token)


def test_oauth_introspection_answers_only_its_client(test_servers) -> None:
    token = test_servers.issue_token("someone@example.test")
    form = {"token": token}
    assert test_servers.oauth_post("/introspect", form)[0] == 401
    wrong = {"Authorization": "Basic ZG92ZWNvdDp3cm9uZw=="}  # dovecot:wrong
    assert test_servers.oauth_post("/introspect", form, wrong)[0] == 401
    # Dovecot's own credentials (in its oauth2 passdb file) get the RFC 7662 answer
    secret = (test_servers.state_dir / "oauth" / "client-secret").read_text().strip()
    basic = base64.b64encode(f"dovecot:{secret}".encode()).decode()
    status, answer = test_servers.oauth_post(
        "/introspect", form, {"Authorization": f"Basic {basic}"}
    )
    assert (status, answer["active"], answer["username"]) == (200, True, "someone@example.test")
    status, answer = test_servers.oauth_post(
        "/introspect", {"token": "x" + token}, {"Authorization": f"Basic {basic}"}
    )
    assert (status, answer) == (200, {"active": False})


def test_imaps_with_the_private_ca(mailbox, test_servers) -> None:
    box = mailbox("tls")
    box.append(_mail(box.user, "over TLS").as_bytes())
    context = test_servers.ssl_context()
    with IMAPClient(
        test_servers.host, port=test_servers.imaps_port, ssl=True, ssl_context=context
    ) as client:
        client.login(box.user, test_servers.password)
        assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 1
    # without the CA the certificate is not trusted
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(
            test_servers.host,
            port=test_servers.imaps_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
        )


def test_wait_for_reports_what_it_saw(mailbox) -> None:
    box = mailbox()
    box.append(_mail(box.user, "just one").as_bytes())
    with pytest.raises(AssertionError, match=r"at least 2 .* saw 1.*just one"):
        box.wait_for(2, timeout=0.3)


@pytest.mark.smtp
def test_smtp_plain_send_arrives_before_the_ok(mailbox, test_servers) -> None:
    box = mailbox("plain")
    other = mailbox("cc")
    msg = _mail(box.user, "Zażółć gęślą jaźń")
    with smtplib.SMTP(test_servers.host, test_servers.smtp_port, timeout=30) as smtp:
        refused = smtp.send_message(msg, to_addrs=[box.user, other.user])
    assert refused == {}
    # delivered over LMTP before the server said 250: no waiting needed
    assert box.count() == 1 and other.count() == 1
    [got] = box.messages()
    assert got["Subject"] == "Zażółć gęślą jaźń"
    assert got["Message-ID"] == msg["Message-ID"]
    # and a copy with its envelope in the server's spool
    copies = sorted(test_servers.smtp_spool.glob("*.json"))
    envelopes = [json.loads(p.read_text()) for p in copies[-20:]]
    mine = [e for e in envelopes if e["rcpt_tos"] == [box.user, other.user]]
    assert mine and mine[-1]["listener"] == "plain" and mine[-1]["auth_user"] is None


@pytest.mark.smtp
def test_smtp_plain_port_accepts_auth_without_tls(mailbox, test_servers) -> None:
    box = mailbox()
    with smtplib.SMTP(test_servers.host, test_servers.smtp_port, timeout=30) as smtp:
        smtp.login("robot", test_servers.password)
        smtp.send_message(_mail(box.user, "authenticated"))
    assert box.wait_for(1)[0]["Subject"] == "authenticated"


@pytest.mark.smtp
def test_starttls_and_auth(mailbox, test_servers) -> None:
    box = mailbox("submission")
    with smtplib.SMTP(test_servers.host, test_servers.smtp_starttls_port, timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        # nothing before STARTTLS
        code, _ = smtp.mail("robot@firma.example")
        assert code == 530
        smtp.starttls(context=test_servers.ssl_context())
        smtp.ehlo()
        assert smtp.has_extn("auth")
        # and no mail without AUTH
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("robot@firma.example", [box.user], b"Subject: x\r\n\r\nx\r\n")
        assert refused.value.smtp_code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            smtp.login("robot", "wrong")
        assert wrong.value.smtp_code == 535
        smtp.login("robot", test_servers.password)
        smtp.send_message(_mail(box.user, "via submission"))
    assert box.wait_for(1)[0]["Subject"] == "via submission"


@pytest.mark.smtp
def test_wrong_password_refused_on_plain_port(test_servers) -> None:
    with (
        smtplib.SMTP(test_servers.host, test_servers.smtp_port, timeout=30) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError) as wrong,
    ):
        smtp.login("robot", "wrong")
    assert wrong.value.smtp_code == 535


@pytest.mark.smtp
def test_smtps(mailbox, test_servers) -> None:
    box = mailbox("smtps")
    with smtplib.SMTP_SSL(
        test_servers.host, test_servers.smtps_port, context=test_servers.ssl_context(), timeout=30
    ) as smtp:
        smtp.login("robot", test_servers.password)
        smtp.send_message(_mail(box.user, "implicit TLS"))
    assert box.wait_for(1)[0]["Subject"] == "implicit TLS"
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(
            test_servers.host,
            test_servers.smtps_port,
            context=ssl.create_default_context(),
            timeout=30,
        )


@pytest.mark.smtp
def test_tempfail_and_reject_recipients(mailbox, test_servers) -> None:
    box = mailbox()
    with smtplib.SMTP(test_servers.host, test_servers.smtp_port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("robot@firma.example")
        assert smtp.rcpt("tempfail-1@example.test")[0] == 451
        assert smtp.rcpt("reject.me@example.test")[0] == 550
        code, reply = smtp.rcpt("Reject@example.test")
        assert (code, reply) == (550, b"5.1.1 no such user")
        assert smtp.rcpt(box.user)[0] == 250
        assert smtp.data(_mail(box.user, "partly refused").as_bytes())[0] == 250
        # all recipients refused
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.sendmail("robot@firma.example", ["tempfail@example.test"], b"x\r\n")
        assert refused.value.recipients["tempfail@example.test"][0] == 451
    assert box.wait_for(1)[0]["Subject"] == "partly refused"


def test_pg_url_is_a_fresh_usable_database(pg_url: str, test_servers) -> None:
    assert pg_url.startswith("postgresql+psycopg://backoffice:backoffice@127.0.0.1:5432/bo_test_")
    engine = create_engine(pg_url)
    try:
        assert inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id serial PRIMARY KEY, amount numeric(12, 2))"))
            conn.execute(text("INSERT INTO t (amount) VALUES (12.34)"))
        with engine.connect() as conn:
            assert str(conn.execute(text("SELECT amount FROM t")).scalar_one()) == "12.34"
            # left open on purpose: the fixture must still drop the database
            conn.execute(text("SELECT 1"))
            assert conn.execute(text("SELECT current_user")).scalar_one() == "backoffice"
    finally:
        engine.dispose()


def test_db_url_gives_both_stores(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id integer PRIMARY KEY)"))
        assert inspect(engine).get_table_names() == ["t"]
    finally:
        engine.dispose()


def test_make_settings_is_hermetic(make_settings, monkeypatch, tmp_path) -> None:
    settings = make_settings()
    assert settings.home == tmp_path / "home" and settings.home.is_dir()
    assert settings.mail_source == "maildir"
    assert make_settings(lease_seconds=5).lease_seconds == 5


def test_imap_and_smtp_settings_point_at_the_servers(
    mailbox, imap_settings, smtp_settings, test_servers
) -> None:
    box = mailbox()
    account = imap_settings(box).imap()
    assert (account.host, account.port, account.security) == ("127.0.0.1", 10143, "none")
    assert account.user == box.user and account.password.get_secret_value() == "secret"
    [server] = smtp_settings().smtp_servers()
    assert (server.host, server.port, server.security) == ("127.0.0.1", 10025, "none")
    assert test_servers.ca_file.is_file()


def test_start_is_idempotent_and_status_reports_up(test_servers) -> None:
    result = subprocess.run(
        [str(SERVERS_SCRIPT), "start"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "BACKOFFICE_SERVERS_DIR": str(test_servers.state_dir)},
    )
    assert result.returncode == 0, result.stderr
    # everything was up with the current config: nothing started or restarted
    assert "starting" not in result.stdout, result.stdout
    status = subprocess.run(
        [str(SERVERS_SCRIPT), "status"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin", "BACKOFFICE_SERVERS_DIR": str(test_servers.state_dir)},
    )
    assert status.returncode == 0, status.stdout
    lines = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()}
    assert lines["dovecot"] == lines["smtp"] == lines["oauth"] == lines["postgresql"] == "up"
