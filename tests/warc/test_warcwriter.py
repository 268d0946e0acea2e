"""WARC writing: byte-exact HTTP heads, digests warcio agrees with, safe file life cycle, recovery."""

import gzip
import io
import subprocess
import sys
from datetime import UTC, datetime

from warcio.archiveiterator import ArchiveIterator

from warcache.capture.httpwire import parse_head
from warcache.collection import open_collection
from warcache.warc.recovery import recover_collection
from warcache.warc.writer import (
    CHECK_SHOT_URN,
    CHECK_URN,
    OPEN_SUFFIX,
    PAGE_URN,
    PendingRecord,
    WarcFileWriter,
    make_record_id,
)

RAW_HEAD = b"HTTP/1.1 200 OK\r\nX-Zed: 1\r\nset-cookie: a=1\r\nContent-Length:5\r\nSet-Cookie: b=2\r\n\r\n"


def _page(uri="http://example.test/", body=b"hello"):
    rid = make_record_id()
    now = datetime.now(UTC)
    return [
        PendingRecord("response", uri, now, record_id=rid, http_head=parse_head(RAW_HEAD),
                      payload=io.BytesIO(body), payload_length=len(body)),
        PendingRecord("request", uri, now,
                      http_head=parse_head(b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"),
                      headers={"WARC-Concurrent-To": rid}),
        PendingRecord("metadata", PAGE_URN + uri, now, payload=io.BytesIO(b"{}"), payload_length=2,
                      content_type="application/json"),
    ]


def _records(path):
    with open(path, "rb") as fh:
        return [(r.rec_type, r.http_headers, r.content_stream().read()) for r in ArchiveIterator(fh)]


def test_open_name_while_writing_then_final_name(tmp_path):
    writer = WarcFileWriter(tmp_path, info={"software": "test"})
    page = writer.write_page(_page())
    assert (tmp_path / (page.filename + OPEN_SUFFIX)).exists()
    assert not (tmp_path / page.filename).exists()
    writer.close()
    assert (tmp_path / page.filename).exists()
    assert not list(tmp_path.glob("*" + OPEN_SUFFIX))


def test_http_head_is_stored_byte_for_byte_and_warcio_check_passes(tmp_path):
    with WarcFileWriter(tmp_path, info={"software": "test"}) as writer:
        page = writer.write_page(_page())
    path = tmp_path / page.filename
    data = gzip.open(path).read()
    assert RAW_HEAD + b"hello" in data
    types = [t for t, _, _ in _records(path)]
    assert types == ["warcinfo", "response", "request", "metadata"]
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout


def test_each_record_is_its_own_gzip_member_at_the_reported_offset(tmp_path):
    with WarcFileWriter(tmp_path, info={"software": "test"}) as writer:
        page = writer.write_page(_page())
    raw = (tmp_path / page.filename).read_bytes()
    for ref in page.records:
        member = raw[ref.offset: ref.offset + ref.length]
        text = gzip.decompress(member)
        assert text.startswith(b"WARC/1.1\r\n")
        assert f"WARC-Type: {ref.record_type}".encode() in text


def test_rolls_over_past_the_size_limit(tmp_path):
    writer = WarcFileWriter(tmp_path, info={"software": "test"}, max_size=1)
    first = writer.write_page(_page())
    second = writer.write_page(_page())
    writer.close()
    assert first.filename != second.filename
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.filename, second.filename])


def test_recovery_keeps_complete_pages_and_sets_the_original_aside(tmp_path):
    coll = open_collection(tmp_path, "c", create=True)
    writer = WarcFileWriter(coll.archive_dir, info={"software": "test"})
    page = writer.write_page(_page("http://a.test/"))
    writer.write_page(_page("http://b.test/"))
    open_path = coll.archive_dir / (page.filename + OPEN_SUFFIX)
    writer._fh.close()  # simulate a killed process: lock released, file not renamed
    size = open_path.stat().st_size
    with open(open_path, "ab") as fh:  # and a torn third page
        fh.write(gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\nContent-Length: 999\r\n\r\npartial")[:40])
    original = open_path.read_bytes()
    done = recover_collection(coll)
    assert len(done) == 1 and done[0].pages_kept == 2
    final = coll.archive_dir / page.filename
    assert final.read_bytes() == original[:size]
    assert (coll.path / done[0].set_aside).read_bytes() == original  # the leftover is untouched
    assert [t for t, _, _ in _records(final)].count("metadata") == 2
    assert not list(coll.archive_dir.glob("*" + OPEN_SUFFIX))


def test_recovery_leaves_files_of_live_writers_alone(tmp_path):
    coll = open_collection(tmp_path, "c", create=True)
    writer = WarcFileWriter(coll.archive_dir, info={"software": "test"})
    writer.write_page(_page())
    assert recover_collection(coll) == []
    writer.close()


def _check(uri="http://example.test/"):
    now = datetime.now(UTC)
    return [
        PendingRecord("resource", f"{CHECK_SHOT_URN}intercept:{uri}", now, payload=io.BytesIO(b"jpeg"),
                      payload_length=4, content_type="image/jpeg"),
        PendingRecord("metadata", CHECK_URN + uri, now, payload=io.BytesIO(b"{}"), payload_length=2,
                      content_type="application/json"),
    ]


def test_recovery_keeps_a_complete_fidelity_check_and_drops_a_torn_one(tmp_path):
    # A check is written like a page, as a group ending with its metadata record: `warcache check`
    # killed mid-way keeps the checks it finished; a page whose check was cut off stays a page.
    coll = open_collection(tmp_path, "c", create=True)
    writer = WarcFileWriter(coll.archive_dir, info={"software": "test"})
    page = writer.write_page(_page("http://a.test/"))
    writer.write_page(_check("http://a.test/"))
    writer.write_page(_page("http://b.test/"))
    open_path = coll.archive_dir / (page.filename + OPEN_SUFFIX)
    size = open_path.stat().st_size
    writer.write_page(_check("http://b.test/")[:1])  # the check's screenshot, and no check record
    writer._fh.close()  # simulate a killed process
    original = open_path.read_bytes()
    done = recover_collection(coll)
    assert len(done) == 1 and done[0].pages_kept == 2
    final = coll.archive_dir / page.filename
    assert final.read_bytes() == original[:size]
    with open(final, "rb") as fh:
        uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)]
    assert uris.count(CHECK_URN + "http://a.test/") == 1 and PAGE_URN + "http://b.test/" in uris
