"""The review queue: keyset paging, filters, decisions with audit, page images with boxes."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from backoffice.clock import utcnow
from backoffice.store import Store
from backoffice.store.models import Document, ReviewItem
from backoffice.web import queue
from backoffice.web.audit import history
from backoffice.web.documents import HIGHLIGHT, MAX_SIDE, fields_of, page_count, render_page
from backoffice.web.models import ReviewDecision
from backoffice.web.queue import QueueError, QueueFilter, decide, list_page
from PIL import Image
from sqlalchemy import select, text
from starlette.testclient import TestClient

from tests.web.support import TOTAL_BOX, add_document_item, add_items, add_staff, sign_in


def _walk(store: Store, flt: QueueFilter, size: int) -> list[int]:
    seen: list[int] = []
    after = None
    with store.session() as session:
        while True:
            page = list_page(session, flt, after=after, size=size)
            seen += [item.id for item in page.items]
            if page.next_after is None:
                return seen
            after = page.next_after


def test_keyset_paging_visits_every_item_once_oldest_first(store: Store) -> None:
    start = utcnow() - timedelta(days=1)
    # Two items share each timestamp: the id breaks the tie, none is skipped or repeated.
    ids = add_items(store, 23, start=start, step=timedelta(0)) + add_items(
        store, 24, start=start + timedelta(seconds=1)
    )
    assert _walk(store, QueueFilter(), size=5) == ids
    with store.session() as session:
        second = list_page(session, QueueFilter(), after=ids[4], size=5)
        assert [i.id for i in second.items] == ids[5:10]
        back = list_page(session, QueueFilter(), before=second.prev_before, size=5)
        assert [i.id for i in back.items] == ids[0:5]
        assert back.prev_before is None
        last = list_page(session, QueueFilter(), after=ids[-3], size=5)
        assert [i.id for i in last.items] == ids[-2:] and last.next_after is None
        assert second.total == len(ids) and not second.total_capped


def test_filters_by_kind_reason_assignee_and_age(store: Store) -> None:
    now = utcnow()
    add_staff(store, "ola", "clerk")
    old = add_items(store, 3, start=now - timedelta(days=10), reason_code="OLD_ONE")
    mid = add_items(store, 2, start=now - timedelta(days=2), subject_type="outbox")
    new = add_items(store, 4, start=now - timedelta(hours=2), assignee="ola")
    with store.session() as session:
        done = session.get(ReviewItem, new[0])
        done.status = "done"

    def ids(**flt: str) -> list[int]:
        return _walk(store, QueueFilter(**flt), size=2)

    assert ids() == old + mid + new[1:]
    assert ids(reason="OLD_ONE") == old
    assert ids(kind="outbox") == mid
    assert ids(assignee="ola") == new[1:]
    assert ids(assignee=queue.UNASSIGNED) == old + mid
    assert ids(age="7d+") == old
    assert ids(age="1-3d") == mid
    assert ids(age="1d") == new[1:]
    assert ids(age="3-7d") == []
    assert ids(status="done") == [new[0]]
    with store.session() as session:
        facets = queue.facets(session)
    assert facets.kinds == ["message", "outbox"]
    assert facets.reasons == ["BROKEN_MIME", "OLD_ONE"]
    assert facets.assignees == ["ola"]
    assert QueueFilter.parse({"status": "gone", "age": "1y", "kind": "x" * 500}) == QueueFilter(
        kind="x" * 64
    )


def test_queue_reads_through_the_filter_indexes(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    add_items(store, 3)
    with store.session() as session:
        for flt, index in (
            (QueueFilter(), "ix_review_queue"),
            (QueueFilter(reason="X"), "ix_review_queue_reason"),
            (QueueFilter(kind="X"), "ix_review_queue_kind"),
            (QueueFilter(assignee="X"), "ix_review_queue_assignee"),
        ):
            stmt = queue._filtered(select(ReviewItem), flt, utcnow()).order_by(
                ReviewItem.created_at, ReviewItem.id
            )
            compiled = stmt.compile(session.bind, compile_kwargs={"literal_binds": True})
            plan = " ".join(
                str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
            assert f"USING INDEX {index} " in plan, plan
            assert "TEMP B-TREE" not in plan, plan


def test_decisions_are_audited_with_before_and_after(store: Store) -> None:
    add_staff(store, "ola", "clerk")
    item_id, doc_id = add_document_item(store)
    other, _ = add_document_item(store, n=2)
    third, third_doc = add_document_item(store, n=3)
    with store.session() as session:
        queue.assign(session, item_id, "ola", actor="admin")
        decide(session, item_id, "approve", actor="ola")
    with store.session() as session:
        item = session.get(ReviewItem, item_id)
        assert item.status == "done" and item.closed_at is not None
        entries = history(session, "review_item", str(item_id))
        assert [(e.actor, e.action) for e in entries] == [
            ("admin", "review.assign"),
            ("ola", "review.approve"),
        ]
        assert entries[0].before["assignee"] == "" and entries[0].after["assignee"] == "ola"
        assert entries[1].before["status"] == "open" and entries[1].after["status"] == "done"
        decision = session.scalar(select(ReviewDecision))
        assert (decision.outcome, decision.decided_by) == ("approve", "ola")
    with pytest.raises(QueueError) as twice, store.session() as session:
        decide(session, item_id, "reject", actor="ola", reason="late")
    assert twice.value.code == "ALREADY_DECIDED"
    with pytest.raises(QueueError) as no_reason, store.session() as session:
        decide(session, other, "reject", actor="ola", reason="  ")
    assert no_reason.value.code == "REASON_REQUIRED"
    with pytest.raises(QueueError) as nobody, store.session() as session:
        queue.assign(session, other, "ghost", actor="ola")
    assert nobody.value.code == "NO_SUCH_USER"
    with store.session() as session:
        decide(session, other, "reject", actor="ola", reason="Not our invoice")
        decide(session, third, "send_back", actor="ola")
    with store.session() as session:
        assert session.get(ReviewItem, other).status == "done"
        assert history(session, "review_item", str(other))[-1].after["reason"] == (
            "Not our invoice"
        )
        document = session.get(Document, third_doc)
        assert document.status == "new" and document.attempts == 0
        back = history(session, "document", str(third_doc))
        assert [(e.action, e.before["status"], e.after["status"]) for e in back] == [
            ("document.send_back", "review", "new")
        ]
        # Approving leaves the document where the robot put it.
        assert session.get(Document, doc_id).status == "review"


def test_page_image_highlights_the_fields_box(store: Store) -> None:
    item_id, doc_id = add_document_item(store)
    with store.session() as session:
        item = session.get(ReviewItem, item_id)
        document = session.get(Document, doc_id)
        fields = fields_of(item.evidence)
        marked = Image.open(io.BytesIO(render_page(store.blobs, document, 1, fields)))
        plain = Image.open(io.BytesIO(render_page(store.blobs, document, 1, [])))
        page_two = Image.open(io.BytesIO(render_page(store.blobs, document, 2, fields)))
    assert max(marked.size) == MAX_SIDE
    scale = MAX_SIDE / 842  # A4 is 842 points high
    x0, y0, x1, y1 = (v * scale for v in TOTAL_BOX)
    left_edge = (round(x0 - 2), round((y0 + y1) / 2))
    top_edge = (round((x0 + x1) / 2), round(y0 - 2))
    for point in (left_edge, top_edge):
        assert marked.convert("RGB").getpixel(point) == HIGHLIGHT, point
        assert plain.convert("RGB").getpixel(point) != HIGHLIGHT, point
    # The box is on page 1; page 2 has no red at that place.
    assert page_two.convert("RGB").getpixel(left_edge) != HIGHLIGHT


def test_pages_drawn_on_many_threads_at_once_come_out_whole(store: Store) -> None:
    # The web app draws pages on a thread pool and PDFium is not thread-safe: unserialised,
    # this crashed the process (a segmentation fault in CI's browser test).
    item_id, doc_id = add_document_item(store)
    with store.session() as session:
        fields = fields_of(session.get(ReviewItem, item_id).evidence)
        document = session.get(Document, doc_id)
        session.expunge(document)
    expected = {n: render_page(store.blobs, document, n, fields) for n in (1, 2)}

    def draw(index: int) -> tuple[int, bytes, int]:
        number = index % 2 + 1
        return (
            number,
            render_page(store.blobs, document, number, fields),
            page_count(store.blobs, document),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        drawn = list(pool.map(draw, range(64)))
    assert all(png == expected[n] and pages == 2 for n, png, pages in drawn)


def test_item_page_shows_evidence_and_actions_over_http(store: Store, client: TestClient) -> None:
    add_staff(store, "ola", "clerk")
    item_id, _ = add_document_item(store)
    token = sign_in(client, "ola")
    page = client.get(f"/queue/{item_id}")
    assert page.status_code == 200
    for expected in (
        "TOTALS_MISMATCH",
        "100.00 + 23.00 is 123.00, the invoice says 132.00",
        "total_gross",
        "0.41",
        f"/queue/{item_id}/pages/1.png",
        f"/queue/{item_id}/pages/2.png",
        "FV_2026_11_0001.pdf",
    ):
        assert expected in page.text, expected
    image = client.get(f"/queue/{item_id}/pages/1.png")
    assert image.headers["content-type"] == "image/png"
    assert client.get(f"/queue/{item_id}/pages/3.png").status_code == 404
    listing = client.get("/queue", params={"reason": "TOTALS_MISMATCH"})
    assert f'href="/queue/{item_id}"' in listing.text
    response = client.post(
        f"/queue/{item_id}/reject", data={"csrf_token": token, "reason": "Wrong <b>buyer</b>"}
    )
    assert response.headers["location"] == f"/queue/{item_id}?done=reject"
    after = client.get(response.headers["location"]).text
    assert "review.reject" in after
    assert "Wrong &lt;b&gt;buyer&lt;/b&gt;" in after or "Wrong \\u003cb\\u003e" in after
    assert "<b>buyer</b>" not in after
    again = client.post(f"/queue/{item_id}/approve", data={"csrf_token": token})
    assert again.headers["location"] == f"/queue/{item_id}?error=ALREADY_DECIDED"
    assert client.post(f"/queue/{item_id}/delete", data={"csrf_token": token}).status_code == 404


def test_two_people_deciding_at_once_make_one_decision(store: Store) -> None:
    item_ids = add_items(store, 5)
    outcomes: dict[str, list[str]] = {"ok": [], "refused": []}
    barrier = threading.Barrier(2)

    def decide_all(actor: str, outcome: str) -> None:
        for item_id in item_ids:
            barrier.wait()
            try:
                with store.session() as session:
                    decide(session, item_id, outcome, actor=actor, reason="r")
                outcomes["ok"].append(actor)
            except QueueError as exc:
                assert exc.code == "ALREADY_DECIDED"
                outcomes["refused"].append(actor)

    threads = [
        threading.Thread(target=decide_all, args=("ola", "approve")),
        threading.Thread(target=decide_all, args=("jan", "reject")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes["ok"]) == len(item_ids) == len(outcomes["refused"])
    with store.session() as session:
        decided = session.scalars(select(ReviewDecision.review_item_id)).all()
        assert sorted(decided) == item_ids
        audits = [e.action for i in item_ids for e in history(session, "review_item", str(i))]
        assert len(audits) == len(item_ids)
