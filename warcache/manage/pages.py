"""Capture history: which pages a collection holds, and every capture of one URL."""

from __future__ import annotations

import re
from pathlib import Path

from warcache.collection import Collection, list_collections, open_collection
from warcache.errors import UsageError, WarcacheError
from warcache.index.checks import page_capture, read_check
from warcache.pagelist import PageEntry
from warcache.urls import hash_url, normalize_url

_HASH = re.compile(r"^[0-9a-f]{32}$")


def _collections(root: Path, collection: str | None) -> list[Collection]:
    names = [collection] if collection else list_collections(root)
    return [open_collection(root, name) for name in names]


def list_pages(root: Path, *, collection: str | None = None, below: int | None = None) -> list[dict]:
    """One entry per (collection, URL) with its captures newest first; pages newest first.

    Each capture says whether its article text `changed` from the capture before it, or is
    `unchanged` (by the digests in the page list; None when unknown or the first capture).
    A page's `fidelity` and `replay_fidelity` are those of its capture (the newest, or the
    better of a retried pair: index/checks.py). With `below`, only pages whose capture was
    checked and scored under it (by interception), the captures worth redoing."""
    pages: dict[tuple[str, str], dict] = {}
    entries: dict[tuple[str, str], list[PageEntry]] = {}
    for coll in _collections(root, collection):
        for entry in coll.pages():
            key = (coll.name, entry.url)
            page = pages.setdefault(key, {"url": entry.url, "collection": coll.name, "title": "",
                                          "hash_url": hash_url(entry.url), "tags": list(entry.tags),
                                          "note": entry.note, "captures": []})
            entries.setdefault(key, []).append(entry)
            page["captures"].append({
                "timestamp": entry.timestamp, "status": entry.status, "final_url": entry.page_url,
                "title": entry.title, "bytes": entry.bytes, "warc": entry.warc, "offset": entry.offset,
                "text_digest": entry.text_digest, "fidelity": entry.fidelity,
                "replay_fidelity": entry.replay_fidelity, "preferred": entry.preferred})
    for key, page in pages.items():
        captures = page["captures"]
        captures.sort(key=lambda c: c["timestamp"], reverse=True)
        page["title"] = captures[0]["title"]
        for capture, before in zip(captures, [*captures[1:], None], strict=True):
            capture["change"] = change(capture["text_digest"], before["text_digest"] if before else None)
        chosen = page_capture(entries[key])
        page["fidelity"], page["replay_fidelity"] = chosen.fidelity, chosen.replay_fidelity
        page["page_capture"] = chosen.timestamp
    found = pages.values()
    if below is not None:
        found = [p for p in found if p["fidelity"] is not None and p["fidelity"] < below]
    return sorted(found, key=lambda p: p["captures"][0]["timestamp"], reverse=True)


def change(digest: str | None, previous: str | None) -> str | None:
    """"changed" or "unchanged" from a capture's text digest and its previous capture's; None
    when either is unknown."""
    if digest is None or previous is None:
        return None
    return "unchanged" if digest == previous else "changed"


def find_captures(root: Path, target: str, *,
                  collection: str | None = None) -> list[tuple[Collection, PageEntry]]:
    """Every capture of a URL (or of the URL whose md5 is `target`), newest first."""
    if _HASH.match(target.lower()):
        wanted = target.lower()

        def match(url: str) -> bool:
            return hash_url(url) == wanted
    else:
        url = normalize_url(target)

        def match(candidate: str) -> bool:
            return candidate == url
    found = [(coll, entry) for coll in _collections(root, collection) for entry in coll.pages()
             if match(entry.url)]
    if not found:
        raise UsageError(f"no capture of {target} (see `warcache list`)")
    return sorted(found, key=lambda item: item[1].timestamp, reverse=True)


def show_captures(root: Path, target: str, *, collection: str | None = None) -> list[dict]:
    """Every capture of a URL (or of the URL whose md5 is `target`), newest first, with details."""
    return [_details(coll, entry) for coll, entry in find_captures(root, target, collection=collection)]


def _details(coll: Collection, entry: PageEntry) -> dict:
    path = coll.archive_dir / entry.warc
    headline, chars = "", 0
    if entry.span("dom"):
        from warcache.extract.captured import page_article  # lxml and the extractor: only for `show`

        try:
            article = page_article(coll, entry)
            headline, chars = article.headline, len(article.body_text)
        except Exception:  # noqa: BLE001 - details are best effort; `warcache verify` checks records
            pass
    shot, pdf, media = entry.span("screenshot"), entry.span("pdf"), entry.span("media")
    return {
        "url": entry.url, "collection": coll.name, "timestamp": entry.timestamp,
        "status": entry.status, "final_url": entry.page_url,
        "title": entry.title, "headline": headline, "article_chars": chars,
        "resources": entry.resources, "revisits": entry.revisits, "bytes": entry.bytes,
        "warc": entry.warc, "warc_path": str(path), "offset": entry.offset,
        "screenshot": f"{path} at byte {shot[0]}" if shot else None, "hash_url": hash_url(entry.url),
        "pdf": f"{path} at byte {pdf[0]}" if pdf else None,
        "media": f"{path} at byte {media[0]}" if media else None,
        "preferred": entry.preferred, **_fidelity(coll, entry),
    }


def _fidelity(coll: Collection, entry: PageEntry) -> dict:
    """The latest fidelity check of a capture: its scores, and per mode its reasons and the URLs
    the archive did not answer (read from the check record)."""
    out: dict = {"fidelity": entry.fidelity, "replay_fidelity": entry.replay_fidelity, "check": None}
    try:
        info = read_check(coll, entry)
    except WarcacheError as exc:
        out["check"] = {"error": str(exc)}
        return out
    if info is None:
        return out
    modes = info.get("modes") if isinstance(info.get("modes"), dict) else {}
    out["check"] = {
        "checked": info.get("checked"), "software": info.get("software"),
        "warc": (entry.check or {}).get("warc"), "offset": (entry.check or {}).get("offset"),
        "modes": {name: {"score": m.get("score"), "reasons": m.get("reasons") or [],
                         "not_archived": m.get("not_archived") or [], "error": m.get("error")}
                  for name, m in modes.items() if isinstance(m, dict)},
    }
    return out
