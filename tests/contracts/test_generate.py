"""Offer and contract generation: text, QR codes, boxes and clauses, read back from the PDF."""

from __future__ import annotations

import json
from decimal import Decimal

import pypdfium2 as pdfium
import pytest
import zxingcpp
from backoffice.contracts.generate import generate, generate_offer_and_contract
from backoffice.contracts.model import ContractRequest, IssuedContract
from pydantic import ValidationError

from tests.contracts import requests, scans

PAGE_LABELS = {"pl": "Strona {n} z {m}", "ru": "Страница {n} из {m}", "en": "Page {n} of {m}"}
PAYMENT_CLAUSE = {
    "pl": "w terminie 14 dni",
    "ru": "в течение 14 дней",
    "en": "within 14 days",
}
LETTERS = {"pl": "Zamawiający", "ru": "Заказчик", "en": "Customer"}


@pytest.fixture(scope="module", params=["pl", "ru", "en"])
def contract(request: pytest.FixtureRequest) -> IssuedContract:
    return generate(requests.request(request.param), "contract")


def test_every_page_names_the_contract_and_its_number(contract: IssuedContract) -> None:
    assert contract.page_count >= 2
    label = PAGE_LABELS[contract.language]
    for page in contract.pages:
        assert contract.contract_id in page.text
        assert label.format(n=page.number, m=contract.page_count) in page.text
        assert LETTERS[contract.language] in page.text or page.number == contract.page_count


def test_every_page_has_two_qr_codes_with_its_payload(contract: IssuedContract) -> None:
    for number, image in enumerate(scans.render(contract.pdf, dpi=150), start=1):
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        assert [b.text for b in found] == [contract.qr_payload(number)] * 2
        assert contract.qr_payload(number).startswith(f"BO:K-2026-0042:{number}/")
        assert contract.qr_payload(number).endswith(contract.digest[:8])


def test_boxes_initials_on_each_page_signature_and_date_on_the_last(
    contract: IssuedContract,
) -> None:
    last = contract.page_count
    kinds = [(b.page, b.kind) for b in contract.boxes]
    assert kinds == [(n, "initials") for n in range(1, last)] + [
        (last, "signature"),
        (last, "date"),
    ]
    width, height = contract.page_size
    for box in contract.boxes:
        assert 0 < box.rect.x0 < box.rect.x1 < width and 0 < box.rect.y0 < box.rect.y1 < height
        for segment in contract.pages[box.page - 1].segments:
            overlap = (
                box.rect.x0 < segment.rect.x1
                and segment.rect.x0 < box.rect.x1
                and box.rect.y0 < segment.rect.y1
                and segment.rect.y0 < box.rect.y1
            )
            assert not overlap, (box, segment.clause)


def test_boxes_are_empty_and_framed_in_the_pdf(contract: IssuedContract) -> None:
    document = pdfium.PdfDocument(contract.pdf)
    for box in contract.boxes:
        textpage = document[box.page - 1].get_textpage()
        inner = box.rect.inset(2)
        assert textpage.get_text_bounded(inner.x0, inner.y0, inner.x1, inner.y1).strip() == ""
        assert box.label in textpage.get_text_range()


def test_clauses_keep_their_numbers_and_text(contract: IssuedContract) -> None:
    segments = [s for page in contract.pages for s in page.segments]
    numbers = [s.clause for s in segments if s.clause]
    assert numbers[:3] == ["1", "1.1", "1.2"]
    assert "4.2" in numbers and len(numbers) == len(set(numbers))
    (payment,) = [s for s in segments if s.clause == "4.2"]
    assert payment.text.startswith("4.2. ")
    assert PAYMENT_CLAUSE[contract.language] in payment.text
    # The text is what a reader of the PDF sees, diacritics and Cyrillic included.
    whole = " ".join(s.text for s in segments)
    assert requests.CUSTOMERS[contract.language]["name"] in whole
    assert requests.PRODUCTS[contract.language] in whole


def test_amount_and_dates_in_the_document_language() -> None:
    pl = generate(requests.request("pl"), "contract").pages[0].text.replace("\xa0", " ")
    en = generate(requests.request("en"), "contract").pages[0].text
    assert "12 500,00 PLN" in pl and "01.12.2026" in pl
    assert "12,500.00 EUR" in en and "2026-12-01" in en


def test_same_request_same_pdf_other_request_other_digest() -> None:
    first = generate(requests.request("pl"), "contract")
    again = generate(requests.request("pl"), "contract")
    assert first.sha256 == again.sha256 and first.digest == again.digest
    cheaper = generate(requests.request("pl", price="9900.00"), "contract")
    assert cheaper.digest != first.digest
    assert cheaper.qr_payload(1) != first.qr_payload(1)


def test_offer_has_the_price_and_no_boxes() -> None:
    offer, contract = generate_offer_and_contract(requests.request("ru"))
    assert offer.kind == "offer" and contract.kind == "contract"
    assert offer.boxes == ()
    assert offer.digest != contract.digest
    text = " ".join(p.text for p in offer.pages).replace("\xa0", " ")
    assert "12 500,00 RUB" in text and "К-2026" not in text and "K-2026-0042" in text
    assert "Страница 1 из 1" in text


def test_issued_contract_round_trips_through_json() -> None:
    issued = generate(requests.request("pl"), "contract")
    stored = json.loads(json.dumps(issued.to_json()))
    back = IssuedContract.from_json(stored, pdf=issued.pdf)
    assert back == issued and back.pdf == issued.pdf
    assert "pdf" not in stored


def test_form_json_is_validated() -> None:
    request = ContractRequest.model_validate_json(json.dumps(requests.form("pl")))
    assert request.price == Decimal("12500.00")
    assert request.customer.tax_id == "5260250274" and request.customer.tax_id_type == "NIP"
    assert requests.request("ru").customer.tax_id_type == "INN"
    bad = {
        "tax ID": requests.form(
            "pl", customer={**requests.CUSTOMERS["pl"], "tax_id": "5260250275"}
        ),
        "end_date": requests.form("pl", end_date="2026-01-01"),
        "contract_id": requests.form("pl", contract_id="K:1"),
        "price": requests.form("pl", price="12.345"),
        "email": requests.form("pl", customer={**requests.CUSTOMERS["pl"], "email": "jan"}),
        "language": {**requests.form("pl"), "language": "de"},
    }
    for what, data in bad.items():
        with pytest.raises(ValidationError) as error:
            ContractRequest.model_validate(data)
        assert what.split()[0].lower() in str(error.value).lower(), what
