"""Read CSV and other delimited text, whatever its encoding."""
from __future__ import annotations

import csv
import re

import pandas as pd

from geo import settings
from geo.registry.io.filecheck import ReadError
from geo.registry.io.table import (HEADER_SEARCH_ROWS, RawTable, clean_text, find_header, header_note,
                                   too_many_rows, unescape_formulas, unique_headers)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes of a text file, detecting the encoding.

    UTF-8 (with or without BOM) is tried first because it rarely decodes
    anything else by accident; then GB18030, the superset of the GBK that
    Excel in China saves; then charset-normalizer's best guess.

    Returns
    -------
    (str, str)
        The text and the name of the encoding used.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    head = data[:4000]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) >= max(2, len(head) // 20) and min(even, odd) * 4 <= max(even, odd):
        # UTF-16 without a BOM: the commas, digits and line ends of a table
        # have a zero byte, always on the same side (odd offsets in
        # little-endian files); other text rarely has zeros at all.
        return data.decode("utf-16-le" if odd > even else "utf-16-be", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
            # A UTF-8 file cut off inside its last character.
            return data.decode("utf-8", errors="replace"), "utf-8 (damaged bytes replaced)"
    mixed = _decode_mixed(data)
    if mixed is not None:
        return mixed, _MIXED
    try:
        return data.decode("gb18030"), "gbk/gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        return str(best), best.encoding
    return data.decode("gb18030", errors="replace"), "gb18030 (damaged bytes replaced)"


_MIXED = "utf-8 + gbk/gb18030 (mixed)"


def _decode_mixed(data: bytes) -> str | None:
    """Decode a file whose lines mix UTF-8 and GBK, line by line; ``None`` if it does not.

    Such files come from appending one office's export to another's. It is
    mixed when some non-ASCII lines are valid UTF-8 and others are not.
    """
    lines = data.split(b"\n")
    utf8 = other = 0
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 += 1
        except UnicodeDecodeError:
            other += 1
        if utf8 and other:
            break
    else:
        return None

    def one(line: bytes) -> str:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            return line.decode("gb18030", errors="replace")

    return "\n".join(one(line) for line in lines)


def read_csv(data: bytes) -> RawTable:
    """Read delimited text: encoding and delimiter detected, a title above the header skipped.

    Cells beyond the header's width are kept in an ``_extra`` column.

    Raises
    ------
    ReadError
        ``empty`` for a file without rows, ``too_many_rows`` past
        ``settings.MAX_ROWS`` (counted before any row is kept).
    """
    text, encoding = decode_text(data)
    notes = []
    if encoding == _MIXED:
        notes.append("文件混用了 UTF-8 和 GBK 编码，已逐行识别 / the file mixes UTF-8 and GBK lines; each line was decoded on its own")
    if "replace" in encoding or "\ufffd" in text:
        notes.append("文件含有无法解码的字节，已用 � 代替 / the file has undecodable bytes, shown as �")
    text = clean_text(text)
    # The sniffer's regular expressions grow with the square of the sample
    # on some inputs: a few lines are all it needs.
    sample = text[:8000]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:  # e.g. ragged rows: take the header line's most frequent delimiter
        header_line = sample.splitlines()[0] if sample else ""
        delimiter = max(",;\t|", key=header_line.count)
    limit = settings.MAX_ROWS + HEADER_SEARCH_ROWS + 1
    if text.count("\n") + text.count("\r") >= limit:
        # Possibly too many rows: count them first without keeping any, so a
        # file of a million rows is refused in bounded memory.
        n = sum(1 for r in csv.reader(_lines(text), delimiter=delimiter) if any(c.strip() for c in r))
        if n > limit:
            raise too_many_rows(None)
    rows = [r for r in csv.reader(_lines(text), delimiter=delimiter) if any(c.strip() for c in r)]
    del text
    if not rows:
        raise ReadError("empty", "文件是空的", "the file is empty")
    top = find_header(rows)
    if top:
        notes.append(header_note(top))
    header, body = unique_headers(rows[top]), rows[top + 1:]
    width = len(header)
    if any(len(r) > width for r in body):
        # Cells beyond the header are kept in one extra column, not dropped.
        header = header + ["_extra"]
        body = [r[:width] + [delimiter.join(r[width:])] if len(r) > width else r for r in body]
        notes.append("部分行的列数多于表头，多出的内容保存在 _extra 列 / some rows have more cells than the header; the extra cells are kept in column _extra")
    width = len(header)
    body = [r + [""] * (width - len(r)) for r in body]
    df = pd.DataFrame(body, columns=header, dtype=object)
    return RawTable(unescape_formulas(df), encoding=encoding, notes=notes)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _lines(text: str):
    """The lines of ``text`` (ended by \\n, \\r\\n or \\r, ends kept), one at a time.

    The same lines as iterating ``io.StringIO(text, newline="")``, which
    would first copy the whole text at four bytes a character.
    """
    return (m.group() for m in _LINE.finditer(text))
