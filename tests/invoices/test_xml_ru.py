"""Russian FNS счёт-фактура / УПД XML (formats 5.01, 5.02, 5.03) and ZUGFeRD 1.0.

Small self-written documents in the shapes EDO operators (Диадок, СБИС, Контур) and 1C send:
values live in attributes, the seller may be an organisation or a sole trader (ИП), a line may
say "без НДС", and the file is usually windows-1251. Each test reads the file through
``extract`` as the invoices robot does, and one goes through intake's classification.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from backoffice.intake.classify import classify
from backoffice.invoices import extract
from backoffice.invoices.model import ExtractionResult, Kind, TaxRate

SELLER_INN = "7707083893"
BUYER_INN = "7736207543"
SOLE_TRADER_INN = "500100732259"
# 10 digits that fail the INN checksum (the last digit of a valid one changed).
BAD_INN = "7707083894"
SETTLEMENT_ACCOUNT = "40702810938000012345"
FNS_END = "    </ТаблСчФакт>\n  </Документ>\n</Файл>\n"

# 5.01, Функция СЧФДОП, an organisation with KPP and bank details, lines at 20% and 10%.
UPD_501 = """<?xml version="1.0" encoding="{encoding}"?>
<Файл ИдФайл="ON_NSCHFDOPPR_2BM-{buyer}-2BM-{seller}_20240305_1" ВерсФорм="5.01" ВерсПрог="1С">
  <СвУчДокОбор ИдОтпр="2BM-{seller}" ИдПол="2BM-{buyer}">
    <СвОЭДОтпр НаимОрг="АО ПФ СКБ Контур" ИННЮЛ="6663003127" ИдЭДО="2BM"/>
  </СвУчДокОбор>
  <Документ КНД="1115131" Функция="СЧФДОП" ДатаИнфПр="05.03.2024" ВремИнфПр="10.00.00">
    <СвСчФакт НомерСчФ="ТД-0417" ДатаСчФ="05.03.2024" КодОКВ="643">
      <СвПрод>
        <ИдСв><СвЮЛУч НаимОрг="ООО «Северное молоко»" ИННЮЛ="{seller}" КПП="770701001"/></ИдСв>
        <Адрес><АдрРФ КодРегион="77" Город="Москва"/></Адрес>
        <БанкРекв НомерСчета="{account}">
          <СвБанк НаимБанк="ПАО Сбербанк" БИК="044525225" КорСчет="30101810400000000225"/>
        </БанкРекв>
      </СвПрод>
      <ГрузОт>
        <ГрузОтпр><ИдСв><СвЮЛУч НаимОрг="ООО Склад" ИННЮЛ="7728168971"/></ИдСв></ГрузОтпр>
      </ГрузОт>
      <ГрузПолуч><ИдСв><СвЮЛУч НаимОрг="ООО Кафе" ИННЮЛ="5003012349"/></ИдСв></ГрузПолуч>
      <СвПокуп>
        <ИдСв><СвЮЛУч НаимОрг="ООО «Яндекс»" ИННЮЛ="{buyer}" КПП="770401001"/></ИдСв>
      </СвПокуп>
    </СвСчФакт>
    <ТаблСчФакт>
      <СведТов НомСтр="1" НаимТов="Молоко 3,2% 1 л" ОКЕИ_Тов="796" КолТов="24" ЦенаТов="80.00"
               СтТовБезНДС="1920.00" НалСт="10%" СтТовУчНал="2112.00">
        <Акциз><БезАкциз>без акциза</БезАкциз></Акциз>
        <СумНал><СумНал>192.00</СумНал></СумНал>
      </СведТов>
      <СведТов НомСтр="2" НаимТов="Салфетки бумажные" ОКЕИ_Тов="778" КолТов="3" ЦенаТов="100.00"
               СтТовБезНДС="300.00" НалСт="20%" СтТовУчНал="360.00">
        <Акциз><БезАкциз>без акциза</БезАкциз></Акциз>
        <СумНал><СумНал>60.00</СумНал></СумНал>
      </СведТов>
      <СведТов НомСтр="3" НаимТов="Сыр «Российский»" ОКЕИ_Тов="166" КолТов="5.250" ЦенаТов="600.00"
               СтТовБезНДС="3150.00" НалСт="10%" СтТовУчНал="3465.00">
        <Акциз><БезАкциз>без акциза</БезАкциз></Акциз>
        <СумНал><СумНал>315.00</СумНал></СумНал>
      </СведТов>
      <ВсегоОпл СтТовБезНДСВсего="5370.00" СтТовУчНалВсего="5937.00">
        <СумНалВсего><СумНал>567.00</СумНал></СумНалВсего>
      </ВсегоОпл>
    </ТаблСчФакт>
    <СвПродПер><СвПер СодОпер="Товары переданы" ДатаПер="06.03.2024"/></СвПродПер>
  </Документ>
</Файл>
"""


def _upd_501(encoding: str = "utf-8") -> str:
    return UPD_501.format(
        encoding=encoding, seller=SELLER_INN, buyer=BUYER_INN, account=SETTLEMENT_ACCOUNT
    )


def _read(tmp_path: Path, data: bytes, name: str = "upd.xml") -> ExtractionResult:
    path = tmp_path / name
    path.write_bytes(data)
    return extract(path)


def _assert_upd_501(result: ExtractionResult) -> None:
    assert result.problems == []
    assert result.source is not None and result.source.value == "xml"
    assert result.kind is Kind.INVOICE
    assert result.language == "ru"
    assert result.value("invoice_number") == "ТД-0417"
    assert result.value("issue_date") == dt.date(2024, 3, 5)
    assert result.value("sale_date") == dt.date(2024, 3, 6)
    assert result.value("currency") == "RUB"
    assert result.value("seller_name") == "ООО «Северное молоко»"
    assert result.value("seller_tax_id") == SELLER_INN
    assert result.fields["seller_tax_id"].confidence == 1.0
    # The consignor and consignee (ГрузОт/ГрузПолуч) are not the buyer.
    assert result.value("buyer_name") == "ООО «Яндекс»"
    assert result.value("buyer_tax_id") == BUYER_INN
    assert result.value("total_net") == Decimal("5370.00")
    assert result.value("total_tax") == Decimal("567.00")
    assert result.value("total_gross") == Decimal("5937.00")
    assert result.value("amount_due") == Decimal("5937.00")
    # A Russian settlement account is no IBAN: it is not put in the iban field.
    assert result.value("iban") is None
    assert result.value("tax_breakdown") == (
        TaxRate("10", Decimal("5070.00"), Decimal("507.00"), Decimal("5577.00")),
        TaxRate("20", Decimal("300.00"), Decimal("60.00"), Decimal("360.00")),
    )
    assert [line.description for line in result.lines] == [
        "Молоко 3,2% 1 л",
        "Салфетки бумажные",
        "Сыр «Российский»",
    ]
    cheese = result.lines[2]
    assert (cheese.quantity, cheese.unit_price, cheese.net, cheese.tax_rate, cheese.gross) == (
        Decimal("5.250"),
        Decimal("600.00"),
        Decimal("3150.00"),
        "10",
        Decimal("3465.00"),
    )


def test_upd_501_organisation_two_vat_rates(tmp_path: Path) -> None:
    _assert_upd_501(_read(tmp_path, _upd_501().encode("utf-8")))


def test_upd_501_in_windows_1251(tmp_path: Path) -> None:
    data = _upd_501("windows-1251").encode("cp1251")
    assert "Северное".encode() not in data  # really single-byte Cyrillic
    _assert_upd_501(_read(tmp_path, data))


def test_upd_503_foreign_currency_zero_rate_and_calculated_rate(tmp_path: Path) -> None:
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<Файл ИдФайл="ON_NSCHFDOPPR_A_B_20250115_x" ВерсФорм="5.03" ВерсПрог="СБИС">
  <Документ КНД="1115131" Функция="СЧФ" ДатаИнфПр="15.01.2025" ВремИнфПр="09.30.00">
    <СвСчФакт НомерДок="Э-15/1" ДатаДок="15.01.2025">
      <СвПрод>
        <ИдСв><СвЮЛУч НаимОрг="АО Экспорт" ИННЮЛ="{SELLER_INN}" КПП="770701001"/></ИдСв>
      </СвПрод>
      <СвПокуп><ИдСв><СвИнНеУч НаимОрг="Mleczarnia Sp. z o.o." ИдСтат="ИО"/></ИдСв></СвПокуп>
      <ДенИзм КодОКВ="978" НаимОКВ="Евро" КурсВал="104.5"/>
    </СвСчФакт>
    <ТаблСчФакт>
      <СведТов НомСтр="1" НаимТов="Сыр экспорт" ОКЕИ_Тов="166" КолТов="100" ЦенаТов="12.50"
               СтТовБезНДС="1250.00" НалСт="0%" СтТовУчНал="1250.00">
        <СумНал><СумНал>0.00</СумНал></СумНал>
      </СведТов>
      <СведТов НомСтр="2" НаимТов="Аванс за доставку" СтТовБезНДС="100.00" НалСт="20/120"
               СтТовУчНал="120.00">
        <СумНал><СумНал>20.00</СумНал></СумНал>
      </СведТов>
      <ВсегоОпл СтТовБезНДСВсего="1350.00" СтТовУчНалВсего="1370.00">
        <СумНалВсего><СумНал>20.00</СумНал></СумНалВсего>
      </ВсегоОпл>
{FNS_END}"""
    result = _read(tmp_path, xml.encode())
    assert result.problems == []
    assert result.value("invoice_number") == "Э-15/1"
    assert result.value("issue_date") == dt.date(2025, 1, 15)
    assert result.value("currency") == "EUR"
    assert result.value("buyer_name") == "Mleczarnia Sp. z o.o."
    assert result.value("buyer_tax_id") is None
    assert result.value("total_gross") == Decimal("1370.00")
    rates = {rate.rate: (rate.net, rate.tax) for rate in result.value("tax_breakdown")}
    assert rates == {
        "0": (Decimal("1250.00"), Decimal("0.00")),
        "20": (Decimal("100.00"), Decimal("20.00")),
    }
    assert result.lines[1].quantity is None


def test_sole_trader_without_vat(tmp_path: Path) -> None:
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<Файл ИдФайл="RL-NB-146830-MARK" ВерсФорм="5.01" ВерсПрог="Diadoc 1.0">
  <Документ КНД="1115131" Функция="ДОП" ДатаИнфПр="06.01.2022" ВремИнфПр="00.00.00">
    <СвСчФакт НомерСчФ="145" ДатаСчФ="06.01.2022" КодОКВ="643">
      <СвПрод><ИдСв><СвИП ИННФЛ="{SOLE_TRADER_INN}">
        <ФИО Фамилия="Иванова" Имя="Мария" Отчество="Петровна"/>
      </СвИП></ИдСв></СвПрод>
      <СвПокуп><ИдСв><СвЮЛУч НаимОрг="ООО Кафе" ИННЮЛ="{BAD_INN}" КПП="500301001"/></ИдСв></СвПокуп>
    </СвСчФакт>
    <ТаблСчФакт>
      <СведТов НомСтр="1" НаимТов="Хлеб бородинский" ОКЕИ_Тов="796" КолТов="30" ЦенаТов="58"
               СтТовБезНДС="1740" НалСт="без НДС" СтТовУчНал="1740">
        <Акциз><БезАкциз>без акциза</БезАкциз></Акциз>
        <СумНал><БезНДС>без НДС</БезНДС></СумНал>
      </СведТов>
      <СведТов НомСтр="2" НаимТов="Доставка" ЦенаТов="500" СтТовБезНДС="500" НалСт="без НДС"
               СтТовУчНал="500">
        <СумНал><БезНДС>без НДС</БезНДС></СумНал>
      </СведТов>
      <ВсегоОпл СтТовБезНДСВсего="2240" СтТовУчНалВсего="2240">
        <СумНалВсего><БезНДС>без НДС</БезНДС></СумНалВсего>
      </ВсегоОпл>
{FNS_END}"""
    result = _read(tmp_path, xml.encode())
    assert result.problems == []
    assert result.kind is Kind.INVOICE
    assert result.language == "ru"
    assert result.value("seller_name") == "ИП Иванова Мария Петровна"
    assert result.value("seller_tax_id") == SOLE_TRADER_INN
    # A checksum that fails is kept, flagged by a lower confidence for the rules.
    assert result.value("buyer_tax_id") == BAD_INN
    assert result.fields["buyer_tax_id"].confidence < result.fields["seller_tax_id"].confidence
    assert result.value("total_tax") == Decimal(0)
    assert result.value("tax_breakdown") == (
        TaxRate("без НДС", Decimal("2240"), Decimal(0), Decimal("2240")),
    )
    assert [line.tax_rate for line in result.lines] == ["без НДС", "без НДС"]


def test_zugferd_1_comfort_invoice(tmp_path: Path) -> None:
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryDocument xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"
    xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12"
    xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15">
  <rsm:HeaderExchangedDocument>
    <ram:ID>RE-2014-77</ram:ID><ram:TypeCode>380</ram:TypeCode>
    <ram:IssueDateTime>
      <udt:DateTimeString format="102">20140612</udt:DateTimeString>
    </ram:IssueDateTime>
  </rsm:HeaderExchangedDocument>
  <rsm:SpecifiedSupplyChainTradeTransaction>
    <ram:ApplicableSupplyChainTradeAgreement>
      <ram:SellerTradeParty><ram:Name>Werkzeug GmbH</ram:Name>
        <ram:SpecifiedTaxRegistration>
          <ram:ID schemeID="FC">201/113/40209</ram:ID>
        </ram:SpecifiedTaxRegistration>
        <ram:SpecifiedTaxRegistration>
          <ram:ID schemeID="VA">DE136695976</ram:ID>
        </ram:SpecifiedTaxRegistration>
      </ram:SellerTradeParty>
      <ram:BuyerTradeParty><ram:Name>Kunde AG</ram:Name></ram:BuyerTradeParty>
    </ram:ApplicableSupplyChainTradeAgreement>
    <ram:ApplicableSupplyChainTradeSettlement>
      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
      <ram:SpecifiedTradeSettlementPaymentMeans>
        <ram:PayeePartyCreditorFinancialAccount>
          <ram:IBANID>DE89370400440532013000</ram:IBANID>
        </ram:PayeePartyCreditorFinancialAccount>
      </ram:SpecifiedTradeSettlementPaymentMeans>
      <ram:ApplicableTradeTax>
        <ram:CalculatedAmount currencyID="EUR">38.00</ram:CalculatedAmount>
        <ram:TypeCode>VAT</ram:TypeCode>
        <ram:BasisAmount currencyID="EUR">200.00</ram:BasisAmount>
        <ram:ApplicablePercent>19.00</ram:ApplicablePercent>
      </ram:ApplicableTradeTax>
      <ram:SpecifiedTradePaymentTerms>
        <ram:DueDateDateTime>
          <udt:DateTimeString format="102">20140712</udt:DateTimeString>
        </ram:DueDateDateTime>
      </ram:SpecifiedTradePaymentTerms>
      <ram:SpecifiedTradeSettlementMonetarySummation>
        <ram:TaxBasisTotalAmount currencyID="EUR">200.00</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="EUR">38.00</ram:TaxTotalAmount>
        <ram:GrandTotalAmount currencyID="EUR">238.00</ram:GrandTotalAmount>
        <ram:DuePayableAmount currencyID="EUR">238.00</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementMonetarySummation>
    </ram:ApplicableSupplyChainTradeSettlement>
    <ram:IncludedSupplyChainTradeLineItem>
      <ram:SpecifiedSupplyChainTradeAgreement>
        <ram:NetPriceProductTradePrice>
          <ram:ChargeAmount currencyID="EUR">20.00</ram:ChargeAmount>
        </ram:NetPriceProductTradePrice>
      </ram:SpecifiedSupplyChainTradeAgreement>
      <ram:SpecifiedSupplyChainTradeDelivery>
        <ram:BilledQuantity unitCode="C62">10</ram:BilledQuantity>
      </ram:SpecifiedSupplyChainTradeDelivery>
      <ram:SpecifiedSupplyChainTradeSettlement>
        <ram:ApplicableTradeTax>
          <ram:ApplicablePercent>19.00</ram:ApplicablePercent>
        </ram:ApplicableTradeTax>
        <ram:SpecifiedTradeSettlementMonetarySummation>
          <ram:LineTotalAmount currencyID="EUR">200.00</ram:LineTotalAmount>
        </ram:SpecifiedTradeSettlementMonetarySummation>
      </ram:SpecifiedSupplyChainTradeSettlement>
      <ram:SpecifiedTradeProduct>
        <ram:Name>Schraubenschlüssel</ram:Name>
      </ram:SpecifiedTradeProduct>
    </ram:IncludedSupplyChainTradeLineItem>
  </rsm:SpecifiedSupplyChainTradeTransaction>
</rsm:CrossIndustryDocument>
"""
    result = _read(tmp_path, xml.encode(), "zugferd-invoice.xml")
    assert result.problems == []
    assert result.kind is Kind.INVOICE
    assert result.value("invoice_number") == "RE-2014-77"
    assert result.value("issue_date") == dt.date(2014, 6, 12)
    assert result.value("due_date") == dt.date(2014, 7, 12)
    assert result.value("seller_name") == "Werkzeug GmbH"
    assert result.value("seller_tax_id") == "DE136695976"
    assert result.value("buyer_name") == "Kunde AG"
    assert result.value("iban") == "DE89370400440532013000"
    assert result.value("currency") == "EUR"
    assert (result.value("total_net"), result.value("total_tax")) == (Decimal(200), Decimal(38))
    assert result.value("total_gross") == Decimal("238.00")
    assert result.value("tax_breakdown") == (TaxRate("19", Decimal(200), Decimal(38)),)
    line = result.lines[0]
    assert (line.description, line.quantity, line.unit_price, line.net, line.tax_rate) == (
        "Schraubenschlüssel",
        Decimal(10),
        Decimal(20),
        Decimal(200),
        "19",
    )


def test_broken_values_are_problems_and_the_rest_is_read(tmp_path: Path) -> None:
    xml = (
        _upd_501()
        .replace('ДатаСчФ="05.03.2024"', 'ДатаСчФ="31.02.2024"')
        .replace('КодОКВ="643"', 'КодОКВ="999"')
        .replace('СтТовУчНалВсего="5937.00"', 'СтТовУчНалВсего="5 937,00 руб."')
    )
    result = _read(tmp_path, xml.encode())
    invalid = {problem.field for problem in result.problems if problem.code == "XML_VALUE_INVALID"}
    assert invalid == {"issue_date", "currency", "total_gross"}
    for name in ("issue_date", "currency", "total_gross", "amount_due"):
        assert result.value(name) is None
    assert result.value("invoice_number") == "ТД-0417"
    assert result.value("total_net") == Decimal("5370.00")
    message = next(p.message for p in result.problems if p.field == "currency")
    assert "'999'" in message and "ISO 4217" in message


def test_truncated_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    data = _upd_501("windows-1251").encode("cp1251")
    result = _read(tmp_path, data[: len(data) // 2])
    assert result.kind is Kind.NOT_INVOICE
    assert [problem.code for problem in result.problems] == ["XML_INVALID"]
    assert "not well-formed" in result.problems[0].message


def test_fns_file_without_an_invoice_says_what_it_is(tmp_path: Path) -> None:
    xml = """<?xml version="1.0" encoding="utf-8"?>
<Файл ИдФайл="ON_NSCHFDOPPOK_A_B_20240305_1" ВерсФорм="5.01">
  <Документ КНД="1115132"><ИдИнфПрод ИдФайлИнфПр="ON_NSCHFDOPPR_A"/></Документ>
</Файл>
"""
    result = _read(tmp_path, xml.encode())
    assert result.kind is Kind.NOT_INVOICE
    assert [problem.code for problem in result.problems] == ["NOT_AN_INVOICE"]
    assert "КНД 1115132" in result.problems[0].message
    assert "СвСчФакт" in result.problems[0].message


def test_intake_classifies_fns_and_zugferd_1_xml_as_invoices() -> None:
    # An EDO operator's own file name: the Документ's КНД says what it is.
    upd = _upd_501("windows-1251").replace("ON_NSCHFDOPPR_", "UPD_").encode("cp1251")
    verdict = classify("document.xml", "application/xml", upd)
    assert verdict.kind == "invoice"
    assert verdict.reasons == ["XML is a Russian FNS e-document КНД 1115131 (УПД / счёт-фактура)"]
    zugferd = (
        b'<?xml version="1.0"?><rsm:CrossIndustryDocument '
        b'xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"><rsm:HeaderExchangedDocument/>'
        b"</rsm:CrossIndustryDocument>"
    )
    verdict = classify("x.xml", "application/xml", zugferd)
    assert (verdict.kind, verdict.reasons) == (
        "invoice",
        ["XML root is ZUGFeRD 1.0 CrossIndustryDocument"],
    )
    # A tax return is an FNS file too, but no invoice.
    ndfl = '<Файл ИдФайл="NO_NDFL6.2_1" ВерсФорм="5.03"><Документ КНД="1151100"/></Файл>'
    assert classify("r.xml", "application/xml", ndfl.encode()).kind == "other"
