"""Turning one capture into WARC records, and the index lines that point at them.

Order: for each exchange, its response (or a revisit when the collection already holds the payload)
then its request; then the screenshot, the rendered DOM and the visible text as resource records;
last the page's metadata record, which marks the page as complete (recovery relies on it).

The page record (`urn:warcache:page:<url>`, JSON) says what the capture was: `ok` (false for a
capture that failed but whose exchanges are archived all the same: a redirect loop, a page whose
last navigation failed; `error` then says why), the `final_url`, `status` and `mime` of the document
captured, and `navigations`, every hop from the URL asked for to that document: `{"url", "by",
"status"}` with `by` one of `request`, `redirect` (HTTP), `script`, `meta-refresh`, `refresh-header`,
`form`, `link`, `reload` or `navigation` (a navigation whose cause the browser did not say), and an
`error` on a hop that failed. A page captured with a session says so (`session`: its kind and the
name of its file, never a value). The indexes are derived from this record: a page record with `ok`
false is not a page (index/postprocess.py). `live` keeps what the fidelity check compares its
replays with, besides the screenshot and the visible text: the console errors the page had, the
requests that failed (so not archived, and not missed by a replay), and how far it was scrolled.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime

from warcache import timestamps
from warcache.capture.blocklist import MAX_LISTED
from warcache.capture.httpwire import parse_head
from warcache.capture.page import CaptureOptions, PageCapture
from warcache.index.cdxj import CdxjLine, canonical_key, cdxj_mime, post_query, request_key
from warcache.index.dedup import Original, PayloadLookup
from warcache.warc.writer import (
    DOM_URN,
    MEDIA_INFO_URN,
    MEDIA_URN,
    PAGE_URN,
    PDF_URN,
    SCREENSHOT_URN,
    TEXT_URN,
    PendingRecord,
    WrittenPage,
    make_record_id,
)

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


@dataclass
class IndexHint:
    """What a CDXJ line needs to know about a record beyond where it landed."""

    mime: str | None
    status: str | None
    digest: str | None
    urlkey: str | None = None  # POST/PUT: keyed with their body, as pywb does
    method: str | None = None
    request_body: str | None = None


@dataclass
class PageRecords:
    records: list[PendingRecord] = field(default_factory=list)
    hints: list[IndexHint | None] = field(default_factory=list)  # aligned with records; None: not indexed
    originals: list[tuple[str, Original]] = field(default_factory=list)  # payloads stored for the first time
    responses: int = 0
    revisits: int = 0
    info: dict = field(default_factory=dict)  # the page record's JSON

    def add(self, record: PendingRecord, hint: IndexHint | None) -> None:
        self.records.append(record)
        self.hints.append(hint)


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def file_digest(path) -> tuple[str, int]:
    """The sha1 digest (as sha1_digest says it) and size of a file, read in pieces."""
    sha1, size = hashlib.sha1(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha1.update(chunk)
            size += len(chunk)
    return "sha1:" + base64.b32encode(sha1.digest()).decode("ascii"), size


def build_page_records(capture: PageCapture, dedup: PayloadLookup, *, browser_version: str, user_agent: str,
                       opts: CaptureOptions) -> PageRecords:
    page = PageRecords()
    new_originals: dict[str, Original] = {}
    response_ids: dict[int, str] = {}
    for ex in capture.exchanges:
        if ex.response_head is None:
            continue
        response_id, request_id = make_record_id(), make_record_id()
        response_ids[ex.seq] = response_id
        common = {"WARC-IP-Address": ex.remote_ip} if ex.remote_ip else {}
        digest = ex.payload_digest
        request_head = parse_head(ex.request_head)
        hint = IndexHint(mime=cdxj_mime(ex.response_head.get("Content-Type")),
                         status=str(ex.status) if ex.status else None,  # 0: not an HTTP status line
                         digest=digest)
        if ex.method in ("POST", "PUT"):
            content_type = request_head.get("Content-Type")
            hint.urlkey = request_key(ex.url, ex.method, content_type, ex.request_body)
            hint.method = ex.method
            hint.request_body = post_query(content_type, ex.request_body)
        original = None
        if ex.body_length > 0 and ex.truncated is None:
            original = new_originals.get(digest) or dedup.lookup(digest)
        if original is not None:
            page.add(PendingRecord(
                "revisit", ex.url, ex.started, record_id=response_id, http_head=ex.response_head,
                headers={**common, "WARC-Profile": REVISIT_PROFILE,
                         "WARC-Refers-To-Target-URI": original.uri, "WARC-Refers-To-Date": original.date,
                         "WARC-Refers-To": original.record_id, "WARC-Payload-Digest": digest}),
                IndexHint(**{**hint.__dict__, "mime": "warc/revisit"}))
            page.revisits += 1
        else:
            headers = {**common, "WARC-Payload-Digest": digest}
            if ex.truncated:
                headers["WARC-Truncated"] = ex.truncated
            page.add(PendingRecord(
                "response", ex.url, ex.started, record_id=response_id, http_head=ex.response_head,
                payload=ex.body_stream(), payload_length=ex.body_length, headers=headers),
                None if ex.truncated else hint)  # a cut body is kept, but not offered for replay
            if ex.body_length > 0 and ex.truncated is None:
                original = Original(ex.url, timestamps.warc_date(ex.started), response_id)
                new_originals.setdefault(digest, original)
        page.responses += 1
        page.add(PendingRecord(
            "request", ex.url, ex.started, record_id=request_id, http_head=request_head,
            payload=io.BytesIO(ex.request_body), payload_length=len(ex.request_body),
            headers={**common, "WARC-Concurrent-To": response_id}), None)
    chain = capture.main_chain()
    main_id = response_ids.get(chain[-1].seq) if chain else None
    tie = {"WARC-Concurrent-To": main_id} if main_id else {}
    now = datetime.now(capture.started.tzinfo)

    def add_resource(rtype: str, uri: str, data: bytes, content_type: str, **headers: str) -> str:
        digest = sha1_digest(data)
        record_id = make_record_id()
        page.add(PendingRecord(rtype, uri, now, record_id=record_id,
                               headers={**tie, **headers, "WARC-Payload-Digest": digest},
                               payload=io.BytesIO(data), payload_length=len(data), content_type=content_type),
                 IndexHint(mime=cdxj_mime(content_type), status=None, digest=digest))
        return record_id

    if capture.screenshot:
        add_resource("resource", SCREENSHOT_URN + capture.url, capture.screenshot, "image/png")
    if capture.dom is not None:
        add_resource("resource", DOM_URN + capture.url, capture.dom.encode("utf-8"),
                     "text/html; charset=utf-8")
    if capture.pdf:
        add_resource("resource", PDF_URN + capture.url, capture.pdf, "application/pdf")
    media = []
    for n, item in enumerate(capture.media):
        suffix = f"#{n + 1}" if n else ""
        digest, size = file_digest(item.path)
        media_id = make_record_id()
        page.add(PendingRecord("resource", MEDIA_URN + capture.url + suffix, now, record_id=media_id,
                               headers={**tie, "WARC-Payload-Digest": digest},
                               payload=item.open(), payload_length=size,
                               content_type=item.content_type),
                 IndexHint(mime=cdxj_mime(item.content_type), status=None, digest=digest))
        add_resource("metadata", MEDIA_INFO_URN + capture.url + suffix,
                     json.dumps(item.info, ensure_ascii=False).encode("utf-8"), "application/json",
                     **{"WARC-Refers-To": media_id})
        media.append({"uri": MEDIA_URN + capture.url + suffix, **item.summary()})
    if capture.visible_text is not None and capture.error is None:
        add_resource("resource", TEXT_URN + capture.url, capture.visible_text.encode("utf-8"),
                     "text/plain; charset=utf-8")
    info = {
        "url": capture.url, "ok": capture.error is None, "final_url": capture.final_url,
        "status": capture.status,
        "title": capture.title, "mime": capture.mime, "is_page": capture.is_page,
        "started": timestamps.warc_date(capture.started), "seconds": round(capture.seconds, 3),
        "responses": page.responses, "revisits": page.revisits, "unfinished_requests": capture.unfinished,
        "warnings": capture.warnings, "browser": f"Chromium {browser_version}", "user_agent": user_agent,
        "viewport": f"{opts.viewport[0]}x{opts.viewport[1]}",
        "redirects": ([hop.url for hop in capture.navigations[:-1]] if capture.navigations
                      else [ex.url for ex in chain[:-1]]),  # the hops before the final document
        "navigations": [hop.to_json() for hop in capture.navigations],
        "behaviours": capture.behaviours,
        "live": {"console_errors": capture.console_errors, "failed_requests": capture.failed_requests,
                 "scroll_steps": capture.scroll_steps},
    }
    if capture.blocked:
        info["blocked"] = capture.blocked[:MAX_LISTED]
        info["blocked_count"] = len(capture.blocked)
    if media:
        info["media"] = media
    if opts.session is not None:
        info["session"] = opts.session.describe()  # that one was used, never its values
    if capture.error is not None:
        info["error"] = capture.error
    page.info = info
    add_resource("metadata", PAGE_URN + capture.url,
                 json.dumps(info, ensure_ascii=False, indent=1).encode("utf-8"), "application/json")
    page.originals = list(new_originals.items())
    return page


def cdxj_lines(page: PageRecords, written: WrittenPage) -> list[CdxjLine]:
    """Index lines for the records of a page, from where the writer says they landed."""
    lines = []
    for record, hint, ref in zip(page.records, page.hints, written.records, strict=True):
        if hint is None:
            continue
        lines.append(CdxjLine(
            urlkey=hint.urlkey or canonical_key(record.uri), timestamp=timestamps.from_datetime(record.date),
            url=record.uri, length=ref.length, offset=ref.offset, filename=ref.filename, mime=hint.mime,
            status=hint.status, digest=hint.digest, method=hint.method, request_body=hint.request_body))
    return lines
