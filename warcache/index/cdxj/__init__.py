"""The URL index: CDXJ lines as pywb reads them (`line`), made from WARC records (`build`), kept
in sorted segment files and searched by binary search (`store`)."""

from warcache.index.cdxj.build import IndexResult, default_filename, index_warc, line_for
from warcache.index.cdxj.line import CdxjLine, canonical_key, cdxj_mime, post_query, request_key
from warcache.index.cdxj.store import CdxjIndex, rebuild

__all__ = ["CdxjIndex", "CdxjLine", "IndexResult", "canonical_key", "cdxj_mime", "default_filename",
           "index_warc", "line_for", "post_query", "rebuild", "request_key"]
