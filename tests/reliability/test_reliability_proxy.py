"""The recording proxy at the end of a capture: nothing under way may outlive it or go unrecorded."""

from __future__ import annotations

import asyncio
import random

from hostile_site import HostileSite

from warcache.capture.proxy import RecordingProxy


async def _close_during_a_trickle(site: HostileSite) -> tuple[list, int]:
    proxy = RecordingProxy(read_timeout=30)
    await proxy.start()
    port = int(proxy.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {site.url('/trickle.bin?ms=1')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(0.05)
    await proxy.close(grace=0.0)
    left = sum(1 for t in proxy._tasks if not t.done())
    recorded = list(proxy.exchanges)
    writer.close()
    for ex in recorded:
        ex.release()
    return recorded, left


def test_an_endless_response_is_recorded_and_stopped_when_the_capture_ends():
    """A response that never ends (a stream, a trickle) is cut when the capture ends: recorded as
    truncated, and its download stopped. Python 3.11's wait_for can swallow the cancellation that
    should stop it, when it lands as a read completes; a byte every millisecond makes that likely."""
    with HostileSite() as site:
        for _ in range(30):
            recorded, left = asyncio.run(_close_during_a_trickle(site))
            assert left == 0
            assert len(recorded) == 1 and recorded[0].truncated == "disconnect"
            assert recorded[0].body_length > 0


async def _fetch_through(proxy: RecordingProxy, url: str) -> bytes:
    await proxy.start()
    port = int(proxy.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    received = await asyncio.wait_for(reader.read(), 30)  # until the proxy cuts it
    writer.close()
    await proxy.close(grace=0.0)
    return received


def test_a_body_over_the_size_limit_is_kept_up_to_the_limit_exactly():
    """--max-resource-size: what is recorded (and passed on) is the body's first bytes up to the
    limit, marked truncated, even when one read brings more than the whole limit (a 1 MiB body
    arrives in pieces far larger than 1000 bytes)."""
    with HostileSite() as site:
        url = site.url("/huge.bin?mb=1")
        proxy = RecordingProxy(max_body=1000)
        received = asyncio.run(_fetch_through(proxy, url))
        [ex] = list(proxy.exchanges)
        try:
            assert ex.truncated == "length" and ex.body_length == 1000
            stored = ex.body_stream().read()
            assert len(stored) == 1000 and received.endswith(stored)
            whole = random.Random(7).randbytes(1 << 20)  # what the site sends (hostile_site._huge)
            assert stored == whole[:1000]
        finally:
            ex.release()
