"""The managers' dashboard: how the back office is doing, as tables, charts and CSV.

Every figure is read from the store when the page is asked for: the pipeline (records per
flow and stage), the review queue's age buckets, overdue items and SLA breaches
(``BACKOFFICE_WEB_SLA_HOURS``), documents received and processed per day, each handler's
load and handling time (from the audit log: from the item's assignment to that person, or
from its creation, to their decision), and contract to cash from the billing records.
Where a flow keeps no records yet the table says "no data yet" instead of a zero that
would look like a fact.

Counts are SQL aggregates over indexed columns; lists are capped (``LIST_CAP``). Charts are
drawn here as small SVGs (no script, no outside library): bars with their numbers written
on them, so they read at a glance and print.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.store.models import Document, InvoiceCase, OutboxMessage, ReviewItem
from backoffice.web.models import AuditEntry, ReviewDecision
from backoffice.web.queue import AGES

#: Days shown in the per-day tables and counted for handlers and closed items.
WINDOW_DAYS = 14
HANDLER_DAYS = 30
#: Rows listed at most in a list table (overdue items, receivables).
LIST_CAP = 50
#: Decisions read at most for handling times (the newest).
DECISIONS_CAP = 5000
NO_DATA = "no data yet"
DECISION_ACTIONS = ("review.approve", "review.reject", "review.send_back")
HOUR = 3600


@dataclass
class Table:
    """One table of the dashboard; ``note`` says why it is empty or how to read it."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""


@dataclass
class Dashboard:
    """Everything the page shows, computed at ``now``."""

    now: datetime
    sla_hours: float
    figures: list[tuple[str, str, str]] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)

    def add(self, table: Table) -> Table:
        """Add a table under its name."""
        self.tables[table.name] = table
        return table

    def table(self, name: str) -> Table | None:
        """The table called ``name`` (CSV export), or None."""
        return self.tables.get(name)


def build(session: Session, settings: Settings) -> Dashboard:
    """Compute the dashboard from the store."""
    now = utcnow()
    board = Dashboard(now=now, sla_hours=settings.web_sla_hours)
    sla = timedelta(hours=settings.web_sla_hours)
    _stages(session, board)
    _ages(session, board, sla)
    _overdue(session, board, sla)
    _sla(session, board, sla)
    _per_day(session, board)
    _handlers(session, board)
    _contract_to_cash(session, board)
    open_items = sum(row[1] for row in board.tables["ages"].rows)
    breaches = board.tables["sla"].rows[0][2]
    today = board.tables["per_day"].rows[-1] if board.tables["per_day"].rows else [0, 0, 0]
    receivables = board.tables["receivables"]
    board.figures = [
        ("Open review items", str(open_items), ""),
        ("Over the SLA now", str(breaches), "bad" if breaches else "good"),
        ("Documents processed today", str(today[2]), ""),
        (
            "Overdue receivables",
            str(len(receivables.rows)) if not receivables.note.startswith(NO_DATA) else NO_DATA,
            "bad" if receivables.rows else "",
        ),
    ]
    return board


# --- the pipeline ----------------------------------------------------------------------------


def _counts(session: Session, column: Any, *where: Any) -> list[tuple[str, int]]:
    stmt = select(column, func.count()).group_by(column).order_by(column)
    for condition in where:
        stmt = stmt.where(condition)
    return [(str(value), int(count)) for value, count in session.execute(stmt)]


def _stages(session: Session, board: Dashboard) -> None:
    table = board.add(Table("stages", "Items per stage", ["flow", "stage", "items"]))
    flows: list[tuple[str, list[tuple[str, int]]]] = [
        ("documents", _counts(session, Document.status)),
        ("invoices", _counts(session, InvoiceCase.state)),
        ("review queue (open)", _counts(session, ReviewItem.subject_type, _open())),
        ("outgoing mail", _counts(session, OutboxMessage.status)),
    ]
    issued = _issued_model()
    if issued is not None:
        flows.append(("issued invoices", _counts(session, issued.status)))
    for flow, counts in flows:
        table.rows += [[flow, stage, count] for stage, count in counts]
    if not table.rows:
        table.note = NO_DATA


def _open() -> Any:
    return ReviewItem.status == "open"


def _ages(session: Session, board: Dashboard, sla: timedelta) -> None:
    table = board.add(
        Table(
            "ages",
            "Open review items by age",
            ["age", "items", "over the SLA"],
            note=f"SLA: {board.sla_hours:g} hours.",
        )
    )
    deadline = board.now - sla
    for label, (youngest, oldest) in AGES.items():
        where = [_open()]
        if youngest is not None:
            where.append(ReviewItem.created_at <= board.now - youngest)
        if oldest is not None:
            where.append(ReviewItem.created_at > board.now - oldest)
        count = session.scalar(select(func.count(ReviewItem.id)).where(*where)) or 0
        late = (
            session.scalar(
                select(func.count(ReviewItem.id)).where(*where, ReviewItem.created_at < deadline)
            )
            or 0
        )
        table.rows.append([label, count, late])


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / HOUR, 1)


def _overdue(session: Session, board: Dashboard, sla: timedelta) -> None:
    table = board.add(
        Table(
            "overdue",
            "Overdue review items (oldest first)",
            ["item", "kind", "reason", "assignee", "waiting since", "hours waiting"],
        )
    )
    for item in session.scalars(
        select(ReviewItem)
        .where(_open(), ReviewItem.created_at < board.now - sla)
        .order_by(ReviewItem.created_at, ReviewItem.id)
        .limit(LIST_CAP)
    ):
        table.rows.append(
            [
                item.id,
                item.subject_type,
                item.reason_code,
                item.assignee or "",
                item.created_at.strftime("%Y-%m-%d %H:%M"),
                _hours(board.now - item.created_at),
            ]
        )
    if not table.rows:
        table.note = "Nothing waits longer than the SLA."


def _sla(session: Session, board: Dashboard, sla: timedelta) -> None:
    table = board.add(
        Table(
            "sla",
            "SLA breaches",
            ["items", "count", "over the SLA", "share over"],
            note=f"An item breaches the SLA when it waits more than {board.sla_hours:g} hours.",
        )
    )
    open_count = session.scalar(select(func.count(ReviewItem.id)).where(_open())) or 0
    open_late = (
        session.scalar(
            select(func.count(ReviewItem.id)).where(
                _open(), ReviewItem.created_at < board.now - sla
            )
        )
        or 0
    )
    since = board.now - timedelta(days=HANDLER_DAYS)
    closed = session.execute(
        select(ReviewItem.created_at, ReviewItem.closed_at).where(
            ReviewItem.status == "done", ReviewItem.closed_at >= since
        )
    ).all()
    closed_late = sum(1 for created, done in closed if done - created > sla)
    table.rows = [
        ["open now", open_count, open_late, _share(open_late, open_count)],
        [
            f"closed in the last {HANDLER_DAYS} days",
            len(closed),
            closed_late,
            _share(closed_late, len(closed)),
        ],
    ]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _days(board: Dashboard) -> list[date]:
    today = board.now.date()
    return [today - timedelta(days=n) for n in range(WINDOW_DAYS - 1, -1, -1)]


def _per_day(session: Session, board: Dashboard) -> None:
    table = board.add(
        Table(
            "per_day",
            f"Documents per day (last {WINDOW_DAYS} days, UTC)",
            ["day", "received", "processed", "staff decisions"],
            note="Processed: read and decided by a robot (accepted, correction asked, to "
            "review or unreadable).",
        )
    )
    since = datetime.combine(_days(board)[0], datetime.min.time(), tzinfo=board.now.tzinfo)
    received = Counter(
        at.date()
        for at in session.scalars(select(Document.created_at).where(Document.created_at >= since))
    )
    processed = Counter(
        at.date()
        for at in session.scalars(
            select(Document.updated_at).where(
                Document.updated_at >= since, Document.status != "new"
            )
        )
    )
    decided = Counter(
        at.date()
        for at in session.scalars(
            select(ReviewDecision.decided_at).where(ReviewDecision.decided_at >= since)
        )
    )
    table.rows = [
        [day.isoformat(), received[day], processed[day], decided[day]] for day in _days(board)
    ]


# --- handlers --------------------------------------------------------------------------------


def _handlers(session: Session, board: Dashboard) -> None:
    table = board.add(
        Table(
            "handlers",
            f"Handlers: load now and handling time (last {HANDLER_DAYS} days)",
            ["handler", "open items assigned", "decisions", "median hours", "90% within hours"],
            note="Handling time: from the item's assignment to that person (or its creation) "
            "to their decision, from the audit log.",
        )
    )
    load = dict(_counts(session, ReviewItem.assignee, _open(), ReviewItem.assignee != ""))
    since = board.now - timedelta(days=HANDLER_DAYS)
    decisions = list(
        session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.action.in_(DECISION_ACTIONS),
                AuditEntry.subject_type == "review_item",
                AuditEntry.at >= since,
            )
            .order_by(AuditEntry.id.desc())
            .limit(DECISIONS_CAP)
        )
    )
    refs = {entry.subject_ref for entry in decisions}
    created = _created_at(session, refs)
    assigned: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for ref, actor_after, at in _assignments(session, refs):
        assigned[(ref, actor_after)].append(at)
    times: dict[str, list[float]] = defaultdict(list)
    for entry in decisions:
        starts = [at for at in assigned.get((entry.subject_ref, entry.actor), []) if at <= entry.at]
        start = max(starts) if starts else created.get(entry.subject_ref)
        if start is not None:
            times[entry.actor].append(max(0.0, (entry.at - start).total_seconds() / HOUR))
    for name in sorted(set(load) | set(times)):
        hours = sorted(times.get(name, []))
        table.rows.append(
            [
                name,
                load.get(name, 0),
                len(hours),
                round(statistics.median(hours), 1) if hours else "-",
                round(hours[min(len(hours) - 1, int(0.9 * len(hours)))], 1) if hours else "-",
            ]
        )
    if not table.rows:
        table.note = NO_DATA + ": nobody has been assigned an item or decided one."


def _created_at(session: Session, refs: set[str]) -> dict[str, datetime]:
    ids = [int(ref) for ref in refs if ref.isdigit()]
    found: dict[str, datetime] = {}
    for chunk in range(0, len(ids), 500):
        for item_id, at in session.execute(
            select(ReviewItem.id, ReviewItem.created_at).where(
                ReviewItem.id.in_(ids[chunk : chunk + 500])
            )
        ):
            found[str(item_id)] = at
    return found


def _assignments(session: Session, refs: set[str]) -> list[tuple[str, str, datetime]]:
    found = []
    ordered = sorted(refs)
    for chunk in range(0, len(ordered), 500):
        for entry in session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "review.assign",
                AuditEntry.subject_type == "review_item",
                AuditEntry.subject_ref.in_(ordered[chunk : chunk + 500]),
            )
        ):
            found.append(
                (entry.subject_ref, str((entry.after or {}).get("assignee", "")), entry.at)
            )
    return found


# --- contract to cash --------------------------------------------------------------------


def _issued_model() -> Any:
    """The billing robot's issued invoices, when that flow is installed."""
    try:
        from backoffice.billing.models import IssuedInvoice
    except ImportError:
        return None
    return IssuedInvoice


def _contract_to_cash(session: Session, board: Dashboard) -> None:
    conversion = board.add(
        Table("conversion", "Contract to paid", ["step", "count", "days (median)"])
    )
    receivables = board.add(
        Table(
            "receivables",
            "Overdue receivables",
            ["invoice", "buyer", "due", "days overdue", "currency", "gross"],
        )
    )
    issued = _issued_model()
    if issued is None:
        conversion.note = receivables.note = NO_DATA + ": invoices are not issued here yet."
        return
    from_contracts = (
        session.scalar(select(func.count(issued.id)).where(issued.contract_ref != "")) or 0
    )
    emailed = (
        session.scalar(
            select(func.count(issued.id)).where(
                issued.contract_ref != "", issued.status == "emailed"
            )
        )
        or 0
    )
    conversion.rows = [
        ["invoices issued from a signed contract", from_contracts, "-"],
        ["of those sent to the customer", emailed, "-"],
        ["paid", NO_DATA, NO_DATA],
    ]
    conversion.note = (
        NO_DATA + ": payments are not matched to issued invoices in the store yet, so the "
        "conversion to paid and the days to cash cannot be counted."
    )
    today = board.now.date()
    for invoice in session.scalars(
        select(issued)
        .where(issued.due_date < today, issued.status == "emailed")
        .order_by(issued.due_date, issued.id)
        .limit(LIST_CAP)
    ):
        buyer = invoice.buyer or {}
        receivables.rows.append(
            [
                invoice.number,
                str(buyer.get("name") or invoice.buyer_email),
                invoice.due_date.isoformat(),
                (today - invoice.due_date).days,
                invoice.currency,
                format(Decimal(invoice.total_gross), "f"),
            ]
        )
    receivables.note = (
        "Issued invoices past their due date; until payments are matched in the store every "
        "one counts as unpaid."
        if receivables.rows
        else "No issued invoice is past its due date."
    )


# --- CSV and charts -----------------------------------------------------------------------


def csv_text(table: Table) -> str:
    """The table as CSV (header row first); cells that a spreadsheet would run as a formula
    are prefixed with a quote."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return (
        "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text
    )


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


BAR = "#2f6db5"
LATE = "#c0392b"
MUTED = "#9aa5b1"
INK = "#1f2933"


def hbar_chart(title: str, bars: list[tuple[str, int]], color: str = BAR) -> str:
    """A horizontal bar chart: one labelled bar per (label, value), the value written on it."""
    if not bars:
        return _empty(title)
    row, label_w, width = 22, 250, 600
    top = max(value for _label, value in bars) or 1
    height = row * len(bars) + 10
    parts = [_open_svg(title, width, height)]
    for index, (label, value) in enumerate(bars):
        y = 5 + index * row
        w = max(1.0, (width - label_w - 60) * value / top) if value else 0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(label[:32])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{color}"/>'
            f'<text x="{label_w + w + 5:.1f}" y="{y + 15}" font-size="12" '
            f'fill="{INK}">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(title: str, labels: list[str], series: list[tuple[str, list[int], str]]) -> str:
    """Vertical bars per label, one bar per series side by side, with a legend."""
    if not labels or not any(any(values) for _n, values, _c in series):
        return _empty(title)
    width, height, left, bottom, top_pad = 560, 220, 30, 40, 26
    top = max(max(values) for _n, values, _c in series) or 1
    slot = (width - left - 10) / len(labels)
    bar = max(2.0, slot * 0.8 / len(series))
    parts = [_open_svg(title, width, height)]
    for index, (name, _values, color) in enumerate(series):
        x = left + index * 150
        parts.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 16}" y="14" font-size="12" fill="{INK}">{escape(name)}</text>'
        )
    plot = height - bottom - top_pad
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, (_name, values, color) in enumerate(series):
            value = values[i]
            h = plot * value / top
            y = top_pad + plot - h
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{escape(label)}: {value}</title></rect>'
            )
            if value:
                parts.append(
                    f'<text x="{x0 + j * bar + bar / 2:.1f}" y="{y - 2:.1f}" font-size="9" '
                    f'text-anchor="middle" fill="{INK}">{value}</text>'
                )
        parts.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{height - bottom + 14}" font-size="10" '
            f'text-anchor="middle" fill="{INK}">{escape(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top_pad + plot}" x2="{width - 10}" y2="{top_pad + plot}" '
        f'stroke="{MUTED}"/></svg>'
    )
    return "".join(parts)


def _open_svg(title: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    )


def _empty(title: str) -> str:
    return (
        _open_svg(title, 560, 40)
        + f'<text x="10" y="25" font-size="13" fill="{MUTED}">{escape(title)}: {NO_DATA}</text>'
        + "</svg>"
    )


def charts(board: Dashboard) -> dict[str, str]:
    """The dashboard's charts as SVG markup, by the table they draw."""
    stages = board.tables["stages"].rows
    ages = board.tables["ages"].rows
    per_day = board.tables["per_day"].rows
    handlers = board.tables["handlers"].rows
    return {
        "stages": hbar_chart(
            "Items per stage", [(f"{flow}: {stage}", count) for flow, stage, count in stages]
        ),
        "ages": column_chart(
            "Open items by age",
            [row[0] for row in ages],
            [
                ("within the SLA", [row[1] - row[2] for row in ages], BAR),
                ("over the SLA", [row[2] for row in ages], LATE),
            ],
        ),
        "per_day": column_chart(
            "Documents per day",
            [row[0][5:] for row in per_day],
            [
                ("received", [row[1] for row in per_day], MUTED),
                ("processed", [row[2] for row in per_day], BAR),
            ],
        ),
        "handlers": hbar_chart(
            "Open items per handler", [(row[0], row[1]) for row in handlers], BAR
        ),
    }
