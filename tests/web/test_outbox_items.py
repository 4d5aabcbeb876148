"""Outbox exceptions on the item page: the mail and its history, "Mark as sent", "Send again"
with corrected addresses, validation, audit and CSRF (SQLite and PostgreSQL)."""

from __future__ import annotations

import html

from backoffice.config import Settings
from backoffice.outbox import (
    OUTBOX_BOUNCED,
    OUTBOX_IN_DOUBT,
    Bounce,
    BounceRecipient,
    enqueue,
    record_bounce,
    send_due,
    service,
)
from backoffice.store import Store
from backoffice.store.models import OutboxMessage, ReviewItem
from backoffice.web.audit import history
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.web.support import add_staff, sign_in

WRONG = "Jan Kowalski <jan.kowalsky@klient.example>"
RIGHT = "jan.kowalski@klient.example"


def _mail(store: Store, settings: Settings, key: str) -> int:
    return enqueue(
        store,
        settings,
        key=key,
        to=[WRONG],
        cc=["ksiegowosc@firma.example"],
        subject="Przypomnienie: faktura FV/2026/11/0007 — напоминание",
        body_text="Dzień dobry,\nprzypominamy o zapłacie.\n",
        subject_type="invoice",
        subject_ref="7",
    ).id


def _item(store: Store, outbox_id: int, code: str) -> int:
    with store.session() as session:
        item = session.scalar(
            select(ReviewItem).where(
                ReviewItem.subject_type == "outbox",
                ReviewItem.subject_ref == str(outbox_id),
                ReviewItem.reason_code == code,
            )
        )
        assert item is not None
        return item.id


def in_doubt_item(store: Store, settings: Settings) -> tuple[int, int]:
    """An in-doubt mail as a robot killed mid-send leaves it: (outbox id, item id)."""
    outbox_id = _mail(store, settings, "web/doubt")
    with store.session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        row.transport, row.attempts = "smtp:primary", 1
        service._doubt(session, row, "the robot stopped while sending", "robot-1")
    return outbox_id, _item(store, outbox_id, OUTBOX_IN_DOUBT)


def bounced_item(store: Store, settings: Settings) -> tuple[int, int]:
    """A mail sent (to the Maildir) whose bounce came back: (outbox id, item id)."""
    outbox_id = _mail(store, settings, "web/bounced")
    assert send_due(store, settings).sent == 1
    with store.session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        bounce = Bounce(
            recipients=(
                BounceRecipient(
                    "jan.kowalsky@klient.example", "failed", "5.1.1", "550 user unknown"
                ),
            ),
            original_message_id=row.message_id,
        )
        assert record_bounce(session, bounce, message_pk=1, evidence={}) == "bounced"
    return outbox_id, _item(store, outbox_id, OUTBOX_BOUNCED)


def _row(store: Store, outbox_id: int) -> tuple:
    with store.session() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        return row.status, list(row.to_addrs), list(row.cc_addrs), row.attempts


def _item_status(store: Store, item_id: int) -> str:
    with store.session() as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        return item.status


def test_an_in_doubt_item_shows_the_mail_and_is_marked_sent(
    client: TestClient, store: Store, web_settings: Settings
) -> None:
    outbox_id, item_id = in_doubt_item(store, web_settings)
    add_staff(store, "ola", "clerk")
    token = sign_in(client, "ola")

    page = client.get(f"/queue/{item_id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert 'id="mail-status">in_doubt<' in text
    assert WRONG in text and "ksiegowosc@firma.example" in text
    assert "Przypomnienie: faktura FV/2026/11/0007 — напоминание" in text
    assert 'id="mark-sent"' in text and 'id="send-again"' in text
    assert 'id="send-back"' not in text  # a mail has no robot to go back to
    history_html = text[text.index('id="mail-history"') :]
    assert "queued for" in history_html and "the robot stopped while sending" in history_html
    assert history_html.count('data-status="') == 2

    done = client.post(
        f"/queue/{item_id}/mark-sent",
        data={"csrf_token": token, "note": "klient potwierdził"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/queue/{item_id}?done=mark_sent"
    assert _row(store, outbox_id)[0] == "sent"
    assert _item_status(store, item_id) == "done"
    with store.session() as session:
        on_item = [(e.actor, e.action) for e in history(session, "review_item", str(item_id))]
        on_mail = history(session, "outbox", str(outbox_id))
        assert on_item == [("ola", "review.mark_sent")]
        assert [(e.actor, e.action) for e in on_mail] == [("ola", "outbox.mark_sent")]
        assert on_mail[0].before["status"] == "in_doubt"
        assert on_mail[0].after["status"] == "sent"
    after = html.unescape(client.get(f"/queue/{item_id}?done=mark_sent").text)
    assert "Marked as sent" in after
    assert 'data-action="review.mark_sent"' in after and 'data-action="outbox.mark_sent"' in after
    assert "marked sent by ola: klient potwierdził" in after
    assert 'id="mark-sent"' not in after and 'id="send-again"' not in after


def test_a_bounced_item_goes_again_to_the_corrected_address(
    client: TestClient, store: Store, web_settings: Settings
) -> None:
    outbox_id, item_id = bounced_item(store, web_settings)
    add_staff(store, "ola", "clerk")
    token = sign_in(client, "ola")
    page = html.unescape(client.get(f"/queue/{item_id}").text)
    assert 'id="mark-sent"' not in page  # a bounced mail did not arrive
    assert 'name="to" id="resend-to" required maxlength="2000"' in page
    assert f'value="{WRONG}"' in page  # prefilled with the current address

    done = client.post(
        f"/queue/{item_id}/send-again",
        data={"csrf_token": token, "to": RIGHT, "cc": "", "note": "nowy adres od klienta"},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/queue/{item_id}?done=resend"
    assert _row(store, outbox_id) == ("retry", [RIGHT], [], 0)
    assert _item_status(store, item_id) == "done"
    with store.session() as session:
        audit = history(session, "outbox", str(outbox_id))
        assert [e.action for e in audit] == ["outbox.resend"]
        assert audit[0].before["to"] == [WRONG] and audit[0].after["to"] == [RIGHT]
    shown = html.unescape(client.get(f"/queue/{item_id}").text)
    assert f"recipients changed from {WRONG} (cc ksiegowosc@firma.example) to {RIGHT}" in shown
    # The robot's next run sends it, to the new address only.
    assert send_due(store, web_settings).sent == 1
    assert _row(store, outbox_id)[:2] == ("sent", [RIGHT])


def test_a_bad_address_is_refused_with_the_reason_and_changes_nothing(
    client: TestClient, store: Store, web_settings: Settings
) -> None:
    outbox_id, item_id = bounced_item(store, web_settings)
    add_staff(store, "ola", "clerk")
    token = sign_in(client, "ola")
    before = _row(store, outbox_id)
    refused = client.post(
        f"/queue/{item_id}/send-again",
        data={"csrf_token": token, "to": "jan.kowalski(at)klient.example", "cc": ""},
    )
    assert refused.status_code == 400
    text = html.unescape(refused.text)
    assert "To address 'jan.kowalski(at)klient.example' is not an email address" in text
    assert 'value="jan.kowalski(at)klient.example"' in text  # what was typed stays
    assert _row(store, outbox_id) == before
    assert _item_status(store, item_id) == "open"
    with store.session() as session:
        assert history(session, "outbox", str(outbox_id)) == []
        assert history(session, "review_item", str(item_id)) == []

    # Marking a bounced mail sent does not fit its status: said, nothing changes.
    wrong = client.post(f"/queue/{item_id}/mark-sent", data={"csrf_token": token})
    assert wrong.status_code == 400
    assert "is bounced; this needs in_doubt or failed" in html.unescape(wrong.text)
    assert _row(store, outbox_id) == before


def test_outbox_actions_need_the_csrf_token_and_an_outbox_item(
    client: TestClient, store: Store, web_settings: Settings
) -> None:
    outbox_id, item_id = in_doubt_item(store, web_settings)
    add_staff(store, "ola", "clerk")
    token = sign_in(client, "ola")
    before = _row(store, outbox_id)
    for action in ("mark-sent", "send-again"):
        missing = client.post(f"/queue/{item_id}/{action}", data={"to": RIGHT})
        assert missing.status_code == 403
        forged = client.post(f"/queue/{item_id}/{action}", data={"csrf_token": "x" * 43})
        assert forged.status_code == 403
    assert _row(store, outbox_id) == before
    assert _item_status(store, item_id) == "open"

    with store.session() as session:
        other = ReviewItem(
            subject_type="message", subject_ref="1", reason_code="BROKEN_MIME", reason="x"
        )
        session.add(other)
        session.flush()
        other_id = other.id
    not_mail = client.post(f"/queue/{other_id}/mark-sent", data={"csrf_token": token})
    assert not_mail.headers["location"] == f"/queue/{other_id}?error=NOT_AN_OUTBOX_ITEM"
    gone = client.post("/queue/999999/send-again", data={"csrf_token": token})
    assert gone.headers["location"] == "/queue/999999?error=NO_SUCH_ITEM"
    assert _row(store, outbox_id) == before
