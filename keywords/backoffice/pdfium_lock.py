"""One thread inside PDFium at a time.

PDFium is not thread-safe: two threads calling it at once, even on different documents,
corrupt or crash the process (pypdfium2, "Incompatibility with Threading"). The robots read
PDFs in worker processes, but the web app renders pages and issues contracts on a thread
pool, so every function that opens a PDF with pypdfium2 runs under ``serialised``, which
holds one process-wide lock from opening the document to closing it. Parallel PDF work
belongs in processes, where this lock is never contended.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

# Re-entrant: a serialised function may call another (render inside a read).
_LOCK = threading.RLock()


def serialised(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function`` holding the process-wide PDFium lock; it must close what it opens."""

    @functools.wraps(function)
    def locked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _LOCK:
            return function(*args, **kwargs)

    return locked
