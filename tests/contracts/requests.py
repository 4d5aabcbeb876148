"""Customer form data for contract tests: one realistic request per language."""

from __future__ import annotations

from typing import Any

from backoffice.contracts.model import ContractRequest

SELLER = {
    "name": "Biuro Serwis Sp. z o.o.",
    "email": "biuro@serwis.example",
    "tax_id": "123-456-32-18",
    "address": "ul. Prosta 1, 00-850 Warszawa",
}
CUSTOMERS: dict[str, dict[str, Any]] = {
    "pl": {
        "name": "Jan Kowalski",
        "email": "jan.kowalski@firma.example",
        "tax_id": "526-025-02-74",
        "address": "ul. Długa 5, 00-001 Warszawa",
    },
    "ru": {
        "name": "ООО «Ромашка»",
        "email": "info@romashka.example",
        "tax_id": "7707083893",
        "address": "г. Москва, ул. Ленина, д. 1",
    },
    "en": {
        "name": "Acme Trading Ltd",
        "email": "accounts@acme.example",
        "tax_id": "PL5260250274",
        "tax_id_type": "VAT",
        "address": "1 High Street, London",
    },
}
PRODUCTS = {
    "pl": "Obsługa księgowa i kadrowa",
    "ru": "Бухгалтерское сопровождение",
    "en": "Bookkeeping and payroll",
}
CURRENCIES = {"pl": "PLN", "ru": "RUB", "en": "EUR"}


def form(language: str, contract_id: str = "K-2026-0042", **changes: Any) -> dict[str, Any]:
    """The form's JSON as the web form or the CLI gives it."""
    data: dict[str, Any] = {
        "contract_id": contract_id,
        "language": language,
        "customer": CUSTOMERS[language],
        "seller": SELLER,
        "product": PRODUCTS[language],
        "price": "12500.00",
        "currency": CURRENCIES[language],
        "issue_date": "2026-11-02",
        "start_date": "2026-12-01",
        "end_date": "2027-11-30",
        "offer_valid_until": "2026-11-30",
        "payment_days": 14,
    }
    data.update(changes)
    return data


def request(language: str, contract_id: str = "K-2026-0042", **changes: Any) -> ContractRequest:
    """The validated request."""
    return ContractRequest.model_validate(form(language, contract_id, **changes))
