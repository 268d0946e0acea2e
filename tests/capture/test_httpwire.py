"""The HTTP/1.x reader must keep every byte and find where messages end."""

import asyncio

import pytest

from warcache.capture.httpwire import (
    Framing,
    WireError,
    iter_body,
    parse_head,
    read_head,
    request_framing,
    response_framing,
)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def _read_all(data: bytes, framing: Framing) -> bytes:
    return b"".join([c async for c in iter_body(_reader(data), framing)])


def test_head_keeps_raw_bytes_order_and_duplicates():
    raw = b"HTTP/1.1 200 OK\r\nX-B: 1\r\nset-cookie: a=1\r\nX-A:2\r\nSet-Cookie: b=2\r\n\r\n"
    head = asyncio.run(_head(raw + b"body"))
    assert head.raw == raw
    assert head.headers == [("X-B", "1"), ("set-cookie", "a=1"), ("X-A", "2"), ("Set-Cookie", "b=2")]
    assert head.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert head.status == 200 and head.version == "HTTP/1.1"


def test_head_tolerates_bare_lf_and_folding():
    head = parse_head(b"HTTP/1.0 404 Not Found\nX-Long: a\n  b\n\n")
    assert head.status == 404
    assert head.get("x-long") == "a b"


async def _head(data: bytes):
    return await read_head(_reader(data))


def test_clean_eof_gives_none_and_partial_head_raises():
    assert asyncio.run(_head(b"")) is None
    with pytest.raises(WireError):
        asyncio.run(_head(b"HTTP/1.1 200 OK\r\nX: 1\r\n"))


def test_chunked_body_is_kept_with_framing_and_trailers():
    body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n"
    assert asyncio.run(_read_all(body + b"NEXT", Framing("chunked"))) == body


def test_truncated_bodies_raise():
    with pytest.raises(WireError):
        asyncio.run(_read_all(b"abc", Framing("length", 10)))
    with pytest.raises(WireError):
        asyncio.run(_read_all(b"a\r\nxyz", Framing("chunked")))


def test_close_delimited_body_reads_to_end():
    assert asyncio.run(_read_all(b"x" * 200_000, Framing("close"))) == b"x" * 200_000


@pytest.mark.parametrize("raw, method, expected", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", Framing("length", 5)),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", Framing("none")),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "GET", Framing("none")),
    (b"HTTP/1.1 204 No Content\r\n\r\n", "GET", Framing("none")),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "GET", Framing("chunked")),
    (b"HTTP/1.1 200 OK\r\n\r\n", "GET", Framing("close")),
])
def test_response_framing(raw, method, expected):
    assert response_framing(parse_head(raw), method) == expected


def test_request_framing_and_bad_lengths():
    assert request_framing(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")) == Framing("none")
    post = parse_head(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n")
    assert request_framing(post) == Framing("length", 3)
    with pytest.raises(WireError):
        request_framing(parse_head(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"))
    with pytest.raises(WireError):
        request_framing(parse_head(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"))
