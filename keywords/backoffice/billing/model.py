"""What an invoice is made of, checked and priced before it gets a number.

An ``IssueRequest`` is the input (JSON from the CLI or the robot's queue, later a signed
contract): the buyer, lines with Decimal quantity, net unit price and VAT rate, currency,
language, due days and an optional contract reference. The seller is us, from the
settings. ``price`` turns both into an ``InvoiceDraft`` with every amount the documents
print, or raises ``InvalidIssueRequest`` with a code and a sentence.

Rounding (to the currency's 1/100, half up, as both laws say for "grosze"/"копейки"):

- every line's net value is ``quantity × unit price`` rounded (P_11 in FA(3), BT-131);
- Poland and the EU (art. 106e ust. 11 of the Polish VAT act; EN 16931 BR-CO-17): the VAT
  of each rate is computed once, on the sum of that rate's net values, and rounded; lines
  carry no VAT of their own;
- Russia (НК РФ ст. 168 п. 4 and the счёт-фактура form, column 8): the VAT is computed and
  rounded per line, and each rate's VAT is the sum of its lines.

Gross = net + VAT per rate; the totals are the sums over the rates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from stdnum.eu import vat as eu_vat
from stdnum.pl import nip as pl_nip
from stdnum.ru import inn as ru_inn

from backoffice.errors import BusinessError, ConfigurationError
from backoffice.invoices.ids import iban_is_valid

CENT = Decimal("0.01")
LANGUAGES = ("pl", "ru", "en")
#: Rates a seller of that country may print (percent); others are refused.
RATES_BY_COUNTRY: dict[str, tuple[Decimal, ...]] = {
    "PL": tuple(Decimal(r) for r in ("23", "8", "5", "0")),
    "RU": tuple(Decimal(r) for r in ("20", "10", "7", "5", "0")),
}
_KPP = re.compile(r"^\d{4}[0-9A-Z]{2}\d{3}$")
_RU_ACCOUNT = re.compile(r"^\d{20}$")
_RU_BIK = re.compile(r"^\d{9}$")
MAX_LINES = 500


class InvalidIssueRequest(BusinessError):
    """The invoice cannot be issued as asked (bad buyer tax ID, unknown rate, no lines...)."""

    code = "INVOICE_REQUEST_INVALID"


# --- input -----------------------------------------------------------------------------


class BuyerIn(BaseModel):
    """The customer as the request names it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=512)
    address: str = Field("", max_length=512)
    postal_code: str = Field("", max_length=32)
    city: str = Field("", max_length=128)
    country: str = Field("PL", min_length=2, max_length=2)
    tax_id: str = Field("", max_length=64)
    kpp: str = Field("", max_length=16)
    email: str = Field(min_length=3, max_length=500)

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class LineIn(BaseModel):
    """One line as asked: quantity and net unit price as decimals, VAT rate in percent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str = Field(min_length=1, max_length=512)
    quantity: Decimal = Field(gt=0, max_digits=18, decimal_places=6)
    unit: str = Field("", max_length=32)
    unit_price: Decimal = Field(ge=0, max_digits=18, decimal_places=6)
    vat_rate: Decimal = Field(ge=0, le=100, max_digits=5, decimal_places=2)

    @field_validator("quantity", "unit_price", "vat_rate", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        # A float has already lost cents (0.1 + 0.2); amounts come as strings or Decimals.
        if isinstance(value, float):
            raise ValueError("give amounts as decimal strings, not floats")
        return value


class IssueRequest(BaseModel):
    """Everything needed to issue one invoice; the seller comes from the settings.

    ``key`` makes the request idempotent (the same key always means the same invoice);
    without it the contract reference is the key, so a contract is invoiced once.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key: str = Field("", max_length=200)
    contract_ref: str = Field("", max_length=200)
    series: str = Field("", max_length=32, pattern=r"^[A-Za-z0-9_-]*$")
    language: str = Field("", max_length=2)
    currency: str = Field(min_length=3, max_length=3)
    due_days: int | None = Field(None, ge=0, le=365)
    sale_date: date | None = None
    #: PLN per unit of ``currency`` (NBP rate of the previous working day): a Polish seller
    #: states VAT in PLN too when invoicing in another currency.
    exchange_rate: Decimal | None = Field(None, gt=0, max_digits=12, decimal_places=6)
    buyer: BuyerIn
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.upper()
        if pycountry.currencies.get(alpha_3=value) is None:
            raise ValueError(f"{value} is not an ISO 4217 currency code")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.lower()
        if value and value not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        return value

    @property
    def source_key(self) -> str:
        """What makes two requests the same invoice: the request key, else the contract."""
        if self.key:
            return f"request:{self.key}"
        if self.contract_ref:
            return f"contract:{self.contract_ref}"
        raise InvalidIssueRequest(
            "the request has neither a key nor a contract reference, so issuing it twice "
            "could not be told apart from two invoices",
            code="INVOICE_REQUEST_KEY_MISSING",
        )


def parse_request(data: Any) -> IssueRequest:
    """Validate one request (a dict from JSON); errors become ``InvalidIssueRequest``."""
    try:
        return IssueRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'request'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidIssueRequest(f"the invoice request is not valid: {problems}") from exc


# --- parties ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """Seller or buyer as printed; ``tax_id`` compact (a NIP without "PL")."""

    name: str
    address: str
    postal_code: str
    city: str
    country: str
    tax_id: str = ""
    kpp: str = ""
    email: str = ""

    def to_json(self) -> dict[str, str]:
        """Plain dict for the store."""
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Party:
        """Back from the store."""
        return cls(**data)


@dataclass(frozen=True)
class BankAccount:
    """Where the customer pays: IBAN, or a Russian account with БИК and к/с."""

    account: str
    bank_name: str = ""
    bic: str = ""
    corr_account: str = ""

    @property
    def is_iban(self) -> bool:
        """True for an IBAN (letters first), False for a Russian account number."""
        return self.account[:2].isalpha()

    def to_json(self) -> dict[str, str]:
        """Plain dict for the store."""
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BankAccount:
        """Back from the store."""
        return cls(**data)


def _compact(raw: str) -> str:
    return re.sub(r"[\s\-.]", "", raw).upper()


def check_tax_id(raw: str, country: str, *, who: str) -> str:
    """The compact tax ID, checked for the party's country; ``""`` when none was given."""
    compact = _compact(raw)
    if not compact:
        return ""
    if country == "PL":
        compact = compact.removeprefix("PL")
        if not pl_nip.is_valid(compact):
            raise InvalidIssueRequest(
                f"the {who}'s NIP {raw} is not valid (checksum)", code=f"{who.upper()}_NIP_INVALID"
            )
        return compact
    if country == "RU":
        if not ru_inn.is_valid(compact):
            raise InvalidIssueRequest(
                f"the {who}'s ИНН {raw} is not valid (checksum)", code=f"{who.upper()}_INN_INVALID"
            )
        return compact
    if country.lower() in eu_vat.MEMBER_STATES:
        prefix = "EL" if country == "GR" else country
        prefixed = compact if compact[:2].isalpha() else prefix + compact
        if not eu_vat.is_valid(prefixed):
            raise InvalidIssueRequest(
                f"the {who}'s VAT number {raw} is not valid", code=f"{who.upper()}_VAT_ID_INVALID"
            )
        return prefixed
    return compact


def _check_kpp(raw: str, *, who: str) -> str:
    kpp = _compact(raw)
    if kpp and not _KPP.match(kpp):
        raise InvalidIssueRequest(
            f"the {who}'s КПП {raw} is not 9 characters NNNNXXNNN",
            code=f"{who.upper()}_KPP_INVALID",
        )
    return kpp


def seller_from_settings(settings: Any) -> tuple[Party, BankAccount]:
    """Us, as configured; a missing or wrong setting is a ``ConfigurationError``."""
    missing = [
        f"BACKOFFICE_SELLER_{name.upper()}"
        for name in ("name", "address", "city", "tax_id", "bank_account")
        if not getattr(settings, f"seller_{name}").strip()
    ]
    if missing:
        raise ConfigurationError(
            f"cannot issue invoices: set {', '.join(missing)}", code="SELLER_NOT_CONFIGURED"
        )
    country = settings.seller_country.strip().upper()
    try:
        tax_id = check_tax_id(settings.seller_tax_id, country, who="seller")
        kpp = _check_kpp(settings.seller_kpp, who="seller")
    except InvalidIssueRequest as exc:
        raise ConfigurationError(str(exc), code="SELLER_SETTINGS_INVALID") from exc
    account = _compact(settings.seller_bank_account)
    bic = _compact(settings.seller_bank_bic)
    corr = _compact(settings.seller_bank_corr_account)
    if country == "RU" and not account[:2].isalpha():
        if not _RU_ACCOUNT.match(account) or (bic and not _RU_BIK.match(bic)):
            raise ConfigurationError(
                "BACKOFFICE_SELLER_BANK_ACCOUNT must be the 20-digit расчётный счёт and "
                "BACKOFFICE_SELLER_BANK_BIC the 9-digit БИК",
                code="SELLER_SETTINGS_INVALID",
            )
    else:
        if account.isdigit() and len(account) == 26 and country == "PL":
            account = "PL" + account  # a Polish NRB is the IBAN without "PL"
        if not iban_is_valid(account):
            raise ConfigurationError(
                f"BACKOFFICE_SELLER_BANK_ACCOUNT {settings.seller_bank_account} is not a "
                "valid IBAN",
                code="SELLER_SETTINGS_INVALID",
            )
    party = Party(
        name=settings.seller_name.strip(),
        address=settings.seller_address.strip(),
        postal_code=settings.seller_postal_code.strip(),
        city=settings.seller_city.strip(),
        country=country,
        tax_id=tax_id,
        kpp=kpp,
    )
    bank = BankAccount(
        account=account,
        bank_name=settings.seller_bank_name.strip(),
        bic=bic,
        corr_account=corr,
    )
    return party, bank


# --- priced invoice --------------------------------------------------------------------


def money(value: Decimal) -> Decimal:
    """Rounded to the cent, half up (both laws' rule for grosze/копейки)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> str:
    """A decimal as printed in XML: no exponent, no trailing zeros beyond the needed."""
    text = format(value.normalize(), "f")
    return text


@dataclass(frozen=True)
class PricedLine:
    """One line with its computed net value (and VAT where it is per line)."""

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_rate: Decimal
    net: Decimal
    #: Per-line VAT (Russia); None where VAT is computed per rate.
    vat: Decimal | None

    def to_json(self) -> dict[str, Any]:
        """Decimal strings for the store."""
        return {
            "description": self.description,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "vat_rate": str(self.vat_rate),
            "net": str(self.net),
            "vat": None if self.vat is None else str(self.vat),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PricedLine:
        """Back from the store."""
        return cls(
            description=data["description"],
            quantity=Decimal(data["quantity"]),
            unit=data["unit"],
            unit_price=Decimal(data["unit_price"]),
            vat_rate=Decimal(data["vat_rate"]),
            net=Decimal(data["net"]),
            vat=None if data["vat"] is None else Decimal(data["vat"]),
        )


@dataclass(frozen=True)
class RateTotal:
    """Net, VAT and gross of one VAT rate."""

    rate: Decimal
    net: Decimal
    vat: Decimal

    @property
    def gross(self) -> Decimal:
        """Net + VAT."""
        return self.net + self.vat

    def to_json(self) -> dict[str, str]:
        """Decimal strings for the store."""
        return {"rate": str(self.rate), "net": str(self.net), "vat": str(self.vat)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RateTotal:
        """Back from the store."""
        return cls(Decimal(data["rate"]), Decimal(data["net"]), Decimal(data["vat"]))


@dataclass(frozen=True)
class InvoiceDraft:
    """A checked, priced invoice without its number and dates yet."""

    seller: Party
    bank: BankAccount
    buyer: Party
    currency: str
    language: str
    lines: tuple[PricedLine, ...]
    rates: tuple[RateTotal, ...]
    due_days: int
    sale_date: date | None
    contract_ref: str
    series: str
    exchange_rate: Decimal | None
    vat_per_line: bool = field(default=False)

    @property
    def total_net(self) -> Decimal:
        """Sum of the rates' net."""
        return sum((r.net for r in self.rates), Decimal("0.00"))

    @property
    def total_vat(self) -> Decimal:
        """Sum of the rates' VAT."""
        return sum((r.vat for r in self.rates), Decimal("0.00"))

    @property
    def total_gross(self) -> Decimal:
        """Amount due."""
        return self.total_net + self.total_vat


def default_language(country: str) -> str:
    """The customer's language when the request does not say: by the buyer's country."""
    return {"PL": "pl", "RU": "ru", "BY": "ru", "KZ": "ru"}.get(country, "en")


def price(request: IssueRequest, seller: Party, bank: BankAccount, settings: Any) -> InvoiceDraft:
    """Check the request against the seller's country and compute every amount."""
    buyer_in = request.buyer
    if pycountry.countries.get(alpha_2=buyer_in.country) is None:
        raise InvalidIssueRequest(
            f"the buyer's country {buyer_in.country} is not an ISO 3166 code",
            code="BUYER_COUNTRY_INVALID",
        )
    buyer = Party(
        name=buyer_in.name,
        address=buyer_in.address,
        postal_code=buyer_in.postal_code,
        city=buyer_in.city,
        country=buyer_in.country,
        tax_id=check_tax_id(buyer_in.tax_id, buyer_in.country, who="buyer"),
        kpp=_check_kpp(buyer_in.kpp, who="buyer"),
        email=buyer_in.email,
    )
    if "@" not in buyer.email:
        raise InvalidIssueRequest(
            f"the buyer's email {buyer.email!r} is not an address", code="BUYER_EMAIL_INVALID"
        )
    allowed = RATES_BY_COUNTRY.get(seller.country)
    vat_per_line = seller.country == "RU"
    lines: list[PricedLine] = []
    for n, line in enumerate(request.lines, 1):
        if allowed is not None and line.vat_rate not in allowed:
            raise InvalidIssueRequest(
                f"line {n}: VAT rate {plain(line.vat_rate)}% is not a rate of {seller.country} "
                f"({', '.join(plain(r) for r in allowed)})",
                code="VAT_RATE_INVALID",
            )
        net = money(line.quantity * line.unit_price)
        vat = money(net * line.vat_rate / 100) if vat_per_line else None
        lines.append(
            PricedLine(
                description=line.description,
                quantity=line.quantity.normalize(),
                unit=line.unit,
                unit_price=line.unit_price,
                vat_rate=line.vat_rate.normalize(),
                net=net,
                vat=vat,
            )
        )
    rates: list[RateTotal] = []
    for rate in sorted({line.vat_rate for line in lines}, reverse=True):
        of_rate = [line for line in lines if line.vat_rate == rate]
        net = sum((line.net for line in of_rate), Decimal("0.00"))
        if vat_per_line:
            vat = sum((line.vat or Decimal(0) for line in of_rate), Decimal("0.00"))
        else:
            vat = money(net * rate / 100)
        rates.append(RateTotal(rate=rate, net=net, vat=vat))
    if seller.country == "PL" and request.currency != "PLN" and request.exchange_rate is None:
        raise InvalidIssueRequest(
            f"a Polish invoice in {request.currency} states its VAT in PLN too: give "
            "exchange_rate (the NBP rate of the working day before)",
            code="EXCHANGE_RATE_MISSING",
        )
    return InvoiceDraft(
        seller=seller,
        bank=bank,
        buyer=buyer,
        currency=request.currency,
        language=request.language or default_language(buyer.country),
        lines=tuple(lines),
        rates=tuple(rates),
        due_days=settings.invoice_due_days if request.due_days is None else request.due_days,
        sale_date=request.sale_date,
        contract_ref=request.contract_ref,
        series=request.series or settings.invoice_series,
        exchange_rate=request.exchange_rate,
        vat_per_line=vat_per_line,
    )


def decimal_or_none(value: Any) -> Decimal | None:
    """A stored decimal string back as Decimal."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def read_requests(path: Path) -> list[IssueRequest]:
    """One request or a JSON list of them from a file; numbers are read as Decimal."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidIssueRequest(
            f"{path.name} is not a readable JSON file: {exc}", code="INVOICE_REQUEST_UNREADABLE"
        ) from exc
    items = data if isinstance(data, list) else [data]
    return [parse_request(item) for item in items]
