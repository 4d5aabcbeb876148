"""The staff web app (``backoffice serve``): Starlette, Jinja2 pages, a little vanilla JS.

Security is deny-by-default and lives in one place, ``Guard``, in front of every route:

- every path needs a live session except ``PUBLIC_PATHS`` (the sign-in page, static files,
  the customer form ``/request`` and its confirmation pages, see ``web.public``);
- paths under ``ROLE_PREFIXES`` need that role or a more trusted one (``/admin``: admin);
- every request that is not GET/HEAD must carry the session's CSRF token (form field
  ``csrf_token`` or header ``X-CSRF-Token``); the sign-in form, before any session exists,
  carries a signed token bound to a cookie of its own, and so does the customer form;
- responses carry a strict Content-Security-Policy and no-store caching.

Routes do the work in a thread (the store is synchronous) and never touch the file system
except through the blob store by a row's id.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from itsdangerous import BadSignature, Signer
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from backoffice.clock import utcnow
from backoffice.config import Settings
from backoffice.invoices import profiles
from backoffice.outbox.compose import InvalidOutgoingMail
from backoffice.outbox.service import OutboxStateError
from backoffice.store import Store, open_store
from backoffice.store.models import ReviewItem
from backoffice.web import (
    accounts,
    corrections,
    dashboard,
    documents,
    outbox_items,
    public,
    queue,
)
from backoffice.web.accounts import AccountError, Staff
from backoffice.web.audit import history
from backoffice.web.models import ROLES

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "bo_session"
SIGN_IN_COOKIE = "bo_sign_in"
#: Paths reachable without a session (exact, or a prefix when ending in "/"). Keep it short:
#: tests/web/test_security.py checks every registered route against it.
PUBLIC_PATHS = ("/sign-in", "/static/", public.FORM_PATH, public.FORM_PATH + "/")
#: Path prefixes that need a role beyond clerk.
ROLE_PREFIXES = {"/admin": "admin", "/dashboard": "manager"}
#: Largest request body accepted (forms only; there are no uploads).
MAX_BODY = 64 * 1024
SAFE_METHODS = {"GET", "HEAD"}
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
#: Messages shown for ``?error=CODE`` after an action (the code alone travels in the URL).
ERRORS = {
    "ALREADY_DECIDED": "Someone closed this item already; nothing was changed.",
    "REASON_REQUIRED": "A rejection needs a reason.",
    "NO_SUCH_USER": "There is no active staff member with that name.",
    "NO_SUCH_ITEM": "That review item does not exist.",
    "USER_EXISTS": "A user with that name exists already.",
    "BAD_USERNAME": "A user name is 1-150 characters without spaces.",
    "BAD_ROLE": "Pick one of the roles offered.",
    "PASSWORD_TOO_SHORT": f"A password needs at least {accounts.MIN_PASSWORD_LENGTH} characters.",
    "SIGN_IN_FAILED": "Wrong user name or password, or the account is locked for a while.",
    "SELF_DISABLE": "You cannot disable your own account.",
    "FIELDS_INVALID": "Some values are not valid; nothing was saved. Look at the marked fields.",
    "FIELDS_MISSING": "Fill in the invoice number, dates, parties and total before approving.",
    "EMAIL_REQUIRED": "The correction email needs a subject and a text.",
    "NO_SENDER": "There is no address to send the correction to; nothing was changed.",
    "NOT_AN_INVOICE": "This item is not about an invoice.",
    "NOT_AN_OUTBOX_ITEM": "This item is not about an outgoing mail.",
}
#: Item actions by their URL word.
ACTIONS = {"approve": "approve", "reject": "reject", "send-back": "send_back", "assign": "assign"}
NOTICES = {
    "approve": "Approved.",
    "reject": "Rejected.",
    "send_back": "Sent back to the robot.",
    "assign": "Assignment saved.",
    "user_added": "User added.",
    "user_changed": "User changed.",
    "corrected": "Corrections saved; the rules ran again on the corrected values.",
    "unchanged": "Nothing was changed.",
    "approve_learned": "Approved; the invoice goes to export and the supplier's layout is "
    "remembered for its next invoices.",
    "reject_mailed": "Rejected; the correction email is queued to the sender in the thread.",
    "mark_sent": "Marked as sent; the mail's review items are closed.",
    "resend": "Queued to be sent again by the robot's next outbox run.",
}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def is_public(path: str) -> bool:
    """Whether ``path`` is reachable without signing in."""
    return any(path.startswith(p) if p.endswith("/") else path == p for p in PUBLIC_PATHS)


def required_role(path: str) -> str:
    """The least role that may open ``path``."""
    for prefix, role in ROLE_PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return role
    return ROLES[0]


class Guard:
    """ASGI middleware: session, role and CSRF checks before any route runs."""

    def __init__(self, app: Any, web: WebApp) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send, static=scope["path"].startswith("/static/"))
        request = Request(scope)
        path, method = scope["path"], scope["method"]
        staff = await run_in_threadpool(self.web.staff_for, request.cookies.get(SESSION_COOKIE))
        scope.setdefault("state", {})["staff"] = staff
        if not is_public(path):
            if staff is None:
                if method in SAFE_METHODS:
                    target = "/sign-in?" + urlencode({"next": _local(path)})
                    response: Response = RedirectResponse(target, status_code=303)
                else:
                    response = PlainTextResponse("sign in first", status_code=401)
                await response(scope, receive, send)
                return
            if not staff.may(required_role(path)):
                await PlainTextResponse("not allowed for your role", status_code=403)(
                    scope, receive, send
                )
                return
        if method in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await PlainTextResponse("request too large", status_code=413)(scope, receive, send)
            return
        token = Headers(scope=scope).get("x-csrf-token") or _form_value(scope, body, "csrf_token")
        if staff is not None and not is_public(path):
            valid = accounts.same_token(token, staff.csrf_token)
        elif path == public.FORM_PATH:
            valid = self.web.customer_form.token_ok(token, request.cookies.get(public.COOKIE))
        else:
            valid = self.web.sign_in_token_ok(token, request.cookies.get(SIGN_IN_COOKIE))
        if not valid:
            await PlainTextResponse("missing or wrong CSRF token", status_code=403)(
                scope, receive, send
            )
            return
        await self.app(scope, _replay(body), send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _form_value(scope: Scope, body: bytes, name: str) -> str | None:
    content_type = Headers(scope=scope).get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return None
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if key == name:
            return value
    return None


def _with_security_headers(send: Send, *, static: bool) -> Send:
    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            extra = {
                b"content-security-policy": CSP.encode(),
                b"x-content-type-options": b"nosniff",
                b"x-frame-options": b"DENY",
                b"referrer-policy": b"same-origin",
                b"cache-control": b"private, max-age=3600" if static else b"no-store",
            }
            headers += [(k, v) for k, v in extra.items() if k not in names]
            message["headers"] = headers
        await send(message)

    return wrapped


def _local(target: str | None) -> str:
    """A same-site path to go back to after signing in (anything else goes to the queue)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    return target


class WebApp:
    """The app's state: settings, store, signer, templates; routes are its methods."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        secret = settings.web_session_secret
        if secret is None or not secret.get_secret_value():
            log.warning(
                "BACKOFFICE_WEB_SESSION_SECRET is not set: using a random one, so sessions "
                "end when the server restarts"
            )
            key = secrets.token_urlsafe(32)
        else:
            key = secret.get_secret_value()
        self.session_signer = Signer(key, salt="backoffice.web.session")
        self.sign_in_signer = Signer(key, salt="backoffice.web.sign-in")
        self.lifetime = timedelta(hours=settings.web_session_hours)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["when"] = _when
        self.templates.env.globals["ROLES"] = ROLES
        self.customer_form = public.CustomerForm(settings, store, self.templates, key)

    # --- sessions ---------------------------------------------------------------------
    def staff_for(self, cookie: str | None) -> Staff | None:
        """The signed-in staff member of a session cookie, or None."""
        if not cookie:
            return None
        try:
            token = self.session_signer.unsign(cookie).decode()
        except BadSignature:
            return None
        with self.store.session() as session:
            return accounts.session_staff(session, token)

    def sign_in_token_ok(self, token: str | None, cookie: str | None) -> bool:
        """Whether the sign-in form's token belongs to this browser's sign-in cookie."""
        if not token or not cookie:
            return False
        try:
            nonce = self.sign_in_signer.unsign(token).decode()
        except BadSignature:
            return False
        return accounts.same_token(nonce, cookie)

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        """Render a template with the signed-in staff member and any notice or error."""
        context.setdefault("staff", request.state.staff)
        context.setdefault("error", ERRORS.get(request.query_params.get("error", "")))
        context.setdefault("notice", NOTICES.get(request.query_params.get("done", "")))
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def _cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=self.settings.web_cookie_secure,
            path="/",
        )

    # --- sign-in ----------------------------------------------------------------------
    async def sign_in_form(self, request: Request) -> Response:
        nonce = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
        response = self.page(
            request,
            "sign_in.html",
            csrf_token=self.sign_in_signer.sign(nonce).decode(),
            next=_local(request.query_params.get("next")),
            staff=None,
        )
        self._cookie(response, SIGN_IN_COOKIE, nonce, 3600)
        return response

    async def sign_in(self, request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username", ""))[:150]
        password = str(form.get("password", ""))[:1000]
        target = _local(str(form.get("next", "")))

        def work() -> str | None:
            with self.store.session() as session:
                user = accounts.authenticate(session, username, password)
                if user is None:
                    return None
                return accounts.start_session(session, user, self.lifetime)

        token = await run_in_threadpool(work)
        if token is None:
            query = urlencode({"error": "SIGN_IN_FAILED", "next": target})
            return RedirectResponse(f"/sign-in?{query}", status_code=303)
        response = RedirectResponse(target, status_code=303)
        self._cookie(
            response,
            SESSION_COOKIE,
            self.session_signer.sign(token).decode(),
            int(self.lifetime.total_seconds()),
        )
        response.delete_cookie(SIGN_IN_COOKIE, path="/")
        return response

    async def sign_out(self, request: Request) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        try:
            token = self.session_signer.unsign(cookie).decode()
        except BadSignature:
            token = ""

        def work() -> None:
            with self.store.session() as session:
                accounts.end_session(session, token)

        await run_in_threadpool(work)
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/queue", status_code=303)

    # --- the queue --------------------------------------------------------------------
    async def queue_list(self, request: Request) -> Response:
        params = dict(request.query_params)
        flt = queue.QueueFilter.parse(params)
        after = _int(params.get("after"))
        before = _int(params.get("before"))

        def work() -> tuple[queue.QueuePage, queue.Facets]:
            with self.store.session() as session:
                page = queue.list_page(session, flt, after=after, before=before)
                session.expunge_all()
                return page, queue.facets(session, flt.status)

        page, facets = await run_in_threadpool(work)
        base = flt.query()
        return self.page(
            request,
            "queue.html",
            page=page,
            flt=flt,
            facets=facets,
            ages=list(queue.AGES),
            unassigned=queue.UNASSIGNED,
            now=utcnow(),
            next_url="/queue?" + urlencode(base | {"after": page.next_after})
            if page.next_after
            else None,
            prev_url="/queue?" + urlencode(base | {"before": page.prev_before})
            if page.prev_before
            else None,
        )

    async def item(self, request: Request) -> Response:
        item_id = request.path_params["item_id"]
        context = await run_in_threadpool(self._item_context, request, item_id)
        if context is None:
            return self.page(request, "not_found.html", status=404)
        return self.page(request, "item.html", **context)

    def _item_context(self, request: Request, item_id: int) -> dict[str, Any] | None:
        """What the item page shows (in a thread: the store is synchronous)."""
        with self.store.session() as session:
            item = session.get(ReviewItem, item_id)
            if item is None:
                return None
            document = documents.document_for(session, item)
            entries = history(session, "review_item", str(item.id))
            if document is not None:
                entries += history(session, "document", str(document.id))
            mail = outbox_items.details(session, self.store, item)
            if mail is not None:
                entries += history(session, outbox_items.SUBJECT, str(mail.id))
            entries.sort(key=lambda e: e.id)
            case = corrections.case_of(session, item)
            names = [s for s in queue.facets(session, "open").assignees]
            result = {
                "item": item,
                "document": document,
                "pages": documents.page_count(self.store.blobs, document)
                if document is not None
                else 0,
                "fields": documents.fields_of(item.evidence),
                "problems": documents.problems_of(item.evidence),
                "history": entries,
                "decisions": queue.decisions(session, item.id),
                "case": corrections.case_view(case) if case is not None else None,
                "mail": mail,
                "bad_fields": set(request.query_params.get("bad", "").split(",")),
                "staff_names": names,
                "evidence_json": json.dumps(
                    item.evidence, indent=2, ensure_ascii=False, default=str
                ),
            }
            session.expunge_all()
            return result

    async def item_document(self, request: Request) -> Response:
        item_id = request.path_params["item_id"]

        def work() -> tuple[bytes, str, str] | None:
            with self.store.session() as session:
                item = session.get(ReviewItem, item_id)
                document = documents.document_for(session, item) if item else None
                if document is None or not document.blob_path:
                    return None
                try:
                    data = self.store.blobs.read(document.blob_path)
                except (OSError, ValueError):
                    return None
                return data, documents.download_type(document), document.filename

        found = await run_in_threadpool(work)
        if found is None:
            return PlainTextResponse("no document for this item", status_code=404)
        data, content_type, filename = found
        return Response(
            data,
            media_type=content_type,
            headers={
                "content-disposition": _attachment(filename),
                # A stored file is never run as a page of ours, whatever it holds.
                "content-security-policy": "sandbox; default-src 'none'",
            },
        )

    async def item_page_image(self, request: Request) -> Response:
        item_id = request.path_params["item_id"]
        number = request.path_params["number"]

        def work() -> bytes | str:
            with self.store.session() as session:
                item = session.get(ReviewItem, item_id)
                document = documents.document_for(session, item) if item else None
                if item is None or document is None:
                    return "no document for this item"
                try:
                    return documents.render_page(
                        self.store.blobs, document, number, documents.marked_fields(item.evidence)
                    )
                except documents.RenderError as exc:
                    return str(exc)

        result = await run_in_threadpool(work)
        if isinstance(result, str):
            return PlainTextResponse(result, status_code=404)
        return Response(result, media_type="image/png")

    async def item_action(self, request: Request) -> Response:
        item_id = request.path_params["item_id"]
        if request.path_params["action"] in outbox_items.ACTIONS:
            return await self._outbox_action(request, item_id)
        action = ACTIONS.get(request.path_params["action"])
        if action is None:
            return PlainTextResponse("no such action", status_code=404)
        form = await request.form()
        staff: Staff = request.state.staff
        if action in ("approve", "reject") and await run_in_threadpool(self._is_case, item_id):
            return await self._case_action(item_id, action, form, staff)

        def work() -> None:
            with self.store.session() as session:
                if action == "assign":
                    queue.assign(
                        session, item_id, str(form.get("assignee", "")), actor=staff.username
                    )
                else:
                    queue.decide(
                        session,
                        item_id,
                        action,
                        actor=staff.username,
                        reason=str(form.get("reason", ""))[:2000],
                    )

        try:
            await run_in_threadpool(work)
        except queue.QueueError as exc:
            return RedirectResponse(f"/queue/{item_id}?error={exc.code}", status_code=303)
        return RedirectResponse(f"/queue/{item_id}?done={action}", status_code=303)

    # --- invoice cases: correct, approve, reject with an email ---------------------------
    def _is_case(self, item_id: int) -> bool:
        with self.store.session() as session:
            item = session.get(ReviewItem, item_id)
            return item is not None and corrections.case_of(session, item) is not None

    async def _case_action(self, item_id: int, action: str, form: Any, staff: Staff) -> Response:
        def work() -> str:
            if action == "approve":
                with self.store.session() as session:
                    wanted = corrections.learning_input(session, self.store, item_id)
                # Outside any transaction: a scanned page is OCRed to find the values.
                pages = profiles.page_texts(wanted.path, wanted.pages) if wanted.path else []
                with self.store.session() as session:
                    learned = corrections.approve(
                        session, self.settings, item_id, actor=staff.username, pages=pages
                    )
                return "approve_learned" if learned.get("layout") else "approve"
            with self.store.session() as session:
                corrections.reject(
                    session,
                    self.store,
                    self.settings,
                    item_id,
                    actor=staff.username,
                    reason=str(form.get("reason", ""))[:2000],
                    subject=str(form.get("subject", "")),
                    body=str(form.get("body", "")),
                )
            return "reject_mailed"

        try:
            done = await run_in_threadpool(work)
        except queue.QueueError as exc:
            return RedirectResponse(f"/queue/{item_id}?error={exc.code}", status_code=303)
        return RedirectResponse(f"/queue/{item_id}?done={done}", status_code=303)

    # --- outbox exceptions: mark sent, send again -----------------------------------------
    async def _outbox_action(self, request: Request, item_id: int) -> Response:
        action = outbox_items.ACTIONS[request.path_params["action"]]
        form = await request.form()
        staff: Staff = request.state.staff
        to = outbox_items.addresses(form.get("to"))
        cc = outbox_items.addresses(form.get("cc"))

        def work() -> None:
            with self.store.session() as session:
                outbox_id = outbox_items.for_item(session, item_id)
                outbox_items.settle(
                    session,
                    self.store,
                    outbox_id,
                    action,
                    actor=staff.username,
                    note=str(form.get("note", "")),
                    to=to,
                    cc=cc,
                )

        try:
            await run_in_threadpool(work)
        except queue.QueueError as exc:
            return RedirectResponse(f"/queue/{item_id}?error={exc.code}", status_code=303)
        except (OutboxStateError, InvalidOutgoingMail) as exc:
            # The reason names the address or the status: show it with what was typed.
            context = await run_in_threadpool(self._item_context, request, item_id)
            if context is None:
                return self.page(request, "not_found.html", status=404)
            typed = {"to": to, "cc": cc, "note": str(form.get("note", ""))[:2000]}
            return self.page(
                request, "item.html", status=400, error=str(exc), typed=typed, **context
            )
        return RedirectResponse(f"/queue/{item_id}?done={action}", status_code=303)

    async def item_fields(self, request: Request) -> Response:
        item_id = request.path_params["item_id"]
        form = await request.form()
        staff: Staff = request.state.staff
        typed = {
            key[2:]: str(value)[:1000]
            for key, value in form.multi_items()
            if key.startswith("f_") and isinstance(value, str)
        }

        def work() -> dict[str, tuple[str, str]]:
            with self.store.session() as session:
                return corrections.correct(
                    session, self.settings, item_id, typed, actor=staff.username
                )

        try:
            changes = await run_in_threadpool(work)
        except corrections.FieldsInvalid as exc:
            query = urlencode({"error": exc.code, "bad": ",".join(sorted(exc.errors))})
            return RedirectResponse(f"/queue/{item_id}?{query}", status_code=303)
        except queue.QueueError as exc:
            return RedirectResponse(f"/queue/{item_id}?error={exc.code}", status_code=303)
        if form.get("then") == "approve":
            return await self._case_action(item_id, "approve", form, staff)
        done = "corrected" if changes else "unchanged"
        return RedirectResponse(f"/queue/{item_id}?done={done}", status_code=303)

    async def validate_field(self, request: Request) -> Response:
        """Check one typed value as the robot would read it (the form's as-you-type check)."""
        try:
            data = json.loads(await request.body())
            name = str(data["field"])[:64]
            value = str(data.get("value", ""))[:1000]
            language = str(data.get("language") or "")[:8] or None
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"ok": False, "error": "bad request"}, status_code=400)
        try:
            parsed = profiles.parse_field(name, value, language)
        except profiles.FieldInvalid as exc:
            return JSONResponse({"ok": False, "error": exc.reason})
        return JSONResponse({"ok": True, "shown": parsed.shown})

    # --- the managers' dashboard ----------------------------------------------------------
    async def dashboard_page(self, request: Request) -> Response:
        def work() -> dashboard.Dashboard:
            with self.store.session() as session:
                return dashboard.build(session, self.settings)

        board = await run_in_threadpool(work)
        return self.page(request, "dashboard.html", board=board, charts=dashboard.charts(board))

    async def dashboard_csv(self, request: Request) -> Response:
        name = request.path_params["table"]

        def work() -> dashboard.Dashboard:
            with self.store.session() as session:
                return dashboard.build(session, self.settings)

        board = await run_in_threadpool(work)
        table = board.table(name)
        if table is None:
            return PlainTextResponse("no such table", status_code=404)
        return Response(
            dashboard.csv_text(table),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": _attachment(f"{name}.csv")},
        )

    # --- administration ---------------------------------------------------------------
    async def users(self, request: Request) -> Response:
        def work() -> list[Any]:
            with self.store.session() as session:
                rows = accounts.users(session)
                session.expunge_all()
                return rows

        return self.page(request, "users.html", users=await run_in_threadpool(work))

    async def user_add(self, request: Request) -> Response:
        form = await request.form()
        staff: Staff = request.state.staff

        def work() -> None:
            with self.store.session() as session:
                accounts.add_user(
                    session,
                    str(form.get("username", "")),
                    str(form.get("role", "")),
                    str(form.get("password", "")),
                    display_name=str(form.get("display_name", "")),
                    actor=staff.username,
                )

        try:
            await run_in_threadpool(work)
        except AccountError as exc:
            return RedirectResponse(f"/admin/users?error={exc.code}", status_code=303)
        return RedirectResponse("/admin/users?done=user_added", status_code=303)

    async def user_active(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        if request.path_params["change"] not in ("enable", "disable"):
            return PlainTextResponse("no such change", status_code=404)
        active = request.path_params["change"] == "enable"
        staff: Staff = request.state.staff
        if user_id == staff.id and not active:
            return RedirectResponse("/admin/users?error=SELF_DISABLE", status_code=303)

        def work() -> None:
            with self.store.session() as session:
                accounts.set_active(session, user_id, active, actor=staff.username)

        try:
            await run_in_threadpool(work)
        except AccountError as exc:
            return RedirectResponse(f"/admin/users?error={exc.code}", status_code=303)
        return RedirectResponse("/admin/users?done=user_changed", status_code=303)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def _attachment(filename: str) -> str:
    """A Content-Disposition that names the file safely (RFC 6266 / 5987)."""
    from urllib.parse import quote

    ascii_name = "".join(ch if 32 < ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename)
    return (
        f"attachment; filename=\"{ascii_name or 'document'}\"; filename*=UTF-8''{quote(filename)}"
    )


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """The ASGI app over ``store`` (opened from the settings when not given)."""
    store = store or open_store(settings)
    web = WebApp(settings, store)
    routes = [
        Route("/", web.home, methods=["GET"]),
        Route("/sign-in", web.sign_in_form, methods=["GET"]),
        Route("/sign-in", web.sign_in, methods=["POST"]),
        Route("/sign-out", web.sign_out, methods=["POST"]),
        Route("/queue", web.queue_list, methods=["GET"]),
        Route("/queue/{item_id:int}", web.item, methods=["GET"]),
        Route("/queue/{item_id:int}/document", web.item_document, methods=["GET"]),
        Route("/queue/{item_id:int}/pages/{number:int}.png", web.item_page_image, methods=["GET"]),
        Route("/queue/validate", web.validate_field, methods=["POST"]),
        Route("/queue/{item_id:int}/fields", web.item_fields, methods=["POST"]),
        Route(
            "/queue/{item_id:int}/{action:str}",
            web.item_action,
            methods=["POST"],
        ),
        Route("/dashboard", web.dashboard_page, methods=["GET"]),
        Route("/dashboard/{table:str}.csv", web.dashboard_csv, methods=["GET"]),
        Route("/admin/users", web.users, methods=["GET"]),
        Route("/admin/users", web.user_add, methods=["POST"]),
        Route("/admin/users/{user_id:int}/{change:str}", web.user_active, methods=["POST"]),
        Route(public.FORM_PATH, web.customer_form.form_page, methods=["GET"]),
        Route(public.FORM_PATH, web.customer_form.submit, methods=["POST"]),
        Route(public.FORM_PATH + "/{token}", web.customer_form.done_page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(Guard, web=web)
    app.state.web = web
    return app
