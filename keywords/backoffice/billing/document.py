"""One issued invoice as the documents see it: the stored row turned back into values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from backoffice.billing.model import BankAccount, Party, PricedLine, RateTotal
from backoffice.billing.models import IssuedInvoice


@dataclass(frozen=True)
class IssuedDocument:
    """Everything the PDF, the CII and the FA(3) XML print, all from the stored row."""

    number: str
    issue_date: date
    sale_date: date
    due_date: date
    issued_at: datetime
    currency: str
    language: str
    seller: Party
    bank: BankAccount
    buyer: Party
    lines: tuple[PricedLine, ...]
    rates: tuple[RateTotal, ...]
    total_net: Decimal
    total_vat: Decimal
    total_gross: Decimal
    contract_ref: str
    exchange_rate: Decimal | None
    vat_per_line: bool

    @classmethod
    def from_row(cls, row: IssuedInvoice) -> IssuedDocument:
        """The frozen values of an invoice row."""
        return cls(
            number=row.number,
            issue_date=row.issue_date,
            sale_date=row.sale_date,
            due_date=row.due_date,
            issued_at=row.issued_at,
            currency=row.currency,
            language=row.language,
            seller=Party.from_json(row.seller),
            bank=BankAccount.from_json(row.bank),
            buyer=Party.from_json(row.buyer),
            lines=tuple(PricedLine.from_json(line) for line in row.lines),
            rates=tuple(RateTotal.from_json(rate) for rate in row.rates),
            total_net=Decimal(row.total_net).quantize(Decimal("0.01")),
            total_vat=Decimal(row.total_vat).quantize(Decimal("0.01")),
            total_gross=Decimal(row.total_gross).quantize(Decimal("0.01")),
            contract_ref=row.contract_ref,
            exchange_rate=None if row.exchange_rate is None else Decimal(row.exchange_rate),
            vat_per_line=row.vat_per_line,
        )

    @property
    def file_stem(self) -> str:
        """A safe file name for the number: ``FV/2026/11/0001`` → ``FV_2026_11_0001``."""
        return "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in self.number)

    @property
    def payment_reference(self) -> str:
        """What the customer writes in the transfer title: the invoice number."""
        return self.number

    def vat_in_pln(self, vat: Decimal) -> Decimal | None:
        """VAT converted to PLN at the invoice's rate (Polish seller, foreign currency)."""
        if self.exchange_rate is None or self.currency == "PLN":
            return None
        from backoffice.billing.model import money

        return money(vat * self.exchange_rate)
