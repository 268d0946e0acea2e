"""warc/rewrite.py's copying: records taken out leave every other byte as it was, in gzipped and
plain WARCs, and the read-back check catches a copy that is not what was meant. (Revisits made
responses are checked end to end, with what a real server sent, in tests/manage/test_forget.py.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warcache.errors import ArchiveError
from warcache.warc.reader import WarcReader
from warcache.warc.rewrite import Edit, check_copy, copy_without, record_key


def _write(path: Path, gzip: bool) -> list[bytes]:
    """Three response records; returns each record's bytes as written."""
    chunks = []
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip)
        for n in range(3):
            start = fh.tell()
            body = f"body number {n} ".encode() * (n + 1)
            writer.write_record(writer.create_warc_record(
                f"http://example.test/{n}", "response", payload=io.BytesIO(body), length=len(body),
                http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/plain")],
                                              protocol="HTTP/1.1")))
            fh.flush()
            chunks.append(path.read_bytes()[start:fh.tell()])
    return chunks


@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
def test_a_record_taken_out_leaves_the_others_byte_for_byte(tmp_path, gzip):
    src = tmp_path / ("a.warc.gz" if gzip else "a.warc")
    chunks = _write(src, gzip)
    items = list(WarcReader(src))
    middle = items[1]
    dst = tmp_path / ("b.warc.gz" if gzip else "b.warc")
    copy_without(src, dst, [Edit(middle.offset, middle.length)])
    assert dst.read_bytes() == chunks[0] + chunks[2]
    check_copy(dst, [record_key(items[0]), record_key(items[2])])
    with pytest.raises(ArchiveError, match="holds 2 records where 3 were meant"):
        check_copy(dst, [record_key(i) for i in items])


def test_bytes_after_the_last_record_are_kept(tmp_path):
    src = tmp_path / "a.warc.gz"
    chunks = _write(src, True)
    src.write_bytes(src.read_bytes() + b"\x1f\x8b damaged tail")
    first = next(iter(WarcReader(src)))
    dst = tmp_path / "b.warc.gz"
    copy_without(src, dst, [Edit(first.offset, first.length)])
    assert dst.read_bytes() == chunks[1] + chunks[2] + b"\x1f\x8b damaged tail"
    with pytest.raises(ArchiveError, match="does not read to its end"):
        check_copy(dst, [record_key(i) for i in list(WarcReader(dst))])


def test_the_copy_never_overwrites_a_file(tmp_path):
    src = tmp_path / "a.warc.gz"
    _write(src, True)
    (tmp_path / "b.warc.gz").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        copy_without(src, tmp_path / "b.warc.gz", [])
    assert (tmp_path / "b.warc.gz").read_bytes() == b"x"
