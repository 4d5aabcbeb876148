"""The payments robot: take in bank statements once, then match credits to issued invoices.

**Import** (``import_statements``). Statements come from two places:

- documents intake classified as ``bank_statement`` (status ``new``), each claimed with a
  lease. The mail that carried it must come from a configured payment sender with a DKIM
  signature that verifies for the sender's domain (``backoffice.payments.mailtrust``);
  otherwise the verdict is recorded (``payment_mails``), the document is rejected with the
  reason and a review item, and nothing in it counts as a payment;
- files in ``PAYMENTS_WATCH_DIR`` (our own file system: trusted), recorded by their sha256
  so the same file again is a no-op, and moved to ``done/`` or ``failed/`` after the commit.

Each file is parsed outside any transaction, checked against our own accounts, and then in
one committed transaction: the ``statement_imports`` row (its outcome and reason) and every
transaction inserted by its stable id with "on conflict do nothing", so a re-import or an
overlapping statement adds nothing. A file that is not a usable statement, or is for
another account, is ``rejected`` with the parser's code and sentence and a review item; the
robot goes on with the next.

**Matching** (``match_payments``). Credits in ``new`` are taken in batches, one transaction
per batch: its first statement takes the rows still ``new`` (PostgreSQL ``FOR UPDATE SKIP
LOCKED``, SQLite's write lock), so a transaction is allocated once however many robots run
and a killed robot's batch simply rolls back; it locks the candidate invoices (PostgreSQL
``FOR UPDATE`` in id order), writes the allocations, adds them to ``paid_total`` and sets
``paid_at`` on invoices paid in full. What ``backoffice.payments.matching`` cannot settle
becomes a review item that says why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from backoffice.billing.models import EMAILED, PAID, IssuedInvoice
from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.invoices.service import open_review
from backoffice.payments import matching
from backoffice.payments.accounts import check_own_account
from backoffice.payments.errors import StatementError
from backoffice.payments.mailtrust import DnsFunc, DnsUnavailable, MailVerdict, check_mail
from backoffice.payments.model import Statement
from backoffice.payments.models import (
    ALLOCATED,
    IMPORTED,
    NEW,
    NOT_PAYMENT,
    REFUSED,
    REJECTED,
    REVIEW,
    TRUSTED,
    BankTransactionRecord,
    PaymentAllocation,
    PaymentMail,
    StatementImport,
)
from backoffice.payments.statements import MAX_STATEMENT_BYTES, parse_statement
from backoffice.receivables.records import withdraw_reminders
from backoffice.store import lease
from backoffice.store.db import Store
from backoffice.store.models import Document, Message

log = logging.getLogger(__name__)

IMPORT_SUBJECT = "statement_import"
TRANSACTION_SUBJECT = "bank_transaction"
#: Transactions claimed and matched per committed transaction.
MATCH_BATCH = 200
#: Statement problems that are worth a person's look (the others are information).
_REVIEWED_PROBLEMS = {"BALANCE_MISMATCH", "BALANCE_GAP", "ENTRY_DETAILS_MISMATCH"}
#: Times a matching batch is tried again after PostgreSQL chose it as a deadlock victim.
_BATCH_TRIES = 3

Progress = Callable[[int], None]


@dataclass
class PaymentsReport:
    """What one payments run did."""

    statements_imported: int = 0
    statements_known: int = 0
    statements_rejected: int = 0
    transactions_new: int = 0
    transactions_known: int = 0
    payments_allocated: int = 0
    invoices_paid: int = 0
    to_review: int = 0
    #: One line per thing that now waits for staff or for the next run: ``CODE: what: why``.
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs."""
        return (
            f"payments: {self.statements_imported} statements imported "
            f"({self.transactions_new} new transactions, {self.transactions_known} known), "
            f"{self.statements_known} imported before, {self.statements_rejected} rejected; "
            f"{self.payments_allocated} payments allocated, {self.invoices_paid} invoices paid "
            f"in full, {self.to_review} payments for review"
        )


def run_payments(
    store: Store,
    settings: Settings,
    *,
    dnsfunc: DnsFunc | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> PaymentsReport:
    """The payments robot: import pending statements, then match what they brought."""
    report = import_statements(store, settings, dnsfunc=dnsfunc, progress=progress)
    return match_payments(store, settings, limit=limit, progress=progress, report=report)


# --- import ----------------------------------------------------------------------------


def own_accounts(settings: Settings) -> list[str]:
    """Our accounts: OWN_ACCOUNTS, else the account customers pay to (may be empty)."""
    if settings.own_accounts:
        return list(settings.own_accounts)
    return [settings.seller_bank_account] if settings.seller_bank_account.strip() else []


@dataclass
class _Parsed:
    """A statement file read (or refused) outside any transaction."""

    statements: list[Statement] = field(default_factory=list)
    code: str = ""
    reason: str = ""


def parse_checked(data: bytes, accounts: list[str]) -> _Parsed:
    """Parse and check against our accounts; a refusal carries its code and reason."""
    try:
        statements = parse_statement(data)
        for statement in statements:
            check_own_account(statement, accounts)
    except StatementError as exc:
        return _Parsed(code=exc.code, reason=str(exc))
    if not statements:
        return _Parsed(code="STATEMENT_EMPTY", reason="the file holds no statement")
    return _Parsed(statements)


def import_statements(
    store: Store,
    settings: Settings,
    *,
    dnsfunc: DnsFunc | None = None,
    progress: Progress | None = None,
    report: PaymentsReport | None = None,
) -> PaymentsReport:
    """Import every new statement document and every file in the watch folder, once."""
    report = report if report is not None else PaymentsReport()
    _import_documents(store, settings, dnsfunc, report, progress)
    if settings.payments_watch_dir is not None:
        import_folder(store, settings, Path(settings.payments_watch_dir), report=report)
    return report


def _import_documents(
    store: Store,
    settings: Settings,
    dnsfunc: DnsFunc | None,
    report: PaymentsReport,
    progress: Progress | None,
) -> None:
    owner = settings.resolved_worker_id
    accounts = own_accounts(settings)
    left_for_later: list[int] = []
    while True:
        with store.session() as session:
            claimed = lease.claim(
                session,
                Document,
                owner=owner,
                lease_seconds=settings.lease_seconds,
                where=[
                    Document.status == "new",
                    Document.kind == "bank_statement",
                    Document.id.not_in(left_for_later or [0]),
                ],
            )
            if not claimed:
                return
            doc = claimed[0]
            job = (doc.id, doc.message_pk, doc.blob_path, doc.filename, doc.sha256, doc.size)
        document_id, message_pk, blob_path, filename, sha256, size = job
        try:
            verdict = _mail_verdict(store, settings, message_pk, dnsfunc)
        except DnsUnavailable as exc:
            left_for_later.append(document_id)
            with store.session() as session:
                session.execute(
                    update(Document)
                    .where(Document.id == document_id, Document.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )
            report.reasons.append(f"{exc.code}: {filename}: {exc}")
            continue
        if not verdict.trusted:
            parsed = _Parsed(code=verdict.code, reason=verdict.reason)
        else:
            try:
                data = store.blobs.read(blob_path)
            except (OSError, ValueError) as exc:
                parsed = _Parsed(code="STATEMENT_UNREADABLE", reason=f"the file is gone: {exc}")
            else:
                parsed = parse_checked(data, accounts)
        _commit_import(
            store,
            report,
            source_key=f"document:{document_id}",
            values={
                "source": "document",
                "document_pk": document_id,
                "filename": filename,
                "sha256": sha256,
                "size": size,
            },
            parsed=parsed,
            document=(document_id, owner),
        )
        if progress is not None:
            progress(1)


def _mail_verdict(
    store: Store, settings: Settings, message_pk: int, dnsfunc: DnsFunc | None
) -> MailVerdict:
    """The (recorded) verdict on the mail that carried a statement: checked once per mail."""
    with store.session() as session:
        known = session.scalar(select(PaymentMail).where(PaymentMail.message_pk == message_pk))
        if known is not None:
            return MailVerdict(
                known.verdict == TRUSTED,
                known.sender,
                known.reason_code,
                known.reason,
                known.dkim_domain,
                known.dkim_selector,
            )
        message = session.get(Message, message_pk)
        assert message is not None
        raw_path = message.raw_path
    try:
        raw = store.blobs.read(raw_path)
    except (OSError, ValueError) as exc:
        verdict = MailVerdict(
            False, "", "PAYMENT_MAIL_UNREADABLE", f"the stored mail cannot be read: {exc}"
        )
    else:
        verdict = check_mail(raw, settings.payment_senders, dnsfunc)
    with store.session() as session:
        _insert_ignore(
            session,
            PaymentMail,
            [
                {
                    "message_pk": message_pk,
                    "sender": verdict.sender[:500],
                    "dkim_domain": verdict.domain[:255],
                    "dkim_selector": verdict.selector[:255],
                    "verdict": TRUSTED if verdict.trusted else REFUSED,
                    "reason_code": verdict.code,
                    "reason": verdict.reason,
                    "checked_at": utcnow(),
                }
            ],
            "message_pk",
        )
    return verdict


def import_folder(
    store: Store, settings: Settings, folder: Path, *, report: PaymentsReport | None = None
) -> PaymentsReport:
    """Import each statement file in ``folder`` once; move it to done/ or failed/ after."""
    report = report if report is not None else PaymentsReport()
    accounts = own_accounts(settings)
    if not folder.is_dir():
        report.reasons.append(f"PAYMENTS_WATCH_DIR_MISSING: {folder} is not a folder")
        return report
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.is_symlink():
            continue
        try:
            size = path.stat().st_size
            data = path.read_bytes() if size <= MAX_STATEMENT_BYTES else b""
        except OSError as exc:
            # Another robot moved it away meanwhile, or it cannot be read: next run.
            log.info("%s: %s", path, exc)
            continue
        sha256 = hashlib.sha256(data).hexdigest() if data else _sha256_file(path)
        source_key = f"file:{sha256}"
        with store.session() as session:
            status = session.scalar(
                select(StatementImport.status).where(StatementImport.source_key == source_key)
            )
        if status is None:
            if size > MAX_STATEMENT_BYTES:
                parsed = _Parsed(
                    code="STATEMENT_TOO_LARGE",
                    reason=f"{path.name} is {size} bytes, more than a statement file can be",
                )
            else:
                parsed = parse_checked(data, accounts)
            status = _commit_import(
                store,
                report,
                source_key=source_key,
                values={
                    "source": "folder",
                    "path": str(path),
                    "filename": path.name[:255],
                    "sha256": sha256,
                    "size": size,
                },
                parsed=parsed,
            )
        else:
            report.statements_known += 1
        _move(path, folder / ("done" if status == IMPORTED else "failed"))
    return report


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _move(path: Path, target_dir: Path) -> None:
    """Move a recorded file out of the watch folder, never over an earlier one of that name."""
    target_dir.mkdir(exist_ok=True)
    for number in range(10_000):
        name = path.name if number == 0 else f"{path.stem}.{number}{path.suffix}"
        try:
            # A hard link fails on an existing name, where a rename would replace it.
            os.link(path, target_dir / name)
        except FileExistsError:
            continue
        except FileNotFoundError:
            return  # another robot moved it first
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return


class _TakenOver(Exception):
    """Our lease on the document ran out and another robot took it: leave it to that one."""


def _commit_import(
    store: Store,
    report: PaymentsReport,
    *,
    source_key: str,
    values: dict[str, Any],
    parsed: _Parsed,
    document: tuple[int, str] | None = None,
) -> str:
    """Record one import and its transactions in one transaction; returns its status."""
    status = REJECTED if parsed.code else IMPORTED
    problems = [p.to_json() for s in parsed.statements for p in s.problems]
    try:
        with store.session() as session:
            if document is not None:
                _settle_document(session, document, status, parsed)
            row = {
                **values,
                "source_key": source_key,
                "status": status,
                "reason_code": parsed.code,
                "reason": parsed.reason,
                "format": str(parsed.statements[0].format) if parsed.statements else "",
                "statements": [_summary(s) for s in parsed.statements],
                "problems": problems,
                "transactions": sum(len(s.transactions) for s in parsed.statements),
                "transactions_new": 0,
                "created_at": utcnow(),
            }
            import_ids = _insert_ignore(session, StatementImport, [row], "source_key")
            if not import_ids:
                report.statements_known += 1
                known = session.scalar(
                    select(StatementImport.status).where(StatementImport.source_key == source_key)
                )
                return known or status
            import_pk = import_ids[0]
            name = values.get("filename") or source_key
            if parsed.code:
                open_review(
                    session,
                    IMPORT_SUBJECT,
                    import_pk,
                    parsed.code,
                    f"{name}: {parsed.reason}",
                    {"source": source_key, **{k: v for k, v in values.items() if k != "size"}},
                )
                report.statements_rejected += 1
                report.reasons.append(f"{parsed.code}: {name}: {parsed.reason}")
                return status
            new = _store_transactions(session, import_pk, parsed.statements)
            session.execute(
                update(StatementImport)
                .where(StatementImport.id == import_pk)
                .values(transactions_new=new)
            )
            for problem in problems:
                if problem["code"] in _REVIEWED_PROBLEMS:
                    open_review(
                        session,
                        IMPORT_SUBJECT,
                        import_pk,
                        problem["code"],
                        f"{name}: {problem['message']}",
                        {"source": source_key},
                    )
                    report.reasons.append(f"{problem['code']}: {name}: {problem['message']}")
            report.statements_imported += 1
            report.transactions_new += new
            report.transactions_known += row["transactions"] - new
            return status
    except _TakenOver:
        log.warning("%s was taken over by another robot", source_key)
        return ""


def _settle_document(
    session: Session, document: tuple[int, str], status: str, parsed: _Parsed
) -> None:
    document_id, owner = document
    if not lease.finish(
        session,
        Document,
        document_id,
        owner=owner,
        status="processed" if status == IMPORTED else "rejected",
        reason_code=parsed.code,
        reason=parsed.reason,
        updated_at=utcnow(),
    ):
        raise _TakenOver


def _summary(statement: Statement) -> dict[str, Any]:
    data = statement.to_json()
    data["transactions"] = len(statement.transactions)
    return data


def _store_transactions(session: Session, import_pk: int, statements: list[Statement]) -> int:
    """Insert each transaction once by its stable id; returns how many were new."""
    now = utcnow()
    rows = [
        {
            "tx_id": tx.id,
            "account": statement.account_iban or statement.account[:64],
            "currency": tx.currency,
            "amount": tx.amount,
            "booking_date": tx.booking_date,
            "value_date": tx.value_date,
            "counterparty_name": tx.counterparty_name or "",
            "counterparty_iban": (tx.counterparty_iban or "")[:64],
            "remittance": tx.remittance or "",
            "bank_reference": (tx.bank_reference or "")[:200],
            "end_to_end_id": (tx.end_to_end_id or "")[:200],
            "reversal": tx.reversal,
            "import_pk": import_pk,
            "status": NEW if tx.amount > 0 and not tx.reversal else NOT_PAYMENT,
            "matched_by": "",
            "unallocated": Decimal(0),
            "reason_code": "",
            "reason": "",
            "created_at": now,
        }
        for statement in statements
        for tx in statement.transactions
    ]
    return len(_insert_ignore(session, BankTransactionRecord, rows, "tx_id")) if rows else 0


def _insert_ignore(
    session: Session, model: Any, rows: list[dict[str, Any]], unique: str
) -> list[int]:
    """Insert rows, skipping those whose ``unique`` column exists; ids of the inserted ones."""
    dialect = session.get_bind().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        make_insert(model).on_conflict_do_nothing(index_elements=[unique]).returning(model.id)
    )
    return list(session.scalars(statement, rows))


# --- matching --------------------------------------------------------------------------


def build_index(session: Session) -> matching.InvoiceIndex:
    """Every issued invoice by number keys and customer, and the accounts customers paid
    from before (learned from earlier allocations)."""
    index = matching.InvoiceIndex()
    buyers: dict[int, str] = {}
    for invoice_id, number, buyer in session.execute(
        select(IssuedInvoice.id, IssuedInvoice.number, IssuedInvoice.buyer)
    ):
        index.add(invoice_id, number, buyer or {})
        buyers[invoice_id] = matching.buyer_key(buyer or {})
    for iban, invoice_id in session.execute(
        select(BankTransactionRecord.counterparty_iban, PaymentAllocation.invoice_pk)
        .join(PaymentAllocation, PaymentAllocation.transaction_pk == BankTransactionRecord.id)
        .where(BankTransactionRecord.counterparty_iban != "")
        .distinct()
    ):
        if invoice_id in buyers:
            index.learn_iban(iban, buyers[invoice_id])
    return index


def match_payments(
    store: Store,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
    report: PaymentsReport | None = None,
) -> PaymentsReport:
    """Match every new credit to issued invoices, one committed batch at a time."""
    report = report if report is not None else PaymentsReport()
    with store.session() as session:
        # Invoices paid before they were emailed keep "numbered" until billing emails them.
        session.execute(
            update(IssuedInvoice)
            .where(IssuedInvoice.paid_at.is_not(None), IssuedInvoice.status == EMAILED)
            .values(status=PAID)
        )
        index = build_index(session)
    done = 0
    while limit is None or done < limit:
        size = MATCH_BATCH if limit is None else min(MATCH_BATCH, limit - done)
        for attempt in range(_BATCH_TRIES):
            batch = PaymentsReport()
            try:
                with store.session() as session:
                    taken = _match_batch(session, index, size, batch)
                break
            except OperationalError as exc:
                if "deadlock" not in str(exc).lower() or attempt == _BATCH_TRIES - 1:
                    raise
                log.info("matching batch chosen as a deadlock victim; trying again")
        if not taken:
            break
        report.payments_allocated += batch.payments_allocated
        report.invoices_paid += batch.invoices_paid
        report.to_review += batch.to_review
        report.reasons += batch.reasons
        done += taken
        if progress is not None:
            progress(taken)
    log.info(report.summary())
    return report


def _match_batch(
    session: Session, index: matching.InvoiceIndex, size: int, report: PaymentsReport
) -> int:
    """Take up to ``size`` new credits and match them, all in the caller's transaction.

    The transaction itself is the claim: its first statement writes the rows it takes
    (SQLite's write lock; on PostgreSQL row locks, skipping rows another robot holds), and
    takes only rows still ``new``, so a credit is matched once; a robot killed mid-batch
    rolls back and leaves them ``new``. Returns how many it took.
    """
    now = utcnow()
    table = BankTransactionRecord
    pending = select(table.id).where(table.status == NEW).order_by(table.id).limit(size)
    if session.get_bind().dialect.name == "postgresql":
        pending = pending.with_for_update(skip_locked=True)
    mine = list(
        session.scalars(
            update(table)
            .where(table.id.in_(pending.scalar_subquery()), table.status == NEW)
            .values(matched_at=now)
            .returning(table.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not mine:
        return 0
    txs = session.execute(select(*_TX_COLUMNS).where(table.id.in_(mine)).order_by(table.id)).all()
    found = [_candidates(index, _credit(tx)) for tx in txs]
    invoices = _lock_invoices(session, sorted({i for ids, _how, _who in found for i in ids}))
    changed: dict[int, dict[str, Any]] = {}
    allocations: list[dict[str, Any]] = []
    settled: list[dict[str, Any]] = []
    for tx, (candidate_ids, how, who) in zip(txs, found, strict=True):
        credit = _credit(tx)
        views = [invoices[i] for i in sorted(candidate_ids) if i in invoices]
        if how == matching.BY_NUMBER and views:
            decision = matching.decide_by_number(credit, views)
        elif views:
            decision = matching.decide_by_customer(credit, views, how, who)
        else:
            decision = matching.unmatched(credit)
        paid_on = _paid_at(credit.booking_date, now)
        for view, amount in decision.allocations:
            allocations.append(
                {
                    "transaction_pk": tx.id,
                    "invoice_pk": view.id,
                    "amount": amount,
                    "matched_by": decision.matched_by,
                    "created_at": now,
                }
            )
            view.paid_total += amount
            row = changed.setdefault(view.id, {"id": view.id, "paid_total": view.paid_total})
            row["paid_total"] = view.paid_total
            state = invoices.state[view.id]
            if state["paid_at"] is None and view.paid_total >= view.total_gross:
                state["paid_at"] = paid_on
                row["paid_at"] = paid_on
                if state["status"] == EMAILED:
                    row["status"] = PAID
                report.invoices_paid += 1
            index.learn_iban(credit.counterparty_iban, view.buyer_key)
        if decision.allocations:
            report.payments_allocated += 1
        settled.append(
            {
                "id": tx.id,
                "status": REVIEW if decision.review_code else ALLOCATED,
                "matched_by": decision.matched_by,
                "unallocated": decision.unallocated,
                "reason_code": decision.review_code,
                "reason": decision.reason,
                "matched_at": now,
            }
        )
        if decision.review_code:
            open_review(
                session,
                TRANSACTION_SUBJECT,
                tx.id,
                decision.review_code,
                decision.reason,
                _evidence(tx, decision, views),
            )
            report.to_review += 1
            report.reasons.append(
                f"{decision.review_code}: transaction {tx.tx_id}: {decision.reason}"
            )
    # Bulk writes by primary key: one executemany per table instead of one ORM object each.
    if allocations:
        session.execute(insert(PaymentAllocation), allocations)
    for columns in {tuple(sorted(row)) for row in changed.values()}:
        rows = [row for row in changed.values() if tuple(sorted(row)) == columns]
        session.execute(update(IssuedInvoice), rows)
    session.execute(update(BankTransactionRecord), settled)
    # A reminder queued before the money came must not go out after it.
    withdraw_reminders(session, [i for i, row in changed.items() if "paid_at" in row])
    return len(mine)


#: What matching reads of a transaction.
_TX_COLUMNS = (
    BankTransactionRecord.id,
    BankTransactionRecord.tx_id,
    BankTransactionRecord.account,
    BankTransactionRecord.amount,
    BankTransactionRecord.currency,
    BankTransactionRecord.booking_date,
    BankTransactionRecord.value_date,
    BankTransactionRecord.counterparty_name,
    BankTransactionRecord.counterparty_iban,
    BankTransactionRecord.remittance,
)


def _credit(tx: Any) -> matching.Credit:
    return matching.Credit(
        amount=Decimal(tx.amount),
        currency=tx.currency,
        booking_date=tx.booking_date or tx.value_date,
        counterparty_name=tx.counterparty_name,
        counterparty_iban=tx.counterparty_iban,
        remittance=tx.remittance,
    )


def _candidates(index: matching.InvoiceIndex, credit: matching.Credit) -> tuple[set[int], str, str]:
    """(candidate invoice ids, how they were found, who the payer is for the reason)."""
    by_number = index.by_number(credit.remittance)
    if by_number:
        return by_number, matching.BY_NUMBER, ""
    customers, how = index.customers(credit)
    if not customers:
        return set(), "", ""
    who = " / ".join(sorted(index.buyer_names.get(key, key) for key in customers))
    return index.invoices_of(customers), how, who


class _Locked(dict[int, matching.Invoice]):
    """The batch's candidate invoices (locked) as matching sees them, and their paid state."""

    state: dict[int, dict[str, Any]]


def _lock_invoices(session: Session, ids: list[int]) -> _Locked:
    locked = _Locked()
    locked.state = {}
    if not ids:
        return locked
    query = (
        select(
            IssuedInvoice.id,
            IssuedInvoice.number,
            IssuedInvoice.currency,
            IssuedInvoice.total_gross,
            IssuedInvoice.paid_total,
            IssuedInvoice.paid_at,
            IssuedInvoice.status,
            IssuedInvoice.due_date,
            IssuedInvoice.buyer,
        )
        .where(IssuedInvoice.id.in_(ids))
        .order_by(IssuedInvoice.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    for row in session.execute(query):
        buyer = row.buyer or {}
        locked[row.id] = matching.Invoice(
            id=row.id,
            number=row.number,
            currency=row.currency,
            total_gross=Decimal(row.total_gross),
            paid_total=Decimal(row.paid_total or 0),
            due_date=row.due_date,
            buyer_key=matching.buyer_key(buyer),
            buyer_name=str(buyer.get("name") or ""),
        )
        locked.state[row.id] = {"paid_at": row.paid_at, "status": row.status}
    return locked


def _paid_at(booking: dt.date | None, now: dt.datetime) -> dt.datetime:
    """When the money arrived: the booking day (UTC midnight), never later than now."""
    if booking is None:
        return now
    return min(dt.datetime.combine(booking, dt.time(), tzinfo=dt.UTC), now)


def _evidence(
    tx: Any, decision: matching.Decision, views: list[matching.Invoice]
) -> dict[str, Any]:
    return {
        "transaction": {
            "id": tx.tx_id,
            "account": tx.account,
            "booking_date": tx.booking_date.isoformat() if tx.booking_date else None,
            "amount": str(tx.amount),
            "currency": tx.currency,
            "counterparty_name": tx.counterparty_name,
            "counterparty_iban": tx.counterparty_iban,
            "remittance": tx.remittance,
        },
        "matched_by": decision.matched_by,
        "allocations": [
            {"invoice": view.number, "amount": str(amount)} for view, amount in decision.allocations
        ],
        "unallocated": str(decision.unallocated),
        "invoices": [
            {
                "number": view.number,
                "currency": view.currency,
                "total_gross": str(view.total_gross),
                "paid_total": str(view.paid_total),
                "due_date": view.due_date.isoformat(),
            }
            for view in views[:20]
        ],
    }
