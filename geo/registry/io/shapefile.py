"""Read a zipped ESRI Shapefile: its parts checked first, then read through GDAL."""
from __future__ import annotations

import io
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

from geo import settings
from geo.registry.io.filecheck import ZIP_BOMB, ReadError, check_zip, zip_member_is_link
from geo.registry.io.table import RawTable, crs_name, from_geometries, too_many_rows


def _vector_frame(path: str, encoding: str | None = None):
    """A Shapefile whose parts were checked by :func:`shapefile_frame`, through GDAL, and any note."""
    import pyogrio

    kwargs = {"encoding": encoding} if encoding else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf = pyogrio.read_dataframe(path, **kwargs)
    notes = []
    if any("converted" in str(w.message) for w in caught):
        # GDAL replaced characters it could not convert; say so rather than hide it.
        notes.append("部分字符无法按文件编码转换，已被替换 / some characters could not be converted "
                     "from the file's encoding and were replaced")
    return gdf, notes


# The parts GDAL reads of a Shapefile; nothing else in a zip is written out.
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def _shapefile_parts(zf: zipfile.ZipFile) -> tuple[dict, list[str]]:
    """The members of the zip's one Shapefile by extension, and the names of those left unread."""
    members = [m for m in zf.infolist() if not m.is_dir()]
    if len(members) > settings.ZIP_MAX_MEMBERS or sum(m.file_size for m in members) > \
            settings.ZIP_MAX_EXPANSION * settings.MAX_UPLOAD_BYTES:
        raise ReadError(*ZIP_BOMB)
    links = [m.filename for m in members if zip_member_is_link(m)]
    if links:
        raise ReadError("refused_member", f"拒绝读取：压缩包含有符号链接 {links[0][:100]}",
                        f"refused: the zip holds a symbolic link, {links[0][:100]}")
    shp = [m for m in members if m.filename.lower().endswith(".shp")]
    if not shp:
        raise ReadError("no_shp", "压缩包中没有 .shp 文件", "no .shp file in the zip")
    stem = shp[0].filename[:-4]
    parts = {m.filename[len(stem):].lower(): m for m in members
             if m.filename.startswith(stem) and m.filename[len(stem):].lower() in _SHAPEFILE_PARTS}
    unread = [m.filename for m in members if m not in parts.values()]
    return parts, unread


def _shapefile_records(shp: bytes, dbf: bytes) -> int:
    """The number of records, checked between the .shp, the .dbf header and the .dbf's size.

    GDAL believes the .dbf header's record count; a header that understates
    it would make the rest of the file vanish without a word.
    """
    if len(shp) < 100 or struct.unpack(">i", shp[:4])[0] != 9994:
        raise ReadError("wrong_content", "拒绝读取：.shp 文件的内容不是 Shapefile",
                        "refused: the .shp file does not hold a Shapefile")
    if len(dbf) < 32 or dbf[0] & 0x07 not in (2, 3):
        raise ReadError("wrong_content", "拒绝读取：.dbf 文件的内容不是 dBASE 表",
                        "refused: the .dbf file does not hold a dBASE table")
    declared, header_len, record_len = struct.unpack("<IHH", dbf[4:12])
    held = (len(dbf) - header_len) // record_len if record_len else 0
    shapes, pos = 0, 100
    while pos + 8 <= len(shp):
        shapes += 1
        pos += 8 + 2 * struct.unpack(">i", shp[pos + 4:pos + 8])[0]
    if max(declared, held, shapes) > settings.MAX_ROWS:
        raise too_many_rows(max(declared, held, shapes))
    if not declared == held == shapes:
        raise ReadError(
            "count_mismatch",
            f"Shapefile 记录数不一致：.dbf 文件头写 {declared} 条，.dbf 实有 {held} 条，.shp 有 {shapes} 个图形；"
            "请在 GIS 软件中修复后重新导出",
            f"the Shapefile's record counts disagree: the .dbf header says {declared}, the .dbf holds {held} "
            f"and the .shp {shapes} shapes; repair it in a GIS and export it again")
    return declared


def shapefile_frame(data: bytes) -> tuple:
    """The zipped Shapefile's features, read through GDAL once its parts are checked.

    Parameters
    ----------
    data
        The zip's bytes.

    Returns
    -------
    (geopandas.GeoDataFrame, str, list of str)
        The features (CRS ``None`` without a .prj), the encoding used and
        bilingual notes.

    Raises
    ------
    ReadError
        For a zip bomb, a symbolic link, missing parts or record counts that
        disagree between the .shp and the .dbf.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        parts, unread = _shapefile_parts(zf)
        check_zip(_Subset(zf, list(parts.values())))
        if ".dbf" not in parts:
            raise ReadError("no_dbf", "Shapefile 缺少 .dbf 属性文件", "the Shapefile has no .dbf attribute file")
        if ".shp" not in parts:
            raise ReadError("no_shp", "压缩包中没有 .shp 文件", "no .shp file in the zip")
        contents = {ext: zf.read(m) for ext, m in parts.items()}
    _shapefile_records(contents[".shp"], contents[".dbf"])
    notes = []
    if ".prj" not in parts:
        notes.append("Shapefile 没有 .prj，坐标系未声明 / the Shapefile has no .prj; coordinate system not declared")
    if unread:
        notes.append(f"压缩包中未读取的文件：{'、'.join(unread[:10])} / files in the zip not read: {', '.join(unread[:10])}")
    with tempfile.TemporaryDirectory() as tmp:
        for ext, content in contents.items():
            # Written under a fixed safe name: a member named "../x" never leaves tmp.
            (Path(tmp) / f"layer{ext}").write_bytes(content)
        path = str(Path(tmp) / "layer.shp")
        # Chinese Shapefiles without a .cpg are usually GBK.
        for enc in ((None,) if ".cpg" in parts else ("utf-8", "gb18030", None)):
            try:
                gdf, more = _vector_frame(path, encoding=enc)
                break
            except Exception:
                if enc is None:
                    raise
    if ".prj" not in parts:
        gdf = gdf.set_crs(None, allow_override=True)
    return gdf, enc or "", notes + more


def read_shapefile_zip(data: bytes) -> RawTable:
    """Read a zipped Shapefile as a table with a point per feature (see :func:`shapefile_frame`)."""
    gdf, encoding, notes = shapefile_frame(data)
    props = gdf.drop(columns="geometry").to_dict("records")
    props = [{k: (None if (isinstance(v, float) and v != v) else v) for k, v in p.items()} for p in props]
    return RawTable(from_geometries(props, list(gdf.geometry)), encoding=encoding,
                    source_crs=crs_name(gdf.crs), notes=notes)


class _Subset:
    """A zip seen through some of its members (for :func:`check_zip`)."""

    def __init__(self, zf: zipfile.ZipFile, members: list):
        self._zf, self._members = zf, members

    def infolist(self) -> list:
        return self._members

    def open(self, member):
        return self._zf.open(member)
