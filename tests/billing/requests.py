"""Invoice requests and seller settings for the billing tests (plain data, no shortcuts)."""

from __future__ import annotations

from typing import Any

#: A Polish seller with a valid NIP and IBAN.
PL_SELLER: dict[str, Any] = {
    "seller_name": "Firma Testowa sp. z o.o.",
    "seller_address": "ul. Prosta 1",
    "seller_postal_code": "00-001",
    "seller_city": "Warszawa",
    "seller_country": "PL",
    "seller_tax_id": "123-456-32-18",
    "seller_bank_account": "PL61 1090 1014 0000 0712 1981 2874",
    "seller_bank_name": "Santander Bank Polska",
    "seller_bank_bic": "WBKPPLPP",
}
#: A Russian seller with a valid ИНН, КПП, account, БИК and к/с.
RU_SELLER: dict[str, Any] = {
    "seller_name": "ООО «Ромашка»",
    "seller_address": "ул. Тверская, д. 7",
    "seller_postal_code": "125009",
    "seller_city": "Москва",
    "seller_country": "RU",
    "seller_tax_id": "7707083893",
    "seller_kpp": "773601001",
    "seller_bank_account": "40702810938000012345",
    "seller_bank_name": "ПАО Сбербанк",
    "seller_bank_bic": "044525225",
    "seller_bank_corr_account": "30101810400000000225",
}


def pl_request(key: str = "order-1", **changes: Any) -> dict[str, Any]:
    """A Polish B2B request: two rates, a fractional quantity, a contract reference."""
    data: dict[str, Any] = {
        "key": key,
        "contract_ref": "UM/2026/0042",
        "currency": "PLN",
        "language": "pl",
        "buyer": {
            "name": "Kowalski i Wspólnicy sp.k.",
            "address": "ul. Długa 5/7",
            "postal_code": "00-950",
            "city": "Warszawa",
            "country": "PL",
            "tax_id": "526-000-12-46",
            "email": "jan.kowalski@example.test",
        },
        "lines": [
            {
                "description": "Usługa wdrożeniowa",
                "quantity": "2",
                "unit": "szt.",
                "unit_price": "100.00",
                "vat_rate": "23",
            },
            {
                "description": "Książka „Faktury w praktyce”",
                "quantity": "3",
                "unit": "szt.",
                "unit_price": "33.33",
                "vat_rate": "5",
            },
            {
                "description": "Szkolenie",
                "quantity": "1.5",
                "unit": "h",
                "unit_price": "99.99",
                "vat_rate": "23",
            },
        ],
    }
    data.update(changes)
    return data


def ru_request(key: str = "zakaz-1", **changes: Any) -> dict[str, Any]:
    """A Russian request whose per-line VAT differs from VAT on the rate's sum."""
    data: dict[str, Any] = {
        "key": key,
        "currency": "RUB",
        "language": "ru",
        "buyer": {
            "name": "АО «Василёк»",
            "address": "Невский пр., д. 28",
            "postal_code": "191186",
            "city": "Санкт-Петербург",
            "country": "RU",
            "tax_id": "7830002293",
            "kpp": "784201001",
            "email": "buh@example.test",
        },
        "lines": [
            {
                "description": "Консультационные услуги",
                "quantity": "1",
                "unit": "усл.",
                "unit_price": "10.03",
                "vat_rate": "20",
            },
            {
                "description": "Сопровождение",
                "quantity": "1",
                "unit": "усл.",
                "unit_price": "10.03",
                "vat_rate": "20",
            },
        ],
    }
    data.update(changes)
    return data
