"""Redacted copies of WARC files: secrets blanked, digests right, everything else byte for byte."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warcache.warc.reader import WarcReader
from warcache.warc.redact import RedactError, redact_http_head, redact_record, redact_warc

SECRET = b"sess10n-t0ken-abcdef"
TOKEN = b"bearer-t0ken-123456"


def test_redact_http_head_blanks_only_the_named_values():
    head = (b"GET /a HTTP/1.1\r\nHost: example.com\r\nCookie: sid=" + SECRET + b"; x=1\r\n"
            b"authorization: Bearer " + TOKEN + b"\r\nX-Cookie-Note: keep\r\nCookie:  b=2\r\n"
            b"\r\n")
    out = redact_http_head(head, frozenset({b"cookie", b"authorization"}))
    assert out == (b"GET /a HTTP/1.1\r\nHost: example.com\r\nCookie:\r\nauthorization:\r\n"
                   b"X-Cookie-Note: keep\r\nCookie:\r\n\r\n")


def test_redact_http_head_takes_folded_lines_and_bare_newlines_along():
    head = (b"HTTP/1.1 200 OK\nSet-Cookie: a=" + SECRET + b";\n  Path=/\n\tHttpOnly\n"
            b"Content-Type: text/html\nSet-Cookie: b=2\n\n")
    out = redact_http_head(head, frozenset({b"set-cookie"}))
    assert out == b"HTTP/1.1 200 OK\nSet-Cookie:\nContent-Type: text/html\nSet-Cookie:\n\n"
    # The request line is never taken for a header, whatever it holds.
    odd = b"Cookie: x HTTP/1.1\r\n\r\n"
    assert redact_http_head(odd, frozenset({b"cookie"})) == odd


def _warc(gz: bool) -> bytes:
    """A small WARC: warcinfo, a request with Cookie and Authorization, its response with two
    Set-Cookie headers and a body, a revisit with Set-Cookie, a response without secrets, metadata."""
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=gz, warc_version="1.1")
    w.write_record(w.create_warcinfo_record("t.warc", {"software": "test"}))
    url = "http://example.com/article"
    sid = f"sid={SECRET.decode()}"
    request = StatusAndHeaders("GET /article HTTP/1.1", [
        ("Host", "example.com"), ("Cookie", sid), ("Authorization", "Bearer " + TOKEN.decode())],
        is_http_request=True)
    w.write_record(w.create_warc_record(url, "request", http_headers=request))
    body = b"<p>the article</p>" * 50
    response = StatusAndHeaders("200 OK", [
        ("Content-Type", "text/html"), ("Set-Cookie", sid + "; HttpOnly"), ("Set-Cookie", "seen=1"),
        ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=response))
    again = StatusAndHeaders("200 OK", [("Set-Cookie", sid)], protocol="HTTP/1.1")
    w.write_record(w.create_revisit_record(url, "sha1:AAAA", url, "2024-01-01T00:00:00Z", http_headers=again))
    css = StatusAndHeaders("200 OK", [("Content-Type", "text/css")], protocol="HTTP/1.1")
    w.write_record(w.create_warc_record("http://example.com/s.css", "response", payload=io.BytesIO(b"a{}"),
                                        http_headers=css))
    w.write_record(w.create_warc_record("urn:x", "metadata", payload=io.BytesIO(b'{"ok": true}'),
                                        warc_content_type="application/json"))
    return buf.getvalue()


def _records(path):
    out = []
    for item in WarcReader(path):
        record = item.record
        out.append((record.rec_type, dict(record.rec_headers.headers), record.raw_stream.read()))
    return out


def _block_digests(raw: bytes) -> list[bool]:
    """Each record's WARC-Block-Digest checked against its block, read by hand (warcio skips revisits)."""
    results = []
    while raw.startswith(b"WARC/"):
        end = raw.index(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in raw[:end].decode().split("\r\n")[1:])
        length = int(fields["Content-Length"])
        block = raw[end + 4:end + 4 + length]
        digest = "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode()
        results.append(fields["WARC-Block-Digest"] == digest)
        raw = raw[end + 4 + length:].lstrip(b"\r\n")
    return results


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_redact_warc(tmp_path, gz):
    name = "t.warc.gz" if gz else "t.warc"
    src, dest = tmp_path / name, tmp_path / "out" / name
    dest.parent.mkdir()
    src.write_bytes(_warc(gz))
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    report = redact_warc(src, dest)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # the original is only read
    assert (report.records, report.redacted, report.dropped_tail) == (6, 3, None)
    raw = gzip.decompress(dest.read_bytes()) if gz else dest.read_bytes()
    assert SECRET not in raw and TOKEN not in raw
    assert b"seen=1" not in raw  # every Set-Cookie value goes, not only the ones known to be secret
    assert _block_digests(raw) == [True] * 6  # recomputed for the 3 records that changed
    old, new = _records(src), _records(dest)
    assert [r[0] for r in new] == ["warcinfo", "request", "response", "revisit", "response", "metadata"]
    for (kind, old_headers, old_payload), (_, new_headers, new_payload) in zip(old, new, strict=True):
        assert new_payload == old_payload  # payloads untouched, so their digests stand
        assert new_headers.get("WARC-Payload-Digest") == old_headers.get("WARC-Payload-Digest")
        assert new_headers["WARC-Record-ID"] == old_headers["WARC-Record-ID"]
        changed = {k for k in old_headers if old_headers[k] != new_headers.get(k)}
        assert changed <= {"Content-Length", "WARC-Block-Digest"}, kind
    assert b"\r\nHost: example.com\r\nCookie:\r\nAuthorization:\r\n\r\n" in raw  # names and places kept
    assert raw.count(b"Set-Cookie:\r\n") == 3 and b"Content-Type: text/html\r\nSet-Cookie:\r\n" in raw
    # Records without a secret are copied byte for byte (the css response, the metadata).
    original = gzip.decompress(src.read_bytes()) if gz else src.read_bytes()
    tail = original[original.index(b"WARC/1.1\r\nWARC-Type: response\r\n", original.index(b"revisit")):]
    assert raw.endswith(tail)


def test_redact_record_leaves_records_without_secrets_alone():
    record = (b"WARC/1.1\r\nWARC-Type: response\r\nContent-Type: application/http; msgtype=response\r\n"
              b"Content-Length: 38\r\n\r\nHTTP/1.1 200 OK\r\nX-A: b\r\n\r\nbody-bytes\r\n\r\n")
    assert redact_record(record) is None
    metadata = record.replace(b"WARC-Type: response", b"WARC-Type: metadata")
    assert redact_record(metadata.replace(b"X-A: b", b"Set-Cookie: s")) is None  # not an HTTP record


def test_a_large_body_is_streamed_and_its_block_digest_is_right(tmp_path):
    body = bytes(range(256)) * (40 * 1024)  # 10 MB
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True, warc_version="1.1")
    head = StatusAndHeaders("200 OK", [("Set-Cookie", f"sid={SECRET.decode()}"),
                                       ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
    record = writer.create_warc_record("http://example.com/big", "response", payload=io.BytesIO(body),
                                       http_headers=head)
    writer.write_record(record)
    src, dest = tmp_path / "big.warc.gz", tmp_path / "big-redacted.warc.gz"
    src.write_bytes(buf.getvalue())
    assert redact_warc(src, dest).redacted == 1
    [(_, _, payload)] = _records(dest)
    assert payload == body and _block_digests(gzip.decompress(dest.read_bytes())) == [True]


def test_a_file_whose_records_share_a_gzip_member_is_refused(tmp_path):
    src = tmp_path / "one-member.warc.gz"
    src.write_bytes(gzip.compress(_warc(False)))
    with pytest.raises(RedactError, match="several records share a gzip member"):
        redact_warc(src, tmp_path / "out.warc.gz")
