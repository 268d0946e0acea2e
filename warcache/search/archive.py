"""Searching a whole archive: every collection's full-text index, merged."""

from __future__ import annotations

import heapq
from dataclasses import asdict
from pathlib import Path

from warcache.collection import list_collections, open_collection
from warcache.search.compile import check_query
from warcache.search.index import FullTextIndex, Hit, fulltext_index

__all__ = ["archive_indexes", "group_hits", "hit_json", "search_archive", "search_collections"]


def archive_indexes(root: Path, collection: str | None = None) -> list[FullTextIndex]:
    """The full-text indexes of one collection or of all of them (those that exist)."""
    names = [collection] if collection else list_collections(root)
    indexes: list[FullTextIndex] = []
    for name in names:
        coll = open_collection(root, name)
        if (coll.indexes_dir / "fulltext").exists():
            indexes.append(fulltext_index(coll))
    return indexes


def search_archive(
    root: Path,
    query: str,
    *,
    collection: str | None = None,
    limit: int = 20,
    indexes: list[FullTextIndex] | None = None,
) -> list[Hit]:
    """Hits for `query` in one collection or all of them, best first (UsageError for a bad query).

    `indexes` (from `archive_indexes`) lets the caller ask them more afterwards, such as
    whether they are `outdated()`, without opening them again."""
    check_query(query)  # a malformed query is an error even in an empty archive
    if indexes is None:
        indexes = archive_indexes(root, collection)
    if not indexes:
        return []
    return search_collections(indexes, query, limit=limit)


def search_collections(indexes: list[FullTextIndex], query: str, *, limit: int = 20) -> list[Hit]:
    """Search several collections and merge their hits: by score, then newest first.

    Scores from different indexes are BM25 against each index's own statistics, so they compare
    well enough for a merged list but not exactly.
    """
    check_query(query)  # a malformed query is an error even with no index
    hits = [hit for ix in indexes for hit in ix.search(query, limit=limit)]
    return heapq.nsmallest(limit, hits, key=lambda h: (-h.score, -int(h.timestamp)))


def group_hits(hits: list[Hit]) -> list[list[Hit]]:
    """Captures of the same URL in the same collection together, in the order of their best hit."""
    groups: dict[tuple[str, str], list[Hit]] = {}
    for hit in hits:
        groups.setdefault((hit.collection, hit.url), []).append(hit)
    for group in groups.values():
        group.sort(key=lambda h: h.timestamp, reverse=True)
    return list(groups.values())


def hit_json(hit: Hit) -> dict:
    data = asdict(hit)
    data["highlights"] = [list(span) for span in hit.highlights]
    return data
