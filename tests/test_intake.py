"""Mail intake end to end: embedded Maildir and a real Dovecot IMAP server."""

from __future__ import annotations

from datetime import UTC, datetime
from mailbox import Maildir
from pathlib import Path

import pytest
from backoffice.intake.service import run_intake
from backoffice.samples import SAMPLES, seed_maildir
from backoffice.store import Document, Message, ReviewItem, open_store
from sqlalchemy import func, select

from tests.support.mails import invoice_mail

FIXTURES = Path(__file__).parent / "fixtures" / "mail"


def _count(store, model, *where) -> int:
    with store.session() as session:
        return session.scalar(select(func.count(model.id)).where(*where))


def test_sample_mailbox_is_taken_in_once(make_settings) -> None:
    settings = make_settings()
    added = seed_maildir(settings.resolved_maildir)
    assert added == len(list(SAMPLES.glob("*.eml"))) >= 6
    store = open_store(settings)
    report = run_intake(store, settings)
    assert report.seen == added
    assert report.stored == added
    assert report.with_problems >= 1, "the sample mailbox holds a broken message"
    assert any(reason.startswith("BROKEN_MIME") for reason in report.reasons)
    with store.session() as session:
        items = session.scalars(select(ReviewItem)).all()
    assert [item.reason_code for item in items] == ["BROKEN_MIME"]
    with store.session() as session:
        kinds = set(session.scalars(select(Document.kind)))
    assert {"invoice", "bank_statement"} <= kinds
    # everything moved to Processed: a second run finds nothing
    assert run_intake(store, settings).seen == 0
    processed = Maildir(settings.resolved_maildir).get_folder("Processed")
    assert len(processed) == added
    # seeding is once only
    assert seed_maildir(settings.resolved_maildir) == 0


def test_same_mail_read_twice_is_stored_once(make_settings) -> None:
    settings = make_settings()
    box = Maildir(settings.resolved_maildir, create=True)
    raw = invoice_mail(1)
    box.add(raw)
    box.add(raw)  # e.g. delivered to two aliases
    store = open_store(settings)
    report = run_intake(store, settings)
    assert (report.stored, report.duplicates) == (1, 1)
    assert _count(store, Message) == 1
    assert _count(store, Document) == 1


def test_bad_input_each_ends_as_a_record_with_a_reason(make_settings) -> None:
    settings = make_settings()
    box = Maildir(settings.resolved_maildir, create=True)
    fixtures = sorted(FIXTURES.glob("*.eml"))
    assert len(fixtures) >= 8
    for path in fixtures:
        box.add(path.read_bytes())
    box.add(invoice_mail(7))  # a good one after the bad ones
    store = open_store(settings)
    report = run_intake(store, settings)
    assert report.seen == len(fixtures) + 1
    with store.session() as session:
        rejected = session.scalars(select(Message).where(Message.status == "rejected")).all()
        for message in rejected:
            assert message.reason_code and message.reason
        bad_docs = session.scalars(select(Document).where(Document.status == "rejected")).all()
        for document in bad_docs:
            assert document.reason_code and document.reason
        codes = {m.reason_code for m in rejected} | {d.reason_code for d in bad_docs}
        open_items = session.scalar(
            select(func.count(ReviewItem.id)).where(ReviewItem.reason_code != "BROKEN_MIME")
        )
        good = session.scalar(
            select(Message).where(Message.subject == "Faktura VAT FV/0007/11/2026")
        )
    assert good is not None and good.status == "stored"
    assert {"EMPTY_MESSAGE", "ZIP_BOMB"} <= codes
    assert open_items == len(rejected) + len(bad_docs)
    for document in bad_docs:
        assert "/" not in document.filename and not document.filename.startswith(".")


def test_senders_allowed_and_denied(make_settings) -> None:
    settings = make_settings(sender_deny="*@spam.example")
    box = Maildir(settings.resolved_maildir, create=True)
    box.add(invoice_mail(1, sender="offers@spam.example"))
    box.add(invoice_mail(2))
    store = open_store(settings)
    report = run_intake(store, settings)
    assert (report.stored, report.ignored) == (1, 1)
    with store.session() as session:
        ignored = session.scalar(select(Message).where(Message.status == "ignored"))
        assert ignored.reason_code == "SENDER_DENIED"
        assert ignored.documents == []


@pytest.mark.imap
def test_imap_intake_moves_only_after_storing(mailbox, imap_settings) -> None:
    box = mailbox("intake")
    for n in range(1, 31):
        box.append(invoice_mail(n))
    settings = imap_settings(box)
    store = open_store(settings)
    report = run_intake(store, settings)
    assert (report.seen, report.stored) == (30, 30)
    assert box.count("INBOX") == 0
    assert box.count("Processed") == 30
    # the same mail arriving again in another folder, or after UIDVALIDITY changed
    for n in range(1, 6):
        box.append(invoice_mail(n))
    report = run_intake(store, settings)
    assert (report.seen, report.duplicates, report.stored) == (5, 5, 0)
    assert _count(store, Message) == 30
    assert box.count("Processed") == 35


@pytest.mark.imap
def test_imap_search_with_non_ascii_criteria_and_flag_mode(mailbox, imap_settings) -> None:
    box = mailbox("search")
    box.append(invoice_mail(1, subject="Счёт-фактура № 17 от 20 ноября"))
    box.append(invoice_mail(2, subject="Zażółć gęślą jaźń: faktura"))
    box.append(invoice_mail(3, subject="Newsletter"))
    settings = imap_settings(
        box, imap_search='OR SUBJECT "Счёт" SUBJECT "Zażółć"', imap_processed_folder=""
    )
    store = open_store(settings)
    report = run_intake(store, settings)
    assert report.stored == 2
    assert box.count("INBOX") == 3  # flag mode: nothing moved
    assert run_intake(store, settings).seen == 0  # flagged ones are not fetched again


@pytest.mark.imap
def test_imap_bad_input_does_not_stop_intake(mailbox, imap_settings) -> None:
    box = mailbox("bad")
    for path in sorted(FIXTURES.glob("*.eml")):
        raw = path.read_bytes()
        if raw.strip():  # IMAP refuses to APPEND an empty message
            box.append(raw)
    box.append(invoice_mail(99))
    settings = imap_settings(box)
    store = open_store(settings)
    report = run_intake(store, settings)
    assert report.seen == box.count("Processed")
    assert box.count("INBOX") == 0
    assert _count(store, Message, Message.subject == "Faktura VAT FV/0099/11/2026") == 1


@pytest.mark.imap
@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_imap_over_tls_with_a_private_ca(mailbox, imap_settings, test_servers, security) -> None:
    box = mailbox(f"tls-{security}")
    box.append(invoice_mail(1))
    port = test_servers.imaps_port if security == "ssl" else test_servers.imap_port
    settings = imap_settings(
        box, imap_security=security, imap_port=port, tls_ca_file=test_servers.ca_file
    )
    report = run_intake(open_store(settings), settings)
    assert report.stored == 1


@pytest.mark.imap
def test_imap_tls_refuses_an_untrusted_server(mailbox, imap_settings, test_servers) -> None:
    from backoffice.errors import ApplicationError

    box = mailbox("untrusted")
    settings = imap_settings(box, imap_security="ssl", imap_port=test_servers.imaps_port)
    with pytest.raises(ApplicationError, match="IMAP") as caught:
        run_intake(open_store(settings), settings)
    assert "secret" not in str(caught.value)


@pytest.mark.imap
def test_a_new_uidvalidity_does_not_store_anything_twice(mailbox, imap_settings) -> None:
    box = mailbox("uidvalidity")
    for n in range(5):
        box.append(invoice_mail(n))
    settings = imap_settings(box, imap_processed_folder="")  # flag mode: mail stays put
    store = open_store(settings)
    assert run_intake(store, settings).stored == 5
    # The server rebuilds its index: every UID is new and our keywords are gone.
    box.set_uidvalidity("INBOX", box.uidvalidity("INBOX") + 1000)
    with box.client() as client:
        client.select_folder("INBOX")
        client.remove_flags(client.search("ALL"), [settings.imap_processed_flag])
    report = run_intake(store, settings)
    assert (report.seen, report.duplicates, report.stored) == (5, 5, 0)
    assert _count(store, Message) == 5
    assert all(settings.imap_processed_flag in f for f in box.flags("INBOX").values())


@pytest.mark.imap
def test_max_age_leaves_old_mail_alone(mailbox, imap_settings) -> None:
    from email import message_from_bytes
    from email.utils import format_datetime

    box = mailbox("age")
    old = message_from_bytes(invoice_mail(1))
    del old["Date"]
    old["Date"] = format_datetime(datetime(2020, 1, 2, tzinfo=UTC))
    with box.client() as client:
        client.append("INBOX", old.as_bytes(), msg_time=datetime(2020, 1, 2, tzinfo=UTC))
    box.append(invoice_mail(2))
    settings = imap_settings(box, mail_max_age_days=30)
    report = run_intake(open_store(settings), settings)
    assert (report.seen, report.stored) == (1, 1)
    assert box.count("INBOX") == 1  # the old one is still there, untouched


@pytest.mark.imap
def test_oversized_attachment_and_message_are_recorded_not_stored(mailbox, imap_settings) -> None:
    box = mailbox("big")
    box.append(invoice_mail(1, attachment=b"%PDF-1.4\n" + b"0" * 200_000))
    box.append(invoice_mail(2, attachment=b"%PDF-1.4\n" + b"1" * 2_000_000))
    settings = imap_settings(box, max_attachment_bytes=100_000, max_message_bytes=1_000_000)
    store = open_store(settings)
    report = run_intake(store, settings)
    assert report.seen == 2
    with store.session() as session:
        first = session.scalar(select(Message).where(Message.message_id.contains("fv-0001")))
        second = session.scalar(select(Message).where(Message.message_id.contains("fv-0002")))
        assert first.status == "stored"
        assert [(d.status, d.reason_code) for d in first.documents] == [
            ("rejected", "ATTACHMENT_TOO_LARGE")
        ]
        assert (second.status, second.reason_code) == ("rejected", "MESSAGE_TOO_LARGE")
        assert second.raw_size < 100_000  # only the header was fetched and kept
    assert box.count("Processed") == 2


def test_a_batch_meeting_a_message_stored_meanwhile_keeps_the_others(
    make_settings, db_url: str
) -> None:
    """Another robot commits one message of our batch between our key lookup and our
    commit: the batch falls back to one transaction per message, nothing is lost."""
    from backoffice.intake.read import ReadRules, read_mail
    from backoffice.intake.service import Outcome, store_batch
    from backoffice.intake.sources import IncomingMail
    from sqlalchemy import event

    settings = make_settings(database_url=db_url)
    store, rival = open_store(settings), open_store(settings)
    rules = ReadRules.from_settings(settings)
    items = [
        (mail, read_mail(mail.raw, rules))
        for mail in (IncomingMail(f"1:{n}", invoice_mail(n)) for n in range(5))
    ]
    raced: list[str] = []

    def rival_commits_first(_conn, _cursor, statement: str, *_args) -> None:
        if not raced and statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            raced.append(statement)
            store_batch(rival, [items[2]], source="rival")

    event.listen(store.engine, "before_cursor_execute", rival_commits_first)
    outcomes = [outcome for outcome, _message in store_batch(store, items, source="test")]
    assert raced, "the rival never ran"
    assert outcomes == [Outcome.STORED] * 2 + [Outcome.DUPLICATE] + [Outcome.STORED] * 2
    assert _count(store, Message) == 5
    assert _count(store, Message, Message.source == "rival") == 1
    assert _count(store, Document) == 5


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_reader_processes_do_not_outlive_a_killed_robot() -> None:
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import time\n"
        "from backoffice.intake.parse import Limits\n"
        "from backoffice.intake.read import Readers, ReadRules\n"
        "readers = Readers(ReadRules(Limits(), 1_000_000), processes=2)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    robot = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert robot.stdout is not None and robot.stdout.readline().strip() == "ready"
        children = Path(f"/proc/{robot.pid}/task/{robot.pid}/children")
        if not children.exists():
            pytest.skip("this kernel does not list child processes in /proc")
        workers = [int(pid) for pid in children.read_text().split()]
        assert len(workers) == 2
    finally:
        robot.send_signal(signal.SIGKILL)
        robot.wait()
    # Not a timing assertion: a generous bound on "eventually", so a failure ends the test.
    deadline = time.monotonic() + 60
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _running(pid)], "reader processes outlived the robot"


def test_reading_in_worker_processes_gives_what_reading_in_process_gives(make_settings) -> None:
    from dataclasses import asdict

    from backoffice.intake.read import MIN_MESSAGES_FOR_WORKERS, Readers, ReadRules, read_batch

    rules = ReadRules.from_settings(make_settings())
    mails: list[tuple[bytes, int | None]] = [
        (path.read_bytes(), None) for path in sorted(FIXTURES.glob("*.eml"))
    ]
    mails += [(invoice_mail(n), None) for n in range(MIN_MESSAGES_FOR_WORKERS)]
    mails.append((invoice_mail(99)[:400], 5_000_000))  # an oversized one, header only
    with Readers(rules, processes=2) as readers:
        in_workers = readers.submit(mails)()
    in_process = read_batch(mails, rules)
    assert [asdict(read) for read in in_workers] == [asdict(read) for read in in_process]
    assert in_workers[-1].refusal is not None
    assert in_workers[-1].refusal.code == "MESSAGE_TOO_LARGE"
