"""The public customer form (/request): language, validation, CSRF, abuse limits, issuing
once per submission, the confirmation page, and in a real browser the contract email
arriving in the customer's Dovecot mailbox over SMTP.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.contracts.service import issued_contract
from backoffice.contracts.store import Contract
from backoffice.errors import ConfigurationError
from backoffice.outbox.service import send_due
from backoffice.store import Store, open_store
from backoffice.store.models import OutboxMessage
from backoffice.web import public
from backoffice.web.app import SESSION_COOKIE, create_app
from sqlalchemy import func, select
from starlette.testclient import TestClient

from tests.web import test_browser as browsing
from tests.web.support import add_staff, csrf_of, sign_in

SAMPLE_CATALOGUE = (
    Path(__file__).resolve().parents[2] / "resources/samples/contracts/catalogue.yaml"
)
CATALOGUE = """
products:
  - id: audit
    name: {pl: Audyt procesów, ru: Аудит процессов, en: Process audit}
    prices: {PLN: "4000.00", RUB: "95000.50"}
    months: 3
"""
SELLER = {
    "seller_name": "Biuro Serwis Sp. z o.o.",
    "seller_tax_id": "123-456-32-18",
    "seller_address": "ul. Prosta 1",
    "seller_postal_code": "00-850",
    "seller_city": "Warszawa",
}
POLISH = {
    "name": "Jan Kowalski",
    "email": "jan.kowalski@firma.example",
    "tax_id": "526-025-02-74",
    "tax_id_type": "",
    "address": "ul. Długa 5, 00-001 Warszawa",
    "product": "audit:PLN",
    "language": "pl",
}
RUSSIAN = {
    "name": "ООО «Ромашка»",
    "email": "info@romashka.example",
    "tax_id": "7707083893",
    "tax_id_type": "",
    "address": "г. Москва, ул. Ленина, д. 1",
    "product": "audit:RUB",
    "language": "ru",
}
_FIELD_ERROR = re.compile(r'<span class="field-error" id="error-(\w+)">([^<]*)</span>')

browser = browsing.browser


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE, "utf-8")
    return path


@pytest.fixture
def form_settings(make_settings: Callable[..., Settings], catalogue: Path) -> Settings:
    return make_settings(
        web_session_secret="form-secret-" + "f" * 32,
        web_form_catalogue=str(catalogue),
        mail_from="Biuro Serwis <biuro@serwis.example>",
        web_form_per_hour=50,
        **SELLER,
    )


@pytest.fixture
def app(store: Store, form_settings: Settings) -> Any:
    return create_app(form_settings, store)


@pytest.fixture
def web(app: Any) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def today(app: Any) -> date:
    return app.state.web.customer_form.today()


def fill(app: Any, values: dict[str, str], page: str, **changes: str) -> dict[str, str]:
    """The form as a browser posts it: the values, the page's token, an empty honeypot."""
    start = (today(app) + timedelta(days=10)).isoformat()
    return {
        **values,
        "start_date": start,
        "csrf_token": csrf_of(page),
        "ui": values["language"],
        "website": "",
        **changes,
    }


def counts(store: Store) -> tuple[int, int]:
    """(contracts, outbox messages) in the store."""
    with store.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Contract)),
            session.scalar(select(func.count()).select_from(OutboxMessage)),
        )


def tampered(token: str) -> str:
    """``token`` with its signature's first character changed (the last may carry unused
    bits, so changing it can leave the signature as it was)."""
    value, _, signature = token.rpartition(".")
    return f"{value}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def errors(page: str) -> dict[str, str]:
    return {name: html.unescape(message) for name, message in _FIELD_ERROR.findall(page)}


def page_error(page: str) -> str:
    match = re.search(r'id="form-error"[^>]*>([^<]*)<', page)
    return html.unescape(match.group(1)) if match else ""


# --- language -------------------------------------------------------------------------------


def test_the_form_speaks_the_browsers_language_and_switches(web: TestClient) -> None:
    russian = web.get("/request", headers={"Accept-Language": "de-DE, ru;q=0.8, en;q=0.5"})
    assert russian.status_code == 200
    assert '<html lang="ru">' in russian.text
    assert russian.headers["content-language"] == "ru"
    assert "Запросить предложение и договор" in russian.text
    assert "Аудит процессов - 95\xa0000,50 RUB, 3 мес." in russian.text
    # The document language defaults to the page's.
    assert '<option value="ru" lang="ru" selected>' in russian.text

    polish = web.get("/request?lang=pl", headers={"Accept-Language": "ru"})
    assert '<html lang="pl">' in polish.text
    assert "Poproś o ofertę i umowę" in polish.text
    assert "Audyt procesów - 4\xa0000,00 PLN, 3 mies." in polish.text

    english = web.get("/request", headers={"Accept-Language": "en-GB;q=0.9, pl;q=0"})
    assert "Request the offer and contract" in english.text
    # Nothing we speak: the seller's country (PL) decides.
    assert '<html lang="pl">' in web.get("/request", headers={"Accept-Language": "de"}).text


def test_negotiate_follows_quality_values() -> None:
    assert public.negotiate("ru-RU,ru;q=0.9,en;q=0.8", "pl") == "ru"
    assert public.negotiate("en;q=0.4, pl;q=0.7", "ru") == "pl"
    assert public.negotiate("pl;q=0, de", "en") == "en"
    assert public.negotiate("xx;q=abc, ru", "pl") == "ru"
    assert public.negotiate(None, "ru") == "ru"


# --- issuing --------------------------------------------------------------------------------


def test_a_submission_issues_one_contract_and_confirms_it(
    web: TestClient, app: Any, store: Store, form_settings: Settings
) -> None:
    page = web.get("/request?lang=pl").text
    data = fill(app, POLISH, page)
    response = web.post("/request", data=data)
    assert response.status_code == 303, page_error(response.text) or errors(response.text)
    confirmation = response.headers["location"]
    assert confirmation.startswith("/request/K-") and confirmation.endswith("?lang=pl")

    with store.session() as session:
        [row] = session.scalars(select(Contract))
        contract_id, request = row.contract_id, row.request
        mail = session.scalar(select(OutboxMessage))
        assert mail.idempotency_key == f"contract:{contract_id}:issue"
        assert mail.to_addrs == [POLISH["email"]] and mail.language == "pl"
        assert [a["filename"] for a in mail.attachments] == [
            f"oferta_{contract_id}.pdf",
            f"umowa_{contract_id}.pdf",
        ]
    start = today(app) + timedelta(days=10)
    assert request["customer"]["tax_id"] == "5260250274"
    assert request["customer"]["tax_id_type"] == "NIP"
    assert request["seller"]["name"] == SELLER["seller_name"]
    assert (request["product"], request["price"], request["currency"]) == (
        "Audyt procesów",
        "4000.00",
        "PLN",
    )
    assert request["start_date"] == start.isoformat()
    assert date.fromisoformat(request["end_date"]) == public.add_months(start, 3) - timedelta(1)
    assert request["offer_valid_until"] == (today(app) + timedelta(days=14)).isoformat()
    assert request["payment_days"] == form_settings.invoice_due_days

    done = web.get(confirmation)
    assert done.status_code == 200
    assert f'id="contract-id">{contract_id}<' in done.text
    assert 'data-state="queued"' in done.text
    assert "j***@firma.example" in done.text and POLISH["email"] not in done.text

    # A double click, a refresh, or the same form sent again with other values: no second.
    for again in (data, data, {**data, "name": "Janina Kowalska"}):
        response = web.post("/request", data=again)
        assert (response.status_code, response.headers["location"]) == (303, confirmation)
    assert counts(store) == (1, 1)

    # The outbox robot sends it (the embedded Maildir here); the page then says so.
    assert send_due(store, form_settings).sent == 1
    done = web.get(confirmation)
    assert 'data-state="sent"' in done.text
    assert "Wysłaliśmy ofertę i umowę (PDF) na adres j***@firma.example." in done.text

    # A new form is a new submission: a second contract.
    second = fill(app, POLISH, web.get("/request?lang=pl").text)
    other = web.post("/request", data=second)
    assert other.status_code == 303 and other.headers["location"] != confirmation
    assert counts(store) == (2, 2)


def test_the_same_submission_sent_twice_at_once_issues_one_contract(
    web: TestClient, app: Any, store: Store
) -> None:
    data = fill(app, RUSSIAN, web.get("/request?lang=ru").text)
    cookies = dict(web.cookies)

    def post(_n: int) -> tuple[int, str]:
        with TestClient(app, follow_redirects=False, cookies=cookies) as twin:
            response = twin.post("/request", data=data)
            return response.status_code, response.headers.get("location", "")

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(post, range(2)))
    assert answers[0] == answers[1] and answers[0][0] == 303, answers
    assert counts(store) == (1, 1)
    with store.session() as session:
        row = session.scalar(select(Contract))
        # A Russian contract reads a 10-digit number that passes both checksums as an INN.
        assert (row.language, row.customer["tax_id_type"]) == ("ru", "INN")


# --- validation -----------------------------------------------------------------------------


def test_each_bad_field_is_named_in_the_pages_language_and_nothing_is_stored(
    web: TestClient, app: Any, store: Store
) -> None:
    page = web.get("/request?lang=pl").text
    bad = fill(
        app,
        POLISH,
        page,
        name="<script>alert(1)</script>",
        email="jan.kowalski(at)firma",
        tax_id="526-025-02-75",
        address="",
        product="audit:USD",
        start_date=(today(app) - timedelta(days=1)).isoformat(),
        language="de",
    )
    response = web.post("/request", data=bad)
    assert response.status_code == 422
    assert page_error(response.text).startswith("Popraw zaznaczone pola")
    assert errors(response.text) == {
        "email": "To nie jest poprawny adres e-mail.",
        "tax_id": "To nie jest poprawny NIP, PESEL, REGON, INN ani numer VAT UE: sprawdź cyfry.",
        "address": "Uzupełnij to pole.",
        "product": "Wybierz jedną z podanych możliwości.",
        "start_date": f"Początek nie może być wcześniej niż dziś ({today(app).isoformat()}).",
        "language": "Wybierz jedną z podanych możliwości.",
    }
    # What was typed comes back, escaped; the name is long enough to be a name.
    assert "<script>alert(1)</script>" not in response.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text
    assert 'aria-invalid="true" aria-describedby="error-tax_id"' in response.text
    assert counts(store) == (0, 0)

    # In Russian, with the kind of ID named: the message names it in Russian.
    russian = fill(
        app,
        RUSSIAN,
        web.get("/request?lang=ru").text,
        tax_id="7707083894",
        tax_id_type="INN",
        name="Я",
        start_date=(today(app) + timedelta(days=400)).isoformat(),
    )
    response = web.post("/request", data=russian)
    last = (today(app) + timedelta(days=365)).isoformat()
    assert errors(response.text) == {
        "name": "Слишком короткое значение.",
        "tax_id": "Это некорректный ИНН: проверьте цифры.",
        "start_date": f"Выберите начало в пределах года (не позже {last}).",
    }
    for field, value in (("tax_id_type", "SSN"), ("start_date", "1.12.2026"), ("email", "")):
        response = web.post("/request", data={**russian, field: value})
        assert field in errors(response.text), field
    assert counts(store) == (0, 0)

    # The corrected form goes through with the same token: still one submission.
    response = web.post("/request", data={**bad, **fill(app, POLISH, page)})
    assert response.status_code == 303
    assert counts(store) == (1, 1)


def test_catalogue_files_are_checked(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    sample = public.Catalogue.load(SAMPLE_CATALOGUE)
    assert {p.id for p in sample.products} >= {"bookkeeping"}
    for text in (
        "products: []",
        "products: [{id: x, name: {pl: Aa, en: Bb}, prices: {PLN: '1.00'}, months: 1}]",
        "products: [{id: x, name: {pl: Aa, en: Bb, ru: Вв}, prices: {PLN: '1.001'}, months: 1}]",
        "products: [{id: x, name: {pl: Aa, en: Bb, ru: Вв}, prices: {zł: '1.00'}, months: 1}]",
        "products: [{id: x, name: {pl: Aa, en: Bb, ru: Вв}, prices: {PLN: '1'}, months: 0}]",
        "products: [{id: Bad Id, name: {pl: Aa, en: Bb, ru: Вв}, prices: {PLN: '1'}, months: 1}]",
        "products: [{id: x, name: {pl: Aa, en: Bb, ru: Вв}, prices: {PLN: '1'}, months: 1},"
        " {id: x, name: {pl: Aa, en: Bb, ru: Вв}, prices: {PLN: '2'}, months: 1}]",
        "products: [{",
    ):
        path = tmp_path / "bad.yaml"
        path.write_text(text, "utf-8")
        with pytest.raises(ConfigurationError) as caught:
            public.Catalogue.load(path)
        assert caught.value.code == "FORM_CATALOGUE_INVALID", text
    # The app does not start with a bad catalogue: the mistake shows at once, not per visitor.
    with pytest.raises(ConfigurationError):
        create_app(make_settings(web_form_catalogue=str(path)))


# --- refusals -------------------------------------------------------------------------------


def test_the_form_needs_its_own_token_from_this_browser(
    web: TestClient, app: Any, store: Store
) -> None:
    data = fill(app, POLISH, web.get("/request?lang=pl").text)
    other = TestClient(app, follow_redirects=False)
    stolen = csrf_of(other.get("/request").text)
    foreign = create_app(
        app.state.web.settings.model_copy(update={"web_session_secret": None}), store
    )
    forged = csrf_of(TestClient(foreign).get("/request").text)
    for token in ("", "garbage", stolen, forged, tampered(data["csrf_token"])):
        response = web.post("/request", data={**data, "csrf_token": token})
        assert response.status_code == 403, token
        assert "CSRF" in response.text
    # A right token without the cookie it was given with: refused too.
    bare = TestClient(app, follow_redirects=False)
    assert bare.post("/request", data=data).status_code == 403
    # A staff session's token is no key to the public form, nor this form's to staff pages.
    add_staff(store, "ola", "clerk")
    staff = TestClient(app, follow_redirects=False)
    staff_token = sign_in(staff, "ola")
    staff.get("/request")
    assert staff.post("/request", data={**data, "csrf_token": staff_token}).status_code == 403
    assert staff.post("/sign-out", data={"csrf_token": data["csrf_token"]}).status_code == 403
    assert counts(store) == (0, 0)
    assert web.post("/request", data=data).status_code == 303


def test_honeypot_size_and_type_limits_refuse_and_store_nothing(
    web: TestClient, app: Any, store: Store
) -> None:
    data = fill(app, POLISH, web.get("/request?lang=pl").text)
    trapped = web.post("/request", data={**data, "website": "http://spam.example"})
    assert trapped.status_code == 400
    assert page_error(trapped.text) == "Nie możemy przyjąć tego zgłoszenia."
    big = web.post("/request", data={**data, "address": "x" * (public.FORM_MAX_BODY + 1)})
    assert big.status_code == 413
    huge = web.post("/request", data={**data, "address": "x" * 70_000})
    assert huge.status_code == 413
    as_json = web.post(
        "/request",
        json={k: v for k, v in data.items()},
        headers={"X-CSRF-Token": data["csrf_token"]},
    )
    assert as_json.status_code == 415
    assert counts(store) == (0, 0)


def test_requests_per_address_are_limited(
    make_settings: Callable[..., Settings], catalogue: Path, store: Store
) -> None:
    settings = make_settings(
        web_session_secret="s" * 40,
        web_form_catalogue=str(catalogue),
        web_form_per_hour=3,
        mail_from="Biuro <biuro@serwis.example>",
        **SELLER,
    )
    app = create_app(settings, store)
    crowd = TestClient(app, follow_redirects=False, client=("203.0.113.7", 40000))
    data = fill(app, POLISH, crowd.get("/request?lang=pl").text, email="zly")
    for _ in range(3):
        assert crowd.post("/request", data=data).status_code == 422
    refused = crowd.post("/request", data=data)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3601
    assert page_error(refused.text).startswith("Zbyt wiele zgłoszeń")
    # A corrected form from the same address waits too; another address does not.
    assert crowd.post("/request", data={**data, "email": POLISH["email"]}).status_code == 429
    neighbour = TestClient(app, follow_redirects=False, client=("203.0.113.8", 40000))
    good = fill(app, POLISH, neighbour.get("/request?lang=pl").text)
    assert neighbour.post("/request", data=good).status_code == 303
    assert counts(store) == (1, 1)


def test_rate_limiter_window_and_memory_bound() -> None:
    now = [1000.0]
    limiter = public.RateLimiter(2, window=60, max_keys=3, clock=lambda: now[0])
    assert limiter.hit("a") == 0 and limiter.hit("a") == 0
    assert limiter.hit("a") == 60
    now[0] += 30
    assert limiter.hit("a") == 30
    now[0] += 30
    assert limiter.hit("a") == 0, "the window moved on"
    for key in ("b", "c", "d"):
        limiter.hit(key)
    assert len(limiter._hits) == 3 and "a" not in limiter._hits


def test_an_old_form_is_refreshed_not_issued(
    web: TestClient, app: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = utcnow()
    monkeypatch.setenv("BACKOFFICE_NOW", opened.isoformat())
    data = fill(app, POLISH, web.get("/request?lang=en").text)
    monkeypatch.setenv("BACKOFFICE_NOW", (opened + public.FORM_MAX_AGE * 1.1).isoformat())
    response = web.post("/request", data={**data, "ui": "en"})
    assert response.status_code == 400
    assert page_error(response.text).startswith("The form was open for too long")
    assert f'value="{POLISH["address"]}"' in response.text
    fresh = csrf_of(response.text)
    assert fresh != data["csrf_token"]
    assert counts(store) == (0, 0)
    assert web.post("/request", data={**data, "csrf_token": fresh}).status_code == 303
    assert counts(store) == (1, 1)


def test_confirmation_links_cannot_be_guessed(web: TestClient, app: Any, store: Store) -> None:
    response = web.post("/request", data=fill(app, POLISH, web.get("/request?lang=pl").text))
    link = response.headers["location"].split("?")[0]
    contract_id, _, signature = link.rsplit("/", 1)[1].partition(".")
    assert web.get(link).status_code == 200
    other = app.state.web.customer_form.done_signer.sign("K-2026-0001").decode()
    for path in (
        f"/request/{contract_id}",
        tampered(link),
        f"/request/K-2026-0001.{signature}",
        f"/request/{other}",  # signed, but no such contract
    ):
        response = web.get(path)
        assert response.status_code == 404, path
        assert page_error(response.text) == "Pod tym adresem nie ma zgłoszenia."


def test_public_pages_show_nothing_of_the_staff_area(
    web: TestClient, app: Any, store: Store
) -> None:
    add_staff(store, "zenobia_staff", "admin")
    staff_token = sign_in(web, "zenobia_staff")
    pages = [web.get("/request?lang=pl")]
    response = web.post("/request", data=fill(app, POLISH, pages[0].text, email="x"))
    pages.append(response)
    response = web.post("/request", data=fill(app, POLISH, pages[0].text))
    pages.append(web.get(response.headers["location"]))
    pages.append(web.get("/request/nothing.here"))
    for page in pages:
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        for secret in ("zenobia_staff", staff_token, "/queue", "/dashboard", "/admin", "sign-out"):
            assert secret not in page.text, (page.url, secret)
    assert SESSION_COOKIE in web.cookies  # the staff member stayed signed in meanwhile


def test_our_own_missing_or_wrong_seller_data_refuse_without_storing(
    make_settings: Callable[..., Settings], catalogue: Path, store: Store
) -> None:
    base = {"web_session_secret": "s" * 40, "web_form_catalogue": str(catalogue)}
    unconfigured = create_app(make_settings(**base), store)  # no seller at all
    wrong_from = create_app(make_settings(**base, **SELLER), store)  # backoffice@localhost
    for app, status, message in (
        (unconfigured, 503, "Formularz chwilowo nie przyjmuje zgłoszeń"),
        (wrong_from, 422, "Nie udało się przygotować umowy z tych danych"),
    ):
        browser_ = TestClient(app, follow_redirects=False)
        data = fill(app, POLISH, browser_.get("/request?lang=pl").text)
        response = browser_.post("/request", data=data)
        assert response.status_code == status
        assert page_error(response.text).startswith(message)
    assert counts(store) == (0, 0)


def test_the_form_is_off_without_a_catalogue(client: TestClient, store: Store) -> None:
    page = client.get("/request?lang=en")
    assert page.status_code == 404
    assert page_error(page.text) == "This form is not offered."
    assert 'name="csrf_token"' not in page.text


# --- in the browser, with the real servers ---------------------------------------------------


def _attachments(message: EmailMessage) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_content()
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    }


@pytest.mark.smtp
@pytest.mark.imap
def test_the_customer_form_produces_a_contract_email(
    browser: Any,
    mailbox: Callable[..., Any],
    make_settings: Callable[..., Settings],
    test_servers: Any,
    catalogue: Path,
    tmp_path: Path,
) -> None:
    customer = mailbox("klient")
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path}/form.db",
        mail_from="Biuro Serwis <biuro@serwis.example>",
        outbox_transport="smtp",
        smtp_host=test_servers.host,
        smtp_port=test_servers.smtp_port,
        smtp_security="none",
        web_session_secret="browser-" + "f" * 40,
        web_form_catalogue=str(catalogue),
        **SELLER,
    )
    store = open_store(settings)
    with browsing.serve(store, settings) as base:
        context = browser.new_context(viewport={"width": 1000, "height": 1000}, locale="ru-RU")
        page = context.new_page()
        page.goto(f"{base}/request")
        assert page.locator("html").get_attribute("lang") == "ru"
        page.click("nav.languages a[hreflang=pl]")
        page.wait_for_url(f"{base}/request?lang=pl")
        assert page.locator("#request-submit").inner_text() == "Poproś o ofertę i umowę"
        page.click("nav.languages a[hreflang=ru]")
        page.wait_for_url(f"{base}/request?lang=ru")
        assert page.input_value("select[name=language]") == "ru"
        start = date.fromisoformat(page.get_attribute("input[name=start_date]", "min"))
        page.fill("input[name=name]", RUSSIAN["name"])
        page.fill("input[name=email]", customer.address)
        page.fill("input[name=tax_id]", "7707083894")  # one digit off
        page.fill("input[name=address]", RUSSIAN["address"])
        page.select_option("select[name=product]", "audit:RUB")
        page.fill("input[name=start_date]", (start + timedelta(days=7)).isoformat())
        browsing._shot(page, "10-request-form")
        page.click("#request-submit")
        page.wait_for_url(f"{base}/request?lang=ru")
        assert page.locator("#error-tax_id").inner_text() == (
            "Это некорректный ИНН, NIP, PESEL, REGON или номер НДС ЕС: проверьте цифры."
        )
        assert page.input_value("input[name=email]") == customer.address
        browsing._shot(page, "11-request-form-invalid")
        page.fill("input[name=tax_id]", RUSSIAN["tax_id"])
        page.click("#request-submit")
        page.wait_for_url(f"{base}/request/K-*")
        contract_id = page.locator("#contract-id").inner_text()
        assert page.locator("#mail-state").get_attribute("data-state") == "queued"
        browsing._shot(page, "12-request-confirmation")

        # The outbox robot sends it through the SMTP server into the customer's mailbox.
        assert send_due(store, settings).sent == 1
        [mail] = customer.wait_for(1)
        page.reload()
        assert page.locator("#mail-state").get_attribute("data-state") == "sent"
        assert "Мы отправили предложение и договор (PDF)" in page.inner_text("#mail-state")
        browsing._shot(page, "13-request-sent")
        context.close()
    with store.session() as session:
        row = session.scalar(select(Contract).where(Contract.contract_id == contract_id))
        issued = issued_contract(store, row)
        offer_blob = store.blobs.read(row.offer_blob)
    # Nothing more to send: the confirmation's reload and a rerun of the robot add no mail.
    assert send_due(store, settings).sent == 0
    store.dispose()

    assert str(mail["Subject"]) == f"Предложение и договор № {contract_id}"
    assert mail["Content-Language"] == "ru"
    assert mail["To"] == customer.address
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith("Здравствуйте!") and RUSSIAN["name"] in body
    # Both PDFs, byte for byte the offer and the contract the store keeps.
    assert sorted(_attachments(mail).values()) == sorted([issued.pdf, offer_blob])
    assert all(contract_id in name for name in _attachments(mail))
    assert len(customer.messages()) == 1
