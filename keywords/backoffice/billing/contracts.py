"""The seam to contract-to-cash: a validly signed contract becomes an invoice request.

The contracts flow (``backoffice.contracts``) has no store yet; once it records signed
contracts, the billing robot's "invoice signed contracts" step turns each one into a
request with ``request_for_contract`` and queues it with ``service.queue_requests``. The
request's source is the contract (``contract:<id>``), so a contract is invoiced once
however often the step runs.
"""

from __future__ import annotations

from decimal import Decimal

from backoffice.billing.model import BuyerIn, IssueRequest, LineIn
from backoffice.contracts.model import ContractRequest

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
