"""Staff settle outbox exceptions: mark an in-doubt mail sent, send a bounced one again to a
corrected address (through the real test SMTP server into the real Dovecot mailboxes), and
the refusals that leave everything as it was. Also ``backoffice outbox show|mark-sent|resend``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from backoffice.cli import app
from backoffice.config import Settings
from backoffice.outbox import (
    BOUNCED,
    OUTBOX_BOUNCED,
    OUTBOX_IN_DOUBT,
    OUTBOX_RECIPIENTS_REFUSED,
    Bounce,
    BounceRecipient,
    InvalidOutgoingMail,
    OutboxStateError,
    enqueue,
    mark_sent,
    record_bounce,
    resend,
    send_due,
    service,
)
from backoffice.store import OutboxEvent, OutboxMessage, ReviewItem, Store, open_store
from backoffice.web.models import AuditEntry
from sqlalchemy import select
from typer.testing import CliRunner

pytestmark = [pytest.mark.smtp, pytest.mark.imap]


@pytest.fixture
def smtp_store(
    smtp_settings: Callable[..., Settings], db_url: str
) -> Iterator[tuple[Settings, Store]]:
    """Settings sending through the test SMTP server and a store on SQLite and PostgreSQL."""
    settings = smtp_settings(database_url=db_url, mail_from="Biuro <biuro@firma.example>")
    store = open_store(settings)
    yield settings, store
    store.dispose()


def _row(store: Store, outbox_id: int) -> OutboxMessage:
    with store.session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        return row


def _events(store: Store, outbox_id: int) -> list[OutboxEvent]:
    return service.events(store, outbox_id)


def _items(store: Store, outbox_id: int) -> dict[str, str]:
    with store.session() as session:
        return {
            item.reason_code: item.status
            for item in session.scalars(
                select(ReviewItem).where(
                    ReviewItem.subject_type == "outbox", ReviewItem.subject_ref == str(outbox_id)
                )
            )
        }


def _queue(store: Store, settings: Settings, to: str, key: str = "test/reminder") -> int:
    row = enqueue(
        store,
        settings,
        key=key,
        to=[to],
        subject="Przypomnienie o płatności FV/2026/11/0007",
        body_text="Dzień dobry,\nprzypominamy o zapłacie.\n",
        subject_type="invoice",
        subject_ref="7",
    )
    return row.id


def _bounce(store: Store, outbox_id: int, address: str, expect: str = "bounced") -> None:
    """Record the delivery report a remote server sends back for ``address``."""
    row = _row(store, outbox_id)
    bounce = Bounce(
        recipients=(BounceRecipient(address, "failed", "5.1.1", "smtp; 550 5.1.1 user unknown"),),
        original_message_id=row.message_id,
        original_subject=row.subject,
    )
    with store.session() as session:
        done = record_bounce(session, bounce, message_pk=1, evidence={"sender": "MAILER-DAEMON"})
    assert done == expect


def _in_doubt(store: Store, outbox_id: int) -> None:
    """Leave the mail as a robot killed while handing it to the server leaves it."""
    with store.session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        row.transport = "smtp:primary"
        row.attempts = 1
        service._doubt(session, row, "the robot stopped while sending", "robot-1")


def test_a_bounced_mail_goes_again_once_to_the_corrected_address(smtp_store, mailbox) -> None:
    settings, store = smtp_store
    wrong, right = mailbox("wrong"), mailbox("right")
    outbox_id = _queue(store, settings, wrong.address)
    assert send_due(store, settings).sent == 1
    wrong.wait_for(1)
    _bounce(store, outbox_id, wrong.address)
    before = _row(store, outbox_id)
    assert before.status == BOUNCED
    assert _items(store, outbox_id) == {OUTBOX_BOUNCED: "open"}

    row = resend(store, outbox_id, actor="anna", note="adres od klienta", to=[right.address])
    assert row.status == "retry"
    after = _row(store, outbox_id)
    assert after.to_addrs == [right.address]
    assert (after.message_id, after.idempotency_key) == (before.message_id, before.idempotency_key)
    assert after.attempts == 0
    assert _items(store, outbox_id) == {OUTBOX_BOUNCED: "done"}
    last = _events(store, outbox_id)[-1]
    assert last.status == "retry" and last.worker == "anna"
    assert wrong.address in last.detail and right.address in last.detail
    assert "adres od klienta" in last.detail

    report = send_due(store, settings)
    assert report.sent == 1, report.reasons
    arrived = right.wait_for(1)
    assert [m["Message-ID"] for m in arrived] == [before.message_id]
    assert arrived[0]["To"] == right.address
    assert _row(store, outbox_id).status == "sent"
    # Sent once: another run sends nothing, and the old address got nothing more.
    assert send_due(store, settings).sent == 0
    assert len(right.messages()) == 1
    assert len(wrong.messages()) == 1
    statuses = [e.status for e in _events(store, outbox_id)]
    assert statuses == ["queued", "sending", "sent", BOUNCED, "retry", "sending", "sent"]

    # A late second report about the old address does not undo the correction.
    _bounce(store, outbox_id, wrong.address, expect="known")
    assert _row(store, outbox_id).status == "sent"
    assert _items(store, outbox_id) == {OUTBOX_BOUNCED: "done"}
    assert "replaced recipient, ignored" in _events(store, outbox_id)[-1].detail
    # A report about the corrected address itself still counts.
    _bounce(store, outbox_id, right.address)
    assert _row(store, outbox_id).status == BOUNCED
    assert _items(store, outbox_id) == {OUTBOX_BOUNCED: "open"}


def test_an_in_doubt_mail_marked_sent_is_never_sent(smtp_store, mailbox) -> None:
    settings, store = smtp_store
    box = mailbox("doubt")
    outbox_id = _queue(store, settings, box.address)
    _in_doubt(store, outbox_id)
    assert _items(store, outbox_id) == {OUTBOX_IN_DOUBT: "open"}

    mark_sent(store, outbox_id, actor="ola", note="klient potwierdził telefonicznie")
    row = _row(store, outbox_id)
    assert row.status == "sent" and row.sent_at is not None
    assert _items(store, outbox_id) == {OUTBOX_IN_DOUBT: "done"}
    last = _events(store, outbox_id)[-1]
    assert (last.status, last.worker) == ("sent", "ola")
    assert last.detail == "marked sent by ola: klient potwierdził telefonicznie"
    assert send_due(store, settings).sent == 0
    assert box.messages() == []
    with pytest.raises(OutboxStateError) as again:
        mark_sent(store, outbox_id, actor="ola")
    assert again.value.code == "OUTBOX_STATE"


def _snapshot(store: Store, outbox_id: int) -> tuple:
    row = _row(store, outbox_id)
    return (
        row.status,
        row.to_addrs,
        row.cc_addrs,
        row.attempts,
        len(_events(store, outbox_id)),
        _items(store, outbox_id),
    )


def test_what_does_not_fit_is_refused_and_changes_nothing(smtp_store, mailbox) -> None:
    settings, store = smtp_store
    box = mailbox("refusals")
    sent_id = _queue(store, settings, box.address, key="test/sent")
    assert send_due(store, settings).sent == 1
    seen = _snapshot(store, sent_id)
    with pytest.raises(OutboxStateError) as sent:
        resend(store, sent_id, actor="anna")
    assert sent.value.code == "OUTBOX_NOT_RESENDABLE"
    with pytest.raises(OutboxStateError) as marked:
        mark_sent(store, sent_id, actor="anna")
    assert marked.value.code == "OUTBOX_STATE"
    assert _snapshot(store, sent_id) == seen

    doubt_id = _queue(store, settings, box.address, key="test/doubt")
    _in_doubt(store, doubt_id)
    seen = _snapshot(store, doubt_id)
    for bad in (["not-an-address"], ["ok@example.test\r\nBcc: x@evil.test"], [" "], ["@x.test"]):
        with pytest.raises(InvalidOutgoingMail):
            resend(store, doubt_id, actor="anna", to=bad)
    assert _snapshot(store, doubt_id) == seen

    with pytest.raises(OutboxStateError) as unknown:
        resend(store, 999_999, actor="anna")
    assert unknown.value.code == "OUTBOX_UNKNOWN"
    with pytest.raises(OutboxStateError) as unknown:
        service.show(store, 999_999)
    assert unknown.value.code == "OUTBOX_UNKNOWN"


def test_refused_recipients_get_it_again_only_at_the_addresses_given(smtp_store, mailbox) -> None:
    settings, store = smtp_store
    box, fixed = mailbox("accepted"), mailbox("fixed")
    outbox_id = enqueue(
        store,
        settings,
        key="test/refused",
        to=[box.address, "nobody@refused.example"],
        cc=["ksiegowa@firma.example"],
        subject="Faktura",
        body_text="W załączeniu.",
    ).id
    with store.session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        service._settle_sent(session, row, "accepted by smtp:primary", "robot-1")
        service._review(
            session,
            row,
            OUTBOX_RECIPIENTS_REFUSED,
            "The server refused some recipients.",
            {"refused": {"nobody@refused.example": "550 no such user"}},
        )
    shown = service.show(store, outbox_id)
    assert shown.can_resend and not shown.can_mark_sent and shown.resend_needs_recipients
    assert shown.refused == ["nobody@refused.example"]
    with pytest.raises(OutboxStateError) as needs:
        resend(store, outbox_id, actor="anna")
    assert needs.value.code == "OUTBOX_RECIPIENTS_REQUIRED"

    resend(store, outbox_id, actor="anna", to=fixed.address)
    row = _row(store, outbox_id)
    assert (row.status, row.to_addrs, row.cc_addrs) == ("retry", [fixed.address], [])
    assert send_due(store, settings).sent == 1
    assert len(fixed.wait_for(1)) == 1
    assert box.messages() == []


def test_cli_shows_marks_sent_and_resends(
    smtp_settings: Callable[..., Settings], mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = smtp_settings()
    monkeypatch.setenv("BACKOFFICE_HOME", str(settings.home))
    monkeypatch.setenv("BACKOFFICE_OUTBOX_TRANSPORT", "smtp")
    monkeypatch.setenv("BACKOFFICE_SMTP_HOST", settings.smtp_host)
    monkeypatch.setenv("BACKOFFICE_SMTP_PORT", str(settings.smtp_port))
    monkeypatch.setenv("BACKOFFICE_SMTP_SECURITY", "none")
    store = open_store(settings)
    try:
        doubt_id = _queue(store, settings, mailbox("cli-doubt").address, key="test/cli-doubt")
        _in_doubt(store, doubt_id)
        wrong, right = mailbox("cli-wrong"), mailbox("cli-right")
        bounced_id = _queue(store, settings, wrong.address, key="test/cli-bounced")
        _in_doubt(store, bounced_id)
        _bounce(store, bounced_id, wrong.address)
    finally:
        store.dispose()
    runner = CliRunner()

    shown = runner.invoke(app, ["outbox", "show", str(doubt_id)])
    assert shown.exit_code == 0, shown.output
    assert "in_doubt" in shown.output and OUTBOX_IN_DOUBT in shown.output
    assert "mark-sent, resend" in shown.output

    marked = runner.invoke(
        app, ["outbox", "mark-sent", str(doubt_id), "--note", "log serwera", "--actor", "ola"]
    )
    assert marked.exit_code == 0, marked.output
    assert f"outbox {doubt_id} is sent" in marked.output and "by ola" in marked.output
    again = runner.invoke(app, ["outbox", "mark-sent", str(doubt_id)])
    assert again.exit_code == 1 and "OUTBOX_STATE" in again.output

    bad = runner.invoke(app, ["outbox", "resend", str(bounced_id), "--to", "not-an-address"])
    assert bad.exit_code == 1 and "OUTBOX_INVALID" in bad.output
    resent = runner.invoke(app, ["outbox", "resend", str(bounced_id), "--to", right.address])
    assert resent.exit_code == 0, resent.output
    assert f"outbox {bounced_id} is retry ({right.address})" in resent.output
    missing = runner.invoke(app, ["outbox", "show", "424242"])
    assert missing.exit_code == 1 and "OUTBOX_UNKNOWN" in missing.output

    sent = runner.invoke(app, ["outbox", "send"])
    assert sent.exit_code == 0, sent.output
    assert [m["To"] for m in right.wait_for(1)] == [right.address]

    store = open_store(settings)
    try:
        with store.session() as session:
            audit = [
                (a.actor, a.action, a.subject_ref)
                for a in session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.subject_type == "outbox")
                    .order_by(AuditEntry.id)
                )
            ]
        assert audit[0] == ("ola", "outbox.mark_sent", str(doubt_id))
        assert audit[1][1:] == ("outbox.resend", str(bounced_id))
        assert audit[1][0]  # the OS user
        assert _row(store, bounced_id).status == "sent"
    finally:
        store.dispose()


def test_two_people_settling_one_mail_at_once_one_wins(smtp_store, mailbox) -> None:
    settings, store = smtp_store
    address = mailbox("race").address
    for n in range(4):
        outbox_id = _queue(store, settings, address, key=f"test/race-{n}")
        _in_doubt(store, outbox_id)
        seen = len(_events(store, outbox_id))
        start = threading.Barrier(2)

        def act(who: str, outbox_id: int = outbox_id, start: threading.Barrier = start) -> str:
            start.wait()
            try:
                if who == "ola":
                    mark_sent(store, outbox_id, actor=who)
                else:
                    resend(store, outbox_id, actor=who, to=[address])
            except OutboxStateError:
                return "refused"
            return "done"

        with ThreadPoolExecutor(2) as pool:
            results = dict(zip(("ola", "anna"), pool.map(act, ("ola", "anna")), strict=True))
        assert sorted(results.values()) == ["done", "refused"], results
        winner = "ola" if results["ola"] == "done" else "anna"
        added = _events(store, outbox_id)[seen:]
        assert [e.worker for e in added] == [winner]
        assert _row(store, outbox_id).status == ("sent" if winner == "ola" else "retry")
