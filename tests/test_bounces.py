"""Bounces (DSN) read back from the robot's mailbox and turned into exceptions.

Real mails go out through the outbox to the test SMTP server (delivered into Dovecot);
delivery reports about them, in the shapes real servers send (Postfix, Exchange with
text/rfc822-headers, Gmail, a delay, qmail's plain text, one about a mail we never sent,
one carrying our invoice PDF back), are put into the robot's IMAP mailbox; intake reads
them like any mail.
"""

from __future__ import annotations

import contextlib
import random
import sys
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser
from email.policy import compat32
from email.utils import format_datetime, make_msgid

import pytest
from backoffice.clock import utcnow
from backoffice.intake.parse import Limits
from backoffice.intake.read import ReadRules, read_mail
from backoffice.intake.service import run_intake
from backoffice.outbox import (
    BOUNCE_UNMATCHED,
    BOUNCED,
    OUTBOX_BOUNCED,
    OutgoingAttachment,
    enqueue,
    events,
    send_due,
)
from backoffice.status import status_rows
from backoffice.store import Document, OutboxEvent, OutboxMessage, ReviewItem, open_store
from backoffice.store import Message as StoredMessage
from sqlalchemy import func, select

from tests.support.mails import MINI_PDF, invoice_mail

RULES = ReadRules(limits=Limits(), max_message_bytes=50_000_000)


# --- delivery reports in real-world shapes -------------------------------------------------


def _report(
    *,
    sender: str,
    subject: str,
    to: str,
    human: str,
    fields: list[dict[str, str]],
    original: bytes | None = None,
    headers_only: bool = False,
    reporting_mta: str = "mx.customer.example",
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """An RFC 3464 multipart/report: the text for people, the delivery-status fields, and
    the original mail (whole as message/rfc822, or only its header as text/rfc822-headers)."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = sender
    report["To"] = to
    report["Subject"] = subject
    report["Date"] = format_datetime(utcnow())
    report["Message-ID"] = make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"
    for name, value in (extra_headers or {}).items():
        report[name] = value
    report.attach(MIMEText(human, "plain", "utf-8"))
    status = MIMEBase("message", "delivery-status")
    per_message = {"Reporting-MTA": f"dns; {reporting_mta}", "Arrival-Date": report["Date"]}
    for values in (per_message, *fields):
        block = Message()
        for name, value in values.items():
            block[name] = value
        status.attach(block)
    report.attach(status)
    if original is not None:
        parsed = BytesParser(policy=compat32).parsebytes(original)
        if headers_only:
            head = original.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
            part = MIMEBase("text", "rfc822-headers")
            part.set_payload(head.decode("ascii", "replace"))
            report.attach(part)
        else:
            report.attach(MIMEMessage(parsed))
    return report.as_bytes()


def postfix_dsn(original: bytes, rcpt: str) -> bytes:
    """Postfix: 'Undelivered Mail Returned to Sender', the whole original attached."""
    return _report(
        sender="MAILER-DAEMON@mx.customer.example (Mail Delivery System)",
        subject="Undelivered Mail Returned to Sender",
        to="biuro@firma.example",
        human=(
            "This is the mail system at host mx.customer.example.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            f"<{rcpt}>: host mx.customer.example said: 550 5.1.1 <{rcpt}>: "
            "Recipient address rejected: User unknown in local recipient table\n"
        ),
        fields=[
            {
                "Final-Recipient": f"rfc822; {rcpt}",
                "Original-Recipient": f"rfc822;{rcpt}",
                "Action": "failed",
                "Status": "5.1.1",
                "Remote-MTA": "dns; mx.customer.example",
                "Diagnostic-Code": f"smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: "
                "User unknown in local recipient table",
            }
        ],
        original=original,
    )


def exchange_dsn(original: bytes, rcpt: str, subject: str) -> bytes:
    """Exchange/Outlook: 'Undeliverable: ...', only the original header attached."""
    return _report(
        sender="postmaster@customer.example",
        subject=f"Undeliverable: {subject}",
        to="biuro@firma.example",
        human=(
            "Delivery has failed to these recipients or groups:\n\n"
            f"{rcpt}\nThe recipient's mailbox is full and can't accept messages now.\n"
        ),
        fields=[
            {
                "Final-Recipient": f"rfc822;{rcpt}",
                "Action": "failed",
                "Status": "5.2.2",
                "Diagnostic-Code": "smtp;554 5.2.2 mailbox full; STOREDRV.Deliver.Exception"
                ":QuotaExceededException",
            }
        ],
        original=original,
        headers_only=True,
        reporting_mta="EXCH01.customer.example",
    )


def gmail_dsn(original: bytes, rcpt: str) -> bytes:
    """Gmail: 'Delivery Status Notification (Failure)', threaded to the original."""
    original_id = BytesParser(policy=compat32).parsebytes(original)["Message-ID"]
    return _report(
        sender="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        subject="Delivery Status Notification (Failure)",
        to="biuro@firma.example",
        human=(
            f"Address not found\n\nYour message wasn't delivered to {rcpt} because the "
            "address couldn't be found, or is unable to receive mail.\n"
        ),
        fields=[
            {
                "Final-Recipient": f"rfc822; {rcpt}",
                "Action": "failed",
                "Status": "5.1.1",
                "Remote-MTA": "dns; gmail-smtp-in.l.google.com. (142.250.27.26, the server "
                "for the domain customer.example.)",
                "Diagnostic-Code": "smtp; 550-5.1.1 The email account that you tried to "
                "reach does not exist.",
            }
        ],
        original=original,
        reporting_mta="googlemail.com",
        extra_headers={"In-Reply-To": original_id, "References": original_id},
    )


def delayed_dsn(original: bytes, rcpt: str) -> bytes:
    """Postfix's warning: 'Delayed Mail (still being retried)'."""
    return _report(
        sender="MAILER-DAEMON@mx.firma.example (Mail Delivery System)",
        subject="Delayed Mail (still being retried)",
        to="biuro@firma.example",
        human="This is the mail system at host mx.firma.example.\n\n"
        "####################################################################\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
        "####################################################################\n",
        fields=[
            {
                "Final-Recipient": f"rfc822; {rcpt}",
                "Action": "delayed",
                "Status": "4.4.1",
                "Diagnostic-Code": "X-Postfix; connect to mx.customer.example[192.0.2.1]:25: "
                "Connection timed out",
                "Will-Retry-Until": "Fri, 27 Nov 2026 10:00:00 +0000",
            }
        ],
        original=original,
        headers_only=True,
        reporting_mta="mx.firma.example",
    )


def qmail_bounce(rcpt: str, copy: bytes = b"") -> bytes:
    """qmail's plain-text bounce (QSBMF), not a multipart/report."""
    msg = EmailMessage()
    msg["From"] = "MAILER-DAEMON@mail.customer.example"
    msg["To"] = "biuro@firma.example"
    msg["Subject"] = "failure notice"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain="mail.customer.example")
    msg.set_content(
        "Hi. This is the qmail-send program at mail.customer.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<{rcpt}>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n" + copy.decode("utf-8", "replace")
    )
    return msg.as_bytes()


def mdn(original_id: str) -> bytes:
    """A read receipt: a multipart/report too, but not about a delivery failure."""
    report = MIMEMultipart("report", report_type="disposition-notification")
    report["From"] = "jan@customer.example"
    report["To"] = "biuro@firma.example"
    report["Subject"] = "Read: Faktura"
    report["Message-ID"] = make_msgid(domain="customer.example")
    report.attach(MIMEText("Your message was read.", "plain"))
    part = MIMEBase("message", "disposition-notification")
    part.set_payload(
        f"Final-Recipient: rfc822; jan@customer.example\nOriginal-Message-ID: {original_id}\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n"
    )
    report.attach(part)
    return report.as_bytes()


def _original(subject: str, to: str, *, pdf: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Biuro <biuro@firma.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<0123456789abcdef@firma.example>"
    msg.set_content("Dzień dobry,\nprzypominamy o płatności.\n")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="FV.pdf")
    return msg.as_bytes()


# --- detection, unit ----------------------------------------------------------------------


ORIGINAL_ID = "<0123456789abcdef@firma.example>"
DEAD = "dead@customer.example"


@pytest.mark.parametrize(
    ("shape", "raw", "action", "status", "diagnostic_has", "original_id"),
    [
        (
            "postfix",
            postfix_dsn(
                _original("Przypomnienie", "dead@customer.example"), "dead@customer.example"
            ),
            "failed",
            "5.1.1",
            "User unknown",
            ORIGINAL_ID,
        ),
        (
            "exchange",
            exchange_dsn(
                _original("Korekta", "full@customer.example"), "full@customer.example", "Korekta"
            ),
            "failed",
            "5.2.2",
            "mailbox full",
            ORIGINAL_ID,
        ),
        (
            "gmail",
            gmail_dsn(
                _original("Faktura", "gone@customer.example", pdf=MINI_PDF), "gone@customer.example"
            ),
            "failed",
            "5.1.1",
            "does not exist",
            ORIGINAL_ID,
        ),
        (
            "delayed",
            delayed_dsn(_original("Faktura", "slow@customer.example"), "slow@customer.example"),
            "delayed",
            "4.4.1",
            "Connection timed out",
            ORIGINAL_ID,
        ),
        ("qmail", qmail_bounce("nobody@customer.example"), "failed", "5.1.1", "no mailbox", ""),
        (
            "qmail with copy",
            qmail_bounce("nobody@customer.example", _original("X", "nobody@customer.example")),
            "failed",
            "5.1.1",
            "no mailbox",
            ORIGINAL_ID,
        ),
    ],
)
def test_each_shape_is_read_as_a_bounce(shape, raw, action, status, diagnostic_has, original_id):
    read = read_mail(raw, RULES)
    bounce = read.bounce
    assert bounce is not None, shape
    [recipient] = bounce.recipients
    assert recipient.address.endswith("@customer.example")
    assert (recipient.action, recipient.status) == (action, status)
    assert diagnostic_has in recipient.diagnostic
    assert bounce.original_message_id == original_id
    assert read.refusal is None
    assert read.verdicts == [], "a bounce's attachments are not classified"


def test_the_original_subject_is_read_from_the_attached_header() -> None:
    raw = exchange_dsn(
        _original("Korekta faktury", "a@customer.example"), "a@customer.example", "Korekta faktury"
    )
    bounce = read_mail(raw, RULES).bounce
    assert bounce is not None
    assert bounce.original_subject == "Korekta faktury"
    assert bounce.reporting_mta == "EXCH01.customer.example"


@pytest.mark.parametrize(
    "raw",
    [
        invoice_mail(1),
        invoice_mail(2, subject="Re: undelivered goods, invoice attached"),
        mdn(ORIGINAL_ID),
    ],
    ids=["invoice", "invoice about undelivered goods", "read receipt"],
)
def test_ordinary_mail_is_not_a_bounce(raw: bytes) -> None:
    read = read_mail(raw, RULES)
    assert read.bounce is None
    assert len(read.verdicts) == len(read.parsed.attachments), "attachments are classified"


def test_a_bounce_from_a_sender_outside_the_allow_list_is_still_a_bounce() -> None:
    rules = ReadRules(
        limits=Limits(), max_message_bytes=50_000_000, sender_allow=frozenset({"*@supplier.pl"})
    )
    raw = postfix_dsn(_original("P", "dead@customer.example"), "dead@customer.example")
    read = read_mail(raw, rules)
    assert read.bounce is not None and read.refusal is None
    assert read_mail(invoice_mail(3), rules).refusal is not None


# --- end to end against Dovecot and the SMTP server -------------------------------------------


def _snapshot(store) -> tuple:
    with store.session() as session:
        outbox = sorted(session.execute(select(OutboxMessage.id, OutboxMessage.status)).all())
        reviews = sorted(
            session.execute(
                select(
                    ReviewItem.subject_type,
                    ReviewItem.subject_ref,
                    ReviewItem.reason_code,
                    ReviewItem.status,
                    ReviewItem.reason,
                )
            ).all()
        )
        counts = tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (StoredMessage, Document)
        )
        event_count = session.scalar(select(func.count(OutboxEvent.id)))
    return outbox, reviews, counts, event_count


def _review(store, subject_type: str, ref: object, code: str) -> ReviewItem:
    with store.session() as session:
        item = session.scalar(
            select(ReviewItem).where(
                ReviewItem.subject_type == subject_type,
                ReviewItem.subject_ref == str(ref),
                ReviewItem.reason_code == code,
            )
        )
        assert item is not None, (subject_type, ref, code)
        return item


@pytest.mark.imap
@pytest.mark.smtp
def test_bounces_in_the_mailbox_become_exceptions(db_url, mailbox, imap_settings, test_servers):
    robot = mailbox("robot")
    dead, full, gone, slow, nobody, supplier = (
        mailbox(n) for n in ("dead", "full", "gone", "slow", "nobody", "supplier")
    )
    settings = imap_settings(
        robot,
        database_url=db_url,
        outbox_transport="smtp",
        smtp_host=test_servers.host,
        smtp_port=test_servers.smtp_port,
        smtp_security="none",
        mail_from="Biuro <biuro@firma.example>",
    )
    store = open_store(settings)
    try:
        rows = {
            name: enqueue(
                store,
                settings,
                key=f"test/{name}",
                to=[box.address],
                subject=subject,
                body_text="Dzień dobry,\n...\n",
                attachments=attachments,
                subject_type=about[0],
                subject_ref=about[1],
            )
            for name, box, subject, attachments, about in (
                (
                    "reminder",
                    dead,
                    "Przypomnienie o płatności FV/2026/11/0001",
                    (),
                    ("invoice", "41"),
                ),
                ("correction", full, "Prośba o korektę faktury 17/2026", (), ("document", "12")),
                (
                    "invoice",
                    gone,
                    "Faktura FV/2026/11/0002",
                    [OutgoingAttachment("FV_2026_11_0002.pdf", MINI_PDF, "application/pdf")],
                    ("issued_invoice", "7"),
                ),
                ("slow", slow, "Faktura FV/2026/11/0003", (), ("issued_invoice", "8")),
                ("qmail", nobody, "Напоминание об оплате", (), ("invoice", "43")),
            )
        }
        report = send_due(store, settings)
        assert report.sent == 5
        originals = {}
        for name, box in (
            ("reminder", dead),
            ("correction", full),
            ("invoice", gone),
            ("slow", slow),
            ("qmail", nobody),
        ):
            box.wait_for(1, timeout=30)
            [originals[name]] = box.raw_messages()

        ours = rows["invoice"]
        robot.append(postfix_dsn(originals["reminder"], dead.address))
        robot.append(
            exchange_dsn(originals["correction"], full.address, rows["correction"].subject)
        )
        robot.append(gmail_dsn(originals["invoice"], gone.address))
        robot.append(delayed_dsn(originals["slow"], slow.address))
        robot.append(qmail_bounce(nobody.address))  # no copy: matched by the recipient
        never = _original("Nie od nas", "stranger@elsewhere.example").replace(
            b"0123456789abcdef", b"never-sent-by-us"
        )
        robot.append(postfix_dsn(never, "stranger@elsewhere.example"))
        # A supplier's real invoice with the same PDF bytes: this one IS a document.
        robot.append(invoice_mail(9, sender=supplier.address, attachment=MINI_PDF))

        intake = run_intake(store, settings)
        assert (intake.seen, intake.bounces, intake.stored) == (7, 6, 1)
        assert intake.documents == 1

        with store.session() as session:
            status = dict(session.execute(select(OutboxMessage.id, OutboxMessage.status)).all())
            documents = session.scalars(select(Document)).all()
            bounce_messages = session.scalars(
                select(StoredMessage).where(StoredMessage.status == "bounce")
            ).all()
        assert {name: status[row.id] for name, row in rows.items()} == {
            "reminder": BOUNCED,
            "correction": BOUNCED,
            "invoice": BOUNCED,
            "slow": "sent",
            "qmail": BOUNCED,
        }
        # Only the supplier's mail gave a document; our invoice coming back did not.
        [document] = documents
        assert document.kind == "invoice"
        assert len(bounce_messages) == 6
        assert all(m.reason_code == "BOUNCE" and m.raw_path for m in bounce_messages)

        history = [(e.status, e.detail) for e in events(store, rows["reminder"].id)]
        assert [s for s, _ in history] == ["queued", "sending", "sent", BOUNCED]
        assert dead.address in history[-1][1] and "5.1.1" in history[-1][1]
        assert "User unknown" in history[-1][1]
        assert "Message-ID" in history[-1][1]
        slow_history = [(e.status, e.detail) for e in events(store, rows["slow"].id)]
        assert slow_history[-1][0] == "delayed" and "4.4.1" in slow_history[-1][1]

        item = _review(store, "outbox", rows["correction"].id, OUTBOX_BOUNCED)
        assert item.status == "open"
        assert (item.evidence["about_type"], item.evidence["about_ref"]) == ("document", "12")
        assert item.evidence["subject"] == rows["correction"].subject
        assert item.evidence["to"] == [full.address]
        [entry] = item.evidence["bounces"]
        assert (entry["recipient"], entry["status"]) == (full.address, "5.2.2")
        assert "mailbox full" in entry["diagnostic"]
        assert "document 12" in item.reason and full.address in item.reason
        assert item.evidence["matched_by"] == "message_id"

        by_rcpt = _review(store, "outbox", rows["qmail"].id, OUTBOX_BOUNCED)
        assert by_rcpt.evidence["matched_by"] == "recipient"
        qmail_history = events(store, rows["qmail"].id)
        assert "matched by the failed recipient" in qmail_history[-1].detail
        assert _review(store, "outbox", ours.id, OUTBOX_BOUNCED).evidence["about_ref"] == "7"

        with store.session() as session:
            unmatched = session.scalars(
                select(ReviewItem).where(ReviewItem.reason_code == BOUNCE_UNMATCHED)
            ).all()
            slow_items = session.scalars(
                select(ReviewItem).where(ReviewItem.subject_ref == str(rows["slow"].id))
            ).all()
        [lost] = unmatched
        assert lost.subject_type == "message"
        assert "stranger@elsewhere.example" in lost.reason
        assert "never-sent-by-us" in lost.reason
        assert slow_items == [], "a delay is an event, not an exception"

        shown = {(r.area, r.state): r.count for r in status_rows(store)}
        assert shown[("outbox", BOUNCED)] == 4
        assert shown[("messages", "bounce")] == 6

        # The same reports read again (e.g. copied back by a mail client): nothing changes.
        before = _snapshot(store)
        for raw in robot.raw_messages("Processed") if "Processed" in robot.folders() else []:
            robot.append(raw)
        again = run_intake(store, settings)
        assert again.seen == 7 and again.duplicates == 7
        assert _snapshot(store) == before

        # A second, different report about the same failure adds nothing either.
        robot.append(postfix_dsn(originals["reminder"], dead.address))
        third = run_intake(store, settings)
        assert third.bounces == 1
        after = _snapshot(store)
        assert after[0] == before[0] and after[1] == before[1] and after[3] == before[3]
    finally:
        store.dispose()


# --- all or nothing across SIGKILL ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.imap
def test_intake_killed_while_reading_bounces_records_each_once(
    db_url, mailbox, imap_settings
) -> None:
    from tests.test_crash import KILLS, SEED, robot_env, run_killed

    robot = mailbox("robot-crash")
    settings = imap_settings(robot, database_url=db_url, mail_from="biuro@firma.example")
    store = open_store(settings)
    try:
        count = 200
        stack = contextlib.ExitStack()
        rows = [
            enqueue(
                store,
                settings,
                key=f"crash/{n}",
                to=[f"c{n}@customer.example"],
                subject=f"Faktura {n}",
                body_text="...",
                subject_type="issued_invoice",
                subject_ref=str(n),
            )
            for n in range(count)
        ]
        assert send_due(store, settings).sent == count  # the embedded outbox folder
        client = stack.enter_context(robot.client())
        for n, row in enumerate(rows):
            original = EmailMessage()
            original["From"] = "biuro@firma.example"
            original["To"] = f"c{n}@customer.example"
            original["Subject"] = row.subject
            original["Message-ID"] = row.message_id
            original.set_content("...")
            client.append(
                "INBOX", exchange_dsn(original.as_bytes(), f"c{n}@customer.example", row.subject)
            )
        stack.close()

        cli = [sys.executable, "-m", "backoffice.cli", "intake"]
        run_killed(cli, robot_env(settings), random.Random(SEED), kills=KILLS)

        with store.session() as session:
            statuses = session.scalars(select(OutboxMessage.status)).all()
            bounced_events = session.execute(
                select(OutboxEvent.outbox_pk, func.count(OutboxEvent.id))
                .where(OutboxEvent.status == BOUNCED)
                .group_by(OutboxEvent.outbox_pk)
            ).all()
            items = session.scalar(
                select(func.count(ReviewItem.id)).where(ReviewItem.reason_code == OUTBOX_BOUNCED)
            )
            messages = session.scalar(
                select(func.count(StoredMessage.id)).where(StoredMessage.status == "bounce")
            )
            documents = session.scalar(select(func.count(Document.id)))
        assert statuses == [BOUNCED] * count
        assert sorted(n for _row, n in bounced_events) == [1] * count
        assert (items, messages, documents) == (count, count, 0)
        assert robot.count("INBOX") == 0
    finally:
        store.dispose()
