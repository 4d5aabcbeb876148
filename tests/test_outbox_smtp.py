"""The outbox against the real SMTP server, delivering into the real Dovecot mailboxes.

The test SMTP server hands each accepted message to Dovecot over LMTP before it answers
250, so a recipient's IMAP mailbox holds the mail as soon as ``send_due`` returns.
"""

from __future__ import annotations

import multiprocessing
import smtplib
import socketserver
import threading
from datetime import UTC, datetime, timedelta

import pytest
from backoffice.outbox import (
    OUTBOX_FAILED,
    OUTBOX_IN_DOUBT,
    OUTBOX_RECIPIENTS_REFUSED,
    OUTBOX_REJECTED,
    OutgoingAttachment,
    SendReport,
    enqueue,
    events,
    send_due,
    service,
)
from backoffice.store import OutboxEvent, OutboxMessage, ReviewItem, open_store
from pydantic import SecretStr
from sqlalchemy import func, select

pytestmark = [pytest.mark.smtp, pytest.mark.imap]

CLOSED_PORT = 10026  # nothing listens here: a primary server that is down


@pytest.fixture
def store_for():
    opened = []

    def open_for(settings):
        store = open_store(settings)
        opened.append(store)
        return store

    yield open_for
    for store in opened:
        store.dispose()


def row_of(store, outbox_id: int) -> OutboxMessage:
    with store.session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        return row


def reviews(store) -> list[ReviewItem]:
    with store.session() as session:
        return list(session.scalars(select(ReviewItem).order_by(ReviewItem.id)))


def arrived(box, n: int, timeout: float = 30) -> list:
    """The messages of ``box``'s INBOX once ``n`` have arrived."""
    box.wait_for(n, timeout=timeout)
    messages = box.messages("INBOX")
    assert len(messages) == n
    return messages


def journal_settings(test_servers, journal) -> dict:
    return {
        "outbox_journal_address": journal.user,
        "imap_host": test_servers.host,
        "imap_port": test_servers.imap_port,
        "imap_security": "none",
        "imap_password": SecretStr(test_servers.password),
        "journal_imap_user": journal.user,
    }


# --- delivery over each kind of connection -----------------------------------------------


def test_plain_smtp_delivers_unicode_mail_intact(smtp_settings, store_for, mailbox) -> None:
    inbox = mailbox("jan")
    settings = smtp_settings(mail_from="Biuro Rachunkowe Żółw <biuro@firma.example>")
    store = store_for(settings)
    subject = "Korekta faktury FV/03/2026: zła stawka VAT — исправьте счёт №17"
    body = "Dzień dobry,\nproszę o korektę pozycji 3 (stawka 23%, nie 8%).\n\nС уважением,\nБюро\n"
    pdf = b"%PDF-1.4 korekta"
    row = enqueue(
        store,
        settings,
        key="plain-unicode",
        to=[f"Jan Kowalski <{inbox.user}>"],
        subject=subject,
        body_text=body,
        body_html="<p>Dzień dobry — Здравствуйте</p>",
        attachments=[OutgoingAttachment("wezwanie żółć.pdf", pdf, "application/pdf")],
    )
    report = send_due(store, settings)
    assert (report.sent, report.failed, report.retried) == (1, 0, 0)

    [msg] = arrived(inbox, 1)
    assert msg["Subject"] == subject
    assert msg["From"].addresses[0].display_name == "Biuro Rachunkowe Żółw"
    assert msg["To"].addresses[0].display_name == "Jan Kowalski"
    assert msg["Message-ID"] == row.message_id
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == body
    assert "Здравствуйте" in msg.get_body(("html",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "wezwanie żółć.pdf"
    assert attachment.get_content() == pdf

    sent = row_of(store, row.id)
    assert sent.status == "sent"
    assert sent.transport == "smtp:primary"
    assert "250" in events(store, row.id)[-1].detail


def test_reply_threading_headers(smtp_settings, store_for, mailbox) -> None:
    inbox = mailbox()
    settings = smtp_settings()
    store = store_for(settings)
    enqueue(
        store,
        settings,
        key="reply-1",
        to=[inbox.user],
        subject="Re: Faktura 12/2026",
        body_text="Prosimy o korektę.",
        in_reply_to="<inv-12@dostawca.example>",
        references=["<start@dostawca.example> <inv-11@dostawca.example>"],
    )
    send_due(store, settings)
    [msg] = arrived(inbox, 1)
    assert msg["In-Reply-To"] == "<inv-12@dostawca.example>"
    assert msg["References"].split() == [
        "<start@dostawca.example>",
        "<inv-11@dostawca.example>",
        "<inv-12@dostawca.example>",
    ]


def test_starttls_with_auth_and_private_ca(test_servers, smtp_settings, store_for, mailbox):
    inbox = mailbox()
    settings = smtp_settings(
        smtp_port=test_servers.smtp_starttls_port,
        smtp_security="starttls",
        smtp_user="robot",
        smtp_password=SecretStr(test_servers.password),
        tls_ca_file=test_servers.ca_file,
    )
    store = store_for(settings)
    enqueue(store, settings, key="tls", to=[inbox.user], subject="STARTTLS", body_text="ok")
    assert send_due(store, settings).sent == 1
    [msg] = arrived(inbox, 1)
    assert msg["Subject"] == "STARTTLS"


def test_implicit_tls_with_auth(test_servers, smtp_settings, store_for, mailbox) -> None:
    inbox = mailbox()
    settings = smtp_settings(
        smtp_port=test_servers.smtps_port,
        smtp_security="ssl",
        smtp_user="robot",
        smtp_password=SecretStr(test_servers.password),
        tls_ca_file=test_servers.ca_file,
    )
    store = store_for(settings)
    enqueue(store, settings, key="ssl", to=[inbox.user], subject="SMTPS", body_text="ok")
    assert send_due(store, settings).sent == 1
    assert arrived(inbox, 1)[0]["Subject"] == "SMTPS"


def test_plain_smtp_with_optional_auth_on_loopback(test_servers, smtp_settings, store_for, mailbox):
    inbox = mailbox()
    settings = smtp_settings(smtp_user="robot", smtp_password=SecretStr(test_servers.password))
    store = store_for(settings)
    enqueue(store, settings, key="plain-auth", to=[inbox.user], subject="AUTH", body_text="ok")
    assert send_due(store, settings).sent == 1
    assert arrived(inbox, 1)[0]["Subject"] == "AUTH"


def test_untrusted_certificate_is_a_transient_failure(test_servers, smtp_settings, store_for):
    # Without the private CA the server's certificate must not be accepted.
    settings = smtp_settings(
        smtp_port=test_servers.smtps_port,
        smtp_security="ssl",
        smtp_user="robot",
        smtp_password=SecretStr(test_servers.password),
    )
    store = store_for(settings)
    row = enqueue(
        store, settings, key="untrusted", to=["x@example.test"], subject="S", body_text="B"
    )
    assert send_due(store, settings).retried == 1
    assert "certificate" in row_of(store, row.id).last_error


def test_wrong_password_is_transient_and_never_shown(
    test_servers, smtp_settings, store_for, caplog
) -> None:
    settings = smtp_settings(
        smtp_port=test_servers.smtps_port,
        smtp_security="ssl",
        smtp_user="robot",
        smtp_password=SecretStr("wrong-Pa55word-xyz"),
        tls_ca_file=test_servers.ca_file,
    )
    store = store_for(settings)
    row = enqueue(store, settings, key="badpw", to=["x@example.test"], subject="S", body_text="B")
    caplog.set_level("DEBUG")
    report = send_due(store, settings)
    assert report.retried == 1
    stored = row_of(store, row.id)
    assert stored.status == "retry"
    assert stored.primary_failures == 1
    assert "log-in" in stored.last_error
    texts = [stored.last_error, caplog.text, repr(settings)]
    texts += [e.detail for e in events(store, row.id)]
    assert not any("wrong-Pa55word-xyz" in text for text in texts)


def test_server_demanding_tls_and_log_in_is_a_setting_problem_not_a_bad_mail(
    test_servers, smtp_settings, store_for
) -> None:
    # security "none" against the submission port: the server answers 530 to MAIL.
    settings = smtp_settings(smtp_port=test_servers.smtp_starttls_port, smtp_security="none")
    store = store_for(settings)
    row = enqueue(store, settings, key="530", to=["x@example.test"], subject="S", body_text="B")
    report = send_due(store, settings)
    assert (report.retried, report.failed) == (1, 0)
    stored = row_of(store, row.id)
    assert stored.primary_failures == 1
    assert "530" in stored.last_error
    assert not reviews(store)


# --- failures -------------------------------------------------------------------------------


def test_tempfail_retries_with_backoff_then_fails_to_staff(
    smtp_settings, store_for, monkeypatch
) -> None:
    settings = smtp_settings(
        outbox_max_attempts=3, outbox_backoff_seconds=60, outbox_backoff_max_seconds=90
    )
    store = store_for(settings)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    monkeypatch.setenv("BACKOFFICE_NOW", now.isoformat())
    row = enqueue(
        store, settings, key="tempfail", to=["tempfail-1@example.test"], subject="S", body_text="B"
    )

    assert send_due(store, settings).retried == 1
    first = row_of(store, row.id)
    assert first.status == "retry"
    assert first.attempts == 1
    assert "451" in first.last_error
    # 60 s, plus at most 10 % jitter.
    assert timedelta(seconds=60) <= first.next_attempt_at - now <= timedelta(seconds=66)

    # Not due yet: nothing happens.
    monkeypatch.setenv("BACKOFFICE_NOW", (now + timedelta(seconds=59)).isoformat())
    assert send_due(store, settings).handled == 0

    now = first.next_attempt_at
    monkeypatch.setenv("BACKOFFICE_NOW", now.isoformat())
    assert send_due(store, settings).retried == 1
    second = row_of(store, row.id)
    assert second.attempts == 2
    # Doubled to 120 s, capped at 90 s.
    assert timedelta(seconds=90) <= second.next_attempt_at - now <= timedelta(seconds=99)

    monkeypatch.setenv("BACKOFFICE_NOW", second.next_attempt_at.isoformat())
    report = send_due(store, settings)
    assert (report.failed, report.retried) == (1, 0)
    final = row_of(store, row.id)
    assert final.status == "failed"
    assert final.attempts == 3
    [item] = reviews(store)
    assert item.reason_code == OUTBOX_FAILED
    assert "after 3 attempts" in item.reason
    assert "451" in item.reason
    assert [e.status for e in events(store, row.id)] == [
        "queued", "sending", "retry", "sending", "retry", "sending", "failed",
    ]  # fmt: skip


def test_reject_fails_at_once_with_the_servers_answer(smtp_settings, store_for) -> None:
    settings = smtp_settings()
    store = store_for(settings)
    row = enqueue(
        store, settings, key="reject", to=["reject-me@example.test"], subject="S", body_text="B"
    )
    report = send_due(store, settings)
    assert (report.failed, report.retried, report.sent) == (1, 0, 0)
    assert row_of(store, row.id).status == "failed"
    [item] = reviews(store)
    assert item.reason_code == OUTBOX_REJECTED
    assert "550" in item.reason


def test_some_recipients_refused_the_others_get_it(smtp_settings, store_for, mailbox) -> None:
    inbox = mailbox()
    settings = smtp_settings()
    store = store_for(settings)
    row = enqueue(
        store,
        settings,
        key="partial",
        to=[inbox.user, "reject-nobody@example.test"],
        subject="Partial",
        body_text="B",
    )
    assert send_due(store, settings).sent == 1
    assert len(arrived(inbox, 1)) == 1
    assert row_of(store, row.id).status == "sent"
    detail = events(store, row.id)[-1].detail
    assert "reject-nobody@example.test" in detail
    assert "550" in detail
    [item] = reviews(store)
    assert item.reason_code == OUTBOX_RECIPIENTS_REFUSED


def test_primary_down_uses_fallback_after_n_failures(
    test_servers, smtp_settings, store_for, mailbox
) -> None:
    inbox = mailbox()
    settings = smtp_settings(
        smtp_port=CLOSED_PORT,
        smtp_fallback_host=test_servers.host,
        smtp_fallback_port=test_servers.smtp_port,
        smtp_fallback_security="none",
        outbox_fallback_after=2,
        outbox_backoff_seconds=0,
        outbox_backoff_max_seconds=0,
    )
    store = store_for(settings)
    row = enqueue(store, settings, key="fallback", to=[inbox.user], subject="FB", body_text="B")
    report = send_due(store, settings)
    assert (report.retried, report.sent) == (2, 1)
    assert len(arrived(inbox, 1)) == 1
    sent = row_of(store, row.id)
    assert sent.status == "sent"
    assert sent.transport == "smtp:fallback"
    assert sent.primary_failures == 2
    assert sent.attempts == 3
    history = events(store, row.id)
    assert [e.status for e in history] == [
        "queued", "sending", "retry", "sending", "retry", "sending", "sent",
    ]  # fmt: skip
    assert "connection refused" in history[2].detail
    assert "using the fallback server" in history[5].detail
    # Exactly one copy arrived.
    send_due(store, settings)
    assert inbox.count("INBOX") == 1


# --- crashes mid-send ------------------------------------------------------------------------


def crash_while_sending(store, settings, *, deliver: bool) -> int:
    """Leave a row as a robot killed during the SMTP hand-over leaves it.

    The real claim code commits ``sending``; the message is then really handed to the
    server (or not: the robot died first) and the robot dies before recording it.
    """
    transports = service.Transports(settings)
    claimed = service._claim_next(
        store, settings, transports, "robot-that-dies", SendReport(), lambda _o: None
    )
    assert claimed is not None
    if deliver:
        claimed.transport.send(claimed.msg, claimed.envelope_from, claimed.recipients)
    transports.close()
    assert row_of(store, claimed.outbox_id).status == "sending"
    return claimed.outbox_id


def after_lease(monkeypatch, settings) -> None:
    later = datetime.now(UTC) + timedelta(seconds=settings.lease_seconds + 60)
    monkeypatch.setenv("BACKOFFICE_NOW", later.isoformat())


@pytest.mark.parametrize("delivered", [True, False], ids=["delivered", "not-delivered"])
def test_crash_without_journal_is_in_doubt_and_never_resent(
    smtp_settings, store_for, mailbox, monkeypatch, delivered
) -> None:
    inbox = mailbox()
    settings = smtp_settings()
    store = store_for(settings)
    enqueue(store, settings, key="doubt", to=[inbox.user], subject="Doubt", body_text="B")
    outbox_id = crash_while_sending(store, settings, deliver=delivered)
    after_lease(monkeypatch, settings)

    report = send_due(store, settings)
    assert (report.in_doubt, report.sent, report.resolved) == (1, 0, 0)
    assert row_of(store, outbox_id).status == "in_doubt"
    [item] = reviews(store)
    assert item.reason_code == OUTBOX_IN_DOUBT
    assert send_due(store, settings).handled == 0
    assert inbox.count("INBOX") == (1 if delivered else 0)


@pytest.mark.parametrize("delivered", [True, False], ids=["delivered", "not-delivered"])
def test_crash_with_journal_is_settled_exactly(
    test_servers, smtp_settings, store_for, mailbox, monkeypatch, delivered
) -> None:
    inbox = mailbox()
    journal = mailbox("journal")
    settings = smtp_settings(**journal_settings(test_servers, journal))
    store = store_for(settings)
    row = enqueue(store, settings, key="journal", to=[inbox.user], subject="J", body_text="B")
    outbox_id = crash_while_sending(store, settings, deliver=delivered)
    if delivered:
        # The journal copy came in the same transaction, as an envelope recipient only.
        [copy] = arrived(journal, 1)
        assert copy["Message-ID"] == row.message_id
        assert journal.user not in str(copy["To"])
    after_lease(monkeypatch, settings)

    report = send_due(store, settings)
    assert report.in_doubt == 0
    assert report.resolved == 1
    assert report.sent == (0 if delivered else 1)
    assert row_of(store, outbox_id).status == "sent"
    history = [e.detail for e in events(store, outbox_id)]
    if delivered:
        assert history[-1] == "sent (confirmed after restart)"
    else:
        assert "did not go out" in history[-3]
    assert not reviews(store)
    assert len(arrived(inbox, 1)) == 1
    assert journal.count("INBOX") == 1


def test_journal_refused_means_nothing_is_sent(
    test_servers, smtp_settings, store_for, mailbox
) -> None:
    inbox = mailbox()
    settings = smtp_settings(
        **journal_settings(test_servers, mailbox())
        | {"outbox_journal_address": "tempfail-j@example.test"}
    )
    store = store_for(settings)
    row = enqueue(store, settings, key="jr", to=[inbox.user], subject="J", body_text="B")
    assert send_due(store, settings).retried == 1
    assert "journal" in row_of(store, row.id).last_error
    assert inbox.count("INBOX") == 0


# --- two robots at once -------------------------------------------------------------------


def _robot(settings, barrier, results) -> None:
    store = open_store(settings, migrate=False)
    barrier.wait(timeout=60)
    report = send_due(store, settings)
    store.dispose()
    results.put((settings.worker_id, report.sent, report.failed, report.retried))


@pytest.mark.slow
def test_two_robots_send_each_message_exactly_once(smtp_settings, mailbox, db_url) -> None:
    inbox = mailbox("many")
    settings = smtp_settings(database_url=db_url)
    store = open_store(settings)
    total = 50
    for n in range(total):
        enqueue(store, settings, key=f"many-{n}", to=[inbox.user], subject=f"Nr {n}", body_text="B")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    robots = [
        ctx.Process(
            target=_robot,
            args=(settings.model_copy(update={"worker_id": f"robot-{i}"}), barrier, results),
        )
        for i in range(2)
    ]
    for robot in robots:
        robot.start()
    for robot in robots:
        robot.join(timeout=300)
        assert robot.exitcode == 0
    reports = [results.get(timeout=5) for _ in robots]
    assert sum(r[1] for r in reports) == total
    assert all(r[2] == 0 and r[3] == 0 for r in reports)
    # Both really worked at the same time.
    assert all(r[1] > 0 for r in reports), reports

    messages = arrived(inbox, total, timeout=60)
    assert len(messages) == total
    assert len({m["Message-ID"] for m in messages}) == total
    with store.session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "sent")
            )
            == total
        )
        sending = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.status == "sending")
        )
        assert sending == total
    store.dispose()


# --- the server's final answer lost -------------------------------------------------------


class AnswerLosingServer(socketserver.ThreadingTCPServer):
    """An SMTP relay that takes the whole message and then drops the line unanswered.

    With ``relay_to`` it first passes the message on to the real test server (so it
    really went out); without, the message goes nowhere. Either way the client never
    hears the final answer: the case a lost connection or a crashed relay leaves.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, relay_to: tuple[str, int] | None) -> None:
        self.relay_to = relay_to
        super().__init__(("127.0.0.1", 0), _AnswerLosingHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]


class _AnswerLosingHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"220 lossy ESMTP\r\n")
        sender, recipients = "", []
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 lossy\r\n")
            elif verb == b"MAIL":
                sender = line.split(b":", 1)[1].split(b">")[0].strip(b" <").decode()
                self.wfile.write(b"250 ok\r\n")
            elif verb == b"RCPT":
                recipients.append(line.split(b":", 1)[1].split(b">")[0].strip(b" <").decode())
                self.wfile.write(b"250 ok\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                relay_to = self.server.relay_to  # type: ignore[attr-defined]
                if relay_to:
                    with smtplib.SMTP(*relay_to) as relay:
                        relay.sendmail(sender, recipients, data)
                return  # hang up without the final answer
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def lossy_server(test_servers):
    servers = []

    def start(*, relay: bool) -> AnswerLosingServer:
        server = AnswerLosingServer((test_servers.host, test_servers.smtp_port) if relay else None)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("relayed", [True, False], ids=["went-out", "went-nowhere"])
def test_lost_final_answer_without_journal_is_in_doubt(
    smtp_settings, store_for, mailbox, lossy_server, relayed
) -> None:
    inbox = mailbox()
    server = lossy_server(relay=relayed)
    settings = smtp_settings(smtp_port=server.port)
    store = store_for(settings)
    row = enqueue(store, settings, key="lost", to=[inbox.user], subject="Lost", body_text="B")
    report = send_due(store, settings)
    assert (report.in_doubt, report.sent, report.retried) == (1, 0, 0)
    assert row_of(store, row.id).status == "in_doubt"
    assert "answer never came" in events(store, row.id)[-1].detail
    [item] = reviews(store)
    assert item.reason_code == OUTBOX_IN_DOUBT
    assert send_due(store, settings).handled == 0
    assert inbox.count("INBOX") == (1 if relayed else 0)


@pytest.mark.parametrize("relayed", [True, False], ids=["went-out", "went-nowhere"])
def test_lost_final_answer_with_journal_is_settled(
    test_servers, smtp_settings, store_for, mailbox, lossy_server, relayed
) -> None:
    inbox = mailbox()
    journal = mailbox("journal")
    server = lossy_server(relay=relayed)
    settings = smtp_settings(smtp_port=server.port, **journal_settings(test_servers, journal))
    store = store_for(settings)
    row = enqueue(store, settings, key="lost-j", to=[inbox.user], subject="Lost", body_text="B")
    report = send_due(store, settings)
    assert report.in_doubt == 0
    stored = row_of(store, row.id)
    if relayed:
        assert (report.sent, stored.status) == (1, "sent")
        assert "confirmed by the journal" in events(store, row.id)[-1].detail
        assert inbox.count("INBOX") == 1
    else:
        assert (report.retried, stored.status) == (1, "retry")
        assert "did not go out" in stored.last_error
        assert inbox.count("INBOX") == 0
    assert not reviews(store)
