"""The public customer form (``/request``): a customer asks for an offer and a contract.

The only pages of the web app a stranger may open, so they show nothing of the staff area
and keep strangers in bounds:

- **language**: Polish, Russian or English, from the ``?lang=`` switch, else the browser's
  ``Accept-Language``, else the seller's country; the offer and contract may be asked for in
  another of the three (the form's *language* field);
- **validation** with the contract model's own validators (``contracts.model.Party``:
  NIP/PESEL/REGON/INN/EU VAT checksums by python-stdnum, the email and length rules), plus
  what the form adds (a product of the configured catalogue, a start date from today to a
  year ahead); every problem is named beside its field in the page's language;
- **CSRF**: the form carries a token signed with the app's key and bound to a cookie of this
  browser (``bo_request``), not to any staff session; the app's guard checks it on POST;
- **abuse**: requests per client address and hour are limited in memory
  (``BACKOFFICE_WEB_FORM_PER_HOUR``), the body is small (``FORM_MAX_BODY``), and a honeypot
  field that people never see refuses the bots that fill in everything;
- **once per submission**: the token names the submission, and the contract ID is derived
  from it (keyed hash), so a double click, a refresh or a resend of the same form issues one
  contract: the second request is sent to the first one's confirmation.

On success ``contracts.service.issue_contract`` stores the offer and contract and queues the
email (the outbox robot sends it); the confirmation page (``/request/<signed contract ID>``,
a link only the submitter knows) shows the contract ID and whether the email went out, the
address masked.
"""

from __future__ import annotations

import base64
import calendar
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from hashlib import sha256
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import yaml
from itsdangerous import BadSignature, Signer, TimestampSigner
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.contracts.generate import format_amount
from backoffice.contracts.model import Party
from backoffice.contracts.service import issue_contract
from backoffice.contracts.store import Contract
from backoffice.errors import BusinessError, ConfigurationError
from backoffice.store import Store
from backoffice.store.models import OutboxMessage

log = logging.getLogger(__name__)

Language = Literal["pl", "ru", "en"]
LANGUAGES: tuple[Language, ...] = ("pl", "en", "ru")
LANGUAGE_NAMES = {"pl": "Polski", "en": "English", "ru": "Русский"}
FORM_PATH = "/request"
COOKIE = "bo_request"
#: Largest form body accepted here (the staff app allows more).
FORM_MAX_BODY = 8 * 1024
#: How long a form stays fresh after it was opened.
FORM_MAX_AGE = timedelta(hours=12)
#: Name of the honeypot field: hidden from people, filled by form-filling bots.
HONEYPOT = "website"
#: The kinds of ID a customer may name (else the model detects it from the checksum).
ID_KINDS = ("NIP", "PESEL", "REGON", "INN", "VAT")
FIELDS = ("name", "email", "tax_id", "tax_id_type", "address", "product", "start_date", "language")

# --- the words of the pages ------------------------------------------------------------------

TEXTS: dict[str, dict[str, str]] = {
    "pl": {
        "title": "Oferta i umowa",
        "intro": "Wypełnij formularz, a prześlemy Ci e-mailem ofertę i umowę do podpisu (PDF).",
        "name": "Nazwa firmy lub imię i nazwisko",
        "email": "Adres e-mail",
        "tax_id": "NIP, PESEL, REGON, INN lub numer VAT UE",
        "tax_id_type": "Rodzaj numeru",
        "auto": "rozpoznaj automatycznie",
        "address": "Adres",
        "product": "Produkt lub usługa",
        "start_date": "Data rozpoczęcia",
        "language": "Język oferty i umowy",
        "honeypot": "Zostaw to pole puste",
        "submit": "Poproś o ofertę i umowę",
        "months": "mies.",
        "done_title": "Dziękujemy, zgłoszenie przyjęte",
        "contract": "Numer umowy",
        "sent": "Wysłaliśmy ofertę i umowę (PDF) na adres {email}.",
        "queued": "Oferta i umowa (PDF) są w drodze na adres {email}; dotrą w ciągu kilku minut.",
        "failed": "Nie udało się dostarczyć wiadomości na adres {email}; skontaktujemy się z Tobą.",
        "next": "Podpisz umowę i odeślij ją w odpowiedzi na tę wiadomość: kwalifikowanym "
        "podpisem elektronicznym albo wydrukowaną, podpisaną odręcznie i zeskanowaną.",
        "again": "Nowe zgłoszenie",
        "REQUIRED": "Uzupełnij to pole.",
        "INVALID": "Ta wartość jest niepoprawna.",
        "TOO_SHORT": "Ten wpis jest za krótki.",
        "TOO_LONG": "Ten wpis jest za długi.",
        "EMAIL_INVALID": "To nie jest poprawny adres e-mail.",
        "TAX_ID_INVALID": "To nie jest poprawny {kind}: sprawdź cyfry.",
        "TAX_ID_ANY": "NIP, PESEL, REGON, INN ani numer VAT UE",
        "CHOICE_INVALID": "Wybierz jedną z podanych możliwości.",
        "DATE_INVALID": "Podaj datę w postaci RRRR-MM-DD.",
        "DATE_PAST": "Początek nie może być wcześniej niż dziś ({today}).",
        "DATE_FAR": "Wybierz początek w ciągu roku (najpóźniej {last}).",
        "FIX_FIELDS": "Popraw zaznaczone pola; nic jeszcze nie zostało wysłane.",
        "EXPIRED": "Formularz był otwarty zbyt długo, więc go odświeżyliśmy: wyślij go "
        "jeszcze raz.",
        "REFUSED": "Nie możemy przyjąć tego zgłoszenia.",
        "NOT_ISSUED": "Nie udało się przygotować umowy z tych danych; sprawdź je lub napisz "
        "do nas.",
        "UNAVAILABLE": "Formularz chwilowo nie przyjmuje zgłoszeń; spróbuj ponownie później.",
        "TOO_MANY": "Zbyt wiele zgłoszeń z Twojego adresu; spróbuj ponownie za godzinę.",
        "TOO_LARGE": "Zgłoszenie jest za duże.",
        "NOT_FOUND": "Pod tym adresem nie ma zgłoszenia.",
        "OFF": "Ten formularz nie jest dostępny.",
    },
    "en": {
        "title": "Offer and contract",
        "intro": "Fill in the form and we will email you an offer and a contract to sign (PDF).",
        "name": "Company name or full name",
        "email": "Email address",
        "tax_id": "Tax or personal ID (NIP, PESEL, REGON, INN or EU VAT number)",
        "tax_id_type": "Kind of ID",
        "auto": "recognise automatically",
        "address": "Address",
        "product": "Product or service",
        "start_date": "Start date",
        "language": "Language of the offer and contract",
        "honeypot": "Leave this field empty",
        "submit": "Request the offer and contract",
        "months": "months",
        "done_title": "Thank you, your request is in",
        "contract": "Contract number",
        "sent": "We emailed the offer and the contract (PDF) to {email}.",
        "queued": "The offer and the contract (PDF) are on their way to {email} and arrive "
        "within minutes.",
        "failed": "We could not deliver the email to {email}; we will contact you.",
        "next": "Sign the contract and send it back as a reply to that email: with a "
        "qualified electronic signature, or printed, signed by hand and scanned.",
        "again": "Another request",
        "REQUIRED": "Fill in this field.",
        "INVALID": "This value is not valid.",
        "TOO_SHORT": "This is too short.",
        "TOO_LONG": "This is too long.",
        "EMAIL_INVALID": "This is not a valid email address.",
        "TAX_ID_INVALID": "This is not a valid {kind}: check the digits.",
        "TAX_ID_ANY": "NIP, PESEL, REGON, INN or EU VAT number",
        "CHOICE_INVALID": "Choose one of the options offered.",
        "DATE_INVALID": "Give the date as YYYY-MM-DD.",
        "DATE_PAST": "The start cannot be before today ({today}).",
        "DATE_FAR": "Pick a start within a year (by {last}).",
        "FIX_FIELDS": "Please correct the marked fields; nothing has been sent yet.",
        "EXPIRED": "The form was open for too long, so we refreshed it: please send it again.",
        "REFUSED": "We cannot accept this request.",
        "NOT_ISSUED": "We could not prepare a contract from these details; please check them "
        "or write to us.",
        "UNAVAILABLE": "The form takes no requests at the moment; please try again later.",
        "TOO_MANY": "Too many requests from your address; please try again in an hour.",
        "TOO_LARGE": "The request is too large.",
        "NOT_FOUND": "There is no request at this address.",
        "OFF": "This form is not offered.",
    },
    "ru": {
        "title": "Предложение и договор",
        "intro": "Заполните форму, и мы пришлём вам по электронной почте предложение и "
        "договор на подпись (PDF).",
        "name": "Название организации или ФИО",
        "email": "Электронная почта",
        "tax_id": "ИНН, NIP, PESEL, REGON или номер НДС ЕС",
        "tax_id_type": "Вид номера",
        "auto": "определить автоматически",
        "address": "Адрес",
        "product": "Продукт или услуга",
        "start_date": "Дата начала",
        "language": "Язык предложения и договора",
        "honeypot": "Оставьте это поле пустым",
        "submit": "Запросить предложение и договор",
        "months": "мес.",
        "done_title": "Спасибо, запрос принят",
        "contract": "Номер договора",
        "sent": "Мы отправили предложение и договор (PDF) на адрес {email}.",
        "queued": "Предложение и договор (PDF) отправляются на адрес {email} и придут в "
        "течение нескольких минут.",
        "failed": "Не удалось доставить письмо на адрес {email}; мы свяжемся с вами.",
        "next": "Подпишите договор и пришлите его ответом на это письмо: квалифицированной "
        "электронной подписью или распечатанным, подписанным от руки и отсканированным.",
        "again": "Новый запрос",
        "REQUIRED": "Заполните это поле.",
        "INVALID": "Недопустимое значение.",
        "TOO_SHORT": "Слишком короткое значение.",
        "TOO_LONG": "Слишком длинное значение.",
        "EMAIL_INVALID": "Это не адрес электронной почты.",
        "TAX_ID_INVALID": "Это некорректный {kind}: проверьте цифры.",
        "TAX_ID_ANY": "ИНН, NIP, PESEL, REGON или номер НДС ЕС",
        "CHOICE_INVALID": "Выберите один из предложенных вариантов.",
        "DATE_INVALID": "Укажите дату в виде ГГГГ-ММ-ДД.",
        "DATE_PAST": "Начало не может быть раньше сегодняшнего дня ({today}).",
        "DATE_FAR": "Выберите начало в пределах года (не позже {last}).",
        "FIX_FIELDS": "Исправьте отмеченные поля; пока ничего не отправлено.",
        "EXPIRED": "Форма была открыта слишком долго, мы её обновили: отправьте её ещё раз.",
        "REFUSED": "Мы не можем принять этот запрос.",
        "NOT_ISSUED": "Не удалось подготовить договор по этим данным; проверьте их или "
        "напишите нам.",
        "UNAVAILABLE": "Форма временно не принимает запросы; попробуйте позже.",
        "TOO_MANY": "Слишком много запросов с вашего адреса; попробуйте через час.",
        "TOO_LARGE": "Запрос слишком большой.",
        "NOT_FOUND": "По этому адресу запроса нет.",
        "OFF": "Эта форма недоступна.",
    },
}
#: How each kind of ID is called in each language (in the ID-kind list and in messages).
ID_KIND_NAMES = {
    "pl": {"VAT": "numer VAT UE"},
    "en": {"VAT": "EU VAT number"},
    "ru": {"INN": "ИНН", "VAT": "номер НДС ЕС"},
}


def text(language: str, key: str, **values: str) -> str:
    """One sentence of the pages in ``language``, with ``{names}`` filled in."""
    return TEXTS[language][key].format(**values) if values else TEXTS[language][key]


def negotiate(accept_language: str | None, default: Language) -> Language:
    """The best of our languages for an ``Accept-Language`` header (RFC 9110, q-values)."""
    choices: list[tuple[float, int, Language]] = []
    for position, part in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if primary in LANGUAGES and quality > 0:
            choices.append((-quality, position, primary))  # type: ignore[arg-type]
    return min(choices)[2] if choices else default


# --- the catalogue ---------------------------------------------------------------------------


class Product(BaseModel):
    """One product or service the form offers: its name in each language, prices, length."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    #: The name printed in the offer and contract, in each of pl, ru and en.
    name: dict[Language, str]
    #: Net price per currency (ISO 4217 code -> amount), e.g. {"PLN": "12500.00"}.
    prices: dict[str, Decimal]
    #: How long the service runs: the contract ends this many months after the start.
    months: int = Field(ge=1, le=120)

    @field_validator("name")
    @classmethod
    def _every_language(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [lang for lang in LANGUAGES if len(value.get(lang, "").strip()) < 2]
        if missing:
            raise ValueError(f"a name is needed in {', '.join(missing)}")
        return {lang: name.strip() for lang, name in value.items()}

    @field_validator("prices")
    @classmethod
    def _prices(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if not value:
            raise ValueError("give at least one price")
        for currency, amount in value.items():
            if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
                raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
            if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
                raise ValueError(f"{currency} {amount}: a price is positive, at most 2 decimals")
        return value


class Catalogue(BaseModel):
    """The products of ``BACKOFFICE_WEB_FORM_CATALOGUE`` (YAML: ``products: [...]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    products: list[Product] = Field(min_length=1)

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        """Read and check the catalogue file; a bad one is a configuration error."""
        try:
            data = yaml.safe_load(Path(path).read_text("utf-8"))
            catalogue = cls.model_validate(data)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError) as exc:
            raise ConfigurationError(
                f"BACKOFFICE_WEB_FORM_CATALOGUE {path}: not a usable catalogue: {exc}",
                code="FORM_CATALOGUE_INVALID",
            ) from exc
        ids = [p.id for p in catalogue.products]
        if len(set(ids)) != len(ids):
            raise ConfigurationError(
                f"BACKOFFICE_WEB_FORM_CATALOGUE {path}: a product id is used twice",
                code="FORM_CATALOGUE_INVALID",
            )
        return catalogue

    def choices(self, language: Language) -> list[tuple[str, str]]:
        """(value, label) of each product in each of its currencies, for the form."""
        return [
            (
                f"{p.id}:{currency}",
                f"{p.name[language]} - {format_amount(price, language)} {currency}, "
                f"{p.months} {text(language, 'months')}",
            )
            for p in self.products
            for currency, price in p.prices.items()
        ]

    def find(self, value: str) -> tuple[Product, str] | None:
        """The product and currency a form value names, or None."""
        product_id, _, currency = value.partition(":")
        for product in self.products:
            if product.id == product_id and currency in product.prices:
                return product, currency
        return None


# --- checking what was typed ------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One field's problem: a message key of ``TEXTS`` and what fills it."""

    key: str
    values: tuple[tuple[str, str], ...] = ()

    def message(self, language: Language) -> str:
        """The sentence in ``language``."""
        return text(language, self.key, **dict(self.values))


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it has no such day)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def check_form(
    values: dict[str, str], catalogue: Catalogue, today: date, page_language: Language
) -> tuple[dict[str, Any] | None, dict[str, Problem]]:
    """The contract form for ``issue_contract`` (without ID, seller and terms), or the
    problem of each field. The customer's data go through the contract model's ``Party``."""
    problems: dict[str, Problem] = {}
    for name in ("name", "email", "tax_id", "address", "product", "start_date", "language"):
        if not values.get(name, "").strip():
            problems[name] = Problem("REQUIRED")
    kind = values.get("tax_id_type", "").strip()
    if kind and kind not in ID_KINDS:
        problems["tax_id_type"] = Problem("CHOICE_INVALID")
    customer = {name: values.get(name, "") for name in ("name", "email", "tax_id", "address")}
    if kind in ID_KINDS:
        customer["tax_id_type"] = kind
    # The model checks the tax ID before the other fields and stops there when it is wrong;
    # so the other fields are checked without it first, then the tax ID on its own.
    for field, error_type in _party_errors({**customer, "tax_id": None}):
        if field in ("name", "email", "address"):
            problems.setdefault(field, _FIELD_ERRORS.get(error_type, Problem("INVALID")))
    if (
        "tax_id" not in problems
        and "tax_id_type" not in problems
        and any(field in ("", "tax_id") for field, _type in _party_errors(customer))
    ):
        name = ID_KIND_NAMES[page_language].get(kind, kind) or text(page_language, "TAX_ID_ANY")
        problems["tax_id"] = Problem("TAX_ID_INVALID", (("kind", name),))
    chosen = catalogue.find(values.get("product", ""))
    if chosen is None and "product" not in problems:
        problems["product"] = Problem("CHOICE_INVALID")
    language = values.get("language", "")
    if language not in LANGUAGES and "language" not in problems:
        problems["language"] = Problem("CHOICE_INVALID")
    start = None
    if "start_date" not in problems:
        try:
            start = date.fromisoformat(values["start_date"].strip())
        except ValueError:
            problems["start_date"] = Problem("DATE_INVALID")
        else:
            last = today + timedelta(days=365)
            if start < today:
                problems["start_date"] = Problem("DATE_PAST", (("today", today.isoformat()),))
            elif start > last:
                problems["start_date"] = Problem("DATE_FAR", (("last", last.isoformat()),))
    if problems or chosen is None or start is None:
        return None, problems
    product, currency = chosen
    # The customer goes in as typed: the contract model compacts the ID and, for a Russian
    # contract, prefers INN where a number passes more than one checksum.
    form = {
        "language": language,
        "customer": customer,
        "product": product.name[language],  # type: ignore[index]
        "price": str(product.prices[currency]),
        "currency": currency,
        "issue_date": today.isoformat(),
        "start_date": start.isoformat(),
        "end_date": (add_months(start, product.months) - timedelta(days=1)).isoformat(),
    }
    return form, {}


#: Problems of the model's length rules; its own validators (email form) raise value errors.
_FIELD_ERRORS = {
    "string_too_short": Problem("TOO_SHORT"),
    "string_too_long": Problem("TOO_LONG"),
    "value_error": Problem("EMAIL_INVALID"),
}


def _party_errors(customer: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, pydantic error type) of each problem ``Party`` finds ("" for the whole)."""
    try:
        Party.model_validate(customer)
    except ValidationError as exc:
        return [(str(e["loc"][0]) if e["loc"] else "", e["type"]) for e in exc.errors()]
    return []


def mask_email(address: str) -> str:
    """``j***@firma.example``: enough for the customer to recognise, little for others."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


# --- abuse limits ------------------------------------------------------------------------------


class RateLimiter:
    """At most ``limit`` hits per key (client address) within ``window`` seconds, in memory.

    Memory stays bounded: at most ``max_keys`` addresses are remembered, the least recently
    seen forgotten first. Per process: each ``backoffice serve`` counts on its own.
    """

    def __init__(
        self,
        limit: int,
        window: float = 3600.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count one request; 0 when allowed, else the seconds until one is allowed again."""
        now = self.clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            self._hits[key] = hits  # re-inserted: the dict's order is least recent first
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 1.0)
            hits.append(now)
            while len(self._hits) > self.max_keys:
                del self._hits[next(iter(self._hits))]
            return 0.0


# --- the pages ---------------------------------------------------------------------------------


class _SuiteClockSigner(TimestampSigner):
    """Dates tokens by the suite's clock (``BACKOFFICE_NOW`` pins it), so expiry is testable."""

    def get_timestamp(self) -> int:
        return int(utcnow().timestamp())


class CustomerForm:
    """The routes of the public form over the store; created by the web app with its key."""

    def __init__(
        self, settings: Settings, store: Store, templates: Jinja2Templates, key: str
    ) -> None:
        self.settings = settings
        self.store = store
        self.templates = templates
        self.form_signer = _SuiteClockSigner(key, salt="backoffice.web.request")
        self.done_signer = Signer(key, salt="backoffice.web.request-done")
        self._id_key = hmac.new(key.encode(), b"backoffice.web.request-id", sha256).digest()
        self.limiter = RateLimiter(settings.web_form_per_hour)
        path = settings.web_form_catalogue
        self.catalogue = Catalogue.load(path) if path else None
        country = settings.seller_country.upper()
        self.default_language: Language = {"PL": "pl", "RU": "ru"}.get(country, "en")  # type: ignore[assignment]

    # --- tokens -------------------------------------------------------------------------
    def new_token(self, nonce: str) -> str:
        """A form token: this browser's cookie nonce and a new submission, signed and dated."""
        return self.form_signer.sign(f"{nonce}.{secrets.token_urlsafe(16)}").decode()

    def token_ok(self, token: str | None, cookie: str | None) -> bool:
        """Whether a posted token is ours and was given to this browser (the CSRF check)."""
        opened = self._open(token)
        return opened is not None and bool(cookie) and hmac.compare_digest(opened[0], cookie)

    def _open(self, token: str | None) -> tuple[str, str, float] | None:
        """(nonce, submission, issued at) of a token whose signature holds, else None."""
        if not token:
            return None
        try:
            value, stamp = self.form_signer.unsign(token, return_timestamp=True)
        except BadSignature:
            return None
        nonce, _, submission = value.decode().partition(".")
        if not nonce or not submission:
            return None
        return nonce, submission, stamp.timestamp()

    def contract_id_for(self, submission: str, issued_at: float) -> str:
        """The contract ID one submission gets: a keyed hash, so it cannot be guessed."""
        digest = hmac.new(self._id_key, submission.encode(), sha256).digest()
        year = time.gmtime(issued_at).tm_year
        return f"K-{year}-{base64.b32encode(digest).decode()[:10]}"

    def done_url(self, contract_id: str, language: Language) -> str:
        """The confirmation page of a contract, signed so only the submitter has it."""
        token = self.done_signer.sign(contract_id).decode()
        return f"{FORM_PATH}/{token}?" + urlencode({"lang": language})

    # --- helpers ------------------------------------------------------------------------
    def language(self, request: Request, posted: str | None = None) -> Language:
        """The page's language: the switch, then the posted page language, then the browser."""
        for wanted in (request.query_params.get("lang"), posted):
            if wanted in LANGUAGES:
                return wanted  # type: ignore[return-value]
        return negotiate(request.headers.get("accept-language"), self.default_language)

    def today(self) -> date:
        """Today in the calendar contracts are dated in (``BACKOFFICE_INVOICE_TIMEZONE``)."""
        return utcnow().astimezone(ZoneInfo(self.settings.invoice_timezone)).date()

    def _render(
        self, request: Request, name: str, language: Language, status: int = 200, **context: Any
    ) -> Response:
        context.update(
            lang=language,
            t=TEXTS[language],
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            seller_name=self.settings.seller_name,
        )
        response = self.templates.TemplateResponse(
            request, f"public/{name}", context, status_code=status
        )
        response.headers["content-language"] = language
        response.headers["vary"] = "Accept-Language"
        return response

    def _message(
        self, request: Request, language: Language, key: str, status: int, **headers: str
    ) -> Response:
        response = self._render(request, "message.html", language, status, message=key)
        response.headers.update(headers)
        return response

    def _form(
        self,
        request: Request,
        language: Language,
        *,
        token: str,
        nonce: str,
        values: dict[str, str] | None = None,
        problems: dict[str, Problem] | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        assert self.catalogue is not None
        today = self.today()
        values = values or {
            "language": language,
            "start_date": add_months(today.replace(day=1), 1).isoformat(),
        }
        response = self._render(
            request,
            "form.html",
            language,
            status,
            values=values,
            problems={k: p.message(language) for k, p in (problems or {}).items()},
            error=error,
            csrf_token=token,
            products=self.catalogue.choices(language),
            id_kinds=[(k, ID_KIND_NAMES[language].get(k, k)) for k in ID_KINDS],
            today=today.isoformat(),
            last=(today + timedelta(days=365)).isoformat(),
            honeypot=HONEYPOT,
        )
        response.set_cookie(
            COOKIE,
            nonce,
            max_age=int(FORM_MAX_AGE.total_seconds()) * 2,
            httponly=True,
            samesite="lax",
            secure=self.settings.web_cookie_secure,
            path=FORM_PATH,
        )
        return response

    # --- routes -------------------------------------------------------------------------
    async def form_page(self, request: Request) -> Response:
        """GET /request: the empty form with a fresh submission token."""
        language = self.language(request)
        if self.catalogue is None:
            return self._message(request, language, "OFF", 404)
        nonce = request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
        return self._form(request, language, token=self.new_token(nonce), nonce=nonce)

    async def submit(self, request: Request) -> Response:
        """POST /request: check, issue once per submission, send to the confirmation."""
        language = self.language(request)
        if self.catalogue is None:
            return self._message(request, language, "OFF", 404)
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return self._message(request, language, "REFUSED", 415)
        if len(await request.body()) > FORM_MAX_BODY:
            return self._message(request, language, "TOO_LARGE", 413)
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.hit(client)
        if wait:
            log.warning("customer form: too many requests from %s", client)
            return self._message(
                request, language, "TOO_MANY", 429, **{"retry-after": str(int(wait) + 1)}
            )
        form = await request.form()
        values = {name: str(form.get(name, "")) for name in (*FIELDS, "csrf_token", "ui", HONEYPOT)}
        language = self.language(request, values["ui"])
        token = values.pop("csrf_token")
        opened = self._open(token)
        if opened is None:  # the guard refused these already; never issue without a token
            return self._message(request, language, "REFUSED", 403)
        nonce, submission, issued_at = opened
        contract_id = self.contract_id_for(submission, issued_at)
        if await run_in_threadpool(self._issued, contract_id):
            return RedirectResponse(self.done_url(contract_id, language), status_code=303)
        if values.pop(HONEYPOT).strip():
            log.warning("customer form: honeypot filled in by %s; nothing issued", client)
            return self._message(request, language, "REFUSED", 400)

        def again(error: str, status: int, problems: dict[str, Problem] | None = None) -> Response:
            # The form once more, with what was typed and why it was not sent; an expired
            # form gets a new submission token (the old one never issued anything).
            fresh = self.new_token(nonce) if error == "EXPIRED" else token
            return self._form(
                request,
                language,
                token=fresh,
                nonce=nonce,
                values=values,
                problems=problems,
                error=error,
                status=status,
            )

        if utcnow().timestamp() - issued_at > FORM_MAX_AGE.total_seconds():
            return again("EXPIRED", 400)
        contract, problems = check_form(values, self.catalogue, self.today(), language)
        if contract is None:
            return again("FIX_FIELDS", 422, problems)
        contract |= {
            "contract_id": contract_id,
            "offer_valid_until": (
                date.fromisoformat(contract["issue_date"])
                + timedelta(days=self.settings.web_form_offer_days)
            ).isoformat(),
            "payment_days": self.settings.invoice_due_days,
        }
        try:
            outcome = await run_in_threadpool(issue_contract, self.store, self.settings, contract)
        except ConfigurationError as exc:
            log.error("customer form cannot issue contracts: %s: %s", exc.code, exc)
            return self._message(request, language, "UNAVAILABLE", 503)
        except BusinessError as exc:
            if exc.code == "CONTRACT_ID_TAKEN":  # the same submission, sent again meanwhile
                return RedirectResponse(self.done_url(contract_id, language), status_code=303)
            # The customer cannot fix what the model refuses beyond the fields (e.g. our own
            # seller data): staff find the reason in the log.
            log.warning("customer form: %s not issued: %s: %s", contract_id, exc.code, exc)
            return again("NOT_ISSUED", 422)
        log.info(
            "customer form: contract %s %s",
            outcome.contract_id,
            "issued" if outcome.created else "issued before",
        )
        return RedirectResponse(self.done_url(outcome.contract_id, language), status_code=303)

    async def done_page(self, request: Request) -> Response:
        """GET /request/<signed contract ID>: the contract ID and where its email stands."""
        language = self.language(request)
        try:
            contract_id = self.done_signer.unsign(request.path_params["token"]).decode()
        except BadSignature:
            return self._message(request, language, "NOT_FOUND", 404)
        found = await run_in_threadpool(self._mail_state, contract_id)
        if found is None:
            return self._message(request, language, "NOT_FOUND", 404)
        email, status = found
        failed = status in ("failed", "bounced")
        state = "sent" if status == "sent" else "failed" if failed else "queued"
        return self._render(
            request,
            "done.html",
            language,
            contract_id=contract_id,
            state=state,
            mail_text=text(language, state, email=mask_email(email)),
        )

    def _issued(self, contract_id: str) -> bool:
        with self.store.session() as session:
            found = session.scalar(select(Contract.id).where(Contract.contract_id == contract_id))
            return found is not None

    def _mail_state(self, contract_id: str) -> tuple[str, str] | None:
        with self.store.session() as session:
            row = session.scalar(select(Contract).where(Contract.contract_id == contract_id))
            if row is None:
                return None
            status = session.scalar(
                select(OutboxMessage.status).where(
                    OutboxMessage.idempotency_key == f"contract:{contract_id}:issue"
                )
            )
            return str(row.customer.get("email", "")), status or "queued"
