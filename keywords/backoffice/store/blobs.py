"""Content-addressed files: raw emails and attachments, stored once by sha256."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

#: Temporary files: created here, never followed through a link, not inherited.
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
#: Makes temporary names unique within a process (the pid makes them unique across).
_TMP_NUMBERS = itertools.count()
#: Up to this many files and folders to sync, each is fsynced on its own; more, and one
#: sync of the file system (twice: bytes, then names) is cheaper. Measured on ext4 under
#: load: an fsync per new file and folder cost 5-7 ms per file, syncfs 0.8 ms per file
#: in batches of 50.
FSYNC_EACH_UP_TO = 4


class BlobStore:
    """Files named by their sha256 under ``root/ab/cd/<sha256>``.

    Writing is idempotent and crash-safe: the bytes go to a temporary file that is
    fsynced and renamed into place, then the folder is fsynced, so a path either holds
    the whole content or nothing, also after a power cut. :meth:`batch` does the same
    for many files with one round of syncs, which is what intake uses.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relative_path(self, digest: str) -> str:
        """Where a blob with this sha256 lives, relative to the root."""
        return f"{digest[:2]}/{digest[2:4]}/{digest}"

    def put(self, data: bytes) -> tuple[str, str]:
        """Store ``data`` durably; return its sha256 and relative path."""
        with self.batch() as batch:
            return batch.put(data)

    @contextlib.contextmanager
    def batch(self) -> Iterator[BlobBatch]:
        """Write several blobs, made durable together when the block ends without error.

        Paths handed out inside the block hold their content only after it ends, so
        records pointing to them must be committed after the block.
        """
        batch = BlobBatch(self)
        try:
            yield batch
        except BaseException:
            batch.discard()
            raise
        batch.sync()

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


class BlobBatch:
    """Blobs written now and made durable at once by :meth:`sync`.

    An fsync per file costs a journal commit each; here every file is written first,
    then their bytes are flushed, then they are renamed into place and the names are
    flushed (see ``FSYNC_EACH_UP_TO``). Nothing is visible under its final name before
    its bytes are on disk.
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        #: final path -> temporary file holding its bytes, not yet synced
        self._pending: dict[str, str] = {}
        #: folders whose entries change (or must be known durable) at sync
        self._folders: set[str] = set()

    def put(self, data: bytes) -> tuple[str, str]:
        """Write ``data`` unless already stored; return its sha256 and relative path."""
        digest = hashlib.sha256(data).hexdigest()
        relative = self.store.relative_path(digest)
        target = os.path.join(self.store.root, relative)
        folder = os.path.dirname(target)
        # A blob already in place may come from a run killed before it synced the
        # folder, so that folder is synced again before anything points at it.
        self._folders.add(folder)
        if target in self._pending:
            return digest, relative
        with contextlib.suppress(FileNotFoundError):
            if os.stat(target).st_size == len(data):
                return digest, relative
        tmp = os.path.join(folder, f".tmp-{digest[:16]}-{os.getpid()}-{next(_TMP_NUMBERS)}")
        try:
            fd = os.open(tmp, _TMP_FLAGS, 0o644)
        except FileNotFoundError:
            self._make_folders(folder)
            fd = os.open(tmp, _TMP_FLAGS, 0o644)
        except FileExistsError:  # left by a killed process that had our pid
            os.unlink(tmp)
            fd = os.open(tmp, _TMP_FLAGS, 0o644)
        try:
            with open(fd, "wb", closefd=True) as handle:
                handle.write(data)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._pending[target] = tmp
        return digest, relative

    def sync(self) -> None:
        """Make every blob of the batch durable under its final name."""
        if not self._pending and not self._folders:
            return
        if len(self._pending) + len(self._folders) <= FSYNC_EACH_UP_TO:
            for tmp in self._pending.values():
                _fsync_path(tmp, os.O_RDONLY)
            self._rename_all()
            for folder in sorted(self._folders, key=len, reverse=True):
                _fsync_path(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        else:
            if self._pending:
                _sync_filesystem(self.store.root)  # the bytes, before any name points at them
            self._rename_all()
            _sync_filesystem(self.store.root)  # the names
        self._folders.clear()

    def _rename_all(self) -> None:
        for target, tmp in self._pending.items():
            os.replace(tmp, target)
        self._pending.clear()

    def discard(self) -> None:
        """Remove the temporary files of a batch that will not be synced."""
        for tmp in self._pending.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._pending.clear()
        self._folders.clear()

    def _make_folders(self, folder: str) -> None:
        """Create ``ab/cd`` as needed; a new folder's parent gets synced too."""
        root = self.store.root
        if not root.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            self._folders.add(str(root.parent))
        for path in (os.path.dirname(folder), folder):
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            self._folders.add(os.path.dirname(path))


def _sync_filesystem(path: Path) -> None:
    """Flush the whole file system holding ``path`` (Linux syncfs, else sync)."""
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs failed: {os.strerror(errno)}", str(path))
    finally:
        os.close(fd)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _fsync_path(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
