"""The managers' dashboard on SQLite and PostgreSQL: figures from real records, the SLA, the
handlers' times from the audit log, CSV of each table, charts drawn on the server."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

from backoffice.clock import utcnow
from backoffice.store import Store
from backoffice.web import queue
from backoffice.web.dashboard import NO_DATA
from starlette.testclient import TestClient

from tests.web.support import add_items, add_staff, sign_in


def _csv(client: TestClient, name: str) -> list[dict[str, str]]:
    response = client.get(f"/dashboard/{name}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{name}.csv"' in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_dashboard_counts_ages_sla_and_handlers_and_exports_each_table(
    client: TestClient, store: Store
) -> None:
    add_staff(store, "boss", "manager")
    add_staff(store, "ola", "clerk")
    now = utcnow()
    old = add_items(store, 3, start=now - timedelta(days=4), reason_code="=HYPERLINK(1)")
    add_items(store, 2, start=now - timedelta(minutes=30), step=timedelta(minutes=5))
    with store.session() as session:
        queue.assign(session, old[0], "ola", actor="boss")
    with store.session() as session:
        queue.decide(session, old[0], "approve", actor="ola")
    with store.session() as session:
        queue.assign(session, old[1], "ola", actor="boss")

    sign_in(client, "boss")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert page.text.count("<svg") == 4
    assert "<script" not in page.text.split("</head>")[1]

    ages = {row["age"]: row for row in _csv(client, "ages")}
    assert (ages["1d"]["items"], ages["1d"]["over the SLA"]) == ("2", "0")
    assert (ages["3-7d"]["items"], ages["3-7d"]["over the SLA"]) == ("2", "2")
    sla = _csv(client, "sla")
    assert (sla[0]["count"], sla[0]["over the SLA"]) == ("4", "2")
    assert (sla[1]["count"], sla[1]["over the SLA"]) == ("1", "1")
    overdue = _csv(client, "overdue")
    assert [row["item"] for row in overdue] == [str(i) for i in old[1:]]
    # A cell a spreadsheet would run as a formula is quoted.
    assert overdue[0]["reason"] == "'=HYPERLINK(1)"
    [ola] = _csv(client, "handlers")
    assert (ola["handler"], ola["open items assigned"], ola["decisions"]) == ("ola", "1", "1")
    # Assigned and decided moments apart: the time counts from the assignment, not from
    # the item's creation four days earlier.
    assert float(ola["median hours"]) < 1
    stages = {(r["flow"], r["stage"]): r["items"] for r in _csv(client, "stages")}
    assert stages[("review queue (open)", "message")] == "4"
    per_day = _csv(client, "per_day")
    assert per_day[-1]["day"] == now.date().isoformat()
    assert per_day[-1]["staff decisions"] == "1"
    assert client.get("/dashboard/nothing.csv").status_code == 404


def test_receivables_and_conversion_say_what_is_known(client: TestClient, store: Store) -> None:
    from backoffice.billing.models import IssuedInvoice

    add_staff(store, "boss", "manager")
    today = utcnow().date()
    with store.session() as session:
        for seq, due, status in ((1, today - timedelta(days=5), "emailed"), (2, today, "emailed")):
            session.add(
                IssuedInvoice(
                    source_key=f"contract:{seq}",
                    contract_ref=f"C-{seq}",
                    series="FV",
                    period="2026",
                    seq=seq,
                    number=f"FV/{seq}/2026",
                    issue_date=date(2026, 1, 1),
                    sale_date=date(2026, 1, 1),
                    due_date=due,
                    currency="PLN",
                    language="pl",
                    buyer={"name": "Klient Sp. z o.o."},
                    buyer_email="klient@example.test",
                    total_net=Decimal("100.00"),
                    total_vat=Decimal("23.00"),
                    total_gross=Decimal("123.00"),
                    status=status,
                )
            )
    sign_in(client, "boss")
    [late] = _csv(client, "receivables")
    assert (late["invoice"], late["days overdue"], late["gross"]) == ("FV/1/2026", "5", "123.00")
    conversion = {row["step"]: row for row in _csv(client, "conversion")}
    assert conversion["invoices issued from a signed contract"]["count"] == "2"
    assert conversion["paid"]["count"] == NO_DATA
    assert NO_DATA in client.get("/dashboard").text
