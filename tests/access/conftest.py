"""Fixtures of the access tests: a seller's store and a real provisioning HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.access.receiver import Receiver, serve
from tests.billing.conftest import billing_store, seller_settings

__all__ = ["billing_store", "receiver", "seller_settings"]

SECRET = "whsec-test-9f2c"


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """(receiver, URL): a provisioning service on 127.0.0.1 that checks signatures."""
    state = Receiver(secret=SECRET)
    server, url = serve(state)
    try:
        yield state, url
    finally:
        state.release()
        server.shutdown()
        server.server_close()
