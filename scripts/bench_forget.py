#!/usr/bin/env python3
"""What `warcache forget` costs on a collection of N pages, side by side with what it is made of.

forget reads every WARC once (to find the capture's records and the revisits of its payloads),
rebuilds every index of the new collection and verifies it. So its baselines, measured in the
same run on the same collection, are `warcache index --rebuild` and `warcache verify`.

The collection is written here in warcache's own record layout (warcinfo; per page: the page's
response and request, a revisit of a shared stylesheet first stored by page 0, the rendered DOM
and the page record), so that no browser is needed to make thousands of pages. Page 0 is the one
forgotten: every other page's stylesheet revisit must then be resolved, the worst case.

    .venv/bin/python scripts/bench_forget.py --pages 1000 --files 4
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import resource
import shutil
import sys
import tempfile
import time
import uuid
from base64 import b32encode
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from warcache import timestamps  # noqa: E402
from warcache.collection import open_collection  # noqa: E402
from warcache.index.postprocess import rebuild_collection  # noqa: E402
from warcache.manage.forget import forget, plan_forget  # noqa: E402
from warcache.manage.verify import verify_collection  # noqa: E402

SITE = "http://bench.example"
CSS = b"article { font-family: serif; line-height: 1.5; }\n" * 200
WORDS = ["river", "heron", "survey", "volunteer", "estuary", "channel", "marker", "spring", "nest", "count",
         "bank", "morning", "tide", "harbour", "lantern", "keeper", "ship", "log", "cape", "storm"]


def _id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _digest(data: bytes) -> str:
    return "sha1:" + b32encode(hashlib.sha1(data).digest()).decode()


def _article(n: int) -> bytes:
    words = [WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(400)]
    paragraphs = "".join(f"<p>{' '.join(words[i:i + 40])} page{n}word.</p>" for i in range(0, 400, 40))
    return (f"<!doctype html><html><head><title>Page {n}</title><link rel=stylesheet href=/style.css>"
            f"</head><body><article><h1>Page {n}</h1>{paragraphs}</article></body></html>").encode()


def _http(status: str, ctype: str, body: bytes) -> StatusAndHeaders:
    return StatusAndHeaders(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))],
                            protocol="HTTP/1.1")


def make_collection(root: Path, pages: int, files: int) -> None:
    coll = open_collection(root, "default", create=True)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    css_original = None
    per_file = -(-pages // files)
    for f in range(files):
        name = f"warcache-bench-{f:03d}.warc.gz"
        with open(coll.archive_dir / name, "wb") as fh:
            writer = WARCWriter(fh, gzip=True, warc_version="1.1")
            writer.write_record(writer.create_warcinfo_record(name, {"software": "warcache/bench"}))
            for n in range(f * per_file, min(pages, (f + 1) * per_file)):
                when = start + timedelta(minutes=n)
                date = timestamps.warc_date(when)
                url = f"{SITE}/page/{n}.html"
                body = _article(n)
                main_id = _id()
                common = {"WARC-Date": date, "WARC-Record-ID": main_id,
                          "WARC-Payload-Digest": _digest(body)}
                writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                    length=len(body), http_headers=_http("200 OK", "text/html", body),
                                    warc_headers_dict=common))
                request = StatusAndHeaders(f"GET /page/{n}.html", [("Host", "bench.example")],
                                           protocol="HTTP/1.1", is_http_request=True)
                writer.write_record(writer.create_warc_record(url, "request", http_headers=request,
                                    warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": main_id}))
                css_id = _id()
                css_headers = {"WARC-Date": date, "WARC-Record-ID": css_id,
                               "WARC-Payload-Digest": _digest(CSS)}
                if css_original is None:
                    writer.write_record(writer.create_warc_record(
                        SITE + "/style.css", "response", payload=io.BytesIO(CSS), length=len(CSS),
                        http_headers=_http("200 OK", "text/css", CSS), warc_headers_dict=css_headers))
                    css_original = (css_id, date)
                else:
                    css_headers.update({
                        "WARC-Profile": "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
                        "WARC-Refers-To": css_original[0], "WARC-Refers-To-Date": css_original[1],
                        "WARC-Refers-To-Target-URI": SITE + "/style.css"})
                    writer.write_record(writer.create_warc_record(
                        SITE + "/style.css", "revisit", http_headers=_http("200 OK", "text/css", CSS),
                        warc_headers_dict=css_headers))
                tie = {"WARC-Date": date, "WARC-Concurrent-To": main_id}
                writer.write_record(writer.create_warc_record(
                    "urn:warcache:dom:" + url, "resource", payload=io.BytesIO(body), length=len(body),
                    warc_content_type="text/html; charset=utf-8", warc_headers_dict=dict(tie)))
                info = json.dumps({"url": url, "final_url": url, "status": 200, "title": f"Page {n}",
                                   "mime": "text/html", "started": date, "responses": 2,
                                   "revisits": 0 if n == 0 else 1}).encode()
                writer.write_record(writer.create_warc_record(
                    "urn:warcache:page:" + url, "metadata", payload=io.BytesIO(info), length=len(info),
                    warc_content_type="application/json", warc_headers_dict=dict(tie)))
    rebuild_collection(coll)


def _timed(label: str, fn) -> float:
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    print(f"  {label:<34} {seconds:8.2f} s", flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--files", type=int, default=4, help="WARC files the pages are spread over")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="warcache-bench-forget-"))
    try:
        root = work / "root"
        print(f"making {args.pages} pages in {args.files} WARC files ...", flush=True)
        make_collection(root, args.pages, args.files)
        size = sum(p.stat().st_size for p in (root / "collections" / "default" / "archive").iterdir())
        print(f"collection: {args.pages} pages, {size / 1e6:.1f} MB of WARC")
        coll = open_collection(root, "default")
        rebuild = _timed("index --rebuild (baseline)", lambda: rebuild_collection(coll))
        verify = _timed("verify (baseline)", lambda: verify_collection(coll))
        plan = plan_forget(root, f"{SITE}/page/0.html")
        reports = []
        took = _timed("forget 1 page", lambda: reports.extend(forget(plan)))
        report = reports[0]
        print(f"  forget removed {report.records} records, resolved {len(report.resolved)} revisit and "
              f"re-pointed {report.repointed}; rewrote {len(report.rewritten)} of {args.files} files")
        print(f"forget / (rebuild + verify) = {took / (rebuild + verify):.2f}; "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        assert verify_collection(open_collection(root, "default")).ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
