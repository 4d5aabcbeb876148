"""The seam to contract-to-cash: a validly signed contract becomes an invoice request.

The billing robot's "Queue Invoices For Signed Contracts" step (``queue_signed_contracts``)
takes each signed contract the contracts flow lists as not invoiced yet, turns it into a
request with ``request_for_contract`` and queues it with ``service.queue_requests``. The
request's source is the contract (``contract:<id>``), so a contract is invoiced once
however often the step runs.
"""

from __future__ import annotations

from decimal import Decimal

from backoffice.billing.model import RATES_BY_COUNTRY, BuyerIn, IssueRequest, LineIn
from backoffice.billing.service import queue_requests
from backoffice.config import Settings
from backoffice.contracts.model import ContractRequest
from backoffice.errors import ConfigurationError
from backoffice.store.db import Store

#: The contract's kind of tax ID → the buyer's country (EU VAT numbers carry their own).
_COUNTRY_BY_TAX_ID = {"NIP": "PL", "REGON": "PL", "PESEL": "PL", "INN": "RU"}


def request_for_contract(
    contract: ContractRequest, *, vat_rate: Decimal, unit: str = ""
) -> IssueRequest:
    """The invoice request for a signed contract: one line, the contract's net price."""
    customer = contract.customer
    kind = customer.tax_id_type or ""
    country = _COUNTRY_BY_TAX_ID.get(kind) or customer.tax_id[:2].upper()
    # Only a NIP, ИНН or VAT number is a tax ID on an invoice; a PESEL or REGON is not.
    tax_id = customer.tax_id if kind in ("NIP", "INN", "VAT") else ""
    return IssueRequest(
        contract_ref=contract.contract_id,
        language=contract.language,
        currency=contract.currency,
        due_days=contract.payment_days,
        buyer=BuyerIn(
            name=customer.name,
            address=customer.address,
            country=country,
            tax_id=tax_id,
            email=customer.email,
        ),
        lines=[
            LineIn(
                description=contract.product,
                quantity=Decimal(1),
                unit=unit,
                unit_price=contract.price,
                vat_rate=vat_rate,
            )
        ],
    )


def contract_vat_rate(settings: Settings) -> Decimal:
    """The VAT rate for a contract's invoice: the setting, else the seller country's standard."""
    if settings.invoice_contract_vat_rate is not None:
        return settings.invoice_contract_vat_rate
    rates = RATES_BY_COUNTRY.get(settings.seller_country.upper())
    if not rates:
        raise ConfigurationError(
            f"no standard VAT rate known for SELLER_COUNTRY {settings.seller_country!r}; "
            "set BACKOFFICE_INVOICE_CONTRACT_VAT_RATE",
            code="CONTRACT_VAT_RATE_MISSING",
        )
    return rates[0]


def queue_signed_contracts(store: Store, settings: Settings) -> list[tuple[str, bool]]:
    """Queue one invoice request per signed contract not invoiced yet; [(source key, new)]."""
    from backoffice.contracts.service import signed_contracts_awaiting_invoice

    vat_rate = contract_vat_rate(settings)
    with store.session() as session:
        contracts = signed_contracts_awaiting_invoice(session)
    requests = [request_for_contract(contract, vat_rate=vat_rate) for contract in contracts]
    return queue_requests(store, settings, requests)
