"""Robot Framework keywords over the ``backoffice`` core.

Thin by design: each keyword reads the settings, calls one use case and maps the
core's errors to Robot failures that say whether a retry can help:

- ``BUSINESS <CODE>: ...``: the data is wrong; do not retry, a person must act.
- ``APPLICATION <CODE>: ...``: something outside us failed; the run may be retried.

Settings and secrets come from the environment or the vault file, never from
keyword arguments, so no secret can reach ``log.html`` or ``output.xml``.

**Examples** (Robot)::

    *** Settings ***
    Library    BackOffice

    *** Tasks ***
    Take In New Mail
        ${report}=    Take In New Mail From The Mailbox
        Log Run Report    ${report}

**Examples** (Python)::

    from BackOffice import BackOffice
    report = BackOffice().take_in_new_mail_from_the_mailbox()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from backoffice.config import Settings, load_settings
from backoffice.errors import ApplicationError, BusinessError
from backoffice.store import Store, open_store
from robot.api import logger
from robot.api.deco import keyword, library
from robot.api.exceptions import Error, Failure
from sqlalchemy.exc import OperationalError

Result = TypeVar("Result")


class BusinessFailure(Failure):
    """Bad data: do not retry."""

    ROBOT_SUPPRESS_NAME = True


class ApplicationFailure(Error):
    """A part outside the data failed: retry later."""

    ROBOT_SUPPRESS_NAME = True


@library(scope="GLOBAL", auto_keywords=False)
class BackOffice:
    """Keywords of the back-office robots: mail intake, invoices, outbox and status."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._store: Store | None = None

    def _call(self, use_case: Callable[[Store, Settings], Result]) -> Result:
        try:
            if self._store is None or self._settings is None:
                self.open_the_back_office()
            assert self._store is not None and self._settings is not None
            return use_case(self._store, self._settings)
        except BusinessError as exc:
            raise BusinessFailure(f"BUSINESS {exc.code}: {exc}") from exc
        except ApplicationError as exc:
            raise ApplicationFailure(f"APPLICATION {exc.code}: {exc}") from exc
        except OperationalError as exc:
            # The database is down or locked too long: nothing is wrong with the data.
            raise ApplicationFailure(f"APPLICATION STORE_UNAVAILABLE: {exc.orig!r}") from exc

    @keyword
    def open_the_back_office(self) -> None:
        """Read the settings and open the store, upgrading its schema when needed."""
        try:
            self._settings = load_settings()
            self._store = open_store(self._settings)
        except ApplicationError as exc:
            raise ApplicationFailure(f"APPLICATION {exc.code}: {exc}") from exc
        logger.info(f"Store: {self._store.engine.url.render_as_string(hide_password=True)}")

    @keyword
    def close_the_back_office(self) -> None:
        """Release the store's connections."""
        if self._store is not None:
            self._store.dispose()
        self._store = None

    @keyword
    def put_sample_mail_into_the_embedded_mailbox(self) -> int:
        """Seed the embedded Maildir with the bundled samples once; return how many."""
        from backoffice.samples import seed_maildir

        settings = self._settings or load_settings()
        if settings.mail_source != "maildir":
            logger.info("Mail comes from IMAP: the sample mailbox is not used.")
            return 0
        added = seed_maildir(settings.resolved_maildir)
        logger.info(f"{added} sample messages put into {settings.resolved_maildir}")
        return added

    @keyword
    def take_in_new_mail_from_the_mailbox(self, limit: int | None = None) -> Any:
        """Store each new message once and classify its attachments as documents.

        ``limit`` stops after that many messages. Returns the run's report; bad
        messages do not fail the keyword: each is recorded with its reason.
        """
        from backoffice.intake.service import run_intake

        return self._call(lambda store, settings: run_intake(store, settings, limit=limit))

    @keyword
    def check_the_new_invoices_and_decide(self, limit: int | None = None) -> Any:
        """Read each new invoice, check it and decide: accept, ask the sender, or review.

        Accepted invoices get their export and hook recorded (made by the next keyword);
        a correction request is queued in the outbox as a reply in the sender's thread and
        language; anything unsure goes to staff with the evidence. ``limit`` stops after
        that many documents. Unreadable documents do not fail the keyword: each gets its
        reason and a review item.
        """
        from backoffice.invoices.service import check_new_invoices

        return self._call(lambda store, settings: check_new_invoices(store, settings, limit=limit))

    @keyword
    def hand_the_accepted_invoices_to_accounting(self) -> Any:
        """Write the export files of accepted invoices and call the accounting hook, once each.

        A hook call the accounting system refused, or one a stopped robot left in doubt,
        becomes a review item; the keyword goes on with the next invoice.
        """
        from backoffice.invoices.service import make_due_effects

        return self._call(lambda store, settings: make_due_effects(store, settings))

    @keyword
    def remind_suppliers_who_owe_a_correction(self) -> Any:
        """Queue one reminder per correction request left unanswered for the configured days;
        hand cases still unanswered after the reminder to staff."""
        from backoffice.invoices.service import chase_corrections

        return self._call(lambda store, settings: chase_corrections(store, settings))

    @keyword
    def queue_invoice_requests_from(self, path: str) -> int:
        """Queue the invoice requests of a JSON file (one or a list) for issuing; return how
        many were new. A request queued before (same key or contract) is left as it is."""
        from pathlib import Path

        from backoffice.billing.model import read_requests
        from backoffice.billing.service import queue_requests

        queued = self._call(
            lambda store, settings: queue_requests(store, settings, read_requests(Path(path)))
        )
        return sum(1 for _key, new in queued if new)

    @keyword
    def queue_invoices_for_signed_contracts(self) -> int:
        """Queue one invoice request for each validly signed contract not invoiced yet;
        return how many were new. A contract is invoiced once however often this runs."""
        from backoffice.billing.contracts import queue_signed_contracts

        queued = self._call(queue_signed_contracts)
        return sum(1 for _key, new in queued if new)

    @keyword
    def issue_the_invoices_that_are_due(self, limit: int | None = None) -> Any:
        """Issue each queued request once: gapless number, PDF with Factur-X (and KSeF FA(3)
        for a Polish seller), email queued in the outbox. Invoices a stopped robot numbered
        but did not email are finished first. A request that cannot be invoiced is rejected
        with its reason and a review item; the keyword goes on with the next."""
        from backoffice.billing.service import issue_due

        return self._call(lambda store, settings: issue_due(store, settings, limit=limit))

    @keyword
    def issue_the_contract_from_form(self, path: str) -> str:
        """Generate the offer and the contract for one customer form (JSON), keep them and
        queue the email with both PDFs in the customer's language; return the contract ID.
        The same form again issues nothing new. A bad form fails with BUSINESS."""
        from pathlib import Path

        from backoffice.contracts.service import issue_contract, read_form

        outcome = self._call(
            lambda store, settings: issue_contract(store, settings, read_form(Path(path)))
        )
        logger.info(f"{outcome.contract_id}: {'issued' if outcome.created else 'issued before'}")
        return outcome.contract_id

    @keyword
    def issue_contracts_from_forms_in(self, folder: str) -> Any:
        """Issue a contract for every form (``*.json``) in ``folder``, each once however
        often this runs; a bad form is refused with its reason and the others go on."""
        from pathlib import Path

        from backoffice.contracts.service import issue_contracts_from

        return self._call(
            lambda store, settings: issue_contracts_from(store, settings, Path(folder))
        )

    @keyword
    def check_the_returned_contracts(self, limit: int | None = None) -> Any:
        """Match each returned contract (signed PDF, scan or photo) to the contract we issued
        and decide: signed; a correction request in the customer's thread and language naming
        each problem with its page; or staff review after the configured rounds or when
        unclear. Bad files do not fail the keyword: each gets its reason."""
        from backoffice.contracts.service import check_returned_contracts

        return self._call(
            lambda store, settings: check_returned_contracts(store, settings, limit=limit)
        )

    @keyword
    def take_in_the_new_bank_statements(self) -> Any:
        """Import each new bank statement once: attachments intake classified as statements
        (counted only from a configured payment sender whose DKIM signature verifies) and the
        files in ``PAYMENTS_WATCH_DIR``. Transactions are stored once by their id, whatever
        overlaps; a statement that is malformed, or for another account, is rejected with its
        reason and a review item, and the keyword goes on with the next."""
        from backoffice.payments.service import import_statements

        return self._call(lambda store, settings: import_statements(store, settings))

    @keyword
    def match_the_payments_to_the_invoices(self, limit: int | None = None) -> Any:
        """Match each new credit to the invoices we issued (number in the title, else amount
        and customer), adding part payments up and marking invoices paid in full. Over-,
        under- and unmatched payments become review items that say why."""
        from backoffice.payments.service import match_payments

        return self._call(lambda store, settings: match_payments(store, settings, limit=limit))

    @keyword
    def grant_access_for_paid_invoices(self) -> Any:
        """Provision the service once for every invoice paid in full: the signed webhook
        and/or the command (retried with backoff and the same idempotency key, also after a
        stopped robot), then the welcome email in the customer's language in the invoice's
        thread. A refused or never-answered provisioning goes to staff; the keyword goes on."""
        from backoffice.access.service import grant_due

        return self._call(lambda store, settings: grant_due(store, settings))

    @keyword
    def chase_unpaid_invoices(self) -> Any:
        """Import pending bank statements first, then take today's receivables steps once
        each: reminders to customers (in their language, in the invoice's thread), the
        account manager's task for overdue invoices and the escalation to the manager."""
        from backoffice.receivables.service import chase_receivables

        return self._call(lambda store, settings: chase_receivables(store, settings))

    @keyword
    def send_the_mail_that_is_due(self, limit: int | None = None) -> Any:
        """Send queued and retried outgoing mail; settle sends a crash left in doubt."""
        from backoffice.outbox.service import send_due

        return self._call(lambda store, settings: send_due(store, settings, limit=limit))

    @keyword
    def log_run_report(self, report: Any) -> None:
        """Write a run report's summary and each reason to the log and the console."""
        logger.info(report.summary(), also_console=True)
        for reason in getattr(report, "reasons", []):
            logger.warn(reason)

    @keyword
    def log_the_back_office_status(self) -> None:
        """Log the records per state (what ``backoffice status`` prints)."""
        from backoffice.status import status_rows

        rows = self._call(lambda store, _settings: status_rows(store))
        lines = [f"{row.area:<28} {row.state:<12} {row.count:>6}" for row in rows]
        logger.info("\n".join(["Records per state:", *lines]), also_console=True)
