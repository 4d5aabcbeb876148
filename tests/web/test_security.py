"""Security of the web app: sign-in on every route, CSRF on every POST, roles, downloads."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from backoffice.clock import utcnow
from backoffice.store import Store
from backoffice.store.models import ReviewItem
from backoffice.web.app import SESSION_COOKIE, is_public
from backoffice.web.models import AuditEntry, StaffSession, StaffUser
from sqlalchemy import select, update
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tests.web.support import PASSWORD, add_document_item, add_staff, csrf_of, sign_in

_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
#: A value for each path parameter, so each route is called on a real record.
_VALUES = {
    "item_id": "1",
    "number": "1",
    "action": "approve",
    "user_id": "1",
    "change": "disable",
    "table": "stages",
    "token": "K-2026-AAAAAAAAAA.not-a-signature",
}
#: Every route a stranger may reach, and why: adding one needs a reason here.
PUBLIC_ROUTES = {
    "/sign-in": "staff sign in",
    "/static": "style sheet and script",
    "/request": "the customer form (issue 6 item 5): own CSRF token, rate limit, honeypot",
    "/request/{token}": "its confirmation, reached by a signed link only",
}


def _routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, concrete path, pattern) for every route the app registers."""
    found = []
    for route in client.app.routes:
        if isinstance(route, Mount):
            found.append(("GET", route.path + "/app.css", route.path))
            continue
        assert isinstance(route, Route)
        path = _PARAM.sub(lambda m: _VALUES[m.group(1)], route.path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path, route.path))
    return found


@pytest.fixture
def seeded(store: Store) -> Store:
    add_staff(store, "admin", "admin")
    add_staff(store, "clerk", "clerk")
    add_document_item(store)
    return store


def test_every_route_but_the_public_allow_list_refuses_without_a_session(
    client: TestClient, seeded: Store
) -> None:
    routes = _routes(client)
    assert len(routes) >= 12
    public = {pattern for _m, path, pattern in routes if is_public(path)}
    assert public == set(PUBLIC_ROUTES), "a new public route needs a reason in PUBLIC_ROUTES"
    forged = {SESSION_COOKIE: "not-a-session.signature"}
    for method, path, pattern in routes:
        if pattern in public:
            if method == "GET":  # answered (the form is off here), never sent to sign in
                response = client.get(path)
                assert response.status_code in (200, 404), path
                assert "location" not in response.headers, path
            continue
        for cookies in ({}, forged):
            client.cookies.clear()
            client.cookies.update(cookies)
            response = client.request(method, path, data={"reason": "x", "assignee": "admin"})
            if method == "GET":
                assert response.status_code == 303, (method, path)
                assert response.headers["location"].startswith("/sign-in?next="), path
            else:
                assert response.status_code == 401, (method, path)
    with seeded.session() as session:
        assert session.get(ReviewItem, 1).status == "open"
        assert session.scalar(select(StaffUser.active).where(StaffUser.id == 1)) is True


def test_every_post_needs_the_session_csrf_token(client: TestClient, seeded: Store) -> None:
    token = sign_in(client, "admin")
    posts = [(m, p) for m, p, pattern in _routes(client) if m == "POST" and pattern != "/sign-in"]
    # The public customer form is among them: a staff token is no key to it either.
    assert {p for _m, p in posts} >= {"/queue/1/approve", "/admin/users", "/sign-out", "/request"}
    for _method, path in posts:
        for bad in ({}, {"csrf_token": ""}, {"csrf_token": token[:-2] + "xx"}):
            response = client.post(path, data={"reason": "x", "username": "eve", **bad})
            assert response.status_code == 403, path
            assert "CSRF" in response.text
        bad_header = client.post(path, headers={"X-CSRF-Token": "wrong"})
        assert bad_header.status_code == 403, path
    with seeded.session() as session:
        assert session.get(ReviewItem, 1).status == "open"
        assert session.scalar(select(StaffUser).where(StaffUser.username == "eve")) is None
    # The same request with the token goes through: the refusals above were the token.
    response = client.post("/queue/1/approve", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/queue/1?done=approve"


def test_sign_in_form_needs_its_own_token(client: TestClient, seeded: Store) -> None:
    client.get("/sign-in")
    response = client.post("/sign-in", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 403
    # A token from another browser (other cookie) does not fit this one.
    other = TestClient(client.app, follow_redirects=False)
    stolen = csrf_of(other.get("/sign-in").text)
    response = client.post(
        "/sign-in", data={"username": "admin", "password": PASSWORD, "csrf_token": stolen}
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies


def test_a_clerk_is_refused_on_the_managers_dashboard_and_its_csv(
    client: TestClient, seeded: Store
) -> None:
    add_staff(seeded, "manager", "manager")
    routes = [p for m, p, pattern in _routes(client) if pattern.startswith("/dashboard")]
    assert {"/dashboard", "/dashboard/stages.csv"} <= set(routes)
    sign_in(client, "clerk")
    for path in routes:
        assert client.get(path).status_code == 403, path
    assert 'href="/dashboard"' not in client.get("/queue").text
    client.cookies.clear()
    sign_in(client, "manager")
    for path in routes:
        assert client.get(path).status_code == 200, path
    assert 'href="/dashboard"' in client.get("/queue").text


def test_clerk_and_manager_are_refused_on_admin_pages(client: TestClient, seeded: Store) -> None:
    add_staff(seeded, "manager", "manager")
    admin_routes = [(m, p) for m, p, pattern in _routes(client) if pattern.startswith("/admin")]
    assert admin_routes
    for name in ("clerk", "manager"):
        client.cookies.clear()
        token = sign_in(client, name)
        for method, path in admin_routes:
            response = client.request(
                method,
                path,
                data={
                    "csrf_token": token,
                    "username": "mallory",
                    "role": "admin",
                    "password": "x" * 20,
                },
            )
            assert response.status_code == 403, (name, method, path)
        assert "/admin/users" not in client.get("/queue").text
    with seeded.session() as session:
        assert session.scalar(select(StaffUser).where(StaffUser.username == "mallory")) is None
        assert session.scalar(select(StaffUser.active).where(StaffUser.id == 1)) is True
    client.cookies.clear()
    token = sign_in(client, "admin")
    assert client.get("/admin/users").status_code == 200
    response = client.post(
        "/admin/users",
        data={"csrf_token": token, "username": "Zofia", "role": "clerk", "password": "z" * 14},
    )
    assert response.headers["location"] == "/admin/users?done=user_added"
    with seeded.session() as session:
        zofia = session.scalar(select(StaffUser).where(StaffUser.username == "zofia"))
        assert zofia.role == "clerk"
        assert zofia.password_hash.startswith("$argon2id$")
        assert "z" * 14 not in zofia.password_hash
        entry = session.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "user.add", AuditEntry.subject_ref == "zofia"
            )
        )
        assert entry.actor == "admin"


def test_download_reaches_only_the_items_document(client: TestClient, seeded: Store) -> None:
    evil_item, _ = add_document_item(seeded, blob_path="../../../../../../etc/passwd", n=2)
    sign_in(client, "clerk")
    good = client.get("/queue/1/document")
    assert good.status_code == 200
    assert good.content.startswith(b"%PDF")
    assert good.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in good.headers["content-security-policy"]
    assert good.headers["x-content-type-options"] == "nosniff"
    for path in (
        f"/queue/{evil_item}/document",
        f"/queue/{evil_item}/pages/1.png",
        "/queue/1/document/../../../../etc/passwd",
        "/queue/..%2f..%2f..%2fetc%2fpasswd/document",
        "/queue/1%2f..%2f..%2fetc%2fpasswd/document",
        "/static/../../../../etc/passwd",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e/%2e%2e/%2e%2e/store/db.py",
        "/queue/999/document",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"root:" not in response.content, path


def test_html_is_served_as_a_download_never_as_a_page(client: TestClient, seeded: Store) -> None:
    item, _ = add_document_item(
        seeded,
        data=b"<script>alert(1)</script>",
        filename='x".html',
        content_type="text/html",
        n=3,
    )
    sign_in(client, "clerk")
    response = client.get(f"/queue/{item}/document")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith('attachment; filename="x_.html"')


def test_sign_out_expiry_and_disabling_end_the_session(client: TestClient, seeded: Store) -> None:
    token = sign_in(client, "clerk")
    cookie = client.cookies[SESSION_COOKIE]
    assert client.get("/queue").status_code == 200
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 303
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/queue").status_code == 303, "a signed-out cookie still worked"

    client.cookies.clear()
    sign_in(client, "clerk")
    with seeded.session() as session:
        session.execute(update(StaffSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/queue").status_code == 303, "an expired session still worked"

    client.cookies.clear()
    sign_in(client, "clerk")
    admin = TestClient(client.app, follow_redirects=False)
    admin_token = sign_in(admin, "admin")
    clerk_id = 2
    response = admin.post(f"/admin/users/{clerk_id}/disable", data={"csrf_token": admin_token})
    assert response.headers["location"] == "/admin/users?done=user_changed"
    assert client.get("/queue").status_code == 303, "a disabled user's session still worked"


def test_wrong_passwords_lock_the_account(client: TestClient, seeded: Store) -> None:
    for _ in range(5):
        form = csrf_of(client.get("/sign-in").text)
        response = client.post(
            "/sign-in", data={"username": "clerk", "password": "wrong", "csrf_token": form}
        )
        assert response.headers["location"].startswith("/sign-in?error=SIGN_IN_FAILED")
    form = csrf_of(client.get("/sign-in").text)
    response = client.post(
        "/sign-in", data={"username": "clerk", "password": PASSWORD, "csrf_token": form}
    )
    assert response.headers["location"].startswith("/sign-in?error="), "locked, yet signed in"
    with seeded.session() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "clerk"))
        assert user.locked_until is not None


def test_sign_in_goes_back_only_to_a_local_page(client: TestClient, seeded: Store) -> None:
    for target, expected in (
        ("/queue/1", "/queue/1"),
        ("https://evil.example/", "/queue"),
        ("//evil.example/", "/queue"),
        ("/\\evil.example", "/queue"),
    ):
        client.cookies.clear()
        page = client.get("/sign-in", params={"next": target})
        response = client.post(
            "/sign-in",
            data={
                "username": "clerk",
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
                "next": target,
            },
        )
        assert response.headers["location"] == expected, target
