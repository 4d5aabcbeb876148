"""Review queue page: response time with 100,000 items against the same page with 100.

Both stores (SQLite, the default) are filled the same way: items spread over 30 days with
ten reason codes, three kinds and a few assignees. The app answers in-process (Starlette's
TestClient, a signed-in clerk); each round asks both apps for the same pages, alternating,
so machine noise hits both. Pages: the first page, a page filtered by reason, and a page
deep in the queue (keyset cursor half-way). Target: the 100,000-item page within 1.5x of
the 100-item one.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.store import Store
from backoffice.store.blobs import BlobStore
from backoffice.store.db import make_engine
from backoffice.store.models import ReviewItem
from backoffice.web.accounts import add_user
from backoffice.web.app import create_app
from sqlalchemy import func, insert, select
from starlette.testclient import TestClient

SMALL, LARGE = 100, int(os.environ.get("BENCH_QUEUE_ITEMS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REQUESTS = int(os.environ.get("BENCH_QUEUE_REQUESTS", "40"))
PASSWORD = "bench-password-1234"  # noqa: S105 (a throw-away account in a temp store)
REASONS = [f"REASON_{n}" for n in range(10)]
KINDS = ["document", "message", "outbox"]
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _fill(store: Store, count: int) -> None:
    start = utcnow() - timedelta(days=30)
    step = timedelta(days=30) / count
    rows: list[dict[str, Any]] = [
        {
            "subject_type": KINDS[n % 3],
            "subject_ref": str(n),
            "reason_code": REASONS[n % 10],
            "reason": f"Item {n}: the robot could not decide this one.",
            "evidence": {"n": n},
            "status": "open" if n % 5 else "done",
            "assignee": "clerk" if n % 7 == 0 else "",
            "created_at": start + step * n,
        }
        for n in range(count)
    ]
    with store.session() as session:
        for i in range(0, count, 10_000):
            session.execute(insert(ReviewItem), rows[i : i + 10_000])
        add_user(session, "clerk", "clerk", PASSWORD, actor="bench")


def _client(home: Path, count: int) -> tuple[TestClient, Store]:
    store = Store(make_engine(f"sqlite:///{home}/store.db"), BlobStore(home / "blobs"))
    store.migrate()
    _fill(store, count)
    settings = Settings(home=home, web_session_secret="bench-" + "s" * 32, _env_file=None)
    client = TestClient(create_app(settings, store), follow_redirects=False)
    token = _TOKEN.search(client.get("/sign-in").text).group(1)
    signed = client.post(
        "/sign-in", data={"username": "clerk", "password": PASSWORD, "csrf_token": token}
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/queue"
    return client, store


def _pages(store: Store) -> dict[str, str]:
    with store.session() as session:
        open_ids = select(ReviewItem.id).where(ReviewItem.status == "open")
        middle = session.scalar(
            open_ids.order_by(ReviewItem.created_at, ReviewItem.id)
            .offset(session.scalar(select(func.count()).select_from(open_ids.subquery())) // 2)
            .limit(1)
        )
    return {
        "first page": "/queue",
        "filtered by reason": "/queue?reason=REASON_3",
        "deep page": f"/queue?after={middle}",
    }


def _time(client: TestClient, url: str) -> float:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, (url, response.status_code)
    assert 'href="/queue/' in response.text, url
    return elapsed


def run() -> list[str]:
    """Measure and return the lines to print."""
    with tempfile.TemporaryDirectory() as tmp:
        small_home, large_home = Path(tmp, "small"), Path(tmp, "large")
        small, small_store = _client(small_home, SMALL)
        large, large_store = _client(large_home, LARGE)
        pages = {
            name: (url, _pages(large_store)[name]) for name, url in _pages(small_store).items()
        }
        lines = []
        for name, (small_url, large_url) in pages.items():
            ratios, small_ms, large_ms = [], [], []
            for _ in range(ROUNDS):
                for _warm in range(3):
                    _time(small, small_url), _time(large, large_url)
                a, b = [], []
                for _ in range(REQUESTS):
                    a.append(_time(small, small_url))
                    b.append(_time(large, large_url))
                small_ms.append(statistics.median(a) * 1000)
                large_ms.append(statistics.median(b) * 1000)
                ratios.append(statistics.median(b) / statistics.median(a))
            lines.append(
                f"{name}: {statistics.median(large_ms):.1f} ms with {LARGE:,} items, "
                f"{statistics.median(small_ms):.1f} ms with {SMALL} "
                f"(median of {REQUESTS} requests x {ROUNDS} rounds)"
            )
            lines.append(
                f"RATIO queue {name} {LARGE:,}/{SMALL} items = {statistics.median(ratios):.2f} "
                "(target <= 1.5)"
            )
        for client, store in ((small, small_store), (large, large_store)):
            client.close()
            store.dispose()
    return lines
