"""A capture as the full-text index sees it: PageDoc in, its indexed and stored fields; stored fields
back out as a Hit.

One document per capture (url + timestamp): several captures of one URL stay separate documents,
and the CLI groups them.  The field names are those of analysis.SCHEMA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warcache.errors import ArchiveError
from warcache.search import query as wcq
from warcache.search.analysis import TEXT_PARTS, Parts
from warcache.search.snippets import Highlighter, page_snippet

__all__ = ["Hit", "PageDoc", "capture_key", "index_fields", "outside_body", "to_hit"]


@dataclass
class PageDoc:
    """One capture of one page, as the extractor produced it."""

    url: str
    hash_url: str
    title: str
    headline: str
    body: str
    full_text: str
    domain: str
    timestamp: str  # 14-digit capture time YYYYMMDDhhmmss (UTC)
    collection: str
    language: str | None
    warc_filename: str
    warc_offset: int  # where the capture's page record lives


@dataclass
class Hit:
    """One matching capture.  `highlights` are (start, end) character spans of `snippet`."""

    url: str
    title: str
    timestamp: str
    score: float
    snippet: str
    highlights: list[tuple[int, int]]
    collection: str
    hash_url: str
    domain: str
    headline: str
    warc_filename: str
    warc_offset: int


def capture_key(doc: PageDoc) -> str:
    """The identity of a capture in the index ("<timestamp> <url>"): adding it again replaces it."""
    return f"{doc.timestamp} {doc.url}"


def _domain_terms(host: str) -> list[str]:
    """Host and parent domains (a.b.co.uk → a.b.co.uk, b.co.uk, co.uk, uk): site: is one term lookup."""
    parts = host.split(".")
    return [".".join(parts[i:]) for i in range(len(parts)) if parts[i]]


def _language_terms(language: str | None) -> list[str]:
    if not language:
        return []
    code = language.strip().lower().replace("_", "-")
    primary = code.split("-", 1)[0]
    return [code] if primary == code else [code, primary]


def _timestamp(doc: PageDoc) -> int:
    if len(doc.timestamp) != 14 or not doc.timestamp.isdigit():
        raise ArchiveError(f"capture of {doc.url} has timestamp {doc.timestamp!r}, not 14 digits")
    return int(doc.timestamp)


def outside_body(full_text: str, body: str) -> str:
    """The page text that is not the article: navigation, sidebars, footers, comments.

    Why: full_text usually contains the body, and indexing the body twice costs half the indexing
    time for nothing.  The body is cut out whole when it appears verbatim, else paragraph by
    paragraph; what cannot be matched up stays (indexing it twice is harmless, only slower).
    """
    if not body or not full_text:
        return full_text
    at = full_text.find(body)
    if at >= 0:
        return full_text[:at] + "\n" + full_text[at + len(body) :]
    rest = full_text
    for para in body.split("\n"):
        para = para.strip()
        if len(para) >= 20:
            rest = rest.replace(para, "\n", 1)
    return rest


def index_fields(doc: PageDoc) -> dict[str, Any]:
    """The fields written for a capture.  Lists bypass the analyzer (one term per item), and
    "_stored_<name>" is what is stored for a field indexed differently (Whoosh's convention)."""
    host = wcq.normalize_host(doc.domain or doc.url)
    langs = _language_terms(doc.language)
    parts = (
        doc.title or "",
        doc.headline or "",
        doc.body or "",
        outside_body(doc.full_text or "", doc.body or ""),
    )
    text = Parts(zip(parts, (weight for _, weight in TEXT_PARTS), strict=True))
    fields: dict[str, Any] = {
        "capture": capture_key(doc),
        "url": doc.url,
        "urlkey": wcq.normalize_url_key(doc.url),
        "hash_url": doc.hash_url or "",
        "text": text,
        "grams": text,
        "title": parts[0],
        "headline": parts[1],
        "body": parts[2],
        "full_text": parts[3],
        "domain": _domain_terms(host) or [""],
        "_stored_domain": host,
        "timestamp": _timestamp(doc),
        "collection": doc.collection or "",
        "warc_filename": doc.warc_filename,
        "warc_offset": int(doc.warc_offset),
    }
    if langs:
        fields["language"] = langs
        fields["_stored_language"] = doc.language
    return fields


def to_hit(stored: dict[str, Any], score: float, highlight: Highlighter | None, collection: str) -> Hit:
    """The Hit for a capture's stored fields, with its snippet (see snippets.page_snippet)."""
    text, spans = page_snippet(stored.get("body") or "", stored.get("full_text") or "", highlight)
    return Hit(
        url=stored.get("url", ""),
        title=stored.get("title", ""),
        timestamp=f"{int(stored.get('timestamp', 0)):014d}",
        score=float(score or 0.0),
        snippet=text,
        highlights=spans,
        collection=stored.get("collection") or collection,
        hash_url=stored.get("hash_url", ""),
        domain=stored.get("domain", ""),
        headline=stored.get("headline", ""),
        warc_filename=stored.get("warc_filename", ""),
        warc_offset=int(stored.get("warc_offset", 0)),
    )
