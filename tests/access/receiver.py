"""A provisioning service standing in for the real one: a real HTTP server on 127.0.0.1.

It checks each request's ``X-Signature`` (HMAC-SHA256 of the raw body) against the shared
secret, counts every request, and acts on an ``Idempotency-Key`` once: a repeat of a key it
acted on gets 200 again and changes nothing, as the README asks of a receiver. ``answers``
scripts the status codes of the first requests per key (e.g. ``[503, 200]``); ``hang_first``
makes the first request of each key act and then not answer until ``release()``, like a
service whose answer is lost when the robot is killed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from backoffice.access.payload import signature_valid


@dataclass
class Delivery:
    """One request as received."""

    key: str
    body: bytes
    signature_ok: bool
    payload: dict[str, Any]


@dataclass
class Receiver:
    """The server's state, shared with its handler threads."""

    secret: str
    answers: dict[str, list[int]] = field(default_factory=dict)
    default_answers: list[int] = field(default_factory=list)
    hang_first: bool = False
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    #: How often each key was acted on (must stay 1).
    acted: Counter[str] = field(default_factory=Counter)
    got_request: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def handle(self, key: str, body: bytes, sig: str) -> tuple[int, bool]:
        """(status to answer, whether to hang before answering)."""
        ok = signature_valid(self.secret, body, sig)
        with self._lock:
            nth = self._seen[key]
            self._seen[key] += 1
            self.deliveries.append(Delivery(key, body, ok, json.loads(body) if ok else {}))
            if not ok:
                return 401, False
            script = self.answers.get(key, self.default_answers)
            status = script[nth] if nth < len(script) else 200
            if status == 200 and key not in self.acted:
                self.acted[key] += 1  # provision the customer: once per key
            hang = self.hang_first and nth == 0
        self.got_request.set()
        return status, hang

    def calls(self, key: str) -> int:
        """Requests received with this key."""
        return sum(1 for d in self.deliveries if d.key == key)

    def release(self) -> None:
        """Let hanging requests finish."""
        self._release.set()


def serve(receiver: Receiver) -> tuple[ThreadingHTTPServer, str]:
    """Start the server on a free port; (server, URL)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status, hang = receiver.handle(
                self.headers.get("Idempotency-Key", ""),
                body,
                self.headers.get("X-Signature", ""),
            )
            if receiver.delay:
                time.sleep(receiver.delay)
            if hang:
                receiver._release.wait(120)
            payload = b'{"ok": true}' if status == 200 else b'{"error": "no"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the robot is gone (killed): its answer is lost

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/provision"
