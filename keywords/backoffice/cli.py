"""``backoffice``: the command line over the same use cases the robots run.

A thin shell: it reads the settings, opens the store, calls the core and prints.
Exit codes: 0 done, 1 a part outside us failed (retry later), 2 bad configuration.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from backoffice.config import Settings, load_settings, settings_table
from backoffice.errors import ApplicationError, ConfigurationError
from backoffice.store import Store, open_store

app = typer.Typer(
    help="Back-office robots: intake, invoices, outbox and status.", no_args_is_help=True
)
outbox_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)
mailbox_app = typer.Typer(help="The embedded Maildir mailbox.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
app.add_typer(mailbox_app, name="mailbox")
user_app = typer.Typer(help="Staff accounts of the web app.", no_args_is_help=True)
app.add_typer(user_app, name="user")
console = Console()


@contextmanager
def _store() -> Iterator[tuple[Settings, Store]]:
    try:
        settings = load_settings()
        store = open_store(settings)
    except ConfigurationError as exc:
        console.print(f"[red]configuration: {exc.code}: {exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        yield settings, store
    except ConfigurationError as exc:
        console.print(f"[red]configuration: {exc.code}: {exc}[/red]")
        raise typer.Exit(2) from exc
    except ApplicationError as exc:
        console.print(f"[red]{exc.code}: {exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        store.dispose()


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int], None]]:
    with Progress(
        SpinnerColumn(),
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def intake(limit: Annotated[int | None, typer.Option(help="Stop after N messages.")] = None):
    """Take in new mail: store each message once and classify its attachments."""
    from backoffice.intake.service import run_intake

    with _store() as (settings, store), _progress("intake") as advance:
        report = run_intake(store, settings, limit=limit, progress=advance)
    console.print(report.summary())
    for reason in report.reasons:
        console.print(f"  [yellow]{reason}[/yellow]")


@app.command()
def invoices(limit: Annotated[int | None, typer.Option(help="Stop after N documents.")] = None):
    """Check new invoices, export the accepted ones, ask senders for corrections, remind."""
    from backoffice.invoices.service import process_invoices
    from backoffice.status import status_rows

    with _store() as (settings, store), _progress("invoices") as advance:
        report = process_invoices(store, settings, limit=limit, progress=advance)
        rows = [row for row in status_rows(store) if row.area == "invoice cases"]
    console.print(report.summary())
    for reason in report.reasons:
        console.print(f"  [yellow]{reason}[/yellow]")
    console.print(
        "invoice cases: " + (", ".join(f"{row.count} {row.state}" for row in rows) or "none")
    )


@outbox_app.command("send")
def outbox_send(limit: Annotated[int | None, typer.Option(help="Stop after N messages.")] = None):
    """Send the outgoing mail that is due (retries, fallback, crash recovery)."""
    from backoffice.outbox.service import send_due

    with _store() as (settings, store), _progress("sending") as advance:
        report = send_due(store, settings, limit=limit, progress=advance)
    console.print(report.summary())


def _actor(actor: str | None) -> str:
    """Who acts: ``--actor`` or the signed-in OS user."""
    import getpass

    if actor and actor.strip():
        return actor.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


ActorOption = Annotated[
    str | None, typer.Option(help="Who does it (for the record); default: the OS user.")
]
NoteOption = Annotated[str, typer.Option(help="Why, for the mail's history.")]


@outbox_app.command("show")
def outbox_show(outbox_id: Annotated[int, typer.Argument(help="The outbox message id.")]):
    """Show one outgoing mail: recipients, status, attempts, last error and its history."""
    from backoffice.errors import BusinessError
    from backoffice.outbox.service import show

    with _store() as (_settings, store):
        try:
            mail = show(store, outbox_id)
        except BusinessError as exc:
            console.print(f"[red]{exc.code}: {exc}[/red]")
            raise typer.Exit(1) from exc
    facts = Table(show_header=False, box=None)
    for name, value in (
        ("id", str(mail.id)),
        ("to", ", ".join(mail.to)),
        ("cc", ", ".join(mail.cc)),
        ("subject", mail.subject),
        ("status", mail.status),
        ("attempts", str(mail.attempts)),
        ("transport", mail.transport),
        ("last error", mail.last_error),
        ("about", f"{mail.subject_type} {mail.subject_ref}".strip()),
        ("message-id", mail.message_id),
        ("open review", ", ".join(mail.review_codes)),
        ("refused", ", ".join(mail.refused)),
    ):
        if value:
            facts.add_row(name, value)
    console.print(facts)
    history = Table("at", "status", "detail", "by")
    for event in mail.events:
        history.add_row(
            event.at.strftime("%Y-%m-%d %H:%M:%S UTC"), event.status, event.detail, event.worker
        )
    console.print(history)
    actions = [
        name for name, ok in (("mark-sent", mail.can_mark_sent), ("resend", mail.can_resend)) if ok
    ]
    console.print("staff may: " + (", ".join(actions) or "nothing (settled)"))


def _settle_outbox(
    outbox_id: int, action: str, *, actor: str | None, note: str, to: list[str] | None
) -> None:
    from backoffice.errors import BusinessError
    from backoffice.web.outbox_items import settle

    who = _actor(actor)
    with _store() as (_settings, store):
        try:
            with store.session() as session:
                row = settle(session, store, outbox_id, action, actor=who, note=note, to=to)
                status, recipients = row.status, ", ".join(row.to_addrs + row.cc_addrs)
        except BusinessError as exc:
            console.print(f"[red]{exc.code}: {exc}[/red]")
            raise typer.Exit(1) from exc
    console.print(f"outbox {outbox_id} is {status} ({recipients}), by {who}")


@outbox_app.command("mark-sent")
def outbox_mark_sent(
    outbox_id: Annotated[int, typer.Argument(help="The outbox message id.")],
    note: NoteOption = "",
    actor: ActorOption = None,
):
    """Record that an in-doubt or failed mail did arrive (it is not sent again)."""
    _settle_outbox(outbox_id, "mark_sent", actor=actor, note=note, to=None)


@outbox_app.command("resend")
def outbox_resend(
    outbox_id: Annotated[int, typer.Argument(help="The outbox message id.")],
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="Send to this address instead (repeat for several)."),
    ] = None,
    note: NoteOption = "",
    actor: ActorOption = None,
):
    """Send an in-doubt, failed or bounced mail again (same Message-ID), on the next
    ``outbox send``; ``--to`` corrects the recipients."""
    _settle_outbox(outbox_id, "resend", actor=actor, note=note, to=to or None)


@mailbox_app.command("seed")
def mailbox_seed(force: Annotated[bool, typer.Option(help="Seed again.")] = False):
    """Put the bundled sample emails into the embedded Maildir (once)."""
    from backoffice.samples import seed_maildir

    settings = load_settings()
    added = seed_maildir(settings.resolved_maildir, force=force)
    console.print(
        f"seeded {added} sample messages into {settings.resolved_maildir}"
        if added
        else f"{settings.resolved_maildir} was seeded before; nothing added"
    )


@app.command()
def status() -> None:
    """Records per state, as a table."""
    from backoffice.status import status_rows

    with _store() as (_settings, store):
        rows = status_rows(store)
    table = Table(title="Back office")
    for column in ("area", "state", "records"):
        table.add_column(column, justify="right" if column == "records" else "left")
    for row in rows:
        table.add_row(row.area, row.state, str(row.count))
    console.print(table)


invoice_app = typer.Typer(help="Issuing our own invoices.", no_args_is_help=True)
app.add_typer(invoice_app, name="invoice")


@invoice_app.command("issue")
def invoice_issue(
    file: Annotated[Path, typer.Argument(help="JSON invoice request, or a list of them.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per invoice.")] = False,
    queue: Annotated[bool, typer.Option(help="Only queue them for the billing robot.")] = False,
) -> None:
    """Issue invoices now (number, PDF with Factur-X, FA(3) for PL, email via the outbox)."""
    from backoffice.billing.model import InvalidIssueRequest, read_requests
    from backoffice.billing.service import issue_invoice, queue_requests

    with _store() as (settings, store):
        try:
            requests = read_requests(file)
            if queue:
                for key, new in queue_requests(store, settings, requests):
                    console.print(f"{key}: {'queued' if new else 'queued before'}")
                return
            for request in requests:
                outcome = issue_invoice(store, settings, request)
                if as_json:
                    print(json.dumps(outcome.to_json(), ensure_ascii=False))
                else:
                    new = "issued" if outcome.created else "issued before"
                    console.print(f"{outcome.number}: {new}, {outcome.status}")
        except InvalidIssueRequest as exc:
            typer.echo(f"{file}: {exc.code}: {exc}", err=True)
            raise typer.Exit(3) from exc


@invoice_app.command("issue-due")
def invoice_issue_due(
    limit: Annotated[int | None, typer.Option(help="Stop after N requests.")] = None,
) -> None:
    """The billing robot: queue signed contracts, issue the queued requests and finish
    invoices a crash left."""
    from backoffice.billing.contracts import queue_signed_contracts
    from backoffice.billing.service import issue_due

    with _store() as (settings, store), _progress("invoices") as advance:
        queued = queue_signed_contracts(store, settings)
        if queued:
            console.print(f"{len(queued)} signed contract(s) queued for invoicing")
        report = issue_due(store, settings, limit=limit, progress=advance)
    console.print(report.summary())
    for reason in report.reasons:
        console.print(f"  [yellow]{reason}[/yellow]")


contract_app = typer.Typer(help="Offers and contracts for customers.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")


@contract_app.command("issue")
def contract_issue(
    files: Annotated[list[Path], typer.Argument(help="Customer form JSON files.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per form.")] = False,
) -> None:
    """Generate the offer and the contract for each form, store them and queue the email."""
    from backoffice.contracts.service import InvalidContractForm, issue_contract, read_form

    failed = False
    with _store() as (settings, store):
        for file in files:
            try:
                outcome = issue_contract(store, settings, read_form(file))
            except InvalidContractForm as exc:
                typer.echo(f"{file}: {exc.code}: {exc}", err=True)
                failed = True
                continue
            if as_json:
                print(json.dumps(outcome.to_json(), ensure_ascii=False))
            else:
                new = "issued" if outcome.created else "issued before"
                console.print(
                    f"{outcome.contract_id}: {new}, {outcome.status}, to {outcome.customer_email}",
                    highlight=False,
                )
    if failed:
        raise typer.Exit(3)


@app.command()
def contracts(limit: Annotated[int | None, typer.Option(help="Stop after N documents.")] = None):
    """The contracts robot: check returned contracts, mark signed ones, ask for corrections."""
    from backoffice.contracts.service import check_returned_contracts

    with _store() as (settings, store), _progress("contracts") as advance:
        report = check_returned_contracts(store, settings, limit=limit, progress=advance)
    console.print(report.summary())
    for reason in report.reasons:
        console.print(f"  [yellow]{reason}[/yellow]")


@app.command()
def payments(
    limit: Annotated[int | None, typer.Option(help="Stop matching after N transactions.")] = None,
) -> None:
    """The payments robot: import new bank statements once, match credits to invoices."""
    from backoffice.payments.service import run_payments

    with _store() as (settings, store), _progress("payments") as advance:
        report = run_payments(store, settings, limit=limit, progress=advance)
    console.print(report.summary(), highlight=False)
    for reason in report.reasons:
        console.print(f"  [yellow]{reason}[/yellow]", highlight=False, markup=False)


@app.command("check-contract")
def check_contract(
    file: Annotated[Path, typer.Argument(help="A returned contract: signed PDF, scan or image.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check a returned contract against the one we issued (found by its QR code or number).

    Exit 0 when validly signed, 3 when not (the reasons say why).
    """
    from backoffice.contracts.service import check_contract_file

    for name in ("pyhanko", "pyhanko_certvalidator"):
        if not logging.getLogger().isEnabledFor(logging.INFO):
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        data = file.read_bytes()
    except OSError as exc:
        typer.echo(f"{file}: cannot be read: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from exc
    with _store() as (settings, store):
        result = check_contract_file(store, settings, data)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        verdict = "[green]valid[/green]" if result["valid"] else "[red]not valid[/red]"
        console.print(f"[bold]{file}[/bold] ({result['contract_id']}): {verdict}", highlight=False)
        for reason in result["reasons"]:
            text = reason.get("message") or reason.get("messages", {}).get("en", "")
            console.print(f"  [yellow]{reason['code']}: {text}[/yellow]", highlight=False)
    if not result["valid"]:
        raise typer.Exit(3)


access_app = typer.Typer(help="Access for customers who paid.", no_args_is_help=True)
app.add_typer(access_app, name="access")


@access_app.command("grant-due")
def access_grant_due() -> None:
    """The access robot: provision every invoice paid in full once (signed webhook and/or
    command, retried with the same idempotency key) and queue its welcome email."""
    from backoffice.access.service import grant_due

    with _store() as (settings, store), _progress("access") as advance:
        report = grant_due(store, settings, progress=advance)
    console.print(report.summary())
    for reason in report.reasons:
        console.print(f"  [yellow]{reason}[/yellow]")


reminders_app = typer.Typer(help="Payment reminders and escalation.", no_args_is_help=True)
app.add_typer(reminders_app, name="reminders")


@reminders_app.command("send")
def reminders_send() -> None:
    """The receivables robot: import pending statements, then queue today's reminders,
    account manager tasks and escalations for unpaid invoices, once each."""
    from backoffice.receivables.service import chase_receivables

    with _store() as (settings, store), _progress("receivables") as advance:
        report = chase_receivables(store, settings, progress=advance)
    console.print(report.summary())
    for reason in report.reasons:
        console.print(f"  [yellow]{reason}[/yellow]")


@app.command()
def extract(
    files: Annotated[list[Path], typer.Argument(help="PDF, image or XML invoices.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Read invoices and print their fields (the JSON contract is in the README)."""
    from backoffice.invoices.api import extract as read_invoice

    for path in files:
        result = read_invoice(path).to_json()
        if as_json:
            print(json.dumps(result, ensure_ascii=False))
            continue
        console.print(f"[bold]{path}[/bold]: {result['kind']} from {result['source']}")
        for name, field in result["fields"].items():
            console.print(f"  {name:<16} {field['value']}  ({field['confidence']:.2f})")
        for problem in result["problems"]:
            console.print(f"  [yellow]{problem['code']}: {problem['message']}[/yellow]")


@app.command()
def statement(
    file: Annotated[Path, typer.Argument(help="A CAMT.053/054/052 XML or MT940 statement.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per account.")] = False,
    own_iban: Annotated[
        list[str] | None,
        typer.Option("--own-iban", help="Our account; others are refused. Repeatable."),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="MT940 encoding; default: detected.")] = None,
) -> None:
    """Read a bank statement and print its transactions (the JSON contract is in the README).

    Exit 0 when read (problems such as a balance mismatch are printed to stderr), 3 when the
    file is not a usable statement (the reason is printed to stderr), 2 for bad options.
    """
    from backoffice.payments import StatementError, check_own_accounts, read_statement_file

    try:
        statements = read_statement_file(file, encoding=encoding)
        check_own_accounts(statements, own_iban or ())
    except StatementError as exc:
        typer.echo(f"{file}: {exc.code}: {exc}", err=True)
        raise typer.Exit(3) from exc
    except (OSError, LookupError) as exc:
        typer.echo(f"{file}: cannot read: {exc}", err=True)
        raise typer.Exit(2) from exc
    for result in statements:
        data = result.to_json()
        if as_json:
            print(json.dumps(data, ensure_ascii=False))
        else:
            console.print(
                f"[bold]{file}[/bold]: {data['format']} {data['account_iban']} {data['currency']}"
                f" {data['opening_balance']} -> {data['closing_balance']},"
                f" {len(data['transactions'])} transactions",
                highlight=False,
            )
            for tx in data["transactions"]:
                console.print(
                    f"  {tx['booking_date']} {tx['amount']:>12} {tx['counterparty_name'] or '-'}"
                    f" | {tx['remittance']}",
                    markup=False,
                    highlight=False,
                )
        for problem in result.problems:
            typer.echo(f"{file}: {problem.code}: {problem.message}", err=True)


class RevocationMode(StrEnum):
    """How ``verify-signature`` treats certificate revocation."""

    off = "off"
    soft = "soft"
    hard = "hard"


@app.command("verify-signature")
def verify_signature(
    file: Annotated[Path, typer.Argument(help="The signed PDF (PAdES).")],
    trust: Annotated[
        list[Path] | None,
        typer.Option("--trust", help="Trusted root certificate (PEM/DER); repeatable."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Validate at this ISO 8601 time with offset (default: now)."),
    ] = None,
    revocation: Annotated[
        RevocationMode, typer.Option(help="Revocation checking: off, soft or hard.")
    ] = RevocationMode.off,
    crl: Annotated[
        list[Path] | None, typer.Option("--crl", help="A DER CRL to check against; repeatable.")
    ] = None,
    fetch_revocation: Annotated[
        bool, typer.Option(help="Fetch CRL/OCSP over the network (soft/hard only).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON verdict.")] = False,
) -> None:
    """Check a signed PDF's digital signatures: intact, whole, unmodified, trusted, in force.

    Exit 0 with a verdict (valid or not: see "valid" in the JSON), 2 for bad options.
    """
    from datetime import datetime

    from backoffice.contracts.signatures import verify_signatures

    if not logging.getLogger().isEnabledFor(logging.INFO):
        # pyHanko logs every rejected chain as a warning with a traceback; the verdict below
        # already says it in plain words, so keep stderr for real failures unless -v.
        for name in ("pyhanko", "pyhanko_certvalidator"):
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        moment = datetime.fromisoformat(at) if at else None
        if moment is not None and moment.utcoffset() is None:
            raise ValueError("--at needs a UTC offset, e.g. 2026-11-23T12:00:00+00:00")
        crls = [path.read_bytes() for path in crl or ()]
        report = verify_signatures(
            file,
            trust_roots=list(trust or ()),
            at=moment,
            revocation=revocation.value,
            crls=crls,
            fetch_revocation=fetch_revocation,
        )
    except ConfigurationError as exc:
        console.print(f"[red]configuration: {exc.code}: {exc}[/red]")
        raise typer.Exit(2) from exc
    except (ValueError, OSError) as exc:
        console.print(f"[red]configuration: {exc}[/red]")
        raise typer.Exit(2) from exc
    result = report.to_json()
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    verdict = "[green]valid[/green]" if result["valid"] else "[red]not valid[/red]"
    console.print(f"[bold]{file}[/bold]: {verdict}", highlight=False)
    for problem in result["problems"]:
        console.print(f"  [yellow]{problem['code']}: {problem['message']}[/yellow]")
    for sig in result["signatures"]:
        state = "[green]valid[/green]" if sig["valid"] else "[red]not valid[/red]"
        console.print(f"  {sig['field']}: {state} — {sig['signer']}", highlight=False)
        console.print(
            f"    intact={sig['intact']} trusted={sig['trusted']} "
            f"whole={sig['covers_whole_document']} "
            f"modified_after={sig['modified_after_signing']} signed_at={sig['signing_time']}",
            highlight=False,
        )
        for problem in sig["problems"]:
            console.print(f"    [yellow]{problem['code']}: {problem['message']}[/yellow]")


class Role(StrEnum):
    """Staff roles, least trusted first."""

    clerk = "clerk"
    manager = "manager"
    admin = "admin"


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (BACKOFFICE_WEB_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (BACKOFFICE_WEB_PORT).")
    ] = None,
) -> None:
    """Run the staff web app (review queue) over the same store as the robots."""
    import uvicorn

    from backoffice.web.app import create_app

    with _store() as (settings, store):
        bind = host or settings.web_host
        if bind not in ("127.0.0.1", "localhost", "::1") and not settings.web_cookie_secure:
            console.print(
                f"[yellow]listening on {bind} without BACKOFFICE_WEB_COOKIE_SECURE: put the app "
                "behind an HTTPS proxy[/yellow]"
            )
        uvicorn.run(
            create_app(settings, store),
            host=bind,
            port=port or settings.web_port,
            server_header=False,
            log_level="info",
        )


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name staff sign in with.")],
    role: Annotated[Role, typer.Option(help="clerk, manager or admin.")] = Role.clerk,
    display_name: Annotated[str, typer.Option(help="Full name shown in the app.")] = "",
    password_env: Annotated[
        str | None,
        typer.Option(help="Read the password from this environment variable instead of asking."),
    ] = None,
) -> None:
    """Create a staff account; the password is asked for (never echoed) or read from env."""
    import os

    from backoffice.web.accounts import AccountError, add_user

    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            console.print(f"[red]configuration: {password_env} is empty or not set[/red]")
            raise typer.Exit(2)
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _store() as (_settings, store):
        try:
            with store.session() as session:
                add_user(
                    session, name, role.value, password, display_name=display_name, actor="cli"
                )
        except AccountError as exc:
            console.print(f"[red]{exc.code}: {exc}[/red]")
            raise typer.Exit(2) from exc
    console.print(f"user {name.strip().lower()} added as {role.value}", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """The staff accounts, their roles and last sign-in."""
    from backoffice.web.accounts import users

    with _store() as (_settings, store), store.session() as session:
        rows = [
            (u.username, u.display_name, u.role, u.active, u.last_login_at) for u in users(session)
        ]
    table = Table(title="Staff")
    for column in ("user", "name", "role", "active", "last sign-in"):
        table.add_column(column)
    for username, display, role, active, last in rows:
        table.add_row(username, display, role, "yes" if active else "no", str(last or ""))
    console.print(table)


@app.command()
def migrate() -> None:
    """Create or upgrade the store's schema."""
    with _store() as (_settings, _store_):
        console.print(f"store is up to date: {_store_.engine.url.render_as_string()}")


@app.command("settings")
def show_settings(
    docs: Annotated[bool, typer.Option(help="Print the README table of settings.")] = False,
) -> None:
    """Show the effective settings (secrets hidden)."""
    if docs:
        console.print(settings_table(), markup=False, soft_wrap=True)
        return
    settings = load_settings()
    for name, value in settings.model_dump().items():
        console.print(f"BACKOFFICE_{name.upper()}={value}", markup=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
