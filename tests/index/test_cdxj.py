"""Tests for warcache.index.cdxj: CDXJ lines as pywb reads them, the segment store, lookups.

Real files from other tools come from ../shared/corpora/warcs (origins: webrecorder/warcio
test/data @ 2a797aa8c6d6, webrecorder/warcio.js test/data @ 60a28c63738, iipc/jwarc
test-resources @ 9b5df862d35f, iipc/webarchive-commons src/test/resources @ 392125922985).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SHARED
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warcache.errors import ArchiveError
from warcache.index.cdxj import (
    CdxjIndex,
    CdxjLine,
    canonical_key,
    index_warc,
    post_query,
    rebuild,
    request_key,
)
from warcache.index.cdxj.store import first_at_least, lines_with_prefix
from warcache.warc.reader import read_record_at

CORPUS = SHARED / "corpora" / "warcs"
LINE_RE = re.compile(r"^(\S+) (\d{14}) (\{.*\})$")
PYWB_KEYS = {"url", "mime", "status", "digest", "length", "offset", "filename", "method", "requestBody"}


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


class WarcBuilder:
    """Writes the kinds of records warcache and other tools write, one call each."""

    def __init__(self, path: Path, gz: bool = True) -> None:
        self.path = path
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.writer = WARCWriter(self.fh, gzip=gz, warc_version="1.1")

    def _date(self, ts: str) -> dict[str, str]:
        return {"WARC-Date": f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z"}

    def exchange(
        self,
        url: str,
        ts: str,
        body: bytes,
        *,
        method: str = "GET",
        req_body: bytes = b"",
        req_type: str | None = None,
        status: str = "200 OK",
        mime: str = "text/html; charset=utf-8",
    ) -> None:
        http = StatusAndHeaders(status, [("Content-Type", mime)], protocol="HTTP/1.1")
        resp = self.writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=self._date(ts)
        )
        headers = [("Host", "example.com")]
        if req_type:
            headers += [("Content-Type", req_type), ("Content-Length", str(len(req_body)))]
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        req_http = StatusAndHeaders(f"{method} {path} HTTP/1.1", headers, is_http_request=True)
        req = self.writer.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(req_body),
            http_headers=req_http,
            warc_headers_dict={
                **self._date(ts),
                "WARC-Concurrent-To": resp.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        self.writer.write_record(resp)
        self.writer.write_record(req)

    def record(self, rec_type: str, uri: str, ts: str, body: bytes, content_type: str) -> None:
        rec = self.writer.create_warc_record(
            uri,
            rec_type,
            payload=io.BytesIO(body),
            warc_content_type=content_type,
            warc_headers_dict=self._date(ts),
        )
        self.writer.write_record(rec)

    def revisit(self, url: str, ts: str, digest: str) -> None:
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        rec = self.writer.create_revisit_record(url, digest, url, "2024-01-01T00:00:00Z", http_headers=http)
        rec.rec_headers.replace_header("WARC-Date", self._date(ts)["WARC-Date"])
        self.writer.write_record(rec)

    def close(self) -> Path:
        self.fh.close()
        return self.path


def sample_warc(path: Path) -> Path:
    b = WarcBuilder(path)
    b.writer.write_record(b.writer.create_warcinfo_record(path.name, {"software": "tests"}))
    b.exchange("http://example.com/", "20240101000000", b"<html>home v1</html>")
    b.exchange("http://example.com/form", "20240102000000", b"<html>form page</html>")
    b.exchange(
        "http://example.com/form",
        "20240102000001",
        b'{"ok": true}',
        method="POST",
        req_body=b"name=J%C3%BCrgen&x=1+2",
        req_type="application/x-www-form-urlencoded",
        mime="application/json",
    )
    b.revisit("http://example.com/", "20240301000000", sha1_b32(b"<html>home v1</html>"))
    b.record("resource", "urn:warcache:screenshot:http://example.com/", "20240101000000", b"PNG", "image/png")
    b.record(
        "metadata", "urn:warcache:pageinfo:http://example.com/", "20240101000000", b"{}", "application/json"
    )
    b.record("metadata", "http://example.com/", "20240101000000", b"outlink: x", "application/warc-fields")
    b.record("metadata", "http://example.com/", "20240101000000", b"{}", "application/json")
    return b.close()


def positions(path: Path) -> list[tuple[str, str | None, int, int]]:
    out = []
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        for rec in it:
            out.append(
                (
                    rec.rec_type,
                    rec.rec_headers.get_header("WARC-Target-URI"),
                    it.get_record_offset(),
                    it.get_record_length(),
                )
            )
    return out


# -- lines ---------------------------------------------------------------------------------
def test_index_warc_lines_exactly(tmp_path: Path) -> None:
    path = sample_warc(tmp_path / "cap-1.warc.gz")
    pos = positions(path)
    result = index_warc(path)
    assert result.stopped is None and result.filename == "cap-1.warc.gz"
    got = {(ln.urlkey, ln.timestamp): ln for ln in result.lines}
    assert len(result.lines) == 6  # 3 responses, 1 revisit, 1 resource, 1 urn metadata

    home = got[("com,example)/", "20240101000000")]
    _, _, off, length = pos[1]
    assert home.fields() == {
        "url": "http://example.com/",
        "mime": "text/html",
        "status": "200",
        "digest": sha1_b32(b"<html>home v1</html>"),
        "length": str(length),
        "offset": str(off),
        "filename": "cap-1.warc.gz",
    }
    revisit = got[("com,example)/", "20240301000000")]
    assert revisit.mime == "warc/revisit" and revisit.status == "200" and revisit.is_revisit
    assert revisit.digest == home.digest

    # The POST is keyed with its body the way pywb does; the GET keeps the plain key.
    assert ("com,example)/form", "20240102000000") in got
    post = got[("com,example)/form?__wb_method=post&name=j%c3%bcrgen&x=1%202", "20240102000001")]
    assert (
        post.method == "POST" and post.request_body == "name=Jürgen&x=1 2" and post.mime == "application/json"
    )
    assert post.urlkey == request_key(
        "http://example.com/form",
        "POST",
        "application/x-www-form-urlencoded",
        b"name=J%C3%BCrgen&x=1+2",
    )

    shot = got[("urn:warcache:screenshot:http://example.com", "20240101000000")]  # SURT drops the last /
    assert shot.mime == "image/png" and shot.status is None and shot.digest == sha1_b32(b"PNG")
    assert ("urn:warcache:pageinfo:http://example.com", "20240101000000") in got
    # Neither warc-fields metadata nor metadata about an http page become captures.
    assert all(not (ln.url == "http://example.com/" and ln.mime == "application/json") for ln in result.lines)


def test_lines_are_pywb_shaped_and_round_trip(tmp_path: Path) -> None:
    for line in index_warc(sample_warc(tmp_path / "a.warc.gz")).lines:
        text = str(line)
        match = LINE_RE.match(text)
        assert match, text
        data = json.loads(match.group(3))
        assert set(data) <= PYWB_KEYS and all(isinstance(v, str) for v in data.values())
        assert list(data)[:1] == ["url"]
        assert CdxjLine.parse(text) == line
        assert CdxjLine.parse(text.encode() + b"\n") == line
    with pytest.raises(ArchiveError):
        CdxjLine.parse("no json here")
    with pytest.raises(ArchiveError):
        CdxjLine.parse("key 20240101000000 {not json")


def test_post_query_conventions() -> None:
    assert post_query("application/x-www-form-urlencoded", b"a=1&b=x+y") == "a=1&b=x y"
    assert post_query("application/json", b'{"a": 1, "b": {"c": "d"}, "l": [1, 2]}') == "a=1&c=d&l=1&l.2_=2"
    assert post_query("application/octet-stream", b"\x00\x01") == "__wb_post_data=AAE="
    assert post_query("application/json", b"{broken") == ""
    body = b'--XX\r\nContent-Disposition: form-data; name="q"\r\n\r\nhello world\r\n--XX--\r\n'
    assert post_query("multipart/form-data; boundary=XX", body) == "q=hello+world"
    assert len(post_query("application/octet-stream", b"x" * 10000)) == 4096
    assert request_key("http://example.com/a?z=1", "GET") == canonical_key("http://example.com/a?z=1")
    # As cdxj-indexer: an empty body of unknown type still adds an empty __wb_post_data.
    assert request_key("http://example.com/a?z=1", "PUT", None, b"") == (
        "com,example)/a?__wb_method=put&__wb_post_data=&z=1"
    )
    assert " " not in canonical_key("http://example.com/a b\tc")


# Produced by `cdxj-indexer --post-append` 1.5.0 (webrecorder) on the same corpus files.
CDXJ_INDEXER_LINES = {
    "warcio/data/example.warc.gz": [
        'com,example)/ 20170306040206 {"url": "http://example.com/", "mime": "text/html", "status": "200", '
        '"digest": "sha1:G7HRM7BGOKSKMSXZAHMUQTTV53QOFSMK", "length": "1228", "offset": "784", '
        '"filename": "example.warc.gz"}',
        'com,example)/ 20170306040348 {"url": "http://example.com/", "mime": "warc/revisit", '
        '"status": "200", '
        '"digest": "sha1:G7HRM7BGOKSKMSXZAHMUQTTV53QOFSMK", "length": "586", "offset": "2621", '
        '"filename": "example.warc.gz"}',
    ],
    "warcio/data/post-test.warc.gz": [
        "org,httpbin)/post?__wb_method=post&foo=bar&test=abc 20140610000859 "
        '{"url": "http://httpbin.org/post", '
        '"mime": "application/json", "status": "200", "digest": "sha1:M532K5WS4GY2H4OVZO6HRPOP47A7KDWU", '
        '"length": "720", "offset": "0", "filename": "post-test.warc.gz", "requestBody": "foo=bar&test=abc", '
        '"method": "POST"}',
        'org,httpbin)/post?__wb_method=post&a=1&b=[]&c=3 20140610001151 {"url": "http://httpbin.org/post", '
        '"mime": "application/json", "status": "200", "digest": "sha1:M7YCTM7HS3YKYQTAWQVMQSQZBNEOXGU2", '
        '"length": "723", "offset": "1196", "filename": "post-test.warc.gz", "requestBody": "A=1&B=[]&C=3", '
        '"method": "POST"}',
        "org,httpbin)/post?__wb_method=post&data=^&foo=bar 20140610001255 "
        '{"url": "http://httpbin.org/post?foo=bar", '
        '"mime": "application/json", "status": "200", "digest": "sha1:B6E5P6JUZI6UPDTNO4L2BCHMGLTNCUAJ", '
        '"length": "723", "offset": "2395", "filename": "post-test.warc.gz", "requestBody": "data=^", '
        '"method": "POST"}',
    ],
    "warcio.js/data/post-test-more.warc": [
        "org,httpbin)/post?__wb_method=post&__wb_post_data=c29tzwnodw5rlwvuy29kzwrkyxrh 20200810055049 "
        '{"url": "https://httpbin.org/post", "mime": "application/json", "status": "200", '
        '"digest": "sha1:34LEADQD3MOBQ42FCO2WA5TUSEL5QOKP", "length": "628", "offset": "2338", '
        '"filename": "post-test-more.warc", "requestBody": "__wb_post_data=c29tZWNodW5rLWVuY29kZWRkYXRh", '
        '"method": "POST"}',
        'org,httpbin)/post?__wb_method=post&a=json-data 20200809195334 {"url": "https://httpbin.org/post", '
        '"mime": "application/json", "status": "200", "digest": "sha1:BYOQWRSQFW3A5SNUBDSASHFLXGL4FNGB", '
        '"length": "655", "offset": "1227", "filename": "post-test-more.warc", "requestBody": "a=json-data", '
        '"method": "POST"}',
        "org,httpbin)/post?__wb_method=post&another=more^data&test=some+data 20200809195334 "
        '{"url": "https://httpbin.org/post", "mime": "application/json", "status": "200", '
        '"digest": "sha1:7AWVEIPQMCA4KTCNDXWSZ465FITB7LSK", "length": "688", "offset": "0", '
        '"filename": "post-test-more.warc", "requestBody": "test=some+data&another=more%5Edata", '
        '"method": "POST"}',
    ],
    "warcio/data/example.arc.gz": [
        'com,example)/ 20140216050221 {"url": "http://example.com/", "mime": "text/html", "status": "200", '
        '"digest": "sha1:B2LTWWPUOYAH7UIPQ7ZUPQ4VMBSVC36A", "length": "856", "offset": "171", '
        '"filename": "example.arc.gz"}',
    ],
}


def _corpus_file(name: str) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared WARC corpus not found at {CORPUS}")
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {name} missing")
    return path


@pytest.mark.parametrize("name", sorted(CDXJ_INDEXER_LINES))
def test_same_lines_as_cdxj_indexer(name: str) -> None:
    result = index_warc(_corpus_file(name))
    assert sorted(str(ln) for ln in result.lines) == sorted(CDXJ_INDEXER_LINES[name])


def test_every_corpus_file_indexes_or_reports(tmp_path: Path) -> None:
    files = sorted(
        p for p in _corpus_file(".").rglob("*") if p.is_file() and p.name not in ("FILES.md", "LICENSE")
    )
    index = CdxjIndex(tmp_path / "indexes", max_segments=4)
    total = 0
    stops = {}
    for path in files:
        result = index.add_warc(path)
        total += len(result.lines)
        if result.stopped:
            assert result.stopped.path == path and "\n" not in result.stopped.reason
            stops[path.name] = result.stopped.offset
        for line in result.lines:  # every line points at a record that reads back
            record = read_record_at(path, line.offset)
            assert record.rec_headers.get_header("WARC-Target-URI") == line.url
    # Damaged files report where they stop; non-chunked gzip ones say they cannot be indexed.
    assert stops == {
        "example-bad-non-chunked.warc.gz": 0,
        "example-bad.warc.gz.bad": 0,
        "example-wrong-chunks.warc.gz": 0,
        "example-space-in-url.arc": 151,
        "IAH-20080430204825-00000-blackbook-truncated.arc": 1459,
        "link-extraction-test.warc": 3605,
    }
    assert index.check_sorted() == []
    assert len(list(index)) == total == 70
    with pytest.raises(ArchiveError):
        index_warc(_corpus_file("warcio/LICENSE"))


# -- lookups -------------------------------------------------------------------------------
def synthetic(n: int, seed: int = 1) -> list[CdxjLine]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        host = f"site{rng.randrange(50)}.example"
        url = f"http://{host}/p/{rng.randrange(400)}"
        ts = f"20{rng.randrange(10, 25)}0{rng.randrange(1, 10)}1{rng.randrange(10)}000000"
        lines.append(
            CdxjLine(canonical_key(url), ts, url, length=100 + i, offset=i * 100, filename="f.warc.gz")
        )
    return lines


def test_lookup_exact_nearest_newest(tmp_path: Path) -> None:
    index = CdxjIndex(tmp_path / "indexes")
    index.add(index_warc(sample_warc(tmp_path / "a.warc.gz")).lines)
    newest = index.lookup("http://www.EXAMPLE.com:80/")
    assert [ln.timestamp for ln in newest] == ["20240301000000", "20240101000000"]
    nearest = index.lookup("https://example.com/", timestamp="20240115")
    assert nearest[0].timestamp == "20240101000000"
    assert index.lookup("http://example.com/", timestamp="2024-03-02T00:00:00Z")[0].is_revisit
    assert index.lookup("http://example.com/", limit=1)[0].timestamp == "20240301000000"
    assert index.lookup("http://example.com/missing") == []
    # The POST capture never shadows the GET of the same URL, and is found by its body.
    assert [ln.method for ln in index.lookup("http://example.com/form")] == [None]
    post = index.lookup(
        "http://example.com/form",
        method="POST",
        content_type="application/x-www-form-urlencoded",
        body=b"x=1+2&name=J%C3%BCrgen",
    )
    assert [ln.method for ln in post] == ["POST"]


def test_lookup_prefix_host_and_path(tmp_path: Path) -> None:
    index = CdxjIndex(tmp_path / "indexes")
    urls = [
        "http://example.com/",
        "http://example.com/blog/a",
        "http://example.com/blog/b",
        "http://example.com/blogroll",
        "http://www.example.com/about",
        "http://news.example.com/x",
        "http://example.org/",
        "http://examples.com/",
    ]
    index.add(CdxjLine(canonical_key(u), "20240101000000", u, 1, i, "f.warc.gz") for i, u in enumerate(urls))
    host = {ln.url for ln in index.lookup_prefix("example.com")}
    assert host == {urls[i] for i in (0, 1, 2, 3, 4)}
    with_subs = {ln.url for ln in index.lookup_prefix("http://example.com/", subdomains=True)}
    assert with_subs == host | {"http://news.example.com/x"}
    assert {ln.url for ln in index.lookup_prefix("http://example.com/blog/")} == {urls[1], urls[2]}
    assert len(index.lookup_prefix("example.com", limit=2)) == 2
    near = index.lookup_prefix("example.com", timestamp="20240101000000")
    assert len(near) == 5


def test_binary_search_agrees_with_linear_scan() -> None:
    rng = random.Random(5)
    alphabet = "abc,)/ 0"
    raw = sorted(
        {"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))).encode() for _ in range(3000)}
    )
    buf = b"\n".join(raw) + b"\n"
    for _ in range(1500):
        prefix = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 5))).encode()
        assert list(lines_with_prefix(buf, prefix)) == [ln for ln in raw if ln.startswith(prefix)]
        first = first_at_least(buf, prefix)
        expected = next((i for i, ln in enumerate(raw) if ln >= prefix), len(raw))
        assert first == sum(len(ln) + 1 for ln in raw[:expected])
    # No trailing newline, one line, empty buffer.
    assert list(lines_with_prefix(b"a\nb", b"b")) == [b"b"]
    assert list(lines_with_prefix(b"a", b"a")) == [b"a"]
    assert list(lines_with_prefix(b"", b"a")) == []


def test_lookups_agree_with_a_scan_over_many_segments(tmp_path: Path) -> None:
    lines = synthetic(3000)
    index = CdxjIndex(tmp_path / "indexes", max_segments=5)
    for start in range(0, len(lines), 200):
        index.add(lines[start : start + 200])
    assert 1 < len(index.segments()) <= 5
    rng = random.Random(9)
    for _ in range(100):
        probe = rng.choice(lines)
        expected = sorted((ln for ln in lines if ln.urlkey == probe.urlkey), key=str)
        assert sorted(index.lookup(probe.url), key=str) == expected


# -- the store -----------------------------------------------------------------------------
def test_merge_keeps_every_line_and_files_stay_sorted(tmp_path: Path) -> None:
    lines = synthetic(2500, seed=3)
    directory = tmp_path / "indexes"
    index = CdxjIndex(directory, max_segments=4)
    for start in range(0, len(lines), 100):
        index.add(lines[start : start + 100])
        assert len(index.segments()) <= 4
    index.add(lines[:50])  # the same lines again: no duplicates after merging
    index.add(str(ln) for ln in lines[50:60])  # text lines are accepted too, once parsed
    with pytest.raises(ArchiveError):
        index.add(["not a cdxj line"])
    assert sorted(str(ln) for ln in index) == sorted({str(ln) for ln in lines})
    assert index.check_sorted() == []
    assert index.compact(max_segments=1) > 0
    assert len(index.segments()) == 1
    assert sorted(str(ln) for ln in index) == sorted({str(ln) for ln in lines})
    # Nothing half-written is left where pywb looks, and no temp file stays behind.
    assert sorted(p.name for p in directory.iterdir() if not p.name.endswith(".cdxj")) == [".lock"]


WORKER = textwrap.dedent(
    """
    import sys
    from warcache.index.cdxj import CdxjIndex, CdxjLine
    directory, tag, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    index = CdxjIndex(directory, max_segments=3)
    for b in range(batches):
        index.add(
            CdxjLine(f"com,example)/{tag}/{b}/{i}", "20240101000000", f"http://example.com/{tag}/{b}/{i}",
                     10, i, f"{tag}.warc.gz")
            for i in range(20)
        )
    """
)


def test_concurrent_appends_from_two_processes_keep_every_line(tmp_path: Path) -> None:
    directory = tmp_path / "indexes"
    batches = 120
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(directory), tag, str(batches)])
        for tag in ("a", "b")
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    index = CdxjIndex(directory)
    keys = [ln.urlkey for ln in index]
    assert len(keys) == len(set(keys)) == 2 * batches * 20
    assert len(index.segments()) <= 3
    assert index.check_sorted() == []


def test_rebuild_rederives_from_the_warcs(tmp_path: Path) -> None:
    a = sample_warc(tmp_path / "a.warc.gz")
    b = WarcBuilder(tmp_path / "b.warc.gz")
    b.exchange("http://other.example/", "20230101000000", b"other")
    b.close()
    junk = tmp_path / "notes.warc"
    junk.write_text("<html>not an archive</html>")
    directory = tmp_path / "indexes"
    index = CdxjIndex(directory)
    index.add_warc(a)
    index.add_warc(b.path)
    index.add([CdxjLine("com,stale)/", "20200101000000", "http://stale/", 1, 0, "gone.warc.gz")])
    results = rebuild(directory, [a, junk])
    assert [r.stopped is None for r in results] == [True, False]
    assert str(junk) in results[1].stopped.reason
    assert sorted(str(ln) for ln in index) == sorted(str(ln) for ln in index_warc(a).lines)
    assert len(index.segments()) == 1
    assert index.lookup("http://stale/") == [] and index.lookup("http://other.example/") == []
    rebuild(directory, [])
    assert index.segments() == [] and list(index) == []


def test_index_of_an_open_capture_names_the_final_file(tmp_path: Path) -> None:
    path = sample_warc(tmp_path / "live.warc.gz.open")
    assert {ln.filename for ln in index_warc(path).lines} == {"live.warc.gz"}
