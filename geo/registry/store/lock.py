"""The registry's folder lock: a restore swaps the registry file only while no store connection is open on it.

See ``docs/trust.md``, "Restore while the app runs".
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo import settings
from geo.registry.store.base import RegistryBusyError

try:  # POSIX; on Windows there is no folder lock and a restore needs the app idle
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def _lock_dir(path: str | Path) -> str:
    # The folder of the real file: SQLite follows symlinks to name its journal.
    return os.path.dirname(os.path.realpath(path)) or "."


def lock_registry(path: str | Path, *, exclusive: bool = False, timeout: float | None = None) -> int | None:
    """Take the registry's folder lock; returns a descriptor for :func:`unlock_registry`.

    Every connection the store opens holds the lock shared for as long as it
    is open; :func:`geo.registry.backup.restore_registry` takes it exclusively while
    it swaps the file. So no store connection ever spans a swap: one opened
    on the old file and used after it would write into a file no longer in
    place, or take the new file's journal for a hot journal of its own and
    roll it into the old one (SQLite, "How To Corrupt An SQLite Database
    File", 2.4 and 1.4).

    The lock is ``flock`` on the registry's folder, not on the file:
    opening and closing another descriptor of the database file would
    release SQLite's own POSIX locks held by this process, and a lock file
    would sit beside the registry. Registries in one folder share it.

    Parameters
    ----------
    path : str or Path
        The registry (it need not exist).
    exclusive : bool
        Exclusive (a restore) or shared (everything else).
    timeout : float, optional
        Seconds to wait; default ``settings.REGISTRY_LOCK_TIMEOUT_S``.

    Returns
    -------
    int or None
        None where the platform or file system has no ``flock`` (then
        nothing is locked and a restore needs the app idle).

    Raises
    ------
    RegistryBusyError
        When the lock was not free within ``timeout``.
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(_lock_dir(path), os.O_RDONLY)
    except OSError:
        return None
    timeout = settings.REGISTRY_LOCK_TIMEOUT_S if timeout is None else timeout
    op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    # A restore polls often: shared holders come and go, and it must find a gap.
    longest = 0.002 if exclusive else 0.05
    deadline, delay = time.monotonic() + timeout, 0.0005
    while True:
        try:
            fcntl.flock(fd, op)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RegistryBusyError(path, timeout) from None
            time.sleep(delay)
            delay = min(delay * 2, longest)
        except OSError:  # no flock here (some network file systems)
            os.close(fd)
            return None


def unlock_registry(fd: int | None) -> None:
    """Release a lock taken by :func:`lock_registry` (closing the descriptor releases it)."""
    if fd is not None:
        os.close(fd)


@contextmanager
def registry_lock(path: str | Path, *, exclusive: bool = False, timeout: float | None = None) -> Iterator[None]:
    """:func:`lock_registry` as a context manager."""
    fd = lock_registry(path, exclusive=exclusive, timeout=timeout)
    try:
        yield
    finally:
        unlock_registry(fd)


def file_identity(path: str | Path) -> tuple[int, int] | None:
    """``(device, inode)`` of the file at ``path`` now, or None when there is none.

    A restore puts a new file in place, so the identity tells whether what
    was read earlier came from the registry that is there now.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
