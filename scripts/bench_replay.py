#!/usr/bin/env python3
"""Benchmark: serving archived resources from warcache's replay server, side by side with pywb.

For each index size (default 10k and 1M CDXJ lines) it builds a collection: one WARC of real
records (HTML, CSS, JSON, images, some gzip-encoded, some chunked), indexed, plus synthetic
index lines for other URLs that point at those real records (so every line is replayable).
Then it starts warcache's server and pywb's `wayback` on the same collection (both on
127.0.0.1, in their own processes), sends the same random sample of requests to each from a
few keep-alive connections for a fixed time, and reports requests/s and latency percentiles:

* `id_`  the archived bytes (what a browser gets for every image, script, JSON ...),
* `html` a rewritten HTML page (warcache: its rewriting and client script; pywb: `mp_`),
* `page` warcache only: the same pages as a browser gets them, on the session host of their
  origin and time (`http://<host>.<ts>h.bench.localhost/<path>`, see warcache/replay/origins.py),

and, without a server, warcache's JavaScript rewriting (jsrewrite.py) of a large script: the
first parse, and the cached plan applied again.

each over keep-alive connections and with a new connection per request (pywb's gevent server
stalls ~40 ms per keep-alive response on Linux: it writes headers and body separately and
Nagle's algorithm waits for the client's delayed ACK; a new connection avoids that, so both
are shown).

`--baseline CHECKOUT` adds another checkout of warcache (say, main before a change; its own
.venv and code) as a third server, and `--rounds N` repeats the phases with the servers taking
turns, then prints the median rate of each: on a shared machine, load that comes and goes then
falls on both alike.

It also times the index lookup alone (`CdxjIndex.lookup`), the part that grows with the index.

pywb is not a warcache dependency: it is looked for in /tmp/pywbvenv (or --pywb); without it
the baseline is skipped and the command to install it is printed.  Traffic stays on loopback;
every load phase is bounded in time and in requests.

    python scripts/bench_replay.py                     # 10k and 1M lines, 5 s per phase
    python scripts/bench_replay.py --sizes 10000 --seconds 2
    python scripts/bench_replay.py --sizes 10000 --baseline ../main --rounds 5 --pywb none
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import io
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from warcache.index.cdxj import CdxjIndex, CdxjLine, canonical_key

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PYWB = Path("/tmp/pywbvenv/bin/wayback")
COLL = "bench"
REAL_RECORDS = 600
MAX_REQUESTS = 200_000  # per phase, whatever the duration


# ---------------------------------------------------------------------------------------
# The collection
# ---------------------------------------------------------------------------------------
def _html(i: int, rng: random.Random) -> bytes:
    paras = "".join(
        f"<p>Paragraph {j} of page {i}: "
        + "lorem ipsum dolor sit amet " * rng.randint(5, 40)
        + f'<a href="/page/{j}">link {j}</a> <img src="/img/{j}.png"></p>\n'
        for j in range(rng.randint(5, 40))
    )
    return (
        f'<!doctype html><html><head><title>Page {i}</title><link rel="stylesheet" href="/s.css">'
        f'<script src="https://cdn.bench.test/app.js"></script></head><body><h1>Page {i}</h1>{paras}'
        f'<div style="background:url(/bg.png)"></div></body></html>'
    ).encode()


def _chunked(data: bytes) -> bytes:
    return (
        b"".join(
            b"%x\r\n%s\r\n" % (len(data[i : i + 4096]), data[i : i + 4096]) for i in range(0, len(data), 4096)
        )
        + b"0\r\n\r\n"
    )


def build_warc(archive: Path, rng: random.Random) -> Path:
    path = archive / "bench-real.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in range(REAL_RECORDS):
            kind = i % 4
            headers = [("Date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("Server", "bench")]
            if kind == 0:
                body = _html(i, rng)
                headers += [("Content-Type", "text/html; charset=utf-8")]
                if i % 8 == 0:
                    body = gzip.compress(body)
                    headers.append(("Content-Encoding", "gzip"))
            elif kind == 1:
                body = rng.randbytes(rng.randint(2_000, 60_000))
                headers.append(("Content-Type", "image/png"))
            elif kind == 2:
                body = b'{"items": [' + b",".join(b'"%d"' % rng.randint(0, 10**9) for _ in range(200)) + b"]}"
                headers.append(("Content-Type", "application/json"))
                if i % 6 == 2:
                    body = _chunked(gzip.compress(body))
                    headers += [("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")]
            else:
                body = b"body{margin:0} .x{background:url(/bg.png)} " * rng.randint(10, 200)
                headers.append(("Content-Type", "text/css"))
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            url = f"http://site{i % 7}.bench.test/real/{i}"
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                length=len(body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": "2024-01-01T00:00:00Z"},
            )
            writer.write_record(record)
    return path


def build_collection(root: Path, size: int, rng: random.Random) -> list[CdxjLine]:
    """A collection with `size` index lines; returns the lines (real and synthetic)."""
    coll = root / "collections" / COLL
    archive, indexes = coll / "archive", coll / "indexes"
    archive.mkdir(parents=True)
    indexes.mkdir()
    warc = build_warc(archive, rng)
    real = CdxjIndex(indexes).add_warc(warc).lines
    for segment in indexes.glob("*.cdxj"):
        segment.unlink()
    lines = list(real)
    for i in range(max(0, size - len(real))):
        src = real[i % len(real)]
        url = f"http://host{i % 1999}.bench.test/synthetic/{i}/{src.url.rsplit('/', 1)[1]}"
        ts = f"2024{1 + i % 12:02d}{1 + i % 28:02d}{i % 24:02d}{i % 60:02d}{(i // 60) % 60:02d}"
        lines.append(
            CdxjLine(
                canonical_key(url),
                ts,
                url,
                src.length,
                src.offset,
                src.filename,
                mime=src.mime,
                status=src.status,
                digest=src.digest,
            )
        )
    text = sorted(str(line) for line in lines)
    with open(indexes / "index.cdxj", "w", encoding="utf-8") as fh:
        fh.write("\n".join(text) + "\n")
    return lines


# ---------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (Linux /proc; NaN elsewhere): unlike
        requests/s, hardly moved by other programs competing for the machine."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_warcache(root: Path, threads: int, checkout: Path = REPO, name: str = "warcache") -> Server:
    """warcache's server, from this checkout or another one (its own .venv, its own code)."""
    ui = free_port()
    replay = free_port()
    code = (
        f"from warcache.replay.server import serve; serve({str(root)!r}, port={ui}, replay_port={replay}, "
        f"threads={threads})"
    )
    python = sys.executable if checkout == REPO else str(checkout / ".venv" / "bin" / "python")
    proc = subprocess.Popen(
        [python, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=checkout
    )
    wait_for(replay)
    return Server(name, proc, replay)


def start_pywb(wayback: Path, root: Path, threads: int) -> Server:
    port = free_port()
    proc = subprocess.Popen(
        [str(wayback), "-p", str(port), "-b", "127.0.0.1", "-t", str(threads), "-d", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=root,
    )
    wait_for(port)
    return Server("pywb", proc, port)


# ---------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------
@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


def load(
    port: int, paths: list[str | tuple[str, str]], seconds: float, concurrency: int, keep_alive: bool = True
) -> Result:
    """GET random `paths` (a path, or a (Host, path) pair) from `concurrency` connections."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    counts = {"n": 0, "errors": 0}
    lock = threading.Lock()
    headers = {"Accept-Encoding": "gzip", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "document"}

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        errors = 0
        while time.monotonic() < deadline and counts["n"] < MAX_REQUESTS:
            path = rng.choice(paths)
            sent = headers
            if isinstance(path, tuple):
                sent, path = {**headers, "Host": path[0]}, path[1]
            start = time.perf_counter()
            try:
                conn.request("GET", path, headers=sent)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - start)
            if not keep_alive:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            with lock:
                counts["n"] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            counts["errors"] += errors

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(len(latencies), counts["errors"], time.monotonic() - started, latencies)


def same_bytes(port_a: int, port_b: int, paths: list[str]) -> int:
    """How many of `paths` both servers answer with identical archived bytes (id_)."""
    same = 0
    for path in paths:
        bodies = []
        for port in (port_a, port_b):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path)
            response = conn.getresponse()
            data = response.read()
            if response.getheader("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            bodies.append(hashlib.sha1(data).hexdigest() if response.status == 200 else None)
            conn.close()
        same += bodies[0] is not None and bodies[0] == bodies[1]
    return same


def lookup_times(indexes: Path, lines: list[CdxjLine], rng: random.Random, n: int = 3000) -> list[float]:
    index = CdxjIndex(indexes)
    sample = rng.sample(lines, min(n, len(lines)))
    index.lookup(sample[0].url, timestamp=sample[0].timestamp)  # maps the segment
    times = []
    for line in sample:
        start = time.perf_counter()
        found = index.lookup(line.url, timestamp=line.timestamp)
        times.append(time.perf_counter() - start)
        assert found and found[0].timestamp == line.timestamp, line.url
    index.close()
    return times


def session_paths(lines: list[CdxjLine], port: int) -> list[tuple[str, str]]:
    """(Host, path) of each page on its session host; [] for a warcache without session hosts."""
    try:
        from warcache.replay.origins import HostNames, Origins
    except ImportError:
        return []
    origins, names = Origins("localhost"), HostNames()
    out = []
    for ln in lines:
        host = origins.session_host(COLL, ln.url, ln.timestamp, names)
        path = "/" + ln.url.split("//", 1)[1].split("/", 1)[1]
        out.append((f"{host}:{port}", path))
    return out


def js_rewrite_times(rng: random.Random) -> None:
    """Rewriting a ~1 MiB script that reads its address here and there: cold, then cached."""
    try:
        from warcache.replay.jsrewrite import JsRewriter
    except ImportError:
        return
    parts = []
    for i in range(6000):
        parts.append(f"function f{i}(a, b) {{ var s = 'item {i}: ' + a; if (b > {rng.randint(0, 99)}) "
                     f"{{ return s.split(' ').map((x) => x.length); }} return [a, b, s]; }}\n")
        if i % 50 == 0:
            parts.append(f"var h{i} = location.hostname + '/api/{i}'; parent.postMessage(h{i}, '*');\n")
    source = "".join(parts).encode()
    rewriter = JsRewriter()
    start = time.perf_counter()
    out = rewriter.rewrite(source, key="bench")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(20):
        rewriter.rewrite(source, key="bench")
    warm = (time.perf_counter() - start) / 20
    print(f"   JS rewriting of a {len(source) / 1048576:.2f} MiB script ({out.count(b'__wc$') if out else 0} "
          f"rewrites): first {cold * 1000:.0f} ms, cached {warm * 1000:.1f} ms")


# ---------------------------------------------------------------------------------------
def run_size(size: int, args: argparse.Namespace, wayback: Path | None) -> None:
    rng = random.Random(size)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-replay-{size}-"))
    try:
        t0 = time.monotonic()
        lines = build_collection(tmp, size, rng)
        print(f"\n== {size:,} index lines ({time.monotonic() - t0:.1f} s to build)", flush=True)
        look = lookup_times(tmp / "collections" / COLL / "indexes", lines, rng)
        q = statistics.quantiles(look, n=100)
        print(
            f"   lookup alone (CdxjIndex.lookup, {len(look)} URLs): p50 {q[49] * 1000:.3f} ms, "
            f"p95 {q[94] * 1000:.3f} ms, max {max(look) * 1000:.3f} ms"
        )
        sample = rng.sample(lines, min(3000, len(lines)))
        raw = [f"/{COLL}/{ln.timestamp}id_/{ln.url}" for ln in sample]
        html_lines = [ln for ln in sample if ln.mime == "text/html"]
        servers = {"warcache": start_warcache(tmp, args.threads)}
        if args.baseline is not None:
            servers["baseline"] = start_warcache(tmp, args.threads, args.baseline.resolve(), "baseline")
        if wayback is not None:
            servers["pywb"] = start_pywb(wayback, tmp, args.threads)
        try:
            if "pywb" in servers:
                agree = same_bytes(servers["warcache"].port, servers["pywb"].port, raw[:50])
                print(f"   same archived bytes from both servers: {agree} of 50 sampled id_ responses")
            pages = [f"/{COLL}/{ln.timestamp}/{ln.url}" for ln in html_lines]
            phases = {
                "id_": {"warcache": raw, "baseline": raw, "pywb": raw},
                "html": {
                    "warcache": pages,
                    "baseline": pages,
                    "pywb": [f"/{COLL}/{ln.timestamp}mp_/{ln.url}" for ln in html_lines],
                },
            }
            sessions = session_paths(html_lines, servers["warcache"].port)
            if sessions:
                phases["page"] = {"warcache": sessions}
                if "baseline" in servers:  # the same pages on the baseline's own session hosts
                    phases["page"]["baseline"] = session_paths(html_lines, servers["baseline"].port)
            print(
                f"   {'phase':6} {'connections':12} {'server':9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
                f"{'errors':>7} {'cpu ms/req':>10}"
            )
            rates: dict[tuple[str, str, str], list[float]] = {}
            for _round in range(args.rounds):  # rounds alternate the servers: noise falls on both
                for phase, by_server in phases.items():
                    for keep_alive in (True, False):
                        for name, server in servers.items():
                            if name not in by_server:
                                continue
                            load(server.port, by_server[name][:100], 1.0, args.concurrency)  # warm up
                            cpu = server.cpu_seconds()
                            result = load(
                                server.port, by_server[name], args.seconds, args.concurrency, keep_alive
                            )
                            cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(1, result.requests)
                            mode = "keep-alive" if keep_alive else "one per req"
                            rates.setdefault((phase, mode, name), []).append((result.rate, cpu_ms))
                            print(
                                f"   {phase:6} {mode:12} {name:9} {result.rate:8.0f} {result.pct(0.5):8.2f} "
                                f"{result.pct(0.95):8.2f} {result.errors:7d} {cpu_ms:10.2f}",
                                flush=True,
                            )
            if args.rounds > 1:
                print(f"   medians over {args.rounds} rounds (req/s, server cpu ms/req):")
                for (phase, mode, name), values in rates.items():
                    rate = statistics.median(v[0] for v in values)
                    cpu_ms = statistics.median(v[1] for v in values)
                    print(f"   {phase:6} {mode:12} {name:9} {rate:8.0f} {cpu_ms:10.2f}")
        finally:
            for server in servers.values():
                server.stop()
    finally:
        if args.keep:
            print(f"   kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,1000000", help="index sizes, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load phase")
    parser.add_argument("--concurrency", type=int, default=4, help="keep-alive client connections")
    parser.add_argument("--threads", type=int, default=4, help="server worker threads (both servers)")
    parser.add_argument("--pywb", type=Path, default=DEFAULT_PYWB, help="pywb's wayback executable")
    parser.add_argument("--keep", action="store_true", help="keep the generated collections")
    parser.add_argument("--baseline", type=Path, default=None, metavar="CHECKOUT",
                        help="also serve with another checkout of warcache (its .venv), side by side")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the phases, servers alternating")
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 0.5), 60.0)
    wayback = args.pywb if args.pywb.is_file() and os.access(args.pywb, os.X_OK) else None
    if wayback is None:
        print(
            f"pywb baseline unavailable: {args.pywb} not found. Install it in its own virtualenv:\n"
            "    python3 -m venv /tmp/pywbvenv && /tmp/pywbvenv/bin/pip install pywb",
            file=sys.stderr,
        )
    print(
        f"bench_replay: {os.cpu_count()} CPUs, {args.concurrency} connections, "
        f"{args.threads} server threads, {args.seconds:.0f} s per phase, loopback only"
    )
    js_rewrite_times(random.Random(1))
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        run_size(size, args, wayback)


if __name__ == "__main__":
    main()
