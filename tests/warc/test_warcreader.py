"""Tests for warcache.warc.reader: reading WARC/ARC files, damaged ones included.

Small WARCs are written here with warcio for exact expectations.  The real files from other
tools are in ../shared/corpora/warcs (origins: webrecorder/warcio test/data @ 2a797aa8c6d6,
webrecorder/warcio.js test/data @ 60a28c63738, iipc/jwarc test-resources @ 9b5df862d35f,
iipc/webarchive-commons src/test/resources @ 392125922985; see shared/corpora/README.md).
"""

from __future__ import annotations

import gzip
import io
import os
import random
import time
from pathlib import Path

import pytest
from conftest import SHARED
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warcache.errors import ArchiveError
from warcache.warc.reader import (
    ReadStopped,
    WarcReader,
    is_archive_name,
    iter_records,
    list_archive_files,
    read_record_at,
    resolve_archive_path,
    sniff_format,
    summarize,
)

CORPUS = SHARED / "corpora" / "warcs"


def write_warc(path: Path, *, gz: bool = True, count: int = 4, body_size: int = 300) -> Path:
    """A WARC with a warcinfo then `count` response/request pairs (bodies of `body_size`)."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gz, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "warcache-tests"}))
        for i in range(count):
            url = f"http://example.com/page{i}"
            body = (f"<html>page {i} ".encode() + b"x" * body_size)[:body_size]
            http = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            resp = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": f"2024-01-0{1 + i % 9}T00:00:00Z"},
            )
            req_http = StatusAndHeaders(
                f"GET /page{i} HTTP/1.1", [("Host", "example.com")], is_http_request=True
            )
            req = writer.create_warc_record(
                url,
                "request",
                payload=io.BytesIO(b""),
                http_headers=req_http,
                warc_headers_dict={"WARC-Concurrent-To": resp.rec_headers.get_header("WARC-Record-ID")},
            )
            writer.write_record(resp)
            writer.write_record(req)
    return path


def warcio_positions(path: Path) -> list[tuple[str, int, int]]:
    """(type, offset, length) as warcio itself reports them for an undamaged file."""
    out = []
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        for record in it:
            out.append((record.rec_type, it.get_record_offset(), it.get_record_length()))
    return out


# -- undamaged files -----------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_offsets_and_lengths_match_warcio_and_seek_back(tmp_path: Path, gz: bool) -> None:
    path = write_warc(tmp_path / ("a.warc.gz" if gz else "a.warc"), gz=gz)
    reader = WarcReader(path)
    items = list(reader)
    assert reader.stopped is None
    assert [(i.rec_type, i.offset, i.length) for i in items] == warcio_positions(path)
    assert all(i.seekable and not i.truncated for i in items)
    # Records stay readable after the iterator moved on (they are spooled).
    first_response = items[1]
    assert first_response.record.content_stream().read().startswith(b"<html>page 0 ")
    for item in items:
        again = read_record_at(path, item.offset)
        assert again.rec_headers.get_header("WARC-Record-ID") == item.record.rec_headers.get_header(
            "WARC-Record-ID"
        )
    assert read_record_at(path, items[3].offset).content_stream().read().startswith(b"<html>page 1 ")


def test_iter_records_yields_everything_for_a_good_file(tmp_path: Path) -> None:
    path = write_warc(tmp_path / "a.warc.gz", count=3)
    types = [i.rec_type for i in iter_records(path)]
    assert types == ["warcinfo"] + ["response", "request"] * 3


def test_digests_checked_when_asked(tmp_path: Path) -> None:
    path = write_warc(tmp_path / "a.warc", gz=False, count=2)
    assert all(i.digest_ok in (True, None) for i in iter_records(path, check_digests=True))
    assert any(i.digest_ok is True for i in iter_records(path, check_digests=True))
    data = bytearray(path.read_bytes())
    where = data.index(b"<html>page 1 ") + 8
    data[where] = ord("Z")  # same length, different payload
    path.write_bytes(bytes(data))
    results = {
        i.target_uri: i.digest_ok for i in iter_records(path, check_digests=True) if i.rec_type == "response"
    }
    assert results == {"http://example.com/page0": True, "http://example.com/page1": False}
    assert all(i.digest_ok is None for i in iter_records(path))


# -- damaged files -------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file_yields_good_records_then_reports(tmp_path: Path, gz: bool) -> None:
    path = write_warc(tmp_path / ("t.warc.gz" if gz else "t.warc"), gz=gz, count=3, body_size=5000)
    positions = warcio_positions(path)
    cut_record = positions[3]  # the second response
    path.write_bytes(path.read_bytes()[: cut_record[1] + cut_record[2] // 2])
    reader = WarcReader(path)
    items = list(reader)
    good = [i for i in items if not i.truncated]
    assert [(i.rec_type, i.offset) for i in good] == [(t, o) for t, o, _ in positions[:3]]
    assert reader.stopped is not None
    assert reader.stopped.path == path
    assert reader.stopped.offset == cut_record[1]
    assert "truncated" in reader.stopped.reason
    with pytest.raises(ReadStopped) as info:
        list(iter_records(path))
    assert info.value.stop == reader.stopped
    assert isinstance(info.value, ArchiveError)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("gz", [True, False])
def test_garbage_after_good_records_stops_there(tmp_path: Path, gz: bool) -> None:
    path = write_warc(tmp_path / ("g.warc.gz" if gz else "g.warc"), gz=gz, count=2)
    size = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(b"<!doctype html><html>not a record</html>\n" * 5)
    reader = WarcReader(path)
    items = list(reader)
    assert len(items) == 5
    assert reader.stopped is not None and reader.stopped.offset == size


def test_non_chunked_gzip_is_read_as_one_stream(tmp_path: Path) -> None:
    plain = write_warc(tmp_path / "p.warc", gz=False, count=3)
    single = tmp_path / "single.warc.gz"
    single.write_bytes(gzip.compress(plain.read_bytes()))
    reader = WarcReader(single)
    items = list(reader)
    assert reader.stopped is None
    assert reader.not_chunked_at == 0
    assert [i.rec_type for i in items] == ["warcinfo"] + ["response", "request"] * 3
    assert not any(i.seekable for i in items)
    assert items[1].record.content_stream().read().startswith(b"<html>page 0 ")
    # Offsets are then positions in the decompressed stream: the same as in the plain file.
    assert [i.offset for i in items] == [o for _, o, _ in warcio_positions(plain)]


def test_non_chunked_gzip_cut_short_reports_the_stop(tmp_path: Path) -> None:
    plain = write_warc(tmp_path / "p.warc", gz=False, count=3, body_size=4000)
    data = gzip.compress(plain.read_bytes(), compresslevel=0)
    single = tmp_path / "single.warc.gz"
    single.write_bytes(data[: len(data) * 2 // 3])
    reader = WarcReader(single)
    items = list(reader)
    assert 1 <= len(items) < 7
    assert reader.stopped is not None
    assert reader.stopped.offset == 0 and "gzip" in reader.stopped.reason


def test_good_members_then_a_multi_record_member(tmp_path: Path) -> None:
    chunked = write_warc(tmp_path / "c.warc.gz", count=1)
    plain = write_warc(tmp_path / "p.warc", gz=False, count=2)
    mixed = tmp_path / "mixed.warc.gz"
    mixed.write_bytes(chunked.read_bytes() + gzip.compress(plain.read_bytes()))
    reader = WarcReader(mixed)
    items = list(reader)
    assert reader.stopped is None
    assert [i.seekable for i in items] == [True] * 3 + [False] * 5
    assert reader.not_chunked_at == chunked.stat().st_size
    assert items[3].member_offset == chunked.stat().st_size


def test_fuzzed_files_never_leak_warcio_errors_nor_hang(tmp_path: Path) -> None:
    rng = random.Random(7)
    sources = [
        write_warc(tmp_path / "f.warc.gz", count=3),
        write_warc(tmp_path / "f.warc", gz=False, count=3),
    ]
    target = tmp_path / "fuzz.warc.gz"
    started = time.monotonic()
    outcomes = {"read": 0, "stopped": 0, "refused": 0}
    for source in sources:
        data = source.read_bytes()
        variants = [data[: rng.randrange(1, len(data))] for _ in range(30)]
        for _ in range(30):
            flipped = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            variants.append(bytes(flipped))
        for variant in variants:
            target.write_bytes(variant)
            try:
                reader = WarcReader(target)
                items = list(reader)
            except ArchiveError as exc:
                assert str(target) in str(exc) and "\n" not in str(exc)
                outcomes["refused"] += 1
                continue
            outcomes["stopped" if reader.stopped else "read"] += 1
            for item in items:
                if item.seekable and not item.truncated:
                    # Whatever was yielded as a clean, seekable record can be read back alone.
                    again = read_record_at(target, item.offset)
                    assert again.rec_type == item.rec_type
    assert time.monotonic() - started < 10
    assert outcomes["stopped"] > 0 and outcomes["read"] > 0


# -- things that are not archives ---------------------------------------------------------
@pytest.mark.parametrize(
    "name, content",
    [
        ("page.warc", b"<!doctype html>\n<html><body>hello</body></html>\n"),
        ("random.warc.gz", bytes(random.Random(3).randrange(256) for _ in range(4096))),
        ("empty.warc", b""),
        # Five words a line: warcio alone would "read" this as ARC records.
        ("licence.arc", b"Permission is hereby granted free\nof charge to any person\n" * 20),
        ("text.warc.gz", gzip.compress(b"just some text\n", mtime=0)),
    ],
)
def test_not_an_archive_is_one_clear_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ArchiveError) as info:
        WarcReader(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    with pytest.raises(ArchiveError):
        list(iter_records(path))


def test_directory_fifo_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="directory"):
        WarcReader(tmp_path)
    fifo = tmp_path / "pipe.warc"
    os.mkfifo(fifo)
    with pytest.raises(ArchiveError, match="not a regular file"):
        WarcReader(fifo)  # must not block waiting for a writer
    with pytest.raises(ArchiveError, match="no such file"):
        WarcReader(tmp_path / "missing.warc.gz")


# -- .open files ---------------------------------------------------------------------------
def test_open_files_are_not_listed_but_read_record_at_falls_back(tmp_path: Path) -> None:
    done = write_warc(tmp_path / "done.warc.gz", count=1)
    pending = write_warc(tmp_path / "live.warc.gz.open", count=1)
    (tmp_path / "notes.txt").write_text("x")
    assert list_archive_files(tmp_path) == [done]
    assert not is_archive_name(pending.name) and is_archive_name("x.arc.gz")
    final_name = tmp_path / "live.warc.gz"
    assert resolve_archive_path(final_name) == pending
    offset = warcio_positions(pending)[1][1]
    record = read_record_at(final_name, offset)
    assert record.rec_headers.get_header("WARC-Target-URI") == "http://example.com/page0"
    pending.rename(final_name)  # the capture closed its file
    assert read_record_at(final_name, offset).rec_type == "response"
    # An index line written while the file was .open still finds it after the rename.
    assert read_record_at(pending, offset).rec_type == "response"


def test_summarize_and_reiterating_a_reader(tmp_path: Path) -> None:
    path = write_warc(tmp_path / "a.warc.gz", count=2)
    summary = summarize(path)
    assert summary.counts == {"warcinfo": 1, "response": 2, "request": 2}
    assert summary.stopped is None and summary.seekable
    reader = WarcReader(path)
    assert len(list(reader)) == len(list(reader)) == 5


def test_read_record_at_bad_offsets_are_archive_errors(tmp_path: Path) -> None:
    path = write_warc(tmp_path / "a.warc.gz", count=1)
    for offset in (-1, 5, path.stat().st_size, path.stat().st_size + 10):
        with pytest.raises(ArchiveError) as info:
            read_record_at(path, offset)
        assert str(path) in str(info.value)
    with pytest.raises(ArchiveError):
        read_record_at(tmp_path / "nothing.warc.gz", 0)


# -- the real files made by other tools -----------------------------------------------------
# file -> (records yielded, offset where reading stops or None).  "Non-chunked" gzip files
# are read whole (not seekable).  Truncated = the last record is yielded flagged, then stop.
CORPUS_EXPECTED: dict[str, tuple[int, int | None]] = {
    "jwarc/cc.warc.gz": (1, None),
    "jwarc/gzip_extra_sl.warc.gz": (1, None),
    "warcio.js/data/example-bad-length.warc": (6, None),
    "warcio.js/data/example-resource.warc.gz": (1, None),
    "warcio.js/data/post-test-more.warc": (6, None),
    "warcio.js/data/redirect.warc": (2, None),
    "warcio/data/bad.arc": (4, None),
    "warcio/data/example-bad-non-chunked.warc.gz": (6, None),
    "warcio/data/example-bad.warc.gz.bad": (6, None),
    "warcio/data/example-digest.warc": (4, None),
    "warcio/data/example-iana.org-chunked.warc": (3, None),
    "warcio/data/example-resource.warc.gz": (3, None),
    "warcio/data/example-space-in-target-uri.warc.gz": (2, None),
    "warcio/data/example-space-in-url.arc": (2, 151),  # declares 12 bytes more than it has
    "warcio/data/example-trunc.warc": (4, None),
    "warcio/data/example-wget-bad-target-uri.warc.gz": (6, None),
    "warcio/data/example-wrong-chunks.warc.gz": (2, None),  # one record split over members
    "warcio/data/example.arc": (2, None),
    "warcio/data/example.arc.gz": (2, None),
    "warcio/data/example.warc": (6, None),
    "warcio/data/example.warc.gz": (6, None),
    "warcio/data/post-test.warc.gz": (6, None),
    "webarchive-commons/IAH-20080430204825-00000-blackbook-truncated.arc": (1, 1459),
    "webarchive-commons/IAH-urls-wget.warc": (36, None),
    "webarchive-commons/IAH-urls-wget.warc.gz": (36, None),
    "webarchive-commons/link-extraction-test.warc": (4, 3605),
    "webarchive-commons/mutliple-headers.warc": (1, None),
}


def _corpus_file(name: str) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared WARC corpus not found at {CORPUS}")
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {name} missing")
    return path


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_corpus_files_read_or_report(name: str) -> None:
    path = _corpus_file(name)
    count, stop_offset = CORPUS_EXPECTED[name]
    reader = WarcReader(path)
    items = list(reader)
    assert len(items) == count
    if stop_offset is None:
        assert reader.stopped is None
    else:
        assert reader.stopped is not None
        assert (reader.stopped.path, reader.stopped.offset) == (path, stop_offset)
        assert reader.stopped.reason and "\n" not in reader.stopped.reason
    for item in items:
        item.record.content_stream().read()  # every yielded record is readable
        if item.seekable and not item.truncated:
            again = read_record_at(path, item.offset)
            assert again.rec_type == item.rec_type
            assert again.rec_headers.get_header("WARC-Target-URI") == item.target_uri


def test_corpus_special_cases() -> None:
    non_chunked = WarcReader(_corpus_file("warcio/data/example-bad-non-chunked.warc.gz"))
    assert not any(i.seekable for i in non_chunked)
    wrong_chunks = list(WarcReader(_corpus_file("warcio/data/example-wrong-chunks.warc.gz")))
    body = wrong_chunks[0].record.content_stream().read()
    assert b"</html>" in body  # the whole page, across the two gzip members
    arc = list(WarcReader(_corpus_file("warcio/data/example.arc.gz")))
    assert arc[1].target_uri == "http://example.com/" and arc[1].record.http_headers.get_statuscode() == "200"
    assert sniff_format(_corpus_file("warcio/data/example.arc.gz")) == ("arc", True)
    assert sniff_format(_corpus_file("jwarc/gzip_extra_sl.warc.gz")) == ("warc", True)


@pytest.mark.parametrize("licence", ["warcio/LICENSE", "jwarc/LICENSE", "webarchive-commons/LICENSE"])
def test_corpus_licence_texts_are_not_archives(licence: str) -> None:
    # warcio alone "reads" the Apache licence text as dozens of ARC records.
    path = _corpus_file(licence)
    with pytest.raises(ArchiveError, match="not a WARC or ARC file"):
        WarcReader(path)
