"""Content-addressed files: raw emails and attachments, stored once by sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class BlobStore:
    """Files named by their sha256 under ``root/ab/cd/<sha256>``.

    Writing is idempotent and crash-safe: the bytes go to a temporary file that is
    fsynced and renamed into place, so a path either holds the whole content or nothing.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relative_path(self, digest: str) -> str:
        """Where a blob with this sha256 lives, relative to the root."""
        return f"{digest[:2]}/{digest[2:4]}/{digest}"

    def put(self, data: bytes) -> tuple[str, str]:
        """Store ``data``; return its sha256 and relative path."""
        digest = hashlib.sha256(data).hexdigest()
        relative = self.relative_path(digest)
        target = self.root / relative
        if target.exists() and target.stat().st_size == len(data):
            return digest, relative
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest, relative

    def path(self, relative: str) -> Path:
        """The absolute path of a stored blob, refusing anything outside the root."""
        root = self.root.resolve()
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root):
            raise ValueError(f"blob path {relative!r} leaves the blob store")
        return candidate

    def read(self, relative: str) -> bytes:
        """The bytes of a stored blob."""
        return self.path(relative).read_bytes()
