"""``backoffice``: the command line over the same use cases the robots run.

A thin shell: it reads the settings, opens the store, calls the core and prints.
Exit codes: 0 done, 1 a part outside us failed (retry later), 2 bad configuration.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from backoffice.config import Settings, load_settings, settings_table
from backoffice.errors import ApplicationError, ConfigurationError
from backoffice.store import Store, open_store

app = typer.Typer(help="Back-office robots: intake, outbox and status.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing mail.", no_args_is_help=True)
mailbox_app = typer.Typer(help="The embedded Maildir mailbox.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
app.add_typer(mailbox_app, name="mailbox")
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


@outbox_app.command("send")
def outbox_send(limit: Annotated[int | None, typer.Option(help="Stop after N messages.")] = None):
    """Send the outgoing mail that is due (retries, fallback, crash recovery)."""
    from backoffice.outbox.service import send_due

    with _store() as (settings, store), _progress("sending") as advance:
        report = send_due(store, settings, limit=limit, progress=advance)
    console.print(report.summary())


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
