"""The seam to contract to cash: a signed contract's request becomes one invoice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from backoffice.billing.contracts import request_for_contract
from backoffice.billing.service import issue_invoice

from tests.contracts.requests import request as contract_request


@pytest.mark.parametrize(("language", "currency"), [("pl", "PLN"), ("en", "EUR")])
def test_signed_contract_is_invoiced_once(billing_store, language, currency) -> None:
    settings, store = billing_store
    contract = contract_request(language)
    request = request_for_contract(contract, vat_rate=Decimal("23"))
    if currency != "PLN":
        request = request.model_copy(update={"exchange_rate": Decimal("4.2537")})
    first = issue_invoice(store, settings, request)
    again = issue_invoice(store, settings, request_for_contract(contract, vat_rate=Decimal("23")))
    assert first.source_key == "contract:K-2026-0042"
    assert (again.number, again.created) == (first.number, False)
    # 12 500.00 net at 23 %
    assert (first.total_gross, first.currency) == (Decimal("15375.00"), currency)
