"""`verify_collection`: clean on a fresh capture, and each kind of damage is found and located."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from warc_helpers import warcio_check

from warcache.collection import Collection, open_collection
from warcache.index.postprocess import rebuild_collection
from warcache.manage.verify import verify_collection
from warcache.warc.reader import WarcReader

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def site(shared_capture):
    return shared_capture.site


@pytest.fixture(scope="module")
def fresh(shared_capture):
    """The shared capture's collection (one run, one WARC file); damage is done to copies."""
    assert shared_capture.run.code == 0, shared_capture.run.stderr
    return open_collection(shared_capture.root, "default")


@pytest.fixture(scope="module")
def page_count(shared_capture) -> int:
    return len(shared_capture.results)


def _copy(coll: Collection, root: Path, name: str) -> Collection:
    """A copy of the whole collection (WARCs and indexes) to damage."""
    shutil.copytree(coll.path, root / "collections" / name)
    return open_collection(root, name)


def _snapshot(coll: Collection) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(coll.path)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(coll.path.rglob("*")) if p.is_file()}


def _response_of(path: Path, url: str):
    return next(item for item in WarcReader(path) if item.rec_type == "response" and item.target_uri == url)


def test_a_fresh_capture_verifies_clean_and_verifying_changes_nothing(fresh, page_count):
    before = _snapshot(fresh)
    report = verify_collection(fresh)
    assert report.ok, [str(p) for p in report.problems]
    assert report.problems == [] and report.notes == []
    assert report.files == 1 and report.records > 10
    assert report.digests_checked > 10 and report.index_lines > 5 and report.pages == page_count
    assert "OK" in report.summary()
    assert _snapshot(fresh) == before


def test_a_flipped_byte_in_a_payload_is_found_at_its_record(fresh, site, tmp_path):
    """The damaged record's gzip member is rewritten (decompress, flip, recompress), so the file stays
    readable and only the digests can tell; the index is rebuilt for the new offsets."""
    coll = _copy(fresh, tmp_path, "flipped")
    warc = coll.warc_files()[0]
    target = _response_of(warc, site.url("/final.html"))
    data = warc.read_bytes()
    member = gzip.decompress(data[target.offset:target.offset + target.length])
    body_at = member.index(b"\r\n\r\n", member.index(b"\r\n\r\n") + 4) + 4  # after WARC and HTTP heads
    assert b"badgerfinal" in member[body_at:]
    flip = member.index(b"badgerfinal", body_at)
    damaged = member[:flip] + bytes([member[flip] ^ 0x01]) + member[flip + 1:]
    warc.write_bytes(data[:target.offset] + gzip.compress(damaged) + data[target.offset + target.length:])
    rebuild_collection(coll)
    assert warcio_check([warc]).returncode != 0  # the reference reader agrees it is damaged

    report = verify_collection(coll)
    assert not report.ok
    assert {(p.file, p.offset) for p in report.problems} == {(f"archive/{warc.name}", target.offset)}
    messages = " ".join(p.message for p in report.problems)
    assert "payload digest failed" in messages and "block digest failed" in messages
    assert site.url("/final.html") in messages
    assert f"archive/{warc.name} byte {target.offset}: " in str(report.problems[0])


def test_a_flipped_byte_in_compressed_data_stops_reading_there(fresh, site, tmp_path):
    coll = _copy(fresh, tmp_path, "broken")
    warc = coll.warc_files()[0]
    target = _response_of(warc, site.url("/final.html"))
    data = bytearray(warc.read_bytes())
    data[target.offset + target.length // 2] ^= 0xFF
    warc.write_bytes(bytes(data))
    report = verify_collection(coll)
    stops = [p for p in report.problems if p.message.startswith("reading stopped")]
    assert [(p.file, p.offset) for p in stops] == [(f"archive/{warc.name}", target.offset)]
    # What lies after the damage cannot be read, so index lines and pages pointing there are reported too.
    assert any(p.file.startswith("indexes/") and "no record starts at byte" in p.message
               for p in report.problems)


def test_a_missing_warc_is_named_by_index_and_page_problems(fresh, page_count, tmp_path):
    coll = _copy(fresh, tmp_path, "missing")
    warc = coll.warc_files()[0]
    warc.unlink()
    report = verify_collection(coll)
    assert not report.ok and report.files == 0
    index = [p for p in report.problems if p.file.endswith(".cdxj")]
    pages = [p for p in report.problems if p.file == "indexes/pages.jsonl"]
    assert len(index) == 1 and len(pages) == 1  # one problem per missing file, not one per line or segment
    for problem in index + pages:
        assert f"archive/{warc.name}, which does not exist" in problem.message and problem.line == 1
    assert pages[0].message.startswith(f"{page_count} page entries point at")
    assert index[0].message.startswith(f"{report.index_lines} index lines point at")


def test_a_cdxj_line_with_a_wrong_offset(fresh, site, tmp_path):
    coll = _copy(fresh, tmp_path, "offset")
    segment = sorted(coll.indexes_dir.glob("*.cdxj"))[0]
    lines = segment.read_text().splitlines()
    n, line = next((i, ln) for i, ln in enumerate(lines) if f'"url": "{site.url("/final.html")}"' in ln
                   and '"mime": "text/html"' in ln)
    key, ts, blob = line.split(" ", 2)
    fields = json.loads(blob)
    wrong = int(fields["offset"]) + 7
    fields["offset"] = str(wrong)
    lines[n] = f"{key} {ts} {json.dumps(fields)}"
    segment.write_text("\n".join(lines) + "\n")
    report = verify_collection(coll)
    assert [(p.file, p.line) for p in report.problems] == [(f"indexes/{segment.name}", n + 1)]
    message = report.problems[0].message
    assert f"no record starts at byte {wrong} of archive/{fields['filename']}" in message
    assert site.url("/final.html") in message

    # Pointing at another record's offset: named as a record for another URL.
    other = next(json.loads(ln.split(" ", 2)[2]) for ln in lines if site.url("/final.html") not in ln)
    fields["offset"], fields["length"] = other["offset"], other["length"]
    lines[n] = f"{key} {ts} {json.dumps(fields)}"
    segment.write_text("\n".join(lines) + "\n")
    report = verify_collection(coll)
    assert len(report.problems) == 1 and f"is for {other['url']}" in report.problems[0].message


def test_page_entries_and_index_files_that_do_not_match(fresh, tmp_path):
    coll = _copy(fresh, tmp_path, "pages")
    entries = [json.loads(line) for line in coll.pages_path.read_text().splitlines()]
    damaged = next(i for i, e in enumerate(entries) if "dom" in e["records"])
    entries[damaged]["records"]["dom"][0] += 1
    coll.pages_path.write_text("".join(json.dumps(e) + "\n" for e in entries) + '{"torn": \n')
    unsorted = coll.indexes_dir / "zz-unsorted.cdxj"
    unsorted.write_text('org,example)/b 20240101000000 {"url": "http://example.org/b", "offset": "0", '
                        '"length": "1", "filename": "x.warc.gz"}\n'
                        'org,example)/a 20240101000000 {"url": "http://example.org/a", "offset": "0", '
                        '"length": "1", "filename": "x.warc.gz"}\n')
    report = verify_collection(coll)
    got = {(p.file, p.line): p.message for p in report.problems}
    assert "no record starts at byte" in got[("indexes/pages.jsonl", damaged + 1)]
    assert "torn or edited" in got[("indexes/pages.jsonl", len(entries) + 1)]
    assert "not sorted" in got[("indexes/zz-unsorted.cdxj", None)]
    assert "2 index lines point at archive/x.warc.gz" in got[("indexes/zz-unsorted.cdxj", 1)]


def test_leftover_open_files_and_unindexed_warcs(fresh, tmp_path):
    coll = _copy(fresh, tmp_path, "leftover")
    warc = coll.warc_files()[0]
    shutil.copy(warc, coll.archive_dir / "other.warc.gz.open")  # as a killed run would leave it
    shutil.copy(warc, coll.archive_dir / "unindexed.warc.gz")
    (coll.archive_dir / "README.txt").write_text("notes")
    report = verify_collection(coll)
    got = {p.file: p.message for p in report.problems}
    assert set(got) == {"archive/other.warc.gz.open", "archive/unindexed.warc.gz"}
    assert "interrupted" in got["archive/other.warc.gz.open"]
    assert "no index line points into it" in got["archive/unindexed.warc.gz"]
    assert any("README.txt" in note for note in report.notes)
    # While a capture holds its lock, the file is only noted, and not read.
    writing = coll.archive_dir / "other.warc.gz.open"
    with open(writing, "rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        report = verify_collection(coll)
    assert {p.file for p in report.problems} == {"archive/unindexed.warc.gz"}
    assert any("other.warc.gz.open: a capture is writing it now" in note for note in report.notes)


def test_a_file_with_a_bad_digest_from_warcio_test_data(shared_dir, tmp_path):
    """webrecorder/warcio's test/data/example-digest.warc (see ../shared/corpora/README.md): `warcio check`
    reports one failed payload digest, on the record at offset 0."""
    source = shared_dir / "corpora" / "warcs" / "warcio" / "data" / "example-digest.warc"
    coll = open_collection(tmp_path, "corpus", create=True)
    shutil.copy(source, coll.archive_dir / source.name)
    report = verify_collection(coll)
    assert report.records == 4 and report.digests_checked == 4
    assert [(p.file, p.offset) for p in report.problems] == [(f"archive/{source.name}", 0)]
    assert "payload digest failed" in report.problems[0].message
