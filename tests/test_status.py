"""``backoffice status``: the records of every flow counted per state."""

from __future__ import annotations

from collections.abc import Callable

from backoffice.billing.model import parse_request
from backoffice.billing.service import issue_invoice
from backoffice.config import Settings
from backoffice.status import status_rows
from backoffice.store import open_store

from tests.billing.requests import PL_SELLER, pl_request


def test_issued_invoices_and_their_mail_are_counted(
    make_settings: Callable[..., Settings], db_url: str
) -> None:
    settings = make_settings(database_url=db_url, **PL_SELLER)
    store = open_store(settings)
    try:
        for key in ("order-1", "order-2"):
            issue_invoice(store, settings, parse_request(pl_request(key)))
        counts = {(row.area, row.state): row.count for row in status_rows(store)}
    finally:
        store.dispose()
    assert sum(n for (area, _), n in counts.items() if area == "issued invoices") == 2
    assert counts[("outbox", "queued")] == 2
    # Areas with no records yet are simply absent, not an error.
    assert not any(area in ("contracts", "access grants") for area, _ in counts)
