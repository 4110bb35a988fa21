"""Private files: registry data, private exports, backups, accounts and scenarios.

Each is created mode ``settings.PRIVATE_FILE_MODE`` (0600) and every folder
made for them ``settings.PRIVATE_DIR_MODE`` (0700), whatever the process's
umask: the server and the command line run with the umask of whoever
started them, and a umask of 022 (the usual) leaves a new file readable by
every account on the machine, 000 writable too. A mode given to ``open``
or ``mkdir`` is only ever narrowed by the umask, never widened, so creating
with the private mode is enough; a file that already existed is narrowed
explicitly. Files a library creates itself (GDAL's GeoPackage writer) are
written inside a private temporary folder and moved into place, so they
are never, even briefly, open to others.

Folders that already exist (``data/``, a home directory) are left as they are.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geo import settings


def private_dir(folder: str | Path) -> Path:
    """Create ``folder`` and its missing parents with the private folder mode.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    Path
        ``folder``. An existing folder keeps its mode.
    """
    folder = Path(folder)
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    for f in reversed(missing):
        try:
            f.mkdir(mode=settings.PRIVATE_DIR_MODE)
        except FileExistsError:  # made meanwhile by another process: not ours to change
            continue
    return folder


def create_private(path: str | Path) -> Path:
    """Create ``path`` as an empty file with the private mode, replacing any file there.

    For SQLite: it keeps the mode of the file it opens, and gives its
    journal the database's mode, so a database begun in such a file stays
    private.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Path
    """
    path = Path(path)
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, settings.PRIVATE_FILE_MODE))
    return path


def write_private(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` with the private mode (an existing file is narrowed first).

    Parameters
    ----------
    path : str or Path
    data : bytes

    Returns
    -------
    Path
    """
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, settings.PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, settings.PRIVATE_FILE_MODE)  # an older file keeps its mode through O_TRUNC
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


@contextmanager
def private_output(path: str | Path) -> Iterator[Path]:
    """A path to write ``path`` through, for writers that create files themselves.

    Yields a path of the same name in a new private folder beside ``path``
    (so the move is a rename on the same file system); when the block ends
    without error, the file is given the private mode and moved onto
    ``path``. The folder is removed either way.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder must exist.
    """
    path = Path(path)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))  # mkdtemp makes it 0700
    try:
        out = staging / path.name
        yield out
        os.chmod(out, settings.PRIVATE_FILE_MODE)
        os.replace(out, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
