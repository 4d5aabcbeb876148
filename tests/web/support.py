"""Helpers for the web tests: staff accounts, a signed-in client, review items with documents."""

from __future__ import annotations

import io
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from backoffice.clock import utcnow
from backoffice.store import Store
from backoffice.store.models import Document, Message, ReviewItem
from backoffice.web.accounts import add_user
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from starlette.testclient import TestClient

PASSWORD = "correct horse battery staple"
#: Where the total sits on the test invoice's page 1: PDF points, origin top-left.
TOTAL_BOX = (100.0, 120.0, 220.0, 136.0)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_staff(store: Store, name: str, role: str, password: str = PASSWORD) -> str:
    """Create a staff account; returns its user name."""
    with store.session() as session:
        add_user(session, name, role, password, actor="test")
    return name


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    match = _TOKEN.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in through the form; returns the session's CSRF token."""
    form = client.get("/sign-in")
    assert form.status_code == 200
    response = client.post(
        "/sign-in",
        data={"username": name, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/queue", response.headers["location"]
    return csrf_of(client.get("/queue").text)


def invoice_pdf(pages: int = 2) -> bytes:
    """A small invoice PDF whose total sits in ``TOTAL_BOX`` on page 1."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    _width, height = A4
    for number in range(1, pages + 1):
        pdf.setFont("Helvetica", 12)
        pdf.drawString(100, height - 100, f"Faktura VAT FV/2026/11/{number:04d}")
        if number == 1:
            # The text's baseline sits near the bottom of TOTAL_BOX.
            pdf.drawString(TOTAL_BOX[0] + 4, height - TOTAL_BOX[3] + 4, "Razem: 123,00 PLN")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def add_document_item(
    store: Store,
    *,
    data: bytes | None = None,
    filename: str = "FV_2026_11_0001.pdf",
    content_type: str = "application/pdf",
    blob_path: str | None = None,
    reason_code: str = "TOTALS_MISMATCH",
    n: int = 1,
) -> tuple[int, int]:
    """A message with one document and an open review item about it: (item id, doc id)."""
    data = invoice_pdf() if data is None else data
    digest, relative = store.blobs.put(data)
    with store.session() as session:
        message = Message(
            dedupe_key=f"{n:064d}",
            message_id=f"<m{n}@example.test>",
            source="test",
            sender="faktury@dostawca.example",
            subject="Faktura",
            raw_sha256="0" * 64,
            raw_size=1,
            raw_path="x",
        )
        document = Document(
            position=1,
            filename=filename,
            content_type=content_type,
            size=len(data),
            sha256=digest,
            blob_path=relative if blob_path is None else blob_path,
            kind="invoice",
            status="review",
        )
        message.documents = [document]
        session.add(message)
        session.flush()
        item = ReviewItem(
            subject_type="document",
            subject_ref=str(document.id),
            reason_code=reason_code,
            reason="Net + VAT does not add up to the gross total.",
            evidence={
                "fields": {
                    "invoice_number": {"value": "FV/2026/11/0001", "confidence": 0.97, "page": 1},
                    "total_gross": {
                        "value": "123.00",
                        "confidence": 0.41,
                        "page": 1,
                        "box": list(TOTAL_BOX),
                    },
                },
                "problems": [
                    {
                        "code": "TOTALS_MISMATCH",
                        "field": "total_gross",
                        "message": "100.00 + 23.00 is 123.00, the invoice says 132.00",
                    }
                ],
            },
        )
        session.add(item)
        session.flush()
        return item.id, document.id


def add_items(
    store: Store,
    count: int,
    *,
    start: datetime | None = None,
    step: timedelta = timedelta(minutes=1),
    **values: Any,
) -> list[int]:
    """``count`` plain review items created ``step`` apart from ``start`` (oldest first)."""
    start = start or utcnow() - step * count
    ids = []
    batch = secrets.token_hex(4)
    with store.session() as session:
        for index in range(count):
            fields = {
                "subject_type": "message",
                "reason_code": "BROKEN_MIME",
                "reason": f"item {index}",
                **values,
            }
            item = ReviewItem(
                subject_ref=f"{batch}-{index}",
                created_at=start + step * index,
                **fields,
            )
            session.add(item)
            session.flush()
            ids.append(item.id)
    return ids
