"""The post-processor: from WARC records to the indexes (URL index, full-text index, page list).

Everything here is derived from the WARCs alone, so `rebuild_collection` can throw every index
away and make it again. For captures made by warcache, the text is extracted from the rendered DOM
record (`urn:warcache:dom:`), which holds what JavaScript put on the page, and the page record
(`urn:warcache:page:`) gives the title as the page showed it. A page record is a page only if the
capture worked (`is_page_record`): one written for a failed capture whose exchanges were kept (a
redirect loop, a page whose last navigation failed) is not listed and not searchable, at capture
time and in a rebuild alike. For WARCs made by other tools, pages are their `text/html` 200
responses that were loaded as documents (not assets, frames, redirects or error pages), or the
pages a page list names when the file has one.

A page whose text cannot be indexed (its extraction fails, the full-text index is busy) is named in
a warning with the reason, and stays listed; `warcache index` indexes every listed page the
full-text index lacks (`complete_fulltext`).

Fidelity checks (`urn:warcache:check:` records, after their page or in files `warcache check`
wrote) give the page list its fidelity fields: the latest check of each capture wins, in this
file or another (see checks.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from warcache import contenttype, timestamps
from warcache.collection import Collection
from warcache.errors import ArchiveError, WarcacheError
from warcache.extract.captured import PageHtml, article_of, article_text, text_digest
from warcache.index.cdxj import CdxjIndex, CdxjLine, index_warc
from warcache.index.checks import CheckRef, apply_checks, parse_check
from warcache.index.dedup import DedupIndex, Original
from warcache.pagelist import Annotation, PageEntry
from warcache.search.documents import capture_key
from warcache.search.index import PageDoc, fulltext_index
from warcache.urls import hash_url, host_of
from warcache.warc.reader import ReadStop, RecordAt, WarcReader, read_record_at
from warcache.warc.writer import (
    ANNOTATION_URN,
    CHECK_SHOT_URN,
    CHECK_URN,
    DOM_URN,
    MEDIA_URN,
    PAGE_URN,
    PDF_URN,
    SCREENSHOT_URN,
    TEXT_URN,
)

MAX_HTML_BYTES = 20 * 1024 * 1024  # a bigger "page" is not an article worth extracting
PAGE_INFO_URN = "urn:pageinfo:"  # browsertrix-crawler's per-page record
#: How Chromium renders the plain-text error response of warcache's recording proxy. Captures made
#: before page records said `ok` took it for the page when a navigation after load failed.
_PROXY_ERROR_DOM = re.compile(
    rb'<html><head>(?:<meta name="color-scheme" content="light dark">)?</head><body>'
    rb'<pre[^>]*>warcache: [^<]*</pre></body></html>\s*\Z')


def is_page_record(info: dict, dom: bytes | None) -> bool:
    """Whether a warcache page record stands for a page that was captured (listed, searchable,
    exported), from what the WARC holds: the record says `ok` (written since it did), or, in an
    older record without that flag, the rendered DOM is not warcache's own proxy error text."""
    if "ok" in info:
        return info["ok"] is True
    return dom is None or _PROXY_ERROR_DOM.match(dom) is None


def indexing_failed(url: str, exc: BaseException) -> str:
    """The warning for a page whose text could not go into the full-text index, naming both."""
    reason = str(exc) if isinstance(exc, WarcacheError) else f"{type(exc).__name__}: {exc}"
    reason = " ".join(reason.split())[:300]
    return f"full-text indexing of {url} failed ({reason})"


def page_doc(collection: str, entry: PageEntry, html: PageHtml) -> PageDoc:
    """Extract one captured page into a full-text document, and note the digest of its article
    text in `entry` (here, so that capture and a rebuild make the same page list entry)."""
    article = article_of(entry, html)
    entry.text_digest = text_digest(article_text(article))
    return PageDoc(
        url=entry.url, hash_url=hash_url(entry.url), title=article.title, headline=article.headline,
        body=article.body_text, full_text=article.full_text, domain=host_of(entry.url),
        timestamp=entry.timestamp, collection=collection, language=article.language,
        warc_filename=entry.warc, warc_offset=entry.offset)


@dataclass
class FileIndexResult:
    """What indexing one WARC file gave."""

    path: Path
    lines: list[CdxjLine] = field(default_factory=list)
    docs: list[PageDoc] = field(default_factory=list)
    pages: list[PageEntry] = field(default_factory=list)
    originals: list[tuple[str, Original]] = field(default_factory=list)
    checks: list[CheckRef] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)  # tags and notes (`warcache tag`)
    stopped: ReadStop | None = None
    problems: list[str] = field(default_factory=list)  # pages whose text could not be indexed, and why

    def warnings(self) -> list[str]:
        out = list(self.problems)
        if self.stopped is not None:
            out.append(f"{self.path.name}: reading stopped at offset {self.stopped.offset} "
                       f"({self.stopped.reason}); the {len(self.lines)} records before it are indexed")
        return out


@dataclass
class _Response:
    url: str
    timestamp: str
    offset: int
    status: int
    mime: str
    html: PageHtml
    record_id: str
    document: bool = True  # the request said it was a top-level document (Sec-Fetch-Dest), or did not say


def index_file(coll: Collection, path: Path, filename: str | None = None) -> FileIndexResult:
    """Everything the indexes need from one WARC/ARC file (raises ArchiveError if it is not one).
    `filename` is the name the index lines use (default: the file's own, without `.open`)."""
    filename = filename or path.name.removesuffix(".open")
    cdx = index_warc(path, filename)
    result = FileIndexResult(path, lines=cdx.lines, stopped=cdx.stopped)
    pages: list[_WarcachePage] = []
    pending: dict[str, _WarcachePage] = {}  # DOM/screenshot records waiting for their page record
    page_start = 0  # where the records of the next page begin
    ours = False  # a file warcache wrote: its pages are its page records, not its HTML responses
    page_list: set[str] = set()
    responses: list[_Response] = []
    dest: dict[str, str] = {}  # response record id -> Sec-Fetch-Dest of its request
    shots: dict[str, tuple[int, int]] = {}  # replay screenshots waiting for their check record
    reader = WarcReader(path)
    for item in reader:
        record = item.record
        uri = item.target_uri or ""
        rtype = record.rec_type
        end = item.offset + item.length
        if rtype == "warcinfo":
            ours = ours or b"software: warcache/" in _read(item)
            page_start = end
        elif rtype == "metadata" and uri.startswith(PAGE_URN):
            url = uri[len(PAGE_URN):]
            info = _json(item)
            page = pending.pop(url, None) or _WarcachePage(url)
            pending.clear()
            if info is not None:
                info.setdefault("url", url)
                info.setdefault("started", record.rec_headers.get_header("WARC-Date") or "")
                page.info = info
                page.records["page"] = (item.offset, item.length)
                page.bytes = end - page_start
                pages.append(page)
            page_start = end
        elif rtype == "metadata" and uri.startswith(ANNOTATION_URN):
            annotation = Annotation.from_json(_json(item))
            if annotation is not None and annotation.url == uri[len(ANNOTATION_URN):]:
                result.annotations.append(annotation)
        elif rtype == "resource" and uri.startswith(DOM_URN):
            page = pending.setdefault(uri[len(DOM_URN):], _WarcachePage(uri[len(DOM_URN):]))
            page.dom = _read(item)
            page.records["dom"] = (item.offset, item.length)
        elif rtype == "resource" and uri.startswith(SCREENSHOT_URN):
            page = pending.setdefault(uri[len(SCREENSHOT_URN):], _WarcachePage(uri[len(SCREENSHOT_URN):]))
            page.records["screenshot"] = (item.offset, item.length)
        elif rtype == "resource" and uri.startswith((PDF_URN, MEDIA_URN)):
            kind, prefix = ("pdf", PDF_URN) if uri.startswith(PDF_URN) else ("media", MEDIA_URN)
            url = uri[len(prefix):]
            if kind == "media" and "#" in url:  # the second file and on: the first is the page's span
                url = url.rsplit("#", 1)[0]
            page = pending.setdefault(url, _WarcachePage(url))
            page.records.setdefault(kind, (item.offset, item.length))
        elif rtype == "resource" and uri.startswith(TEXT_URN):
            page = pending.setdefault(uri[len(TEXT_URN):], _WarcachePage(uri[len(TEXT_URN):]))
            page.records["text"] = (item.offset, item.length)
        elif rtype == "resource" and uri.startswith(CHECK_SHOT_URN):
            shots[uri[len(CHECK_SHOT_URN):].partition(":")[0]] = (item.offset, item.length)
        elif rtype == "metadata" and uri.startswith(CHECK_URN):
            ref = parse_check(_read(item), warc=filename, offset=item.offset, shots=shots)
            if ref is not None:
                result.checks.append(ref)
            shots = {}
            page_start = end  # a check is not part of the next page's bytes
        elif rtype == "resource" and uri.startswith(PAGE_INFO_URN):
            page_list.add(uri[len(PAGE_INFO_URN):])
        elif rtype == "request" and record.http_headers is not None:
            target = record.rec_headers.get_header("WARC-Concurrent-To")
            if target:
                dest[target] = (record.http_headers.get_header("Sec-Fetch-Dest") or "").lower()
        elif rtype == "response" and not uri.startswith("urn:"):
            payload_digest = record.rec_headers.get_header("WARC-Payload-Digest")
            if payload_digest and item.seekable and not item.truncated:
                result.originals.append((payload_digest, Original(
                    uri, record.rec_headers.get_header("WARC-Date") or "",
                    record.rec_headers.get_header("WARC-Record-ID") or "")))
            response = None if ours else _html_response(item)
            if response is not None:
                responses.append(response)
    for response in responses:  # requests may come after their responses
        response.document = dest.get(response.record_id, "document") in ("document", "")
    if ours or pages:
        _warcache_docs(coll, filename, pages, result)
    else:
        _other_docs(coll, filename, responses, page_list, result)
    return result


@dataclass
class _WarcachePage:
    """One page of a warcache WARC, gathered from its records."""

    url: str
    info: dict = field(default_factory=dict)
    dom: bytes | None = None
    records: dict[str, tuple[int, int]] = field(default_factory=dict)
    bytes: int = 0


def page_entry(info: dict, *, warc: str, records: dict[str, tuple[int, int]], size: int) -> PageEntry | None:
    """The page list entry of a warcache capture, from its page record: the same at capture
    time and in a rebuild (None if the record has no usable capture time)."""
    timestamp = timestamps.from_warc_date(info.get("started"))
    if timestamp is None:
        return None
    status = info.get("status")
    return PageEntry(
        url=info["url"], timestamp=timestamp, warc=warc, offset=records["page"][0],
        final_url=info.get("final_url") or info["url"], status=status if isinstance(status, int) else None,
        title=info.get("title") or "", mime=info.get("mime") or "", records=records,
        resources=info.get("responses", 0), revisits=info.get("revisits", 0), bytes=size)


def _warcache_docs(coll: Collection, filename: str, pages: list[_WarcachePage],
                   result: FileIndexResult) -> None:
    for page in pages:
        if not is_page_record(page.info, page.dom):
            continue
        entry = page_entry(page.info, warc=filename, records=page.records, size=page.bytes)
        if entry is None:
            continue
        result.pages.append(entry)
        if page.dom is not None:
            try:
                result.docs.append(page_doc(coll.name, entry, PageHtml(page.dom, "utf-8")))
            except Exception as exc:  # noqa: BLE001 - one page's text; the others, and the listing, go on
                result.problems.append(indexing_failed(entry.url, exc))


def _other_docs(coll: Collection, filename: str, responses: list[_Response], page_list: set[str],
                result: FileIndexResult) -> None:
    for r in responses:
        if page_list and r.url not in page_list:
            continue
        if not page_list and not (r.status == 200 and r.document):
            continue
        entry = PageEntry(url=r.url, timestamp=r.timestamp, warc=filename, offset=r.offset,
                          final_url=r.url, status=r.status, mime=r.mime)
        try:
            doc = page_doc(coll.name, entry, r.html)
        except Exception as exc:  # noqa: BLE001 - as above
            result.problems.append(indexing_failed(entry.url, exc))
        else:
            entry.title = doc.title
            result.docs.append(doc)
        result.pages.append(entry)


def _html_response(item: RecordAt) -> _Response | None:
    record = item.record
    headers = record.http_headers
    if headers is None or not item.seekable or item.truncated:
        return None
    if record.rec_headers.get_header("WARC-Refers-To"):
        return None  # a revisit `warcache forget` gave its payload: no more a page than the revisit was
    content_type = headers.get_header("Content-Type")
    mime = contenttype.media_type(content_type)
    if mime not in contenttype.HTML_TYPES:
        return None
    try:
        status = int(headers.get_statuscode() or 0)
    except ValueError:
        return None
    html = _read(item, decoded=True)
    if not html.strip():
        return None
    timestamp = timestamps.from_warc_date(record.rec_headers.get_header("WARC-Date"))
    if timestamp is None:
        return None
    page_html = PageHtml(html, contenttype.charset(content_type), headers.get_header("Content-Language"))
    return _Response(url=item.target_uri or "", timestamp=timestamp, offset=item.offset, status=status,
                     mime=mime, html=page_html,
                     record_id=record.rec_headers.get_header("WARC-Record-ID") or "")


def _read(item: RecordAt, decoded: bool = False) -> bytes:
    stream = item.record.content_stream() if decoded else item.record.raw_stream
    try:
        return stream.read(MAX_HTML_BYTES)
    except Exception:  # noqa: BLE001 - a body that does not decode (bad gzip) has no text to index
        return b""


def _json(item: RecordAt) -> dict | None:
    try:
        value = json.loads(_read(item))
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


# -- whole collections ----------------------------------------------------------------------------


@dataclass
class CollectionIndexReport:
    files: int = 0
    lines: int = 0
    docs: int = 0
    warnings: list[str] = field(default_factory=list)


def rebuild_collection(coll: Collection, paths: Iterable[Path] | None = None) -> CollectionIndexReport:
    """Throw away and re-derive every index of a collection from its WARC files."""
    from warcache.index.cdxj import rebuild as rebuild_cdxj

    files = list(paths) if paths is not None else coll.warc_files()
    report = CollectionIndexReport(files=len(files))
    results = list(_index_files(coll, files, report))
    # The URL index has its own atomic rebuild; the others are swapped in below.
    rebuild_cdxj(coll.indexes_dir, files)
    report.lines = sum(len(r.lines) for r in results)
    docs = [d for r in results for d in r.docs]
    report.docs = fulltext_index(coll).rebuild(docs)
    pages = [p for r in results for p in r.pages]
    apply_checks(pages, [c for r in results for c in r.checks])
    coll.replace_annotations([a for r in results for a in r.annotations])
    coll.replace_pages(pages)
    dedup = DedupIndex(coll.dedup_path)
    try:
        dedup.clear()
        dedup.add([o for r in results for o in r.originals])
    finally:
        dedup.close()
    return report


#: Told what was indexed of each file (its originals: a capture worker's digest map wants them).
OnIndexed = Callable[[FileIndexResult], None]


def add_files(coll: Collection, paths: list[Path],
              on_indexed: OnIndexed | None = None) -> CollectionIndexReport:
    """Index WARC files newly placed in the collection (imported, delivered, or not yet indexed)."""
    report = CollectionIndexReport(files=len(paths))
    cdxj = CdxjIndex(coll.indexes_dir)
    dedup = DedupIndex(coll.dedup_path)
    try:
        for result in _index_files(coll, paths, report):
            cdxj.add(result.lines)
            report.lines += len(result.lines)
            report.docs += fulltext_index(coll).add(result.docs) if result.docs else 0
            coll.append_annotations(result.annotations)
            coll.append_pages(result.pages)
            _apply_checks(coll, result.checks)
            dedup.add(result.originals)
            if on_indexed is not None:
                on_indexed(result)
    finally:
        cdxj.close()
        dedup.close()
    return report


def index_missing(coll: Collection, path: Path, filename: str,
                  on_indexed: OnIndexed | None = None) -> CollectionIndexReport:
    """Index what the indexes lack of one WARC file that capture wrote, known as `filename`.

    Why: a capture writes a page's records (fsynced), then its URL index lines, its pages.jsonl
    entry and its full-text document, one after the other. A run killed between those steps
    leaves a complete page the indexes know only in part, and recovery keeps that page. So for
    a recovered file: URL index lines and page entries that are missing are added (each at most
    once, whatever ran before), and the full-text document of every page without a page entry,
    of every page the full-text index does not hold (pages captured in parallel finish in any
    order), and of the file's last page (full-text adds replace, so doing it again is harmless),
    is written. Safe to run again if killed itself.
    """
    report = CollectionIndexReport(files=1)
    result = index_file(coll, path, filename)
    report.warnings.extend(result.warnings())
    listed = {e.offset for e in coll.pages() if e.warc == filename}
    new_pages = [p for p in result.pages if p.offset not in listed]
    cdxj = CdxjIndex(coll.indexes_dir)
    try:
        lines = [line for line in result.lines
                 if not any(o.filename == filename and o.offset == line.offset
                            for o in cdxj.lookup_key(line.urlkey))]
        cdxj.add(lines)
    finally:
        cdxj.close()
    redo = {p.offset for p in new_pages}
    if result.pages:
        redo.add(result.pages[-1].offset)
    index = fulltext_index(coll)
    try:
        if result.docs:
            # With pages captured in parallel, a page that is not the file's last can be listed and
            # still lack its document (killed between the two steps): ask the index what it holds.
            have = index.captures()
            redo.update(d.warc_offset for d in result.docs if capture_key(d) not in have)
        docs = [d for d in result.docs if d.warc_offset in redo]
        if docs:
            report.docs = index.add(docs)
    finally:
        index.close()
    coll.append_pages(new_pages)
    _apply_checks(coll, result.checks)
    dedup = DedupIndex(coll.dedup_path)
    try:
        dedup.add(result.originals)
    finally:
        dedup.close()
    if on_indexed is not None:
        on_indexed(result)
    report.lines = len(lines)
    return report


def _apply_checks(coll: Collection, checks: list[CheckRef]) -> None:
    """Bring the page list's fidelity fields up to date with checks found in a newly indexed file."""
    if checks:
        coll.update_pages(lambda entries: apply_checks(entries, checks))


def _index_files(coll: Collection, paths: list[Path],
                 report: CollectionIndexReport) -> Iterator[FileIndexResult]:
    for path in paths:
        try:
            result = index_file(coll, path)
        except ArchiveError as exc:
            report.warnings.append(str(exc))
            continue
        report.warnings.extend(result.warnings())
        yield result


def indexed_filenames(coll: Collection) -> set[str]:
    """The WARC files the URL index already points into."""
    index = CdxjIndex(coll.indexes_dir)
    try:
        return {line.filename for line in index}
    finally:
        index.close()


def index_collection(coll: Collection, *, rebuild: bool = False) -> CollectionIndexReport:
    """`warcache index`: everything again with `rebuild`; else the WARC files not yet indexed, and
    the full-text documents of listed pages that the full-text index lacks."""
    with coll.writing():  # not while `warcache forget` rewrites the collection
        if rebuild:
            return rebuild_collection(coll)
        done = indexed_filenames(coll)
        report = add_files(coll, [p for p in coll.warc_files() if p.name not in done])
        completed = complete_fulltext(coll)
        report.docs += completed.docs
        report.warnings.extend(completed.warnings)
        return report


def complete_fulltext(coll: Collection) -> CollectionIndexReport:
    """Index the text of every listed page the full-text index does not hold.

    Why: a capture is listed once its records are on disk, and only then indexed for search; when
    that last step fails (the index busy for longer than its lock timeout, an extraction error),
    the page is archived and listed but not searchable, and the capture said so. This finds such
    pages by comparing the page list with the captures the full-text index holds, and indexes each
    from its own records (the rendered DOM of a warcache capture, the response of another tool's).
    A page that fails again is named in a warning with the reason.
    """
    report = CollectionIndexReport()
    index = fulltext_index(coll)
    try:
        have = index.captures()
        docs = []
        for entry in coll.pages():
            if f"{entry.timestamp} {entry.url}" in have:
                continue
            try:
                html = _page_html(coll, entry)
                if html is not None:
                    docs.append(page_doc(coll.name, entry, html))
            except Exception as exc:  # noqa: BLE001 - named in a warning; the other pages go on
                report.warnings.append(indexing_failed(entry.url, exc))
        if docs:
            report.docs = index.add(docs)
    finally:
        index.close()
    return report


def _page_html(coll: Collection, entry: PageEntry) -> PageHtml | None:
    """The HTML a listed page's text comes from (None for a page that has none: a PDF, a capture
    without a DOM)."""
    if entry.records:
        span = entry.records.get("dom")
        if span is None:
            return None
        record = read_record_at(coll.warc_path(entry.warc), span[0])
        return PageHtml(record.raw_stream.read(MAX_HTML_BYTES), "utf-8")
    record = read_record_at(coll.warc_path(entry.warc), entry.offset)
    headers = record.http_headers
    if headers is None or not contenttype.is_html(headers.get_header("Content-Type")):
        return None
    content_type = headers.get_header("Content-Type")
    return PageHtml(record.content_stream().read(MAX_HTML_BYTES), contenttype.charset(content_type),
                    headers.get_header("Content-Language"))
