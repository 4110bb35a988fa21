"""Check that a file a user gave is what its name says, before a reader opens it.

GDAL opens a path by what it finds inside, and follows what the file tells
it to: an OGR VRT (a few lines of XML) named ``candidates.gpkg`` can run SQL
against the registry, read the accounts file through ``CSV:`` or fetch
``/vsicurl/http://…`` from the server. So every file a user gives is held to
the format its name promises by its first bytes, and paths that GDAL (or a
URL opener) would treat as instructions are refused, before any reader sees
them. The readers themselves then use a parser for that one format only.
"""
from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

from geo import settings


class ReadError(Exception):
    """A file that cannot be read at all, with a message in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en


#: First bytes of each binary format a user may give.
_MAGIC = {
    "gpkg": (b"SQLite format 3\x00",),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "tiff": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
}
_FORMAT_NAMES = {"gpkg": "GeoPackage", "zip": "zip", "tiff": "GeoTIFF", "geojson": "GeoJSON"}

# GDAL's virtual file systems (/vsicurl/, /vsizip/, …), driver prefixes
# (CSV:, GPKG:, PG:, WMS: …; not a Windows drive letter) and URLs.
_GDAL_PATH = re.compile(r"^(/vsi[a-z0-9_]*/|[a-z][a-z0-9_+.-]+:)", re.IGNORECASE)


def what_it_holds(data: bytes) -> str:
    """A short name of what the first bytes of ``data`` look like (for messages)."""
    for fmt, magics in _MAGIC.items():
        if data.startswith(magics):
            return _FORMAT_NAMES[fmt]
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<ogrvrtdatasource") or b"<ogrvrtlayer" in head:
        return "OGR VRT"
    if head.startswith(b"<"):
        return "XML/HTML"
    if head[:1] in (b"{", b"["):
        return "JSON"
    return "text" if head and all(b >= 9 for b in head[:64]) else "binary data"


def check_content(data: bytes, fmt: str, filename: str) -> None:
    """Refuse ``data`` unless its first bytes are those of ``fmt``.

    Parameters
    ----------
    data
        The file's bytes (at least its first 512).
    fmt
        ``"gpkg"``, ``"zip"``, ``"tiff"`` or ``"geojson"``.
    filename
        The name the user gave, for the message.

    Raises
    ------
    ReadError
        ``wrong_content`` when the file holds something else (an OGR VRT
        named ``x.gpkg``, say).
    """
    if fmt == "geojson":
        ok = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[") or \
            data[:4].decode("utf-16", "ignore").lstrip("\ufeff \t\r\n")[:1] in ("{", "[")
    else:
        ok = data.startswith(_MAGIC[fmt])
    if not ok:
        name, found = _FORMAT_NAMES[fmt], what_it_holds(data)
        raise ReadError(
            "wrong_content",
            f"拒绝读取：{filename} 的内容不是 {name}（看起来是 {found}），请上传真正的 {name} 文件",
            f"refused: {filename} does not hold a {name} (it looks like {found}); upload a real {name} file")


def check_path(path: str | os.PathLike) -> Path:
    """The path of a user's file, refused unless it is a plain local file.

    Parameters
    ----------
    path
        A path given on the command line or by a caller.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ReadError
        ``refused_path`` for GDAL virtual paths (``/vsicurl/…``), driver
        prefixes (``CSV:…``, ``GPKG:…``), URLs and symbolic links;
        ``file_not_found`` for anything that is not a regular file.
    """
    text = os.fspath(path)
    if _GDAL_PATH.match(text) and not re.match(r"^[a-z]:[\\/]", text, re.IGNORECASE):
        raise ReadError("refused_path",
                        f"拒绝读取：{text[:200]} 不是本地文件路径（不接受网址、/vsi 路径或驱动前缀）",
                        f"refused: {text[:200]} is not a local file path (URLs, /vsi paths and driver prefixes "
                        "are not accepted)")
    p = Path(text)
    try:
        st = os.lstat(p)
    except OSError:
        raise ReadError("file_not_found", f"找不到文件：{text[:200]}", f"file not found: {text[:200]}") from None
    if stat.S_ISLNK(st.st_mode):
        raise ReadError("refused_path", f"拒绝读取：{text[:200]} 是符号链接，请给出文件本身",
                        f"refused: {text[:200]} is a symbolic link; give the file itself")
    if not stat.S_ISREG(st.st_mode):
        raise ReadError("file_not_found", f"不是普通文件：{text[:200]}", f"not a regular file: {text[:200]}")
    return p


def zip_member_is_link(info) -> bool:
    """Whether a zip member is a symbolic link (Unix mode in its external attributes)."""
    return stat.S_ISLNK(info.external_attr >> 16)


#: The ``ReadError`` arguments for an archive that expands too much.
ZIP_BOMB = ("zip_bomb", "压缩包解压后过大，拒绝读取", "the zip expands too much; refused")


def check_zip(zf: zipfile.ZipFile) -> None:
    """Refuse an archive whose members expand to far more than an upload may be.

    The sizes in a zip's directory are the sender's word. Every member is
    therefore decompressed once, in bounded chunks, with the declared size
    lifted, so that a member holding more than it declares (the usual zip
    bomb) is caught here; readers that later read a member whole (openpyxl
    does) then get exactly what was counted.
    """
    import copy

    cap = settings.ZIP_MAX_EXPANSION * settings.MAX_UPLOAD_BYTES
    members = [m for m in zf.infolist() if not m.is_dir()]
    if len(members) > settings.ZIP_MAX_MEMBERS or sum(m.file_size for m in members) > cap:
        raise ReadError(*ZIP_BOMB)
    total = 0
    for m in members:
        if m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ReadError("zip_method", f"压缩包使用了不支持的压缩方式（{m.compress_type}），请用普通 zip 重新压缩",
                            f"the zip uses an unsupported compression method ({m.compress_type}); re-zip it as a plain zip")
        unbounded = copy.copy(m)
        unbounded.file_size = cap + 1
        size = 0
        with zf.open(unbounded) as f:
            while chunk := f.read(1 << 20):
                size += len(chunk)
                if size > m.file_size or total + size > cap:
                    raise ReadError(*ZIP_BOMB)
        total += size
