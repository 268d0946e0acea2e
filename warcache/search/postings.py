"""warcache's full-text index on disk: Whoosh's index files, with one posting layout replaced.

This module and warcache.search.match are the two that use Whoosh's internals (see the import
contracts in pyproject.toml): the codec here writes and reads posting lists; match.py reads them
to rank pages.  Indexes are created, opened and written through warcache.search.store.

Whoosh (W3Codec) stores each block of 128 postings as one zlib-compressed pickle of (document
numbers, weights, positions).  Every query that only needs document numbers and weights (an AND
of words, the words of a phrase before their positions are checked) still decompresses and
unpickles the positions of every block it touches: at 100k pages that was ~45 µs per block, and
"this" alone has ~700 blocks.  Here a term's postings are laid out so that those parts can be read
apart, with the array module (C) instead of pickle:

    b"WcP3", then HEAD: postings, chunks, frontier points, id width, weight code, value length
    width, value kind
    per chunk of 128 postings: first and last document number, highest weight, shortest and
    longest length (Whoosh's length bytes), the chunk's "frontier" (below), where its values start
    the length of each value (1, 2 or 4 bytes each)
    document numbers: gaps inside each chunk (the first is 0), 1, 2 or 4 bytes each
    weights: twice the weight in 1 or 2 bytes when it is a multiple of 0.5 (always, for the text
    fields: their weights are sums of 3, 2, 1 and 0.5), else float32
    values, uncompressed: for positions, the varint gaps without Whoosh's 4-byte count (which
    was most of what zlib saved), so one posting's positions are one slice of the file

The frontier of a chunk is the (weight, length) pairs of its postings that no other posting of the
chunk beats on both counts (weight higher or equal, length shorter or equal).  BM25 grows with
the weight and shrinks with the length, so the best score in a chunk is the best score over its
frontier, which is usually two to five points: the query code gets each chunk's exact maximum
score without decoding the chunk, where Whoosh's block bound (highest weight with shortest
length, usually of two different postings) is often far above it.  The frontier of the whole
term follows the chunks' (the best score of the term, for the others' bound in an AND).

Terms with at most 8 postings stay inlined in the term dictionary, as Whoosh does.  Only fields
with integer document numbers use this layout (term vectors would keep Whoosh's own).  Segments
written by W3Codec (an index built before this layout) are still read by Whoosh's code.
"""

from __future__ import annotations

import operator
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from whoosh.codec.whoosh3 import W3Codec, W3PostingsWriter
from whoosh.matching import LeafMatcher, ReadTooFar
from whoosh.system import pack_uint, unpack_uint
from whoosh.util.numeric import byte_to_length, length_to_byte

__all__ = [
    "CHUNK",
    "ArrayLeaf",
    "DamagedPostings",
    "PostingList",
    "PostingsCodec",
    "decode_positions",
    "own_layout",
    "posting_list",
    "varint_positions",
]

CHUNK = 128  # postings per chunk: the unit that is decoded at once


class DamagedPostings(ValueError):
    """A posting list whose header or size cannot be right (the index file is damaged)."""
_MAGIC = b"WcP3"
# postings, chunks, frontier points, id width, weight code, value length width, value kind
_HEAD = struct.Struct("<IIIBBBB")
_V_RAW, _V_VARINTS = 1, 2  # values as Whoosh gives them; positions without Whoosh's count
_COUNT = len(pack_uint(0))  # Whoosh's count of positions that starts a positions value
_VARINT_ENDS = bytes(range(0x80))  # the last byte of each varint is below 0x80
_ID_CODES = {1: "B", 2: "H", 4: "I"}
_W_HALF8, _W_HALF16, _W_FLOAT = 0, 1, 2
_W_CODES = {_W_HALF8: "B", _W_HALF16: "H", _W_FLOAT: "f"}
_HALVES = [h * 0.5 for h in range(65536)]  # weight of a stored half-unit count, by table lookup
_SWAP = sys.byteorder != "little"  # the layout is little-endian


def _le(arr: array) -> bytes:
    if _SWAP:
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _from(typecode: str, data: Any) -> array:
    arr = array(typecode)
    arr.frombytes(data)
    if _SWAP:
        arr.byteswap()
    return arr


def _width(top: int) -> int:
    return 1 if top < 0x100 else 2 if top < 0x10000 else 4


def _frontier(weights: Any, lbytes: list[int]) -> list[tuple[float, int]]:
    """The (weight, length byte) pairs not dominated by another pair: higher weight, shorter length."""
    top: dict[int, float] = {}
    for weight, lb in zip(weights, lbytes, strict=True):
        if weight > top.get(lb, -1.0):
            top[lb] = weight
    best: list[tuple[float, int]] = []
    heaviest = -1.0
    for lb in sorted(top):
        if top[lb] > heaviest:
            heaviest = top[lb]
            best.append((heaviest, lb))
    return best


_LBYTES = {byte_to_length(b): b for b in range(256)}  # Whoosh gives postings lengths decoded from bytes


def varint_positions(raw: bytes) -> list[int]:
    """Positions from their gaps as 7-bit varints (most gaps fit one byte: a running sum in C)."""
    if not raw or max(raw) < 0x80:
        return list(accumulate(raw))
    positions: list[int] = []
    pos = gap = shift = 0
    for byte in raw:
        gap |= (byte & 0x7F) << shift
        if byte < 0x80:
            pos += gap
            positions.append(pos)
            gap = shift = 0
        else:
            shift += 7
    return positions


def decode_positions(value: bytes) -> list[int]:
    """The positions in a value of Whoosh's layout: a 4-byte count, then varint gaps (then maybe
    one padding byte, see analysis._Positions)."""
    count = unpack_uint(value[:_COUNT])[0]
    positions = varint_positions(value[_COUNT:])
    return positions[:count]


# --------------------------------------------------------------------------- writing


class _PostingsWriter(W3PostingsWriter):
    """Buffers a whole term's postings (Whoosh writes a block every 128) and writes the layout above.

    Whoosh's finish_postings() is kept: it inlines short lists into the term dictionary and
    otherwise calls _write_block(last=True) once, with every posting of the term buffered.
    """

    def _new_block(self) -> None:
        super()._new_block()
        self._lbytes: list[int] = []

    def add_posting(self, id_: int, weight: float, vbytes: bytes, length: int | None = None) -> None:
        self._ids.append(id_)
        self._weights.append(weight)
        self._values.append(vbytes)
        if weight > self._maxweight:
            self._maxweight = weight
        if length:
            if self._minlength is None or length < self._minlength:
                self._minlength = length
            if length > self._maxlength:
                self._maxlength = length
        lb = _LBYTES.get(length) if length else 0
        self._lbytes.append(length_to_byte(length) if lb is None else lb)

    def finish_postings(self, allow_compact: bool = True) -> Any:
        if not any(self._values):
            self._values = []  # Whoosh's inlining expects no values list for value-less formats
        return super().finish_postings(allow_compact)

    def _write_block(self, last: bool = False) -> None:
        self._terminfo.add_block(self)
        ids = self._ids
        n = len(ids)
        starts = range(0, n, CHUNK)
        gaps = array("I", [0])
        gaps.extend(map(operator.sub, ids[1:], ids[:-1]))
        for s in starts:
            gaps[s] = 0
        idw = _width(max(gaps))
        halves = list(map((2.0).__mul__, self._weights))
        if all(map(float.is_integer, halves)) and max(halves) < 0x10000:
            wcode = _W_HALF8 if max(halves) < 0x100 else _W_HALF16
            wbytes = _le(array(_W_CODES[wcode], map(int, halves)))
        else:
            wcode = _W_FLOAT
            wbytes = _le(array("f", self._weights))
        lbytes = self._lbytes
        first, last_ids, maxw, minlb, maxlb = array("I"), array("I"), array("f"), array("B"), array("B")
        front_off, front_w, front_lb = array("I", [0]), array("f"), array("B")
        for s in starts:
            e = min(s + CHUNK, n)
            first.append(ids[s])
            last_ids.append(ids[e - 1])
            maxw.append(max(self._weights[s:e]))
            minlb.append(min(lbytes[s:e]))
            maxlb.append(max(lbytes[s:e]))
            for weight, lb in _frontier(self._weights[s:e], lbytes[s:e]):
                front_w.append(weight)
                front_lb.append(lb)
            front_off.append(len(front_w))
        for weight, lb in _frontier(front_w, list(front_lb)):  # the whole term's, after the chunks'
            front_w.append(weight)
            front_lb.append(lb)
        front_off.append(len(front_w))
        values = self._values
        lw = vmode = 0
        val_off = array("I", [0])
        lens = b""
        if values:
            if getattr(self._format, "varint_positions", False):
                vmode = _V_VARINTS
                values = [v[_COUNT:-1] if v[-2:] == b".\0" else v[_COUNT:] for v in values]
            else:
                vmode = _V_RAW
            sizes = list(map(len, values))
            lw = _width(max(sizes))
            lens = _le(array(_ID_CODES[lw], sizes))
            for s in starts:
                val_off.append(val_off[-1] + sum(sizes[s : s + CHUNK]))
        parts = [
            _MAGIC,
            _HEAD.pack(n, len(first), len(front_w), idw, wcode, lw, vmode),
            _le(first),
            _le(last_ids),
            _le(maxw),
            minlb.tobytes(),
            maxlb.tobytes(),
            _le(front_off),
            _le(front_w),
            front_lb.tobytes(),
            _le(val_off) if lw else b"",
            lens,
            _le(array(_ID_CODES[idw], gaps)),
            wbytes,
            *values,
        ]
        self._postfile.write(b"".join(parts))
        self._blockcount += 1
        self._new_block()


class PostingsCodec(W3Codec):
    """W3Codec (same files, term dictionary, columns and stored fields) with the layout above.

    Instances are pickled into the index's table of contents, so this class must stay importable
    under this name for as long as indexes written with it exist.
    """

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> Any:
        if byteids:  # term vectors: Whoosh's own layout
            return super().postings_writer(dbfile, byteids=True)
        return _PostingsWriter(dbfile, blocklimit=1 << 62, compression=self._compression, inlinelimit=1)

    def postings_reader(
        self, dbfile: Any, terminfo: Any, format_: Any, term: Any = None, scorer: Any = None
    ) -> Any:
        if not terminfo.is_inlined():
            offset, length = terminfo.extent()
            if length and dbfile.get(offset, len(_MAGIC)) == _MAGIC:
                return ArrayLeaf(PostingList(dbfile, offset), format_, term=term, scorer=scorer)
        return super().postings_reader(dbfile, terminfo, format_, term=term, scorer=scorer)


def own_layout(segment: Any) -> bool:
    """Whether a segment of an index was written in this layout (not in Whoosh's own)."""
    return isinstance(segment.codec(), PostingsCodec)


# --------------------------------------------------------------------------- reading


class PostingList:
    """One term's postings in one segment: chunk bounds, id gaps and weights read at once (plain
    arrays), document numbers accumulated and values (positions) read a chunk at a time, as asked.

    Chunk c holds postings c*CHUNK .. c*CHUNK+CHUNK-1; a posting is named by that global index.
    """

    __slots__ = (
        "size",
        "chunks",
        "first_ids",
        "last_ids",
        "max_weights",
        "min_lbytes",
        "max_lbytes",
        "front_off",
        "front_w",
        "front_lb",
        "_val_off",
        "_lens",
        "_vmode",
        "_dbfile",
        "_val_base",
        "_gaps",
        "_wraw",
        "_halves",
        "_ids_cache",
        "_values",
        "_all_ids",
    )

    def __init__(self, dbfile: Any, offset: int):
        at = offset + len(_MAGIC)
        n, nchunks, nfront, idw, wcode, lw, vmode = _HEAD.unpack(dbfile.get(at, _HEAD.size))
        at += _HEAD.size
        if (idw not in _ID_CODES or wcode not in _W_CODES or (lw and lw not in _ID_CODES)
                or nchunks != -(-n // CHUNK) or nfront > n):
            # A damaged list would otherwise read as garbage, or as no postings at all.
            raise DamagedPostings(f"posting list at offset {offset} is damaged")
        sizes = [
            4 * nchunks,
            4 * nchunks,
            4 * nchunks,
            nchunks,
            nchunks,
            4 * (nchunks + 2),
            4 * nfront,
            nfront,
        ]
        sizes += [4 * (nchunks + 1), lw * n] if lw else [0, 0]
        wsize = array(_W_CODES[wcode]).itemsize
        total = sum(sizes) + idw * n + wsize * n
        blob = memoryview(dbfile.get(at, total))
        if len(blob) != total:
            raise DamagedPostings(f"posting list at offset {offset} is cut short")
        cuts = list(accumulate(sizes, initial=0))
        part = [blob[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
        self.size = n
        self.chunks = nchunks
        self.first_ids = _from("I", part[0])
        self.last_ids = _from("I", part[1])
        self.max_weights = _from("f", part[2])
        self.min_lbytes = part[3].tobytes()
        self.max_lbytes = part[4].tobytes()
        self.front_off = _from("I", part[5])
        self.front_w = _from("f", part[6])
        self.front_lb = part[7].tobytes()
        self._val_off = _from("I", part[8]) if lw else None
        self._lens = _from(_ID_CODES[lw], part[9]) if lw else None
        self._vmode = vmode
        ids_at = cuts[-1]
        self._gaps = _from(_ID_CODES[idw], blob[ids_at : ids_at + idw * n])
        self._wraw = _from(_W_CODES[wcode], blob[ids_at + idw * n : total])
        self._halves = wcode != _W_FLOAT
        self._dbfile = dbfile
        self._val_base = at + total
        self._ids_cache: dict[int, list[int]] = {}
        self._values: dict[int, tuple[bytes, list[int]]] = {}
        self._all_ids: list[int] | None = None

    def __len__(self) -> int:
        return self.size

    def ids(self, c: int) -> list[int]:
        """Document numbers of chunk c."""
        got = self._ids_cache.get(c)
        if got is None:
            s = c * CHUNK
            it = accumulate(self._gaps[s : s + CHUNK], initial=self.first_ids[c])
            next(it)  # the first gap is 0: `initial` would repeat the first number
            got = self._ids_cache[c] = list(it)
        return got

    def all_ids(self) -> list[int]:
        """Every document number, in order."""
        if self._all_ids is None:
            out: list[int] = []
            for c in range(self.chunks):
                out += self.ids(c)
            self._all_ids = out
        return self._all_ids

    def weights(self, c: int) -> list[float]:
        """Weights of chunk c."""
        s = c * CHUNK
        raw = self._wraw[s : s + CHUNK]
        return list(map(_HALVES.__getitem__, raw)) if self._halves else raw.tolist()

    def weight(self, g: int) -> float:
        return _HALVES[self._wraw[g]] if self._halves else self._wraw[g]  # type: ignore[no-any-return]

    def find(self, docnum: int) -> int:
        """The index of `docnum`'s posting, or -1."""
        c = bisect_left(self.last_ids, docnum)
        if c >= self.chunks or self.first_ids[c] > docnum:
            return -1
        ids = self.ids(c)
        j = bisect_left(ids, docnum)
        return c * CHUNK + j if ids[j] == docnum else -1

    def raw_value(self, g: int) -> bytes:
        """Posting g's value as stored (positions: varint gaps without Whoosh's count; b"": none).

        The values of a chunk are read together (one read instead of one per posting) and kept.
        """
        if self._lens is None:
            return b""
        c, j = divmod(g, CHUNK)
        got = self._values.get(c)
        if got is None:
            assert self._val_off is not None
            start, end = self._val_off[c], self._val_off[c + 1]
            offsets = list(accumulate(self._lens[c * CHUNK : c * CHUNK + CHUNK], initial=0))
            got = self._values[c] = (self._dbfile.get(self._val_base + start, end - start), offsets)
        data, offsets = got
        return data[offsets[j] : offsets[j + 1]]

    def value(self, g: int) -> bytes:
        """Posting g's value in Whoosh's layout (for Whoosh's own code, merges included)."""
        raw = self.raw_value(g)
        if self._vmode != _V_VARINTS:
            return raw
        count = len(raw) - len(raw.translate(None, _VARINT_ENDS))
        return pack_uint(count) + raw + (b"\0" if raw[-1:] == b"." else b"")

    def positions(self, g: int) -> list[int]:
        """Posting g's positions (a positions format's value)."""
        if self._vmode == _V_VARINTS:
            return varint_positions(self.raw_value(g))
        return decode_positions(self.raw_value(g))

    def frontier(self, c: int) -> Iterator[tuple[float, int]]:
        """(weight, length byte) of the postings of chunk c that can score highest.

        Chunk number `chunks` (one past the last) gives the whole term's.
        """
        fw, fl = self.front_w, self.front_lb
        for k in range(self.front_off[c], self.front_off[c + 1]):
            yield fw[k], fl[k]


class ArrayLeaf(LeafMatcher):
    """Whoosh's matcher interface over a PostingList (for Whoosh's own query code and for merging)."""

    def __init__(self, plist: PostingList, format_: Any, term: Any = None, scorer: Any = None):
        self.plist = plist
        self.format = format_
        self._term = term
        self.scorer = scorer
        self._c = 0
        self._i = 0
        self._ids: list[int] | None = None

    def copy(self) -> ArrayLeaf:
        other = ArrayLeaf(self.plist, self.format, term=self._term, scorer=self.scorer)
        other._c, other._i, other._ids = self._c, self._i, self._ids
        return other

    def reset(self) -> None:
        self._c = self._i = 0
        self._ids = None

    def is_active(self) -> bool:
        return self._c < self.plist.chunks

    def _chunk_ids(self) -> list[int]:
        if self._ids is None:
            self._ids = self.plist.ids(self._c)
        return self._ids

    def id(self) -> int:
        return self._chunk_ids()[self._i]

    def _goto_chunk(self, c: int) -> None:
        self._c = c
        self._i = 0
        self._ids = None

    def next(self) -> bool:
        if not self.is_active():
            raise ReadTooFar
        self._i += 1
        if self._i >= len(self._chunk_ids()):
            self._goto_chunk(self._c + 1)
            return True
        return False

    def skip_to(self, targetid: int) -> None:
        if not self.is_active():
            raise ReadTooFar
        plist = self.plist
        if targetid > plist.last_ids[self._c]:
            self._goto_chunk(bisect_left(plist.last_ids, targetid, self._c + 1))
            if not self.is_active():
                return
        ids = self._chunk_ids()
        self._i = bisect_left(ids, targetid, self._i)

    def skip_to_quality(self, minquality: float) -> int:
        skipped = 0
        while self.is_active() and self.block_quality() <= minquality:
            self._goto_chunk(self._c + 1)
            skipped += 1
        return skipped

    def weight(self) -> float:
        return self.plist.weight(self._c * CHUNK + self._i)

    def value(self) -> bytes:
        return self.plist.value(self._c * CHUNK + self._i)

    def block_min_id(self) -> int:
        return int(self.plist.first_ids[self._c])

    def block_max_id(self) -> int:
        return int(self.plist.last_ids[self._c])

    def block_min_length(self) -> int:
        return int(byte_to_length(self.plist.min_lbytes[self._c]))

    def block_max_length(self) -> int:
        return int(byte_to_length(self.plist.max_lbytes[self._c]))

    def block_max_weight(self) -> float:
        return float(self.plist.max_weights[self._c])


# --------------------------------------------------------------------------- other matchers


class _ListedPostings:
    """PostingList's reading interface over postings read through a Whoosh matcher.

    For terms inlined in the term dictionary, and for segments of indexes written before this
    layout (W3Codec): every posting is read once, in Python, which is slow for long lists of an
    old index (rebuilding the index brings the fast layout).
    """

    def __init__(self, matcher: Any):
        ids: list[int] = []
        weights: list[float] = []
        values: list[bytes] = []
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            values.append(matcher.value() or b"")  # Whoosh gives "" or None for no value
            matcher.next()
        self.size = len(ids)
        self.chunks = (self.size + CHUNK - 1) // CHUNK
        self._ids = ids
        self._weights = weights
        self._values = values
        self.first_ids = ids[::CHUNK]
        self.last_ids = [ids[min(s + CHUNK, self.size) - 1] for s in range(0, self.size, CHUNK)]

    def __len__(self) -> int:
        return self.size

    def ids(self, c: int) -> list[int]:
        return self._ids[c * CHUNK : c * CHUNK + CHUNK]

    def all_ids(self) -> list[int]:
        return self._ids

    def weights(self, c: int) -> list[float]:
        return self._weights[c * CHUNK : c * CHUNK + CHUNK]

    def weight(self, g: int) -> float:
        return self._weights[g]

    def find(self, docnum: int) -> int:
        g = bisect_left(self._ids, docnum)
        return g if g < self.size and self._ids[g] == docnum else -1

    def value(self, g: int) -> bytes:
        return self._values[g]

    def positions(self, g: int) -> list[int]:
        return decode_positions(self._values[g])

    def frontier(self, c: int) -> Iterator[tuple[float, int]]:
        """No lengths here: the highest weight with length byte 0 (the shortest) bounds the chunk."""
        yield max(self.weights(c) if c < self.chunks else self._weights, default=0.0), 0


def posting_list(matcher: Any) -> PostingList | _ListedPostings:
    """The postings behind a leaf matcher, in PostingList's interface (see _ListedPostings)."""
    if isinstance(matcher, ArrayLeaf) and matcher._c == 0 and matcher._i == 0:
        return matcher.plist
    return _ListedPostings(matcher)
