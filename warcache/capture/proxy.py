"""The recording proxy: every HTTP exchange the capture browser makes passes through here.

Size: over 600 lines, because one connection's whole life (CONNECT, TLS, forwarding, recording,
limits, the whole-file re-request) stays in one place, where the order of recording against
forwarding can be read; the wire format and certificates are already modules of their own.

Why a proxy rather than the browser's own network events: a proxy sees the bytes on the wire. It
archives the status line and headers exactly as the server sent them (order, duplicates), bodies
with their content coding and chunk framing intact, redirect bodies, requests made by workers,
service workers and by the browser itself (the favicon), and the server's IP address. The
browser's events give decoded bodies, alphabetised headers on HTTP/2, and miss some requests.

One proxy serves one capture (one browser context), so everything it records belongs to that page.

When a server answers a GET in pieces (206, as it does for the byte ranges media players ask
for), the proxy also asks once for the whole file, without Range, and records that too
(bounded by the size limit): a replay can then seek anywhere, not only where the browser
happened to look during the capture.
The browser talks HTTP/1.1 to it; it talks HTTP/1.1 to servers. For https, the browser is sent
through a CONNECT tunnel to a local TLS endpoint that presents a throw-away certificate (the
capture context accepts it); the proxy makes its own verified TLS connection to the real server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from warcache.capture.certs import proxy_server_context, upstream_client_context
from warcache.capture.httpwire import (
    Framing,
    Head,
    WireError,
    iter_body,
    read_head,
    request_framing,
    response_framing,
)

#: Request headers meant for the proxy, not the server: never forwarded, never archived.
PROXY_ONLY_HEADERS = {b"proxy-connection", b"proxy-authorization"}
#: Content codings every WARC reader can decode (warcio without brotli, pywb, other tools).
#: Asking for br/zstd would archive bodies many tools cannot read back.
ACCEPT_ENCODING = b"gzip, deflate"
STREAM_LIMIT = 256 * 1024
SPOOL_IN_MEMORY = 4 * 1024 * 1024
MAX_REQUEST_BODY = 64 * 1024 * 1024
ERROR_HEADER = "X-Warcache-Error"


class UpstreamError(Exception):
    """The server could not be reached; `str(exc)` is a one-line reason for the user."""


@dataclass
class Exchange:
    """One request and its response, as they went over the wire between proxy and server."""

    seq: int
    method: str
    url: str
    started: datetime
    request_head: bytes
    request_body: bytes = b""
    response_head: Head | None = None
    remote_ip: str | None = None
    truncated: str | None = None  # the WARC-Truncated reason when the body is incomplete
    websocket: bool = False
    body_length: int = 0
    _body: IO[bytes] | None = field(default=None, repr=False)
    _sha1: hashlib._Hash = field(default_factory=hashlib.sha1, repr=False)

    @property
    def status(self) -> int:
        return self.response_head.status if self.response_head else 0

    def add_body(self, data: bytes) -> None:
        if self._body is None:
            self._body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="warcache-body-")
        self._body.write(data)
        self._sha1.update(data)
        self.body_length += len(data)

    @property
    def payload_digest(self) -> str:
        """sha1 of the payload as stored (after the HTTP head), base32, as warcio computes it."""
        return "sha1:" + base64.b32encode(self._sha1.digest()).decode("ascii")

    def body_stream(self) -> IO[bytes]:
        """The recorded body, positioned at its start."""
        if self._body is None:
            self._body = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        self._body.seek(0)
        return self._body

    def release(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None


@dataclass
class _Upstream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    ip: str
    reused: bool = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class RecordingProxy:
    """An HTTP/1.1 forward proxy on 127.0.0.1 that records what passes through it.

    `exchanges` holds finished exchanges in the order their responses completed; `errors` the URLs
    the proxy could not fetch with the reason. `inflight` and `wait_idle` tell the capture when the
    page's network has gone quiet, including requests the page's own events never report.
    """

    def __init__(self, *, verify_tls: bool = True, max_body: int = 1 << 30,
                 connect_timeout: float = 20.0, read_timeout: float = 120.0,
                 resolve: dict[str, str] | None = None,
                 block: Callable[[str, Head], bool] | None = None, fetch_whole: bool = True) -> None:
        self.verify_tls = verify_tls
        self.max_body = max_body
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.resolve = dict(resolve or {})
        self.exchanges: list[Exchange] = []
        self.errors: list[tuple[str, str]] = []
        self.unfinished = 0  # requests abandoned before any response arrived
        self.cut_for_length: set[str] = set()  # URLs whose body passed max_body: not fetched again
        self.fetch_whole = fetch_whole
        self._whole_asked: set[str] = set()  # URLs answered in pieces whose whole file was asked for
        self.block = block  # requests it says True for are not fetched (see blocklist.py)
        self.blocked: list[str] = []  # their URLs, in order
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._seq = 0
        self._tasks: set[asyncio.Task] = set()
        self._tunnel_targets: dict[int, asyncio.Future] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._upstream_ctx = upstream_client_context(verify_tls)
        self._closing = False
        self.url = ""

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> str:
        """Start listening; returns the proxy URL to give the browser."""
        main = await asyncio.start_server(self._on_client, "127.0.0.1", 0, limit=STREAM_LIMIT)
        tls = await asyncio.start_server(self._on_tunnel, "127.0.0.1", 0, limit=STREAM_LIMIT,
                                         ssl=proxy_server_context(), ssl_handshake_timeout=30)
        plain = await asyncio.start_server(self._on_tunnel, "127.0.0.1", 0, limit=STREAM_LIMIT)
        self._servers = [main, tls, plain]
        self._tls_port = tls.sockets[0].getsockname()[1]
        self._plain_port = plain.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{main.sockets[0].getsockname()[1]}"
        return self.url

    async def close(self, grace: float = 2.0) -> None:
        """Stop: give exchanges in flight `grace` seconds, then cut them (recorded as truncated)."""
        for server in self._servers:
            server.close()
        await self.wait_idle(quiet=0.0, timeout=grace)
        self._closing = True
        for _attempt in range(3):
            # asyncio.wait_for (Python 3.11) can swallow a cancellation that lands just as the
            # awaited read completes; such a task notices `_closing` at its next chunk instead,
            # and is cancelled again here. It must end now: it would record after the capture
            # is over, and go on downloading an endless response for the rest of the run.
            tasks = [t for t in self._tasks if not t.done()]
            if not tasks:
                break
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=2)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    @property
    def inflight(self) -> int:
        return self._inflight

    async def wait_idle(self, quiet: float = 0.5, timeout: float = 10.0) -> bool:
        """Wait until no request has been in flight for `quiet` seconds, counted from now at the
        earliest (a page reacting to a scroll starts its requests a moment later); False if
        `timeout` came first."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            now = time.monotonic()
            if self._inflight == 0 and now - max(self._last_activity, start) >= quiet:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(0.05)

    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    def _track(self) -> asyncio.Task | None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    # -- connections from the browser -----------------------------------------------------------

    async def adopt(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve a connection the browser opened to another listener (the switchboard of a browser
        on a profile, profile_browser.py) as if it had come here; `close()` ends it like the others."""
        await self._on_client(reader, writer)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        try:
            await self._serve(reader, writer, origin=None)
        except (ConnectionError, OSError, WireError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # close() cut this connection; asyncio's stream callback must not see it
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _on_tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A decrypted (or plain ws://) connection coming out of a CONNECT tunnel."""
        self._track()
        try:
            peer_port = writer.get_extra_info("peername")[1]
            target = await asyncio.wait_for(self._tunnel_future(peer_port), 10)
            await self._serve(reader, writer, origin=target)
        except (ConnectionError, OSError, WireError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # close() cut this connection
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _tunnel_future(self, port: int) -> asyncio.Future:
        fut = self._tunnel_targets.get(port)
        if fut is None:
            fut = self._tunnel_targets[port] = asyncio.get_running_loop().create_future()
        return fut

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     origin: tuple[str, str, int] | None) -> None:
        upstreams: dict[tuple[str, str, int], _Upstream] = {}
        try:
            while True:
                try:
                    head = await asyncio.wait_for(read_head(reader), timeout=300)
                except TimeoutError:
                    return
                if head is None:
                    return
                parts = head.start_line.split(" ")
                if len(parts) != 3:
                    await _reply(writer, 400, "malformed request line")
                    return
                method, target, version = parts
                if origin is None and method == "CONNECT":
                    await self._connect_tunnel(reader, writer, target)
                    return
                where = self._locate(target, origin)
                if where is None:
                    await _reply(writer, 400, "the proxy only forwards http and https requests")
                    return
                if not await self._exchange(reader, writer, head, method, version, where, upstreams):
                    return
        finally:
            for upstream in upstreams.values():
                upstream.close()

    @staticmethod
    def _locate(target: str, origin: tuple[str, str, int] | None):
        """(scheme, host, port, path, url) for a request target, or None if it cannot be proxied."""
        if origin is not None:
            scheme, host, port = origin
            default = 443 if scheme == "https" else 80
            netloc = host if ":" not in host else f"[{host}]"
            if port != default:
                netloc = f"{netloc}:{port}"
            path = target if target.startswith("/") else "/" + target
            return scheme, host, port, path, f"{scheme}://{netloc}{path}"
        if not target.lower().startswith("http://"):
            return None
        rest = target[7:]
        slash = rest.find("/")
        netloc, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
        if "?" in netloc:  # "http://host?query"
            netloc, _, query = netloc.partition("?")
            path = "/?" + query
        host, port = _split_hostport(netloc, 80)
        if not host:
            return None
        return "http", host, port, path, f"http://{netloc.lower()}{path}"

    async def _connect_tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                              target: str) -> None:
        host, port = _split_hostport(target, 443)
        if not host:
            await _reply(writer, 400, "bad CONNECT target")
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        first = await asyncio.wait_for(reader.read(1), timeout=60)
        if not first:
            return
        is_tls = first[0] == 0x16  # a TLS handshake record; anything else is plain HTTP (ws://)
        inner_port = self._tls_port if is_tls else self._plain_port
        inner_reader, inner_writer = await asyncio.open_connection("127.0.0.1", inner_port,
                                                                   limit=STREAM_LIMIT)
        local_port = inner_writer.get_extra_info("sockname")[1]
        fut = self._tunnel_future(local_port)
        if not fut.done():
            fut.set_result(("https" if is_tls else "http", host, port))
        inner_writer.write(first)
        try:
            await _splice(reader, writer, inner_reader, inner_writer)
        finally:
            self._tunnel_targets.pop(local_port, None)

    # -- one exchange ------------------------------------------------------------------------------

    async def _exchange(self, reader, writer, head: Head, method: str, version: str, where,
                        upstreams: dict) -> bool:
        """Forward one request, stream the response back, record both. True to keep the connection."""
        scheme, host, port, path, url = where
        body_framing = request_framing(head)
        body = b""
        if body_framing.kind != "none":
            parts = []
            size = 0
            async for piece in iter_body(reader, body_framing):
                size += len(piece)
                if size > MAX_REQUEST_BODY:
                    await _reply(writer, 413, "request body too large for warcache to record")
                    return False
                parts.append(piece)
            body = b"".join(parts)
        if url in self.cut_for_length:
            # The browser retries a download that broke off (Chromium up to five times): each retry
            # would record the limit again. Once is what the limit allows.
            await _reply(writer, 502, f"{url} is larger than the {self.max_body} bytes warcache "
                                      "records of one response", error=True)
            return False
        if self.block is not None and self.block(url, head):
            self.blocked.append(url)
            await _reply(writer, 403, "blocked by the capture's block list", error=True)
            return "close" not in head.tokens("Connection")
        request_head = _upstream_request_head(head, method, path, version)
        self._seq += 1
        ex = Exchange(seq=self._seq, method=method, url=url, started=datetime.now(UTC),
                      request_head=request_head, request_body=body,
                      websocket="websocket" in head.tokens("Upgrade"))
        self._inflight += 1
        self._touch()
        recorded = False
        released = False
        try:
            key = (scheme, host, port)
            try:
                upstream, response = await self._send(upstreams, key, request_head + body)
            except UpstreamError as exc:
                self.errors.append((url, str(exc)))
                await _reply(writer, 502, str(exc), error=True)
                return "close" not in head.tokens("Connection")
            ex.response_head = response
            ex.remote_ip = upstream.ip
            writer.write(response.raw)
            if response.status == 101:
                self._record(ex)
                recorded = True
                await writer.drain()
                upstreams.pop(key, None)
                self._inflight -= 1  # an open WebSocket is not a request in flight
                released = True
                await _splice(reader, writer, upstream.reader, upstream.writer)
                return False
            framing = response_framing(response, method)
            client_ok = await self._stream_body(ex, upstream, framing, writer)
            self._record(ex)
            recorded = True
            self._maybe_fetch_whole(ex, key, request_head)
            reusable = (framing.kind != "close" and ex.truncated is None
                        and "close" not in response.tokens("Connection")
                        and not (response.version == "HTTP/1.0"
                                 and "keep-alive" not in response.tokens("Connection")))
            if reusable:
                upstream.reused = True
            else:
                upstreams.pop(key, None)
                upstream.close()
            return (client_ok and reusable and "close" not in head.tokens("Connection"))
        except asyncio.CancelledError:
            if not recorded and ex.response_head is not None:
                ex.truncated = ex.truncated or "disconnect"
                self._record(ex)
            elif not recorded:
                self.unfinished += 1
            raise
        except (WireError, ConnectionError, OSError, TimeoutError) as exc:
            if ex.response_head is None:
                self.errors.append((url, _describe(exc, host, port)))
                with contextlib.suppress(Exception):
                    await _reply(writer, 502, _describe(exc, host, port), error=True)
            elif not recorded:
                ex.truncated = ex.truncated or "disconnect"
                self._record(ex)
            upstreams.pop((scheme, host, port), None)
            return False
        finally:
            if not released:
                self._inflight -= 1
            self._touch()

    def _maybe_fetch_whole(self, ex: Exchange, key: tuple[str, str, int], request_head: bytes) -> None:
        """After a 206 piece of a GET, ask once for the whole file (see the module docstring)."""
        if not self.fetch_whole or ex.method != "GET" or ex.status != 206 or self._closing:
            return
        if ex.url in self._whole_asked or ex.url in self.cut_for_length or ex.response_head is None:
            return
        where = _content_range(ex.response_head.get("Content-Range"))
        if where is not None:
            start, end, total = where
            if total is not None and (total > self.max_body or (start == 0 and end == total - 1)):
                return  # too big to keep anyway, or the piece already is the whole file
        self._whole_asked.add(ex.url)
        task = asyncio.ensure_future(self._fetch_whole(ex.url, key, _without_range(request_head)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch_whole(self, url: str, key: tuple[str, str, int], request_head: bytes) -> None:
        self._seq += 1
        ex = Exchange(seq=self._seq, method="GET", url=url, started=datetime.now(UTC),
                      request_head=request_head)
        self._inflight += 1
        self._touch()
        upstreams: dict[tuple[str, str, int], _Upstream] = {}
        try:
            upstream, response = await self._send(upstreams, key, request_head)
            ex.response_head = response
            ex.remote_ip = upstream.ip
            await self._stream_body(ex, upstream, response_framing(response, "GET"), None)
            self._record(ex)
        except asyncio.CancelledError:
            if ex.response_head is not None:
                ex.truncated = ex.truncated or "disconnect"
                self._record(ex)
            raise
        except (UpstreamError, WireError, ConnectionError, OSError, TimeoutError):
            if ex.response_head is not None:  # not the page's request: nothing to report to it
                ex.truncated = ex.truncated or "disconnect"
                self._record(ex)
        finally:
            for upstream in upstreams.values():
                upstream.close()
            self._inflight -= 1
            self._touch()

    async def _send(self, upstreams: dict, key, data: bytes) -> tuple[_Upstream, Head]:
        """Send a request on a pooled or new connection; return the final (non-1xx) response head."""
        for attempt in range(2):
            upstream = upstreams.get(key)
            if upstream is None:
                upstream = await self._open_upstream(*key)
                upstreams[key] = upstream
            try:
                upstream.writer.write(data)
                await upstream.writer.drain()
                response = await asyncio.wait_for(read_head(upstream.reader), self.read_timeout)
            except (ConnectionError, WireError, OSError) as exc:
                upstreams.pop(key, None)
                upstream.close()
                if upstream.reused and attempt == 0:
                    continue  # a kept-alive connection the server had closed: try a fresh one
                raise UpstreamError(_describe(exc, key[1], key[2])) from None
            except TimeoutError:
                upstreams.pop(key, None)
                upstream.close()
                raise UpstreamError(f"no answer from {key[1]}:{key[2]} within "
                                    f"{self.read_timeout:g} s") from None
            if response is None:
                upstreams.pop(key, None)
                upstream.close()
                if upstream.reused and attempt == 0:
                    continue
                raise UpstreamError(f"{key[1]}:{key[2]} closed the connection without answering")
            while 100 <= response.status < 200 and response.status != 101:
                # Interim responses (100 Continue, 103 Early Hints) are not archived.
                response = await asyncio.wait_for(read_head(upstream.reader), self.read_timeout)
                if response is None:
                    raise UpstreamError(f"{key[1]}:{key[2]} closed the connection without answering")
            return upstream, response
        raise UpstreamError(f"{key[1]}:{key[2]} closed the connection without answering")

    async def _stream_body(self, ex: Exchange, upstream: _Upstream, framing: Framing,
                           writer: asyncio.StreamWriter | None) -> bool:
        """Copy the body to the browser and the record. Returns False if the browser went away.

        If the browser stops listening (a cancelled image, a download it hands off) the proxy keeps
        reading, so the archived response is whole.  `writer` None: nobody waits for the body (a
        whole file fetched by the proxy itself).
        """
        client_ok = writer is not None
        body = iter_body(upstream.reader, framing)
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(body), self.read_timeout)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    ex.truncated = "time"
                    client_ok = False
                    break
                if ex.body_length + len(chunk) > self.max_body:
                    # Kept up to the limit exactly: a chunk can be larger than the whole limit.
                    kept = chunk[: self.max_body - ex.body_length]
                    ex.add_body(kept)
                    if client_ok and writer is not None:
                        with contextlib.suppress(ConnectionError, OSError):
                            writer.write(kept)
                            await writer.drain()
                    ex.truncated = "length"
                    if writer is not None:
                        self.cut_for_length.add(ex.url)
                    client_ok = False
                    break
                ex.add_body(chunk)
                self._touch()
                if self._closing:  # the capture is over (see close())
                    ex.truncated = "disconnect"
                    client_ok = False
                    break
                if client_ok and writer is not None:
                    try:
                        writer.write(chunk)
                        await writer.drain()
                    except (ConnectionError, OSError):
                        client_ok = False
        except WireError:
            ex.truncated = "disconnect"
            client_ok = False
        finally:
            await body.aclose()
        if client_ok and writer is not None:
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
        return client_ok and ex.truncated is None

    def _record(self, ex: Exchange) -> None:
        self.exchanges.append(ex)

    async def _open_upstream(self, scheme: str, host: str, port: int) -> _Upstream:
        if host == "invalid" or host.endswith(".invalid"):
            # RFC 6761: .invalid never resolves, and resolvers should not even be asked.
            raise UpstreamError(f"DNS lookup failed for {host}")
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(self.resolve.get(host, host), port, type=socket.SOCK_STREAM),
                self.connect_timeout)
        except (socket.gaierror, UnicodeError):
            raise UpstreamError(f"DNS lookup failed for {host}") from None
        except TimeoutError:
            raise UpstreamError(f"DNS lookup timed out for {host}") from None
        tls = self._upstream_ctx if scheme == "https" else None
        reason = f"cannot reach {host}:{port}"
        for _family, _type, _proto, _name, sockaddr in infos[:4]:
            ip = sockaddr[0]
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(ip, sockaddr[1], ssl=tls, limit=STREAM_LIMIT,
                                            server_hostname=host if tls else None),
                    self.connect_timeout)
            except ssl.SSLCertVerificationError as exc:
                raise UpstreamError(
                    f"TLS certificate of {host} not trusted ({exc.verify_message}); "
                    "use --ignore-https-errors to capture anyway") from None
            except ssl.SSLError as exc:
                raise UpstreamError(f"TLS handshake with {host} failed ({exc.reason or exc})") from None
            except (OSError, TimeoutError) as exc:
                reason = _describe(exc, host, port)
                continue
            return _Upstream(reader, writer, ip)
        raise UpstreamError(reason)


def _describe(exc: BaseException, host: str, port: int) -> str:
    if isinstance(exc, UpstreamError):
        return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {host}:{port}"
    if isinstance(exc, TimeoutError):
        return f"timed out connecting to {host}:{port}"
    if isinstance(exc, ConnectionResetError):
        return f"connection reset by {host}:{port}"
    if isinstance(exc, WireError):
        return f"bad HTTP from {host}:{port}: {exc}"
    if isinstance(exc, OSError):
        return f"cannot reach {host}:{port} ({exc.strerror or exc})"
    return f"{type(exc).__name__} talking to {host}:{port}"


def _split_hostport(netloc: str, default_port: int) -> tuple[str, int]:
    """("host", port) from "host:port", "[v6]:port" or "host"; ("", 0) if unusable."""
    netloc = netloc.rsplit("@", 1)[-1]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = netloc.partition(":")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        return "", 0
    if not 0 < port < 65536:
        return "", 0
    return host.lower(), port


def _content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """(first, last, total or None) of a `bytes a-b/n` Content-Range."""
    try:
        unit, _, rest = (value or "").strip().partition(" ")
        span, _, total = rest.partition("/")
        first, _, last = span.partition("-")
        if unit.lower() != "bytes":
            return None
        return int(first), int(last), None if total.strip() == "*" else int(total)
    except ValueError:
        return None


def _without_range(request_head: bytes) -> bytes:
    """A request head asking for the whole resource: Range and If-Range lines left out."""
    lines = request_head.splitlines(keepends=True)
    kept = [lines[0]] + [ln for ln in lines[1:]
                         if ln.split(b":", 1)[0].strip().lower() not in (b"range", b"if-range")]
    return b"".join(kept)


def _upstream_request_head(head: Head, method: str, path: str, version: str) -> bytes:
    """The request head as the proxy sends it on: origin-form target, the browser's header lines
    byte for byte and in order, minus proxy-only headers, with Accept-Encoding limited to codings
    every WARC reader can decode."""
    lines = head.raw.splitlines(keepends=True)[1:]
    out = [f"{method} {path} {version}\r\n".encode("latin-1")]
    for line in lines:
        name = line.split(b":", 1)[0].strip().lower()
        if name in PROXY_ONLY_HEADERS:
            continue
        if name == b"accept-encoding":
            line = b"Accept-Encoding: " + ACCEPT_ENCODING + b"\r\n"
        out.append(line)
    return b"".join(out)


async def _reply(writer: asyncio.StreamWriter, status: int, message: str, *, error: bool = False) -> None:
    """Answer the browser from the proxy itself (never archived)."""
    reason = {400: "Bad Request", 403: "Forbidden", 413: "Payload Too Large",
              502: "Bad Gateway"}.get(status, "Error")
    body = f"warcache: {message}\n".encode()
    safe = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in message)[:500]
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n")
    if error:
        head += f"{ERROR_HEADER}: {safe}\r\n"
    writer.write(head.encode("latin-1") + b"\r\n" + body)
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()


async def _splice(reader_a, writer_a, reader_b, writer_b) -> None:
    """Copy bytes both ways between two connections until either side closes."""

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                data = await src.read(65536)
                if not data:
                    break
                dst.write(data)
                await dst.drain()

    tasks = [asyncio.ensure_future(pump(reader_a, writer_b)), asyncio.ensure_future(pump(reader_b, writer_a))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in (writer_a, writer_b):
            with contextlib.suppress(Exception):
                w.close()
