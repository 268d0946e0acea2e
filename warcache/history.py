"""Capture history: which pages a collection holds, and every capture of one URL."""

from __future__ import annotations

import re
from pathlib import Path

from warcache.collection import Collection, list_collections, open_collection
from warcache.errors import UsageError
from warcache.extract import extract_article, hash_url
from warcache.urls import normalize_url
from warcache.warcreader import read_record_at

_HASH = re.compile(r"^[0-9a-f]{32}$")


def _collections(root: Path, collection: str | None) -> list[Collection]:
    names = [collection] if collection else list_collections(root)
    return [open_collection(root, name) for name in names]


def list_pages(root: Path, *, collection: str | None = None) -> list[dict]:
    """One entry per (collection, URL) with its captures newest first; pages newest first."""
    pages: dict[tuple[str, str], dict] = {}
    for coll in _collections(root, collection):
        for entry in coll.pages():
            key = (coll.name, entry["url"])
            page = pages.setdefault(key, {"url": entry["url"], "collection": coll.name, "title": "",
                                          "hash_url": hash_url(entry["url"]), "captures": []})
            fields = ("timestamp", "status", "final_url", "title", "bytes", "warc", "offset")
            page["captures"].append({k: entry.get(k) for k in fields})
    for page in pages.values():
        page["captures"].sort(key=lambda c: c["timestamp"] or "", reverse=True)
        page["title"] = page["captures"][0].get("title") or ""
    return sorted(pages.values(), key=lambda p: p["captures"][0]["timestamp"] or "", reverse=True)


def show_captures(root: Path, target: str, *, collection: str | None = None) -> list[dict]:
    """Every capture of a URL (or of the URL whose md5 is `target`), newest first, with details."""
    if _HASH.match(target.lower()):
        wanted = target.lower()

        def match(url: str) -> bool:
            return hash_url(url) == wanted
    else:
        url = normalize_url(target)

        def match(candidate: str) -> bool:
            return candidate == url
    out = []
    for coll in _collections(root, collection):
        for entry in coll.pages():
            if match(entry["url"]):
                out.append(_details(coll, entry))
    if not out:
        raise UsageError(f"no capture of {target} (see `warcache list`)")
    return sorted(out, key=lambda c: c["timestamp"] or "", reverse=True)


def _details(coll: Collection, entry: dict) -> dict:
    path = coll.archive_dir / entry["warc"]
    records = entry.get("records") or {}
    headline, chars = "", 0
    dom = records.get("dom")
    if dom:
        try:
            html = read_record_at(path, dom[0]).content_stream().read()
            article = extract_article(html, entry["url"], charset="utf-8", title=entry.get("title"))
            headline, chars = article.headline, len(article.body_text)
        except Exception:  # noqa: BLE001 - details are best effort; `warcache verify` checks records
            pass
    shot = records.get("screenshot")
    return {
        "url": entry["url"], "collection": coll.name, "timestamp": entry.get("timestamp"),
        "status": entry.get("status"), "final_url": entry.get("final_url") or entry["url"],
        "title": entry.get("title") or "", "headline": headline, "article_chars": chars,
        "resources": entry.get("resources"), "revisits": entry.get("revisits"), "bytes": entry.get("bytes"),
        "warc": entry["warc"], "warc_path": str(path), "offset": entry.get("offset"),
        "screenshot": f"{path} at byte {shot[0]}" if shot else None, "hash_url": hash_url(entry["url"]),
    }
