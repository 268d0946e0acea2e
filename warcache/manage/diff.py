"""`warcache diff`: what changed in a page's article between two of its captures.

The text compared is each capture's article (extract.captured: the headline and the body, from
the rendered DOM), the same text whose digest `list` compares to say "changed" or "unchanged".
The diff is by words: each text is cut into words, each keeping the spacing before it, and the
two word sequences are compared with difflib's SequenceMatcher (longest common runs first, no
"junk" heuristic, so common words still anchor the match). Spacing and line breaks alone never
make a change, exactly as for the digest.

`diff_captures` is the library call the CLI makes and a UI page can make: it returns a `TextDiff`
whose `ops` are `equal`, `delete` and `insert` runs of text. Joining the `equal` and `delete`
texts gives the old article, the `equal` and `insert` texts the new one (with the new one's
spacing in the runs they share). The text is archived content: whoever shows it escapes it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from warcache import timestamps
from warcache.collection import Collection
from warcache.errors import UsageError
from warcache.extract.captured import article_text, page_article
from warcache.manage.pages import find_captures
from warcache.pagelist import PageEntry

_TOKEN = re.compile(r"\s*\S+")


@dataclass
class DiffOp:
    op: str  # equal, delete or insert
    text: str  # with the spacing before each word


@dataclass
class CaptureInfo:
    collection: str
    timestamp: str
    title: str


@dataclass
class TextDiff:
    url: str
    old: CaptureInfo
    new: CaptureInfo
    ops: list[DiffOp] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(op.op != "equal" for op in self.ops)

    def words(self, op: str) -> int:
        """How many words were deleted or inserted."""
        return sum(len(o.text.split()) for o in self.ops if o.op == op)

    def to_json(self) -> dict:
        return {"url": self.url, "old": asdict(self.old), "new": asdict(self.new), "changed": self.changed,
                "words_deleted": self.words("delete"), "words_inserted": self.words("insert"),
                "ops": [asdict(op) for op in self.ops]}


def word_diff(old: str, new: str) -> list[DiffOp]:
    """The word-level diff of two texts (see the module docstring)."""
    a, b = _TOKEN.findall(old.strip()), _TOKEN.findall(new.strip())
    matcher = difflib.SequenceMatcher(None, [t.strip() for t in a], [t.strip() for t in b], autojunk=False)
    ops: list[DiffOp] = []

    def emit(op: str, tokens: list[str]) -> None:
        if not tokens:
            return
        text = "".join(tokens)
        if ops and ops[-1].op == op:
            ops[-1].text += text
        else:
            ops.append(DiffOp(op, text))

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            emit("equal", b[j1:j2])
        else:
            emit("delete", a[i1:i2])
            emit("insert", b[j1:j2])
    return ops


def _pick(captures: list[tuple[Collection, PageEntry]], at: str) -> tuple[Collection, PageEntry]:
    """The capture a typed time names: among those whose time starts with it (else all), the
    nearest to it."""
    ts = timestamps.parse_user_timestamp(at)
    matching = [c for c in captures if c[1].timestamp.startswith(ts)] or captures
    wanted = timestamps.pad(ts)
    return min(matching, key=lambda c: (timestamps.distance(c[1].timestamp, wanted), c[1].timestamp))


Found = tuple[Collection, PageEntry]


def choose_captures(captures: list[Found], target: str, ts1: str | None = None,
                    ts2: str | None = None) -> tuple[Found, Found]:
    """(old, new): the latest two captures, or the one nearest `ts1` and the latest, or the ones
    nearest `ts1` and `ts2` (in that order). `captures` are newest first."""
    if len(captures) < 2:
        raise UsageError(f"{target} has only one capture "
                         f"({timestamps.display(captures[0][1].timestamp)}); nothing to compare it with")
    if ts1 is None:
        return captures[1], captures[0]
    old = _pick(captures, ts1)
    new = _pick(captures, ts2) if ts2 is not None else captures[0]
    if old is new:
        which = "both times name" if ts2 is not None else f"{ts1} names the latest capture,"
        raise UsageError(f"{which} the same capture ({timestamps.display(old[1].timestamp, seconds=True)}); "
                         "give another time")
    return old, new


def diff_captures(root: Path, target: str, ts1: str | None = None, ts2: str | None = None, *,
                  collection: str | None = None) -> TextDiff:
    """The word diff of the article text of two captures of a URL (or of the URL whose md5 is
    `target`): see `choose_captures` for which two."""
    captures = find_captures(root, target, collection=collection)
    (old_coll, old), (new_coll, new) = choose_captures(captures, target, ts1, ts2)
    old_text = article_text(page_article(old_coll, old))
    new_text = article_text(page_article(new_coll, new))
    return TextDiff(new.url, CaptureInfo(old_coll.name, old.timestamp, old.title),
                    CaptureInfo(new_coll.name, new.timestamp, new.title), word_diff(old_text, new_text))
