#!/usr/bin/env python3
"""Load on the replay server: many concurrent connections for a while; errors, latency, memory.

It captures a few pages with `warcache add` (the fixture site's JavaScript-heavy main page and
article pages, served on 127.0.0.1), starts `warcache replay` in its own process, and from
`--connections` keep-alive connections sends requests for `--seconds`, cycling over what a
browser and a person ask it: every archived resource (`id_`), the rewritten pages (on their
session host, as a browser gets them, and the redirect there from pywb's URL), the listing, a
search, a capture list, and a URL that was never archived. Each answer must have the status a
first, unloaded pass got. Reported: requests served, errors, latency percentiles, and the
server's peak resident memory (VmHWM). Traffic stays on loopback; the load is bounded in time
and in requests.

    .venv/bin/python scripts/load_replay.py                       # 64 connections, 30 s
    .venv/bin/python scripts/load_replay.py --connections 50 --seconds 5

tests/test_reliability_load.py runs a 5-second version in the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fixture_site import FixtureSite  # noqa: E402
from hostile_site import HostileSite, article_word, free_port_pair, peak_rss_mb  # noqa: E402

from warcache.collection import Collection  # noqa: E402
from warcache.index.cdxj import CdxjIndex  # noqa: E402

MAX_REQUESTS = 2_000_000


@dataclass
class LoadReport:
    connections: int
    seconds: float
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    targets: int = 0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> str:
        rate = self.requests / self.seconds if self.seconds else 0
        return (f"{self.connections} connections for {self.seconds:.0f} s over {self.targets} URLs: "
                f"{self.requests} requests ({rate:.0f}/s), {self.errors} errors; latency p50 "
                f"{self.percentile(50):.1f} ms, p99 {self.percentile(99):.1f} ms, max "
                f"{max(self.latencies_ms, default=0):.0f} ms; server peak RSS {self.peak_rss_mb:.0f} MiB")

    def to_json(self) -> dict:
        return {"connections": self.connections, "seconds": round(self.seconds, 1), "requests": self.requests,
                "errors": self.errors, "p50_ms": round(self.percentile(50), 2),
                "p99_ms": round(self.percentile(99), 2),
                "max_ms": round(max(self.latencies_ms, default=0), 1),
                "peak_rss_mb": round(self.peak_rss_mb, 1), "error_samples": self.error_samples[:5]}


# ---------------------------------------------------------------------------------------------
# The archive and the server


def capture_archive(root: Path, articles: int = 8) -> None:
    """Capture the fixture main page and some article pages into ROOT (needs a browser)."""
    with FixtureSite() as site, HostileSite() as hostile:
        urls = [site.url("/"), site.url("/redirect")]
        urls += [hostile.url(f"/article/{n}") for n in range(1, articles + 1)]
        run = subprocess.run([sys.executable, "-m", "warcache", "--root", str(root), "add", "-j", "2",
                              "--idle-timeout", "1", "--no-scroll", *urls],
                             capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            raise RuntimeError(f"capture failed: {run.stderr[-2000:]}")


def targets(root: Path) -> list[str]:
    """Paths a browser and a person ask the server for: on the replay port ('R ...'; 'S <host>
    ...' on a page's session host, see warcache/replay/origins.py) or the UI ('U ...')."""
    from warcache.replay.origins import HostNames, Origins

    origins, names = Origins("localhost"), HostNames()
    coll = Collection(root, "default")
    index = CdxjIndex(coll.indexes_dir)
    try:
        lines = list(index)
    finally:
        index.close()
    out = []
    for line in lines:
        if line.url.startswith("urn:"):
            continue
        out.append(f"R /default/{line.timestamp}id_/{line.url}")
        if line.mime == "text/html":
            out.append(f"R /default/{line.timestamp}/{line.url}")
            host = origins.session_host("default", line.url, line.timestamp, names)
            out.append(f"S {host} /{line.url.split('//', 1)[1].partition('/')[2]}")
    first = next(iter(coll.pages()))
    out += ["U /", "U /default/", f"U /default/?q={article_word(3)}", f"U /default/*/{first.url}",
            "R /default/20240101000000/http://never.archived.example/page", "R /_warcache/static/client.js"]
    return out


def start_server(root: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "warcache", "--root", str(root), "replay", "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port + 1)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the replay server did not start")


# ---------------------------------------------------------------------------------------------
# A minimal keep-alive HTTP/1.1 client


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; (status, whether the server keeps the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    else:
        await reader.read()
        keep = False
    return status, keep


def _host(origin: str, ports: dict[str, int], session: str) -> str:
    """The Host header: replayed pages are asked for on their collection's host name, or their
    session host, as a browser does."""
    name = {"R": "default.localhost", "U": "127.0.0.1"}.get(origin, session)
    return f"{name}:{ports[origin]}"


async def _connection(ports: dict[str, int], work: list[tuple[str, str, str, int]], report: LoadReport,
                      deadline: float, rng: random.Random) -> None:
    conns: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
    try:
        while time.monotonic() < deadline and report.requests < MAX_REQUESTS:
            origin, session, path, expected = work[rng.randrange(len(work))]
            start = time.perf_counter()
            try:
                if origin not in conns:
                    conns[origin] = await asyncio.open_connection("127.0.0.1", ports[origin])
                reader, writer = conns[origin]
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {_host(origin, ports, session)}\r\n"
                             "User-Agent: warcache-load\r\n\r\n".encode())
                await writer.drain()
                status, keep = await asyncio.wait_for(_read_response(reader), 30)
                if not keep:
                    writer.close()
                    del conns[origin]
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                report.errors += 1
                report.error_samples.append(f"{path[:80]}: {type(exc).__name__} {exc}"[:200])
                conns.pop(origin, (None, None))
                continue
            report.latencies_ms.append((time.perf_counter() - start) * 1000)
            report.requests += 1
            if status != expected:
                report.errors += 1
                report.error_samples.append(f"{path[:80]}: status {status}, expected {expected}")
    finally:
        for _, writer in conns.values():
            writer.close()


def expected_statuses(ports: dict[str, int], paths: list[str]) -> list[tuple[str, str, str, int]]:
    """Each target with the status an unloaded server gives it (the reference for the load)."""
    import http.client

    work = []
    for item in paths:
        origin, path = item.split(" ", 1)
        session = ""
        if origin == "S":
            session, path = path.split(" ", 1)
        path = quote(path, safe="/:?=&%*_-.~")
        conn = http.client.HTTPConnection("127.0.0.1", ports[origin], timeout=30)
        conn.request("GET", path, headers={"Host": _host(origin, ports, session)})
        response = conn.getresponse()
        response.read()
        conn.close()
        work.append((origin, session, path, response.status))
    return work


def run_load(root: Path, *, connections: int, seconds: float, seed: int = 1) -> LoadReport:
    """Start the replay server on ROOT, load it, stop it; see the module docstring."""
    port = free_port_pair()
    server = start_server(root, port)
    report = LoadReport(connections, seconds)
    try:
        ports = {"U": port, "R": port + 1, "S": port + 1}
        work = expected_statuses(ports, targets(root))
        report.targets = len(work)
        rng = random.Random(seed)

        async def load() -> None:
            deadline = time.monotonic() + seconds
            tasks = [asyncio.ensure_future(_connection(ports, work, report, deadline,
                                                       random.Random(rng.random())))
                     for _ in range(connections)]
            while not all(t.done() for t in tasks):
                report.peak_rss_mb = max(report.peak_rss_mb, peak_rss_mb(server.pid) or 0.0)
                await asyncio.sleep(0.2)
            await asyncio.gather(*tasks)

        start = time.monotonic()
        asyncio.run(load())
        report.seconds = time.monotonic() - start
        report.peak_rss_mb = max(report.peak_rss_mb, peak_rss_mb(server.pid) or 0.0)
        if server.poll() is not None:
            report.errors += 1
            report.error_samples.append(f"the server exited with {server.returncode}")
    finally:
        server.kill()
        server.wait(10)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--root", type=Path, help="an existing warcache root (default: capture one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warcache-load-") as tmp:
        root = args.root or Path(tmp)
        if args.root is None:
            capture_archive(root)
        report = run_load(root, connections=args.connections, seconds=args.seconds)
    print(json.dumps(report.to_json(), indent=1) if args.json else report.summary())
    for sample in report.error_samples[:10]:
        print("  error:", sample)
    return 0 if report.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
