"""Contracts end to end against the real servers: a customer's form becomes an email with the
offer and the contract in the customer's own IMAP mailbox (sent through the SMTP server);
the customer answers in the thread with an unsigned scan and gets a correction request in
the same thread and language; the properly signed scan, and for a second customer a
PAdES-signed PDF, mark the contracts signed. A rerun sends nothing more.
"""

from __future__ import annotations

import dataclasses
import smtplib

import pytest
from backoffice.contracts.service import (
    check_returned_contracts,
    contract_statuses,
    issue_contract,
    issued_contract,
)
from backoffice.contracts.store import Contract
from backoffice.intake.service import run_intake
from backoffice.outbox.service import send_due
from backoffice.store import open_store
from sqlalchemy import select

from tests.contracts import pki, returns
from tests.contracts.requests import CUSTOMERS, form

pytestmark = [pytest.mark.smtp, pytest.mark.imap]


def send(test_servers, raw: bytes, sender: str, to: str) -> None:
    """Hand the customer's mail to the real SMTP server (it delivers into Dovecot)."""
    with smtplib.SMTP(test_servers.host, test_servers.smtp_port, timeout=30) as smtp:
        smtp.sendmail(sender, [to], raw)


def robots(store, settings):
    """What ``make run`` does for these robots, in order."""
    return (
        run_intake(store, settings),
        check_returned_contracts(store, settings),
        send_due(store, settings),
    )


def pdfs(message) -> dict[str, bytes]:
    return {
        part.get_filename(): part.get_content()
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    }


def test_contract_by_mail_from_the_form_to_the_signed_copy(
    mailbox, imap_settings, test_servers, db_url: str, tmp_path
) -> None:
    ours, jan, acme = mailbox("umowy"), mailbox("jan"), mailbox("acme")
    world = returns.make_pki(CUSTOMERS["pl"]["name"], jan.address)
    root = tmp_path / "root.pem"
    root.write_bytes(world.root.pem)
    settings = imap_settings(
        ours,
        database_url=db_url,
        mail_from=f"Biuro Serwis <{ours.address}>",
        outbox_transport="smtp",
        smtp_host=test_servers.host,
        smtp_port=test_servers.smtp_port,
        smtp_security="none",
        contract_trust_roots=str(root),
    )
    store = open_store(settings)

    # 1. Two forms: a Polish customer who signs by hand, an English one who signs digitally.
    polish = issue_contract(
        store,
        settings,
        form("pl", "K-2026-0301", customer={**CUSTOMERS["pl"], "email": jan.address}),
    )
    english = issue_contract(
        store,
        settings,
        form("en", "K-2026-0302", customer={**CUSTOMERS["en"], "email": acme.address}),
    )
    assert send_due(store, settings).sent == 2
    [contract_mail] = jan.wait_for(1)
    assert contract_mail["Message-ID"] == polish.message_id
    assert str(contract_mail["Subject"]) == "Oferta i umowa nr K-2026-0301"
    assert contract_mail["Content-Language"] == "pl"
    received = pdfs(contract_mail)
    assert sorted(received) == ["oferta_K-2026-0301.pdf", "umowa_K-2026-0301.pdf"]
    with store.session() as session:
        rows = {r.contract_id: r for r in session.scalars(select(Contract))}
        issued_pl = issued_contract(store, rows["K-2026-0301"])
        issued_en = issued_contract(store, rows["K-2026-0302"])
    assert received["umowa_K-2026-0301.pdf"] == issued_pl.pdf
    # The customer prints what arrived in the mailbox, not our copy.
    printed = dataclasses.replace(issued_pl, pdf=received["umowa_K-2026-0301.pdf"])

    # 2. Jan answers in the thread with a scan he forgot to sign: a Polish correction follows.
    first = "<skan-1@jan.example>"
    send(
        test_servers,
        returns.reply(
            [("skan.pdf", returns.signed_scan(printed, sign=False), "application/pdf")],
            message_id=first,
            sender=jan.address,
            to=ours.address,
            subject=f"Re: {contract_mail['Subject']}",
            in_reply_to=polish.message_id,
            references=[polish.message_id],
        ),
        jan.address,
        ours.address,
    )
    ours.wait_for(1)
    intake, contracts, outbox = robots(store, settings)
    assert (intake.stored, contracts.corrections, outbox.sent) == (1, 1, 1)
    [_, correction] = jan.wait_for(2)
    assert correction["In-Reply-To"] == first
    assert correction["References"].split() == [polish.message_id, first]
    assert correction["Content-Language"] == "pl"
    assert (
        str(correction["Subject"]) == "Umowa nr K-2026-0301: prosimy o poprawienie podpisanej umowy"
    )
    body = correction.get_body(preferencelist=("plain",)).get_content()
    last = issued_pl.page_count
    assert f"strona {last}: pole podpisu jest puste" in body
    assert "strona 1: brak parafy" in body
    assert contract_statuses(store)["K-2026-0301"] == ("correction_requested", "INITIALS_EMPTY")

    # 3. Jan sends the signed scan in the same thread; Acme sends a PAdES-signed PDF.
    send(
        test_servers,
        returns.reply(
            [("skan-podpisany.pdf", returns.signed_scan(printed), "application/pdf")],
            message_id="<skan-2@jan.example>",
            sender=jan.address,
            to=ours.address,
            subject=f"Re: {correction['Subject']}",
            in_reply_to=correction["Message-ID"],
            references=[*correction["References"].split(), correction["Message-ID"]],
        ),
        jan.address,
        ours.address,
    )
    acme_signer = pki.make_signer(
        CUSTOMERS["en"]["name"],
        world.root,
        email=acme.address,
        organization_identifier="VATPL-5260250274",
    )
    send(
        test_servers,
        returns.reply(
            [("contract-signed.pdf", pki.sign_pdf(issued_en.pdf, acme_signer), "application/pdf")],
            message_id="<signed@acme.example>",
            sender=acme.address,
            to=ours.address,
            subject="Re: Offer and contract K-2026-0302",
            in_reply_to=english.message_id,
            references=[english.message_id],
        ),
        acme.address,
        ours.address,
    )
    ours.wait_for(2)
    intake, contracts, outbox = robots(store, settings)
    assert (intake.stored, contracts.signed, contracts.corrections, outbox.sent) == (2, 2, 0, 0)
    assert contract_statuses(store) == {
        "K-2026-0301": ("signed", ""),
        "K-2026-0302": ("signed", ""),
    }
    with store.session() as session:
        kinds = {r.contract_id: r.signed_kind for r in session.scalars(select(Contract))}
    assert kinds == {"K-2026-0301": "scan", "K-2026-0302": "digital"}

    # 4. A rerun finds nothing to do and sends nothing.
    intake, contracts, outbox = robots(store, settings)
    assert (intake.stored, contracts.documents, outbox.sent) == (0, 0, 0)
    assert jan.count() == 2 and acme.count() == 1
    store.dispose()
