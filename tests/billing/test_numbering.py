"""Invoice numbers: in order per series and period, no gaps, no duplicates, once per source."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from backoffice.billing.model import InvalidIssueRequest, parse_request
from backoffice.billing.models import BillingCounter, InvoiceRequest, IssuedInvoice
from backoffice.billing.numbering import NumberFormat
from backoffice.billing.service import issue_due, issue_invoice, queue_requests
from backoffice.errors import ConfigurationError
from backoffice.store import OutboxMessage, ReviewItem, open_store
from sqlalchemy import func, select

from tests.billing.requests import pl_request


def test_format_fields_periods_and_padding() -> None:
    monthly = NumberFormat.parse("{series}/{year}/{month}/{seq}", 4)
    assert monthly.format("FV", date(2026, 3, 9), 42) == "FV/2026/03/0042"
    assert monthly.period(date(2026, 3, 9)) == "2026-03"
    yearly = NumberFormat.parse("{seq}/{year}", 1)
    assert yearly.format("FV", date(2026, 3, 9), 7) == "7/2026"
    assert yearly.period(date(2026, 12, 31)) == "2026"
    continuous = NumberFormat.parse("INV-{seq}", 6)
    assert continuous.period(date(2026, 1, 1)) == continuous.period(date(2031, 7, 1)) == "all"
    assert continuous.format("FV", date(2026, 1, 1), 12345) == "INV-012345"


@pytest.mark.parametrize(
    "pattern",
    ["FV/{year}", "{seq}/{seq}", "{series}/{day}/{seq}", "{seq:04d}", "FV/{year/{seq}"],
)
def test_bad_formats_are_configuration_errors(pattern: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        NumberFormat.parse(pattern, 4)
    assert caught.value.code == "INVOICE_NUMBER_FORMAT_INVALID"


def test_numbers_in_order_per_series_and_month(billing_store, monkeypatch) -> None:
    settings, store = billing_store
    issued = []
    for moment, series, key in [
        ("2026-11-30T10:00:00+00:00", "", "a"),
        ("2026-11-30T11:00:00+00:00", "", "b"),
        ("2026-11-30T11:30:00+00:00", "KOR", "c"),
        # 23:30 UTC on 30 November is already 1 December in Warsaw: a new period.
        ("2026-11-30T23:30:00+00:00", "", "d"),
        ("2026-12-01T09:00:00+00:00", "KOR", "e"),
        ("2026-12-02T09:00:00+00:00", "", "f"),
        ("2027-01-04T09:00:00+00:00", "", "g"),
    ]:
        monkeypatch.setenv("BACKOFFICE_NOW", moment)
        outcome = issue_invoice(store, settings, parse_request(pl_request(key, series=series)))
        issued.append(outcome.number)
    assert issued == [
        "FV/2026/11/0001",
        "FV/2026/11/0002",
        "KOR/2026/11/0001",
        "FV/2026/12/0001",
        "KOR/2026/12/0001",
        "FV/2026/12/0002",
        "FV/2027/01/0001",
    ]
    with store.session() as session:
        first = session.scalar(select(IssuedInvoice).where(IssuedInvoice.number == issued[3]))
        assert first is not None
        assert first.issue_date == date(2026, 12, 1)
        assert first.due_date == date(2026, 12, 15)


def test_issuing_the_same_source_twice_returns_the_first_invoice(billing_store) -> None:
    settings, store = billing_store
    request = parse_request(pl_request("order-7"))
    first = issue_invoice(store, settings, request)
    again = issue_invoice(store, settings, parse_request(pl_request("order-7")))
    assert first.created and not again.created
    assert (again.invoice_id, again.number) == (first.invoice_id, first.number)
    # the same key queued and run by the robot is still the same invoice
    queue_requests(store, settings, [request])
    report = issue_due(store, settings)
    assert (report.issued, report.already_issued, report.emailed) == (0, 1, 0)
    with store.session() as session:
        assert session.scalar(select(func.count(IssuedInvoice.id))) == 1
        assert session.scalar(select(func.count(OutboxMessage.id))) == 1
        assert session.scalar(select(BillingCounter.last_seq)) == 1
        assert session.scalar(select(InvoiceRequest.status)) == "issued"


def test_a_contract_is_invoiced_once(billing_store) -> None:
    settings, store = billing_store
    data = pl_request(key="", contract_ref="C-2026-0009")
    first = issue_invoice(store, settings, parse_request(data))
    second = issue_invoice(store, settings, parse_request(data))
    assert first.source_key == "contract:C-2026-0009"
    assert second.number == first.number and not second.created


def test_a_bad_request_takes_no_number_and_goes_to_staff(billing_store) -> None:
    settings, store = billing_store
    bad_nip = pl_request("bad-nip")
    bad_nip["buyer"] = dict(bad_nip["buyer"], tax_id="1234567890")
    bad_rate = pl_request("bad-rate")
    bad_rate["lines"][0] = dict(bad_rate["lines"][0], vat_rate="19")
    with pytest.raises(InvalidIssueRequest) as caught:
        issue_invoice(store, settings, parse_request(bad_nip))
    assert caught.value.code == "BUYER_NIP_INVALID"
    queue_requests(
        store,
        settings,
        [parse_request(bad_nip), parse_request(bad_rate), parse_request(pl_request("good"))],
    )
    report = issue_due(store, settings)
    assert (report.issued, report.rejected, report.emailed) == (1, 2, 1)
    with store.session() as session:
        rows = {r.source_key: r for r in session.scalars(select(InvoiceRequest))}
        assert rows["request:bad-nip"].status == "rejected"
        assert rows["request:bad-nip"].reason_code == "BUYER_NIP_INVALID"
        assert "5" in rows["request:bad-rate"].reason and "19" in rows["request:bad-rate"].reason
        assert rows["request:good"].status == "issued"
        numbers = list(session.scalars(select(IssuedInvoice.number)))
        reviews = {item.reason_code for item in session.scalars(select(ReviewItem))}
    assert len(numbers) == 1 and numbers[0].endswith("/0001")
    assert reviews == {"BUYER_NIP_INVALID", "VAT_RATE_INVALID"}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"currency": "EUR"}, "EXCHANGE_RATE_MISSING"),
        ({"key": "", "contract_ref": ""}, "INVOICE_REQUEST_KEY_MISSING"),
    ],
)
def test_requests_refused_with_a_reason(billing_store, changes, code) -> None:
    settings, store = billing_store
    with pytest.raises(InvalidIssueRequest) as caught:
        issue_invoice(store, settings, parse_request(pl_request(**changes)))
    assert caught.value.code == code


def test_floats_and_unknown_currencies_are_refused() -> None:
    data = pl_request()
    data["lines"][0] = dict(data["lines"][0], unit_price=0.1)
    with pytest.raises(InvalidIssueRequest, match="decimal strings"):
        parse_request(data)
    with pytest.raises(InvalidIssueRequest, match="ISO 4217"):
        parse_request(pl_request(currency="ZZZ"))


def test_unset_seller_is_a_configuration_error(make_settings, db_url) -> None:
    settings = make_settings(database_url=db_url)
    store = open_store(settings)
    with pytest.raises(ConfigurationError) as caught:
        issue_invoice(store, settings, parse_request(pl_request()))
    store.dispose()
    assert caught.value.code == "SELLER_NOT_CONFIGURED"
    assert "BACKOFFICE_SELLER_NAME" in str(caught.value)


def test_threads_issuing_at_once_get_distinct_consecutive_numbers(billing_store) -> None:
    settings, store = billing_store
    numbers: list[str] = []
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(10):
                request = parse_request(pl_request(f"t{worker}-{n}"))
                numbers.append(issue_invoice(store, settings, request).number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    seqs = sorted(int(number.rsplit("/", 1)[1]) for number in numbers)
    assert seqs == list(range(1, 41))
