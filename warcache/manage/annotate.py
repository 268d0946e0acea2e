"""Tags and notes: the user's labels of archived pages (`warcache tag`, `add --tag`, the UI).

A page's tags and note belong to its URL, so every capture of it shows them, later ones
included.  A change is written as an annotation record (`urn:warcache:annotation:<url>`, JSON
with the whole state after the change and its time) into a new small WARC file of its own
(`warc.writer.write_annotations`): the WARCs stay the source of truth, `index --rebuild` reads
the records back (the latest per URL wins), and no archived file is ever appended to.  The
derived list (`indexes/annotations.jsonl`) is what readers use.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from warcache import timestamps
from warcache.collection import Collection
from warcache.errors import UsageError
from warcache.index.postprocess import add_files
from warcache.manage.pages import find_captures
from warcache.pagelist import Annotation
from warcache.warc.writer import write_annotations

MAX_TAG = 64
MAX_NOTE = 10_000
_TAG = re.compile(r"^[^\s,:\"()]+$")


def clean_tag(tag: str) -> str:
    """A tag as stored (lower case), or UsageError saying why it cannot be one."""
    value = tag.strip().lstrip("#").lower()
    if not value or len(value) > MAX_TAG or not _TAG.match(value) or value.startswith("-"):
        raise UsageError(f"invalid tag {tag[:80]!r}: use up to {MAX_TAG} characters without spaces, "
                         "commas, colons, quotes or parentheses, not starting with '-'")
    return value


@dataclass
class Change:
    """What one annotation did in one collection."""

    collection: str
    annotation: Annotation
    warc: str


def annotate_url(coll: Collection, url: str, *, add: Sequence[str] = (), remove: Sequence[str] = (),
                 note: str | None = None) -> Change | None:
    """Add and remove tags of `url` in `coll` and set its note (None: keep it).

    Returns None when nothing changes (no record is written then)."""
    added = [clean_tag(t) for t in add]
    removed = {clean_tag(t) for t in remove}
    if note is not None and len(note) > MAX_NOTE:
        raise UsageError(f"the note is too long ({len(note)} characters; at most {MAX_NOTE})")
    before = coll.annotations().get(url)
    tags = list(before.tags) if before else []
    for tag in added:
        if tag not in tags:
            tags.append(tag)
    tags = [t for t in tags if t not in removed]
    text = (before.note if before else "") if note is None else note.strip()
    if before is not None and tuple(tags) == before.tags and text == before.note:
        return None
    if before is None and not tags and not text:
        return None
    annotation = Annotation(url=url, time=timestamps.now(), tags=tuple(tags), note=text)
    with coll.writing():  # not while `warcache forget` rewrites the collection (it would miss the file)
        name = write_annotations(coll.archive_dir, [annotation])
        # Indexed as any new WARC file is (its URL index line, the derived annotation list), so a
        # later `warcache index` finds nothing left to do.
        add_files(coll, [coll.archive_dir / name])
    return Change(coll.name, annotation, name)


def annotate(root: Path, target: str, *, add: Sequence[str] = (), remove: Sequence[str] = (),
             note: str | None = None, collection: str | None = None) -> list[Change]:
    """`warcache tag`: tags and note of a URL (or of the URL whose md5 is `target`) in every
    collection holding it (or only `collection`)."""
    if not add and not remove and note is None:
        raise UsageError("give tags to add, --remove TAG or --note TEXT")
    for tag in [*add, *remove]:
        clean_tag(tag)
    seen: dict[tuple[str, str], Collection] = {}
    for coll, entry in find_captures(root, target, collection=collection):
        seen.setdefault((coll.name, entry.url), coll)
    changes = []
    for (_, url), coll in seen.items():
        change = annotate_url(coll, url, add=list(add), remove=list(remove), note=note)
        if change is not None:
            changes.append(change)
    return changes


def tag_counts(coll: Collection) -> list[tuple[str, int]]:
    """Each tag of the collection with the number of URLs bearing it, most used first."""
    counts: Counter[str] = Counter()
    for a in coll.annotations().values():
        counts.update(a.tags)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
