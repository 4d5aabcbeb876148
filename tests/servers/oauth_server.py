"""A tiny OAuth 2.0 authorization server for the tests: issues and introspects tokens.

Started by ``scripts/servers.sh start`` as a background process::

    .venv/bin/python tests/servers/oauth_server.py --state /tmp/backoffice-servers

The test Dovecot validates XOAUTH2 / OAUTHBEARER logins by asking it (passdb ``oauth2``,
``introspection_mode = post``). Endpoints, all on 127.0.0.1 (``--port``, 10080):

* ``POST /token`` (form ``username``, optional ``expires_in`` seconds, default 3600; may be
  negative for a token that is already expired): issues a fresh random bearer token for that
  user and answers like RFC 6749 5.1, ``{"access_token", "token_type", "expires_in"}``.
  A test stand-in for a real grant: anyone on loopback may ask.
* ``POST /revoke`` (form ``token``): RFC 7009 revocation, always ``200``.
* ``POST /introspect`` (form ``token``): RFC 7662 introspection, for the resource server
  only: HTTP Basic auth with the client ``--client-id`` / ``--client-secret`` (else
  ``401``). Answers ``{"active": true, "username": ..., "email": ..., "exp": ...}`` for a
  known, unexpired, unrevoked token and ``{"active": false}`` for anything else.

Tokens are kept as SHA-256 digests only (never the token itself) in ``STATE/oauth/tokens.json``,
rewritten atomically on every change, so a restart keeps them. Neither tokens nor client
secrets are logged.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger("oauth_server")

#: Form bodies are a token and a user name: anything larger is not a client of ours.
MAX_BODY_BYTES = 16 * 1024
DEFAULT_EXPIRES_IN = 3600


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Issued tokens by SHA-256 digest: ``{"username", "exp", "revoked"}``, kept on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._tokens: dict[str, dict[str, Any]] = json.loads(path.read_text())
        except FileNotFoundError:
            self._tokens = {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", path, exc)
            self._tokens = {}

    def issue(self, username: str, expires_in: int) -> str:
        token = secrets.token_urlsafe(32)
        now = int(time.time())
        with self._lock:
            # Drop tokens expired for a day: the file stays small however long it runs.
            self._tokens = {
                key: entry for key, entry in self._tokens.items() if entry["exp"] > now - 86400
            }
            self._tokens[digest(token)] = {"username": username, "exp": now + expires_in}
            self._save()
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            entry = self._tokens.get(digest(token))
            if entry is not None:
                entry["revoked"] = True
                self._save()

    def introspect(self, token: str) -> dict[str, Any]:
        with self._lock:
            entry = self._tokens.get(digest(token))
        if entry is None or entry.get("revoked") or entry["exp"] <= time.time():
            return {"active": False}
        return {
            "active": True,
            "username": entry["username"],
            "email": entry["username"],
            "token_type": "Bearer",
            "exp": entry["exp"],
        }

    def _save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self._tokens, indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)


class Handler(BaseHTTPRequestHandler):
    server: OAuthServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds only the path (tokens travel in the body): safe to log.
        log.info("%s %s", self.address_string(), format % args)

    def do_POST(self) -> None:
        routes = {"/token": self._token, "/revoke": self._revoke, "/introspect": self._introspect}
        route = routes.get(self.path.split("?", 1)[0])
        if route is None:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "invalid_request"})
            return
        body = self.rfile.read(length).decode("utf-8", "replace")
        form = {key: values[0] for key, values in parse_qs(body).items()}
        route(form)

    def _token(self, form: dict[str, str]) -> None:
        username = form.get("username", "").strip()
        try:
            expires_in = int(form.get("expires_in", DEFAULT_EXPIRES_IN))
        except ValueError:
            username = ""
        if not username:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "invalid_request"})
            return
        token = self.server.tokens.issue(username, expires_in)
        self._reply(
            HTTPStatus.OK,
            {"access_token": token, "token_type": "Bearer", "expires_in": expires_in},
        )

    def _revoke(self, form: dict[str, str]) -> None:
        if form.get("token"):
            self.server.tokens.revoke(form["token"])
        self._reply(HTTPStatus.OK, {})

    def _introspect(self, form: dict[str, str]) -> None:
        if not self._client_authenticated():
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", 'Basic realm="introspection"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = self.server.tokens.introspect(form.get("token", ""))
        log.info("introspection: active=%s user=%s", answer["active"], answer.get("username"))
        self._reply(HTTPStatus.OK, answer)

    def _client_authenticated(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, self.server.client_credentials)

    def _reply(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class OAuthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], tokens: TokenStore, credentials: bytes) -> None:
        super().__init__(address, Handler)
        self.tokens = tokens
        self.client_credentials = credentials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", required=True, help="state dir; tokens in STATE/oauth")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10080)
    parser.add_argument("--client-id", default="dovecot")
    parser.add_argument(
        "--client-secret-file",
        help="file holding the introspection client's secret (default STATE/oauth/client-secret)",
    )
    parser.add_argument("--pid-file", help="written once the server listens")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    state = Path(args.state) / "oauth"
    secret_file = Path(args.client_secret_file or state / "client-secret")
    try:
        secret = secret_file.read_text().strip()
    except OSError as exc:
        log.error("cannot read the client secret: %s", exc)
        return 1
    credentials = f"{args.client_id}:{secret}".encode()
    try:
        server = OAuthServer((args.host, args.port), TokenStore(state / "tokens.json"), credentials)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1

    def stop(*_: Any) -> None:
        # shutdown() waits for serve_forever(), which runs in this very thread: ask another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pid_file = Path(args.pid_file) if args.pid_file else None
    if pid_file:
        pid_file.write_text(f"{os.getpid()}\n")
    log.info("listening on %s:%d", args.host, args.port)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        log.info("stopped")
        if pid_file:
            try:
                if pid_file.read_text().strip() == str(os.getpid()):
                    pid_file.unlink()
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
