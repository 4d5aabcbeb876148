"""The outbox with the embedded Maildir transport, on SQLite and PostgreSQL.

Every test uses a real store (``db_url``) and a real Maildir folder; the SMTP side is in
``test_outbox_smtp.py``.
"""

from __future__ import annotations

import mailbox as mailbox_lib
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from backoffice.outbox import (
    OUTBOX_BROKEN,
    OUTBOX_IN_DOUBT,
    InvalidOutgoingMail,
    MaildirTransport,
    OutboxStateError,
    OutgoingAttachment,
    SmtpTransport,
    Transports,
    enqueue,
    events,
    make_message_id,
    mark_sent,
    resend,
    send_due,
    service,
)
from backoffice.outbox.compose import email_for_row
from backoffice.store import OutboxEvent, OutboxMessage, ReviewItem, open_store
from pydantic import SecretStr
from sqlalchemy import func, select

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(make_settings, db_url):
    return make_settings(database_url=db_url, mail_from="Biuro <biuro@firma.example>")


@pytest.fixture
def store(settings):
    store = open_store(settings)
    yield store
    store.dispose()


def maildir_messages(path: Path) -> list:
    box = mailbox_lib.Maildir(path, factory=None, create=False)
    return [message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.iterkeys()]


def row_of(store, outbox_id: int) -> OutboxMessage:
    with store.session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        return row


def count(store, model, *where) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_maildir_end_to_end_with_unicode_threading_and_attachment(store, settings) -> None:
    pdf = b"%PDF-1.4 faktura"
    row = enqueue(
        store,
        settings,
        key="correction:doc:17",
        to=["Jan Kowalski <jan@dostawca.example>"],
        cc=["Ольга Петрова <olga@postavshik.example>"],
        subject="Prośba o korektę faktury FV/2026/03 — счёт №17",
        body_text="Dzień dobry,\nproszę o korektę: zła stawka VAT.\nЗдравствуйте!\n.\n",
        body_html="<p>Dzień dobry — Здравствуйте</p>",
        in_reply_to="orig-1@dostawca.example",
        references=["<root@dostawca.example>", "<orig-1@dostawca.example>"],
        attachments=[OutgoingAttachment("korekta żółć.pdf", pdf, "application/pdf")],
        language="pl",
        subject_type="document",
        subject_ref="17",
    )
    assert row.status == "queued"
    assert row.message_id == make_message_id("correction:doc:17", settings.mail_from)
    assert row.message_id.endswith("@firma.example>")
    assert row.references == ["<root@dostawca.example>", "<orig-1@dostawca.example>"]
    assert row.in_reply_to == "<orig-1@dostawca.example>"
    assert store.blobs.read(row.attachments[0]["blob_path"]) == pdf

    report = send_due(store, settings)
    assert (report.sent, report.retried, report.failed, report.in_doubt) == (1, 0, 0, 0)

    [msg] = maildir_messages(settings.resolved_outbox_dir)
    assert msg["Subject"] == "Prośba o korektę faktury FV/2026/03 — счёт №17"
    assert msg["Message-ID"] == row.message_id
    assert msg["In-Reply-To"] == "<orig-1@dostawca.example>"
    assert msg["References"].split() == ["<root@dostawca.example>", "<orig-1@dostawca.example>"]
    assert msg["Cc"].addresses[0].display_name == "Ольга Петрова"
    # MIME text is canonical CRLF inside its transfer encoding.
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == "Dzień dobry,\nproszę o korektę: zła stawka VAT.\nЗдравствуйте!\n.\n"
    assert "Здравствуйте" in msg.get_body(("html",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "korekta żółć.pdf"
    assert attachment.get_content() == pdf
    # The envelope (who it was for) is kept with the file, as a delivery agent would.
    assert "jan@dostawca.example" in msg["X-Envelope-To"]
    assert "olga@postavshik.example" in msg["X-Envelope-To"]

    sent = row_of(store, row.id)
    assert sent.status == "sent"
    assert sent.sent_at is not None
    assert sent.transport == "maildir"
    assert sent.lease_owner is None
    assert [e.status for e in events(store, row.id)] == ["queued", "sending", "sent"]

    # Nothing left to do: a second run sends nothing.
    assert send_due(store, settings).handled == 0
    assert len(maildir_messages(settings.resolved_outbox_dir)) == 1


def test_enqueue_is_idempotent_on_the_key(store, settings) -> None:
    first = enqueue(
        store, settings, key="welcome:42", to=["a@x.example"], subject="Hi", body_text="1"
    )
    again = enqueue(
        store, settings, key="welcome:42", to=["b@x.example"], subject="Other", body_text="2"
    )
    assert again.id == first.id
    assert again.subject == "Hi"
    assert again.to_addrs == ["a@x.example"]
    assert count(store, OutboxMessage) == 1
    assert count(store, OutboxEvent) == 1


def test_enqueue_races_on_one_key_give_one_row(store, settings) -> None:
    workers = 8
    barrier = threading.Barrier(workers)
    ids: list[int] = []
    errors: list[BaseException] = []

    def queue_it() -> None:
        try:
            barrier.wait()
            row = enqueue(
                store, settings, key="race", to=["a@x.example"], subject="S", body_text="B"
            )
            ids.append(row.id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=queue_it) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(ids)) == 1
    assert count(store, OutboxMessage) == 1
    assert count(store, OutboxEvent) == 1


def test_enqueue_joins_the_callers_transaction(store, settings) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        enqueue(
            store,
            settings,
            key="k-rolled-back",
            to=["a@x.example"],
            subject="S",
            body_text="B",
            session=session,
        )
        raise RuntimeError("the caller's own change failed")
    assert count(store, OutboxMessage) == 0

    with store.session() as session:
        session.add(
            ReviewItem(subject_type="document", subject_ref="9", reason_code="X", reason="r")
        )
        row = enqueue(
            store,
            settings,
            key="k-committed",
            to=["a@x.example"],
            subject="S",
            body_text="B",
            session=session,
        )
        # Inside the caller's transaction the same key is also found again.
        same = enqueue(
            store,
            settings,
            key="k-committed",
            to=["a@x.example"],
            subject="S",
            body_text="B",
            session=session,
        )
        assert same.id == row.id
    assert count(store, OutboxMessage) == 1
    assert count(store, ReviewItem) == 1


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"to": []}, "no recipient"),
        ({"to": ["not-an-address"]}, "not an email address"),
        ({"to": ["a@x.example\r\nBcc: victim@y.example"]}, "line break"),
        ({"subject": "Hi\r\nBcc: victim@y.example"}, "line break"),
        ({"key": ""}, "key is empty"),
        ({"key": "k" * 201}, "longer than"),
    ],
)
def test_enqueue_refuses_mail_that_cannot_be_sent(store, settings, kwargs, problem) -> None:
    args = {"key": "bad", "to": ["a@x.example"], "subject": "S", "body_text": "B"} | kwargs
    with pytest.raises(InvalidOutgoingMail, match=problem) as info:
        enqueue(store, settings, **args)
    assert info.value.code == "OUTBOX_INVALID"
    assert count(store, OutboxMessage) == 0


def test_maildir_write_is_idempotent_and_was_delivered_exact(store, settings, tmp_path) -> None:
    row = enqueue(store, settings, key="m1", to=["a@x.example"], subject="S", body_text="B")
    transport = MaildirTransport(tmp_path / "out")
    assert transport.was_delivered(row.message_id) is False
    msg = email_for_row(row, store.blobs)
    transport.send(msg, "biuro@firma.example", ["a@x.example"])
    transport.send(msg, "biuro@firma.example", ["a@x.example"])
    assert transport.was_delivered(row.message_id) is True
    assert len(list((tmp_path / "out" / "new").iterdir())) == 1
    assert not list((tmp_path / "out" / "tmp").iterdir())
    # A mail client reading the folder moves the file to cur/ with flags: still known.
    box = mailbox_lib.Maildir(tmp_path / "out", create=False)
    [key] = box.keys()
    message = box[key]
    message.set_subdir("cur")
    message.add_flag("S")
    box[key] = message
    assert not list((tmp_path / "out" / "new").iterdir())
    assert transport.was_delivered(row.message_id) is True


def crash_while_sending(store, settings, *, deliver: bool) -> int:
    """Leave a row exactly as a robot killed during the hand-over leaves it.

    The real claim code moves the row to ``sending`` and commits; the message is then
    handed to the transport (or not, when the robot died first) and the robot dies
    before recording the result. Returns the row id.
    """
    transports = Transports(settings)
    claimed = service._claim_next(
        store, settings, transports, "robot-that-dies", service.SendReport(), lambda _o: None
    )
    assert claimed is not None
    if deliver:
        claimed.transport.send(claimed.msg, claimed.envelope_from, claimed.recipients)
    transports.close()
    row = row_of(store, claimed.outbox_id)
    assert row.status == "sending"
    assert row.lease_owner == "robot-that-dies"
    return claimed.outbox_id


def after_lease(monkeypatch, settings) -> None:
    """Move the clock past the dead robot's lease."""
    later = datetime.now(UTC) + timedelta(seconds=settings.lease_seconds + 60)
    monkeypatch.setenv("BACKOFFICE_NOW", later.isoformat())


def test_crash_after_maildir_delivery_is_confirmed_not_resent(store, settings, monkeypatch) -> None:
    enqueue(store, settings, key="c1", to=["a@x.example"], subject="S", body_text="B")
    outbox_id = crash_while_sending(store, settings, deliver=True)

    # While the dead robot's lease runs, nobody touches the row.
    assert send_due(store, settings).handled == 0
    assert row_of(store, outbox_id).status == "sending"

    after_lease(monkeypatch, settings)
    report = send_due(store, settings)
    assert (report.resolved, report.sent, report.in_doubt) == (1, 0, 0)
    row = row_of(store, outbox_id)
    assert row.status == "sent"
    assert row.attempts == 1
    assert events(store, outbox_id)[-1].detail == "sent (confirmed after restart)"
    assert len(maildir_messages(settings.resolved_outbox_dir)) == 1


def test_crash_before_maildir_delivery_is_sent_once(store, settings, monkeypatch) -> None:
    enqueue(store, settings, key="c2", to=["a@x.example"], subject="S", body_text="B")
    outbox_id = crash_while_sending(store, settings, deliver=False)
    after_lease(monkeypatch, settings)
    report = send_due(store, settings)
    assert (report.resolved, report.sent) == (1, 1)
    row = row_of(store, outbox_id)
    assert row.status == "sent"
    assert row.attempts == 2
    statuses = [e.status for e in events(store, outbox_id)]
    assert statuses == ["queued", "sending", "retry", "sending", "sent"]
    assert len(maildir_messages(settings.resolved_outbox_dir)) == 1


def test_crash_with_smtp_and_no_journal_goes_to_staff(
    store, settings, monkeypatch, make_settings, db_url
) -> None:
    # An SMTP server that cannot answer whether it got the mail: nothing listens there,
    # and nothing needs to, since an in-doubt row must never be handed over again.
    smtp = make_settings(
        database_url=db_url,
        outbox_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=10026,
        smtp_security="none",
    )
    enqueue(store, smtp, key="c3", to=["a@x.example"], subject="S", body_text="B")
    outbox_id = crash_while_sending(store, smtp, deliver=False)
    after_lease(monkeypatch, smtp)
    report = send_due(store, smtp)
    assert (report.in_doubt, report.sent, report.retried) == (1, 0, 0)
    row = row_of(store, outbox_id)
    assert row.status == "in_doubt"
    assert row.attempts == 1
    with store.session() as session:
        item = session.scalars(select(ReviewItem)).one()
    assert item.reason_code == OUTBOX_IN_DOUBT
    assert item.subject_type == "outbox"
    assert item.subject_ref == str(outbox_id)
    assert "robot stopped while handing" in item.reason
    assert item.evidence["message_id"] == row.message_id

    # Later runs leave it alone; staff decide.
    assert send_due(store, smtp).handled == 0
    with pytest.raises(OutboxStateError):
        mark_sent(store, 999_999, actor="anna")
    resend(store, outbox_id, actor="anna", note="recipient says it never came")
    with store.session() as session:
        assert session.scalars(select(ReviewItem)).one().status == "done"
    # Sent again (through the Maildir the other settings name).
    assert send_due(store, settings).sent == 1
    assert row_of(store, outbox_id).status == "sent"


def test_staff_mark_an_in_doubt_mail_sent(store, settings, monkeypatch, make_settings, db_url):
    smtp = make_settings(
        database_url=db_url, outbox_transport="smtp", smtp_host="127.0.0.1", smtp_port=10026
    )
    enqueue(store, smtp, key="c4", to=["a@x.example"], subject="S", body_text="B")
    outbox_id = crash_while_sending(store, smtp, deliver=False)
    after_lease(monkeypatch, smtp)
    send_due(store, smtp)
    with pytest.raises(OutboxStateError):
        resend(store, outbox_id + 1000, actor="anna")
    row = mark_sent(store, outbox_id, actor="anna", note="seen in the server log")
    assert row.status == "sent"
    assert events(store, outbox_id)[-1].detail == "marked sent by anna: seen in the server log"
    with pytest.raises(OutboxStateError):
        resend(store, outbox_id, actor="anna")


def test_a_row_whose_attachment_vanished_fails_with_a_reason(store, settings) -> None:
    row = enqueue(
        store,
        settings,
        key="b1",
        to=["a@x.example"],
        subject="S",
        body_text="B",
        attachments=[OutgoingAttachment("a.txt", b"unique bytes for b1", "text/plain")],
    )
    store.blobs.path(row.attachments[0]["blob_path"]).unlink()
    report = send_due(store, settings)
    assert (report.failed, report.sent) == (1, 0)
    assert report.reasons[0].startswith(f"OUTBOX_BROKEN: outbox {row.id} (b1): ")
    assert row_of(store, row.id).status == "failed"
    assert count(store, ReviewItem, ReviewItem.reason_code == OUTBOX_BROKEN) == 1


def test_limit_and_progress(store, settings) -> None:
    for n in range(5):
        enqueue(store, settings, key=f"l{n}", to=["a@x.example"], subject=f"S{n}", body_text="B")
    seen = []
    report = send_due(store, settings, limit=3, progress=seen.append)
    assert report.sent == 3
    assert seen == [1, 1, 1]
    assert report.summary().startswith("outbox: 3 sent, 0 to retry, 0 failed")
    with store.session() as session:
        order = session.scalars(
            select(OutboxMessage.idempotency_key).where(OutboxMessage.status == "sent")
        ).all()
    assert sorted(order) == ["l0", "l1", "l2"]
    assert send_due(store, settings).sent == 2


def test_secrets_stay_out_of_reprs(make_settings) -> None:
    settings = make_settings(
        outbox_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_user="robot",
        smtp_password=SecretStr("hunter2-very-secret"),
    )
    transports = Transports(settings)
    assert isinstance(transports.primary, SmtpTransport)
    assert "hunter2" not in repr(transports.primary)
    assert "hunter2" not in repr(transports.primary.server)
    assert "hunter2" not in repr(settings)
