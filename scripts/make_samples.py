"""Write the bundled sample mailbox and the bad-input test fixtures.

    .venv/bin/python scripts/make_samples.py            # both
    .venv/bin/python scripts/make_samples.py samples    # resources/samples/mailbox only
    .venv/bin/python scripts/make_samples.py fixtures   # tests/fixtures/mail only

Re-runnable and deterministic: fixed dates, Message-IDs and MIME boundaries, reportlab in
invariant mode, fixed zip timestamps. The output is committed, so reportlab, Pillow and the
DejaVu font (Debian: fonts-dejavu-core) are only needed to regenerate it. All companies,
people, tax IDs and accounts are fictional; tax IDs and IBANs carry valid check digits so
later stages' checksum rules pass on them.
"""

from __future__ import annotations

import base64
import io
import sys
import zipfile
from email import policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples" / "mailbox"
FIXTURES = ROOT / "tests" / "fixtures" / "mail"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
#: Fixed zip member timestamp, so archives are byte-identical between runs.
ZIP_TIME = (2024, 5, 6, 9, 0, 0)
#: The bomb: this many zero bytes deflate to about 1/1000 of it (a ratio far above 100).
BOMB_BYTES = 200 * 1024 * 1024
BOMB_CHUNK = 1024 * 1024
OUR_COMPANY = "Baltic Trade Sp. z o.o."
OUR_ADDRESS = "faktury@baltic-trade.example"
WRAP = policy.default.clone(linesep="\r\n", max_line_length=78)


# --- check digits, so fictional identifiers still validate ------------------------------------


def nip(first9: str) -> str:
    """Polish NIP with its check digit (weights 6 5 7 2 3 4 5 6 7, mod 11)."""
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    check = sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11
    if check == 10:
        raise ValueError(f"{first9} has no valid NIP check digit")
    return first9 + str(check)


def inn10(first9: str) -> str:
    """Russian organisation INN (10 digits) with its check digit."""
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    check = sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11 % 10
    return first9 + str(check)


def iban(country: str, bban: str) -> str:
    """IBAN with ISO 13616 check digits."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def spaced(value: str) -> str:
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


SELLER_NIP = nip("677251234")
HURT_NIP = nip("525100201")
OUR_NIP = nip("584020304")
SELLER_IBAN = iban("PL", "10501445" + "1000002312345678")
HURT_IBAN = iban("PL", "11402004" + "0000330212345678")
OUR_IBAN = iban("PL", "24102055" + "8111000000123456")
RU_INN = inn10("770123456")
RU_BUYER_INN = inn10("781012345")


# --- documents -------------------------------------------------------------------------------


def pdf(pages: list[list[str]], title: str) -> bytes:
    """A text PDF (real text layer, DejaVu embedded for Polish and Cyrillic glyphs)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVu", str(FONT)))
    pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(FONT_BOLD)))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4, invariant=1, pageCompression=1)
    c.setTitle(title)
    c.setAuthor("make_samples.py")
    height = A4[1]
    for lines in pages:
        y = height - 60
        for index, line in enumerate(lines):
            bold = index == 0 or line.isupper()
            c.setFont("DejaVu-Bold" if bold else "DejaVu", 15 if index == 0 else 10)
            c.drawString(50, y, line)
            y -= 24 if index == 0 else 15
        c.showPage()
    c.save()
    return out.getvalue()


def scanned_png(lines: list[str]) -> bytes:
    """A 'scan': text rendered to a grey image, slightly rotated, no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1000, 1300), 255)
    draw = ImageDraw.Draw(image)
    big = ImageFont.truetype(str(FONT_BOLD), 34)
    small = ImageFont.truetype(str(FONT), 22)
    y = 70
    for index, line in enumerate(lines):
        draw.text((70, y), line, fill=30, font=big if index == 0 else small)
        y += 60 if index == 0 else 34
    image = image.rotate(0.6, fillcolor=255, resample=Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def zipped(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def polish_invoice(number: str, seller: str, seller_nip: str, seller_iban: str) -> bytes:
    return pdf(
        [
            [
                f"FAKTURA VAT nr {number}",
                "Data wystawienia: 2024-05-06    Data sprzedaży: 2024-05-06",
                "Termin płatności: 2024-05-20    Sposób płatności: przelew",
                "",
                f"Sprzedawca: {seller}",
                "ul. Długa 12, 30-001 Kraków",
                f"NIP: {seller_nip}",
                f"Nr rachunku: {spaced(seller_iban)}",
                "",
                f"Nabywca: {OUR_COMPANY}",
                "ul. Żeglarska 4, 80-001 Gdańsk",
                f"NIP: {OUR_NIP}",
                "",
                "Lp.  Nazwa                       Ilość   Cena netto   Netto    VAT   Kwota VAT",
                "1    Druk ulotek A5 (5000 szt.)  1       2000,00      2000,00  23%   460,00",
                "2    Projekt graficzny           1        500,00       500,00  23%   115,00",
                "",
                "Razem netto: 2500,00 PLN    VAT 23%: 575,00 PLN    Razem brutto: 3075,00 PLN",
                "Do zapłaty: 3075,00 PLN (słownie: trzy tysiące siedemdziesiąt pięć złotych)",
                "Waluta: PLN",
            ]
        ],
        f"Faktura {number}",
    )


def russian_invoice() -> bytes:
    return pdf(
        [
            [
                "СЧЁТ-ФАКТУРА № 245 от 14.05.2024",
                "Продавец: ООО «Северный Ветер»",
                "Адрес: 191186, г. Санкт-Петербург, Невский пр-т, д. 10",
                f"ИНН/КПП продавца: {RU_INN}/784101001",
                "Грузоотправитель и его адрес: он же",
                "Покупатель: ООО «Ромашка»",
                f"ИНН/КПП покупателя: {RU_BUYER_INN}/781001001",
                "Валюта: наименование, код — Российский рубль, 643",
                "",
                "Наименование товара       Кол-во  Цена        Стоимость   НДС 20%    Всего",
                "Консультационные услуги   1       100 000,00  100 000,00  20 000,00  120 000,00",
                "",
                "Всего к оплате: 120 000,00 RUB (в т.ч. НДС 20 000,00 RUB)",
                "Руководитель организации ______________ Иванов И. И.",
                "Главный бухгалтер ______________ Петрова А. С.",
            ]
        ],
        "Счёт-фактура 245",
    )


def english_contract() -> bytes:
    contract_id = "CT-2024-0042"
    page1 = [
        f"SERVICE AGREEMENT No. {contract_id}",
        "This Service Agreement (the Agreement) is made on 10 May 2024 between:",
        "Northwind Analytics Ltd, 221 Baker Street, London NW1 6XE, United Kingdom",
        "(the Provider), and",
        f"{OUR_COMPANY}, ul. Żeglarska 4, 80-001 Gdańsk, Poland, NIP {OUR_NIP} (the Customer).",
        "",
        "1. SUBJECT. The Provider grants the Customer access to the Northwind reporting",
        "   service for 12 months from the date the first invoice is paid.",
        "2. FEES. The Customer pays EUR 1,200.00 net per year, invoiced on signature of",
        "   this contract, payable within 14 days to the account stated on the invoice.",
        "3. TERM. The contract runs for 12 months and renews unless terminated in writing.",
        "",
        f"Contract ID: {contract_id}                                     Page 1 of 2",
    ]
    page2 = [
        f"SERVICE AGREEMENT No. {contract_id} (continued)",
        "4. LAW. This Agreement is governed by the laws of England and Wales.",
        "5. ENTIRE AGREEMENT. This contract is the entire agreement between the parties.",
        "",
        "Signed for the Provider:                 Signed for the Customer:",
        "Signature: /s/ John Smith               Signature: /s/ Anna Nowak",
        "Name: John Smith, Director              Name: Anna Nowak, Prezes Zarządu",
        "Date: 10 May 2024                       Date: 13 May 2024",
        "",
        f"Contract ID: {contract_id}                                     Page 2 of 2",
    ]
    return pdf([page1, page2], f"Service Agreement {contract_id}")


def ubl_invoice() -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
  xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ID>INV-2024-0311</cbc:ID>
  <cbc:IssueDate>2024-05-08</cbc:IssueDate>
  <cbc:DueDate>2024-06-07</cbc:DueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty><cac:Party>
    <cac:PartyName><cbc:Name>Northwind Supplies Ltd</cbc:Name></cac:PartyName>
    <cac:PartyTaxScheme><cbc:CompanyID>GB123456789</cbc:CompanyID>
      <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cac:PartyName><cbc:Name>{OUR_COMPANY}</cbc:Name></cac:PartyName>
    <cac:PartyTaxScheme><cbc:CompanyID>PL{OUR_NIP}</cbc:CompanyID>
      <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:PaymentMeans><cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>
    <cac:PayeeFinancialAccount><cbc:ID>GB33BUKB20201555555555</cbc:ID></cac:PayeeFinancialAccount>
  </cac:PaymentMeans>
  <cac:TaxTotal><cbc:TaxAmount currencyID="EUR">0.00</cbc:TaxAmount>
    <cac:TaxSubtotal><cbc:TaxableAmount currencyID="EUR">840.00</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="EUR">0.00</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>AE</cbc:ID><cbc:Percent>0</cbc:Percent>
        <cbc:TaxExemptionReason>Reverse charge</cbc:TaxExemptionReason>
        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory>
    </cac:TaxSubtotal></cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="EUR">840.00</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="EUR">840.00</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="EUR">840.00</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="EUR">840.00</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:InvoiceLine><cbc:ID>1</cbc:ID>
    <cbc:InvoicedQuantity unitCode="C62">12</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">840.00</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Label printer ribbons</cbc:Name>
      <cac:ClassifiedTaxCategory><cbc:ID>AE</cbc:ID><cbc:Percent>0</cbc:Percent>
        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="EUR">70.00</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>
</Invoice>
""".encode()


def camt053() -> bytes:
    def entry(amount: str, sign: str, name: str, ref: str, day: str) -> str:
        party = "Dbtr" if sign == "CRDT" else "Cdtr"
        return f"""      <Ntry>
        <Amt Ccy="PLN">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>
        <NtryDtls><TxDtls>
          <RltdPties><{party}><Pty><Nm>{name}</Nm></Pty></{party}></RltdPties>
          <RmtInf><Ustrd>{ref}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
"""

    entries = (
        entry(
            "1476.00", "CRDT", "Pomorskie Biuro Rachunkowe", "Faktura FS/2024/05/0009", "2024-05-14"
        )
        + entry("3075.00", "DBIT", "Drukarnia Wisła Sp. z o.o.", "FV/2024/05/0117", "2024-05-15")
        + entry("738.00", "CRDT", "Kwiaciarnia Róża", "FS/2024/05/0011 częściowo", "2024-05-15")
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT-20240515-0001</MsgId><CreDtTm>2024-05-15T23:30:00+02:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>2024-05-15-{OUR_IBAN[-8:]}</Id>
      <ElctrncSeqNb>96</ElctrncSeqNb>
      <CreDtTm>2024-05-15T23:30:00+02:00</CreDtTm>
      <FrToDt><FrDtTm>2024-05-14T00:00:00+02:00</FrDtTm><ToDtTm>2024-05-15T23:59:59+02:00</ToDtTm></FrToDt>
      <Acct><Id><IBAN>{OUR_IBAN}</IBAN></Id><Ccy>PLN</Ccy>
        <Ownr><Nm>{OUR_COMPANY}</Nm></Ownr>
        <Svcr><FinInstnId><Nm>Bank Przykładowy S.A.</Nm></FinInstnId></Svcr></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="PLN">15000.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-05-14</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="PLN">14139.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-05-15</Dt></Dt></Bal>
{entries}    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


def mt940() -> bytes:
    lines = [
        ":20:MT940-20240516",
        f":25:/{OUR_IBAN}",
        ":28C:97/1",
        ":60F:C240515PLN14139,00",
        ":61:2405160516C2460,00NTRFNONREF//PL2405160001",
        ":86:020~00TRANSFER~20FS/2024/05/0012~32Hurtownia Mazowsze~33Sp. z o.o.",
        ":62F:C240516PLN16599,00",
        "-",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


# --- messages ------------------------------------------------------------------------------------


def message(
    number: int,
    sender: str,
    subject: str,
    body: str,
    *,
    date: str,
    charset: str = "utf-8",
    to: str = f"Baltic Trade - faktury <{OUR_ADDRESS}>",
) -> EmailMessage:
    msg = EmailMessage(policy=WRAP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = f"<sample-{number:02d}.20240515@mail.example>"
    msg["MIME-Version"] = "1.0"
    msg["X-Mailer"] = "make_samples.py"
    msg.set_content(body, charset=charset)
    return msg


def attach(msg: EmailMessage, data: bytes, ctype: str, filename: str) -> None:
    maintype, subtype = ctype.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)


def finish(msg: EmailMessage, tag: str) -> bytes:
    """Fixed boundaries (the library draws random ones) and CRLF line ends."""
    for index, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_{tag}_{index}_boundary")
    return msg.as_bytes(policy=WRAP)


def samples() -> dict[str, bytes]:
    out: dict[str, bytes] = {}

    msg = message(
        1,
        "Drukarnia Wisła - księgowość <ksiegowosc@drukarnia-wisla.example>",
        "Faktura VAT FV/2024/05/0117",
        "Dzień dobry,\n\nw załączeniu przesyłamy fakturę VAT FV/2024/05/0117 za druk ulotek.\n"
        "Termin płatności: 20.05.2024.\n\nZ poważaniem\nDział księgowości\n",
        date="Mon, 06 May 2024 09:12:00 +0200",
    )
    attach(
        msg,
        polish_invoice("FV/2024/05/0117", "Drukarnia Wisła Sp. z o.o.", SELLER_NIP, SELLER_IBAN),
        "application/pdf",
        "FV_2024_05_0117.pdf",
    )
    out["01-faktura-pdf.eml"] = finish(msg, "s01")

    msg = message(
        2,
        "Jan Nowak <jan.nowak@stolarnia-nowak.example>",
        "Skan faktury za kwiecień",
        "Dzień dobry, przesyłam skan faktury 34/2024. Oryginał wyślę pocztą.\nJan Nowak\n",
        date="Tue, 07 May 2024 16:40:00 +0200",
    )
    attach(
        msg,
        scanned_png(
            [
                "FAKTURA nr 34/2024",
                "Zakład Stolarski Jan Nowak",
                f"NIP: {nip('712000111')}",
                "Data wystawienia: 30.04.2024",
                f"Nabywca: {OUR_COMPANY}, NIP {OUR_NIP}",
                "Regały magazynowe, 4 szt.   netto 3200,00   VAT 23% 736,00",
                "Razem brutto: 3936,00 PLN",
                f"Konto: {spaced(iban('PL', '19101010230000261395100000'))}",
            ]
        ),
        "image/png",
        "skan_faktura_34_2024.png",
    )
    out["02-skan-faktury-png.eml"] = finish(msg, "s02")

    msg = message(
        3,
        "Northwind Supplies Billing <billing@northwind-supplies.example>",
        "Invoice INV-2024-0311 (e-invoice, UBL)",
        "Hello,\n\nplease find attached our e-invoice INV-2024-0311 in UBL 2.1 format.\n\n"
        "Kind regards,\nNorthwind Supplies Ltd\n",
        date="Wed, 08 May 2024 11:05:00 +0100",
    )
    attach(msg, ubl_invoice(), "application/xml", "INV-2024-0311.xml")
    out["03-ubl-einvoice.eml"] = finish(msg, "s03")

    msg = message(
        4,
        "Bank Przykładowy <wyciagi@bank-przykladowy.example>",
        "Wyciąg bankowy nr 96/2024",
        "Szanowni Państwo,\nw załączeniu wyciąg w formacie CAMT.053 za 14-15.05.2024.\n",
        date="Wed, 15 May 2024 23:45:00 +0200",
    )
    attach(msg, camt053(), "application/xml", "wyciag_96_2024_camt053.xml")
    out["04-camt053-wyciag.eml"] = finish(msg, "s04")

    msg = message(
        5,
        "ООО «Северный Ветер» <buh@severny-veter.example>",
        "Счёт-фактура № 245 от 14.05.2024",
        "Добрый день!\n\nНаправляем счёт-фактуру № 245 от 14.05.2024 на сумму 120 000,00 руб.\n"
        "\nС уважением,\nбухгалтерия ООО «Северный Ветер»\n",
        date="Tue, 14 May 2024 12:30:00 +0300",
        charset="windows-1251",
    )
    attach(msg, russian_invoice(), "application/pdf", "Счёт-фактура_245.pdf")
    out["05-schet-faktura-ru.eml"] = finish(msg, "s05")

    msg = message(
        6,
        "John Smith <john.smith@northwind-analytics.example>",
        "Re: Service Agreement CT-2024-0042 - signed",
        "Dear Anna,\n\nplease find the countersigned agreement attached.\n\nBest regards,\nJohn\n",
        date="Mon, 13 May 2024 15:20:00 +0100",
        to=f"Anna Nowak <umowy@baltic-trade.example>, <{OUR_ADDRESS}>",
    )
    msg["In-Reply-To"] = "<offer-CT-2024-0042@baltic-trade.example>"
    msg["References"] = "<offer-CT-2024-0042@baltic-trade.example>"
    attach(msg, english_contract(), "application/pdf", "Service_Agreement_CT-2024-0042_signed.pdf")
    out["06-contract-signed-en.eml"] = finish(msg, "s06")

    msg = message(
        7,
        "Hurtownia Mazowsze <faktury@hurtownia-mazowsze.example>",
        "Faktury za maj (archiwum ZIP)",
        "Dzień dobry,\nw załączniku archiwum z fakturą za maj.\nPozdrawiamy\n",
        date="Thu, 16 May 2024 08:00:00 +0200",
    )
    archive = zipped(
        [
            (
                "faktury/FV_2024_05_0231.pdf",
                polish_invoice(
                    "FV/2024/05/0231", "Hurtownia Mazowsze Sp. z o.o.", HURT_NIP, HURT_IBAN
                ),
            )
        ]
    )
    attach(msg, archive, "application/zip", "faktury_maj_2024.zip")
    out["07-zip-z-faktura.eml"] = finish(msg, "s07")

    # A message cut off in transit: the closing boundary never comes and base64 stops short.
    pdf_b64 = base64.encodebytes(
        polish_invoice("5/2024/K", "Transport Kowalczyk", nip("951000222"), SELLER_IBAN)
    )
    broken = (
        b"From: Transport Kowalczyk <biuro@transport-kowalczyk.example>\r\n"
        b"To: " + OUR_ADDRESS.encode() + b"\r\n"
        b"Subject: =?utf-8?q?Korekta_faktury_5/2024?=\r\n"
        b"Date: Fri, 17 May 2024 10:00:00 +0200\r\n"
        b"Message-ID: <sample-08.20240515@mail.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="=_s08_cut"\r\n\r\n'
        b"--=_s08_cut\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + "W załączeniu korekta faktury.\r\n".encode()
        + b"--=_s08_cut\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="korekta_5_2024.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + pdf_b64[: len(pdf_b64) // 3].rstrip(b"=")
    )
    out["08-broken-truncated.eml"] = broken

    msg = message(
        9,
        "Bank Przykładowy <wyciagi@bank-przykladowy.example>",
        "Wyciąg MT940 z dnia 16.05.2024",
        "W załączeniu wyciąg w formacie MT940.\n",
        date="Thu, 16 May 2024 23:50:00 +0200",
    )
    attach(msg, mt940(), "text/plain", "wyciag_20240516.sta")
    out["09-mt940-wyciag.eml"] = finish(msg, "s09")
    return out


# --- bad-input fixtures ------------------------------------------------------------------------


def _headers(subject: bytes, extra: bytes = b"", message_id: bytes | None = None) -> bytes:
    mid = b"Message-ID: <" + (message_id or b"fixture") + b"@fixtures.example>\r\n"
    return (
        b"From: Fixture Sender <sender@fixtures.example>\r\n"
        b"To: intake@baltic-trade.example\r\n"
        b"Subject: " + subject + b"\r\n"
        b"Date: Mon, 06 May 2024 10:00:00 +0200\r\n"
        + (mid if message_id != b"" else b"")
        + b"MIME-Version: 1.0\r\n"
        + extra
    )


def _single(subject: bytes, charset: str, body: str, mid: bytes) -> bytes:
    return (
        _headers(subject, message_id=mid)
        + f"Content-Type: text/plain; charset={charset}\r\n".encode()
        + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + body.encode(charset)
    )


def _small_pdf(text: str) -> bytes:
    return pdf([[text]], text)


def fixtures() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    out["empty.eml"] = b""
    # A PNG header then noise: what a mis-filed scan looks like to intake.
    out["not-an-email.eml"] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    out["broken-garbage-boundary.eml"] = (
        _headers(
            b"Broken boundary",
            b'Content-Type: multipart/mixed; boundary="DECLARED"\r\n\r\n',
            b"broken-garbage",
        )
        + b"--SOMETHING-ELSE\r\nContent-Type: text/plain\r\n\r\nbody text\r\n"
        b"--SOMETHING-ELSE--\r\n"
    )
    out["broken-missing-end.eml"] = (
        _headers(
            b"Missing end boundary",
            b'Content-Type: multipart/mixed; boundary="B1"\r\n\r\n',
            b"broken-end",
        )
        + b"--B1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, invoice attached.\r\n"
        b"--B1\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="faktura.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs\r\n"
    )
    out["windows-1250.eml"] = _single(
        b"=?windows-1250?Q?Faktura_za_us=B3ugi_=96_=A3=F3d=9F?=",
        "windows-1250",
        "Zażółć gęślą jaźń. Proszę o zapłatę faktury.\r\n",
        b"cp1250",
    )
    out["koi8-r.eml"] = _single(
        b"=?koi8-r?B?" + base64.b64encode("Счёт на оплату N 17".encode("koi8-r")) + b"?=",
        "koi8-r",
        "Добрый день! Высылаем счёт на оплату.\r\n",
        b"koi8r",
    )
    out["iso-8859-2.eml"] = _single(
        b"=?iso-8859-2?Q?Wyci=B1g_bankowy?=",
        "iso-8859-2",
        "Wyciąg z rachunku za maj, saldo końcowe.\r\n",
        b"latin2",
    )
    out["unknown-charset.eml"] = (
        _headers(b"Unknown charset", message_id=b"unknown-charset")
        + b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
        + "Faktura płatna".encode()
    )
    out["no-message-id.eml"] = _single(b"No Message-ID", "utf-8", "Hello\r\n", b"")
    unsafe = message(
        100,
        "Fixture <sender@fixtures.example>",
        "Unsafe names",
        "see files",
        date="Mon, 06 May 2024 10:00:00 +0200",
    )
    for name in (
        "../../etc/passwd",
        "C:\\Windows\\x.exe",
        "..",
        "faktura\u202efdp.exe",
        "....",
        "nul\x00byte.pdf",
    ):
        attach(
            unsafe,
            b"content of " + name.encode("utf-8", "replace"),
            "application/octet-stream",
            "placeholder",
        )
    raw = finish(unsafe, "unsafe").decode()
    for name in (
        "../../etc/passwd",
        "C:\\\\Windows\\\\x.exe",
        "..",
        "faktura\u202efdp.exe",
        "....",
        "nul\x00byte.pdf",
    ):
        raw = raw.replace('filename="placeholder"', _disposition_name(name), 1)
    out["unsafe-names.eml"] = raw.encode("utf-8")

    forwarded = message(
        101,
        "Anna <anna@fixtures.example>",
        "Faktura do zapłaty",
        "Przesyłam dalej.",
        date="Mon, 06 May 2024 10:00:00 +0200",
    )
    inner = message(
        102,
        "Dostawca <d@fixtures.example>",
        "Faktura 9/2024",
        "W załączeniu faktura.",
        date="Fri, 03 May 2024 10:00:00 +0200",
    )
    attach(
        inner,
        _small_pdf("Faktura VAT nr 9/2024 za usługi transportowe"),
        "application/pdf",
        "faktura_9_2024.pdf",
    )
    forwarded.add_attachment(inner)
    out["nested-forward.eml"] = finish(forwarded, "fwd")

    two = message(
        103,
        "Fixture <sender@fixtures.example>",
        "Two invoices zipped",
        "Zip attached.",
        date="Mon, 06 May 2024 10:00:00 +0200",
    )
    attach(
        two,
        zipped(
            [
                ("invoices/a.pdf", _small_pdf("Invoice A-1 for consulting services, May 2024")),
                ("invoices/b.pdf", _small_pdf("Invoice B-2 for consulting services, June 2024")),
                ("invoices/", b""),
            ]
        ),
        "application/zip",
        "invoices.zip",
    )
    out["zip-two-pdfs.eml"] = finish(two, "zip2")

    bomb = message(
        104,
        "Fixture <sender@fixtures.example>",
        "Zip bomb",
        "Zip attached.",
        date="Mon, 06 May 2024 10:00:00 +0200",
    )
    attach(bomb, _bomb(), "application/zip", "bomb.zip")
    out["zip-bomb.eml"] = finish(bomb, "bomb")

    names = (
        _headers(
            b"Non-ASCII file names",
            b'Content-Type: multipart/mixed; boundary="N"\r\n\r\n',
            b"rfc2231",
        )
        + b"--N\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfiles\r\n"
        b"--N\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment;\r\n"
        b" filename*=utf-8''Faktura%20zaliczkowa%20%C5%81%C3%B3d%C5%BA.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
        b"--N\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment;\r\n"
        b" filename*0*=utf-8''%D0%A1%D1%87%D1%91%D1%82%20%E2%84%96;\r\n"
        b" filename*1*=%2017.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjUK\r\n"
        b'--N\r\nContent-Type: application/pdf;\r\n name="=?utf-8?B?'
        + base64.b64encode("Umowa_podpisana_żółw.pdf".encode())
        + b'?="\r\n'
        b"Content-Disposition: attachment\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjYK\r\n"
        b"--N--\r\n"
    )
    out["rfc2231-names.eml"] = names
    return out


def _disposition_name(name: str) -> str:
    escaped = name.replace('"', '\\"')
    return f'filename="{escaped}"'


def _bomb() -> bytes:
    """BOMB_BYTES of zeros deflated: ~200 KB on disk, a ratio of about 1000:1."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("zeros.pdf", ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=False) as member:
            chunk = bytes(BOMB_CHUNK)
            for _ in range(BOMB_BYTES // BOMB_CHUNK):
                member.write(chunk)
    return out.getvalue()


def write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
        print(f"{folder.relative_to(ROOT)}/{name}: {len(data):,} bytes")


def main(argv: list[str]) -> int:
    """Write the samples and/or the fixtures named on the command line (default both)."""
    wanted = set(argv) or {"samples", "fixtures"}
    if "samples" in wanted:
        write(SAMPLES, samples())
    if "fixtures" in wanted:
        write(FIXTURES, fixtures())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
