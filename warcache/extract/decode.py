"""Turn the bytes of an HTTP response body into text, the way a browser would pick the charset.

Why not `bytes.decode("utf-8", "replace")`: archived pages come in windows-1252, Shift_JIS, GBK...
and a wrong guess garbles every search hit on them. The order follows the HTML standard's
encoding sniffing: transport-layer charset, then byte order mark, then a `<meta>` declaration in the
first KiB, then content-based detection.
"""

from __future__ import annotations

import codecs
import re

from bs4.dammit import EncodingDetector

# WHATWG maps these legacy labels to supersets; browsers decode with the superset, so must we
# (e.g. a page labelled iso-8859-1 that uses curly quotes from windows-1252).
_SUPERSETS = {
    "ascii": "windows-1252",
    "us-ascii": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "iso_8859-1": "windows-1252",
    "l1": "windows-1252",
    "cp819": "windows-1252",
    "iso-8859-9": "windows-1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SNIFF_BYTES = 1024 * 4
_DETECT_BYTES = 1024 * 64
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def normalize_charset(label: str | None) -> str | None:
    """Return a Python codec name for a charset label, or None if Python does not know it."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _SUPERSETS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A document cannot declare itself UTF-16 in ASCII-compatible bytes; browsers then use UTF-8.
    return "utf-8" if name.startswith("utf-16") else name


def detect_charset(data: bytes, declared: str | None = None) -> str:
    """Pick the codec for `data`: declared (HTTP) > BOM > <meta> > valid UTF-8 > statistical guess."""
    codec = normalize_charset(declared)
    if codec:
        return codec
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    meta = EncodingDetector.find_declared_encoding(
        data[:_SNIFF_BYTES], is_html=True, search_entire_document=False
    )
    codec = normalize_charset(meta)
    if codec:
        return codec
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut at the end of a truncated capture is still UTF-8.
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    return _guess(data[:_DETECT_BYTES])


def _guess(sample: bytes) -> str:
    """Statistical detection for undeclared, non-UTF-8 bytes; windows-1252 as the browsers' default."""
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    codec = normalize_charset(best.encoding) if best is not None else None
    return codec or "windows-1252"


def decode_html(data: bytes, charset: str | None = None) -> str:
    """Decode an HTML body to str; undecodable bytes become U+FFFD rather than failing the page."""
    codec = detect_charset(data, charset)
    for bom, name in _BOMS:
        if data.startswith(bom) and codecs.lookup(name).name == codecs.lookup(codec).name:
            data = data[len(bom) :]
            break
    return data.decode(codec, errors="replace")


def strip_xml_declaration(text: str) -> str:
    """lxml refuses str input that carries an encoding declaration; the text is already decoded."""
    return _XML_DECL_RE.sub("", text, count=1)
