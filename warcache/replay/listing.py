"""The listing origin: the server's own pages about the archive, which carry no script.

Routes (on the listing port; see `app` for how a request gets here):
    /                                   collections
    /<coll>/?q=&page=                   captured pages, newest first, with search
    /<coll>/*/<url>                     every capture of a URL: the calendar (`timeline`)
    /<coll>/<ts>/<url>                  the capture in a frame under the banner (`timeline`)
    /_warcache/nav/<coll>?ts=&url=      the banner's data for a capture (JSON)
    /_warcache/ui/banner.js             the banner's script
    /_warcache/diff/<coll>?url=&a=&b=   what changed between two captures (when the server was
                                        given `warcache diff`'s function: `differ`)
    /_warcache/reader/<coll>/<ts>/<url> reader view (extracted article)
    /_warcache/screenshot/<coll>/<file>/<offset>   a capture's screenshot
    /_warcache/pdf/<coll>/<file>/<offset>          a capture's PDF (--pdf), as a download
    /_warcache/check/<coll>/<ts>/<url>  a capture's fidelity: live and replayed screenshots side
                                        by side, the scores, their reasons, the URLs not archived
    /_warcache/check-shot/<coll>/<file>/<offset>   a screenshot of a replay the check took
    /_warcache/image/<coll>/<ts>/<url>  an archived image, for the reader view
    /_warcache/static/client.js         the client script (as on the replay port)
    /<coll>/<ts><mod>/<url>             with a modifier (id_, mp_...): redirected to the replay origin

The pages link to replayed captures on their collection's replay origin; the application
says which (`replay_origin`), as it knows the host name the browser used.  The archive is
read through the application too (`Archive`): it keeps the page lists and index readers that
both origins share.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote, unquote, urlencode

from werkzeug.wrappers import Request, Response

from warcache import contenttype, timestamps
from warcache.collection import Collection
from warcache.errors import ArchiveError, UsageError, WarcacheError
from warcache.index.checks import read_check
from warcache.pagelist import PageEntry
from warcache.replay import timeline, ui
from warcache.replay.client import ClientScript
from warcache.replay.headers import IMAGE_CSP, page_response, redirect, text_response
from warcache.replay.resolve import Resolver, header
from warcache.replay.wburl import parse_archival_path, replay_path
from warcache.warc.reader import read_record_at
from warcache.warc.writer import CHECK_SHOT_URN, PDF_URN, SCREENSHOT_URN

PAGE_SIZE = 50
MAX_IMAGE = 16 * 1024 * 1024  # reader-view images bigger than this are not shown


class Archive(Protocol):
    """What the listing pages read (the application provides it, with its caches)."""

    collection: str | None  # the one collection served, if the server serves only one

    def collections(self) -> frozenset[str]: ...

    def get_collection(self, name: str) -> Collection: ...

    def page_entries(self, name: str) -> list[PageEntry]: ...

    def resolver(self, name: str) -> Resolver: ...

    @property
    def isolated(self) -> bool: ...  # each collection (and original origin) on its own host


def _not_found() -> Response:
    return page_response(ui.error_page("Not found", "There is nothing at this address."), 404)


class Listing:
    """The pages of the listing origin (see the module docstring)."""

    def __init__(self, archive: Archive, client: ClientScript) -> None:
        self.archive = archive
        self.client = client

    def respond(self, request: Request, target: str, replay_origin: Callable[[str], str]) -> Response:
        """Answer `target` (the raw request target); `replay_origin(coll)` is where the
        browser that asked reaches collection `coll`'s replays."""
        path = target.split("?", 1)[0]
        colls = self.archive.collections()
        if path == "/":
            if self.archive.collection:
                return redirect(f"/{self.archive.collection}/")
            infos = [ui.CollectionInfo(n, len(self.archive.page_entries(n))) for n in sorted(colls)]
            return page_response(ui.collections_page(infos, self.add_href(request)))
        if path.startswith("/_warcache/"):
            return self._special(request, target, replay_origin)
        name, sep, rest = path[1:].partition("/")
        if name in colls and sep and not rest:
            return self._pages(request, name, replay_origin(name))
        if name in colls and not sep:
            return redirect(f"/{name}/")
        if name in colls and target[1:].partition("/")[2].startswith("*/"):
            return self._captures(name, target[1:].partition("/")[2][2:], replay_origin(name))
        wb = parse_archival_path(target, colls)
        if wb is not None and not wb.modifier and wb.timestamp and _browser_navigation(request):
            return self._view(wb.coll, wb.timestamp, wb.url, replay_origin(wb.coll))
        if wb is not None:
            return redirect(replay_origin(wb.coll) + target)
        return _not_found()

    def _special(self, request: Request, target: str, replay_origin: Callable[[str], str]) -> Response:
        parts = target.split("?", 1)[0].split("/")  # '', '_warcache', kind, ...
        kind = parts[2] if len(parts) > 2 else ""
        if kind == "screenshot" and len(parts) == 6:
            return self._screenshot(parts[3], unquote(parts[4]), parts[5])
        if kind == "check-shot" and len(parts) == 6:
            return self._screenshot(parts[3], unquote(parts[4]), parts[5], urn=CHECK_SHOT_URN)
        if kind == "check" and len(parts) >= 6:
            prefix = "/".join(parts[:5]) + "/"
            return self._check(parts[3], parts[4], target[len(prefix) :], replay_origin)
        if kind == "pdf" and len(parts) == 6:
            return self._pdf(parts[3], unquote(parts[4]), parts[5])
        if kind == "reader" and len(parts) >= 6:
            prefix = "/".join(parts[:5]) + "/"
            return self._reader(parts[3], parts[4], target[len(prefix) :], replay_origin)
        if kind == "static":
            return self.client.response(parts[3] if len(parts) > 3 else "")
        if kind == "ui" and len(parts) == 4 and parts[3] == "banner.js":
            return self.client.banner_response()
        if kind == "nav" and len(parts) == 4:
            return self._nav(request, parts[3])
        if kind == "diff" and len(parts) == 4 and self.differ is not None:
            return self._diff(request, parts[3])
        if kind == "image" and len(parts) >= 6:
            prefix = "/".join(parts[:5]) + "/"
            return self._image(parts[3], parts[4], target[len(prefix) :])
        return _not_found()

    # -- captured pages and search ---------------------------------------------------------
    def _pages(self, request: Request, name: str, replay: str) -> Response:
        query = (request.args.get("q") or "").strip()[:500]
        try:
            page = max(1, min(int(request.args.get("page", "1")), 10_000))
        except ValueError:
            page = 1
        entries = self.archive.page_entries(name)
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.url] = counts.get(e.url, 0) + 1
        note = ""
        if query:
            rows, note = self._search(replay, name, query, page, entries, counts)
        else:
            start = (page - 1) * PAGE_SIZE
            rows = [_row(replay, name, e, counts) for e in entries[start : start + PAGE_SIZE + 1]]
        has_next = len(rows) > PAGE_SIZE
        tags: Counter[str] = Counter()
        for a in self.archive.get_collection(name).annotations().values():
            tags.update(a.tags)
        html = ui.pages_page(name, rows[:PAGE_SIZE], query=query, page=page, has_next=has_next, note=note,
                             tags=sorted(tags.items(), key=lambda t: (-t[1], t[0])),
                             add_href=self.add_href(request))
        return page_response(html)

    #: Set by the application: where the 'Archive a URL' form is for this request (None: not here).
    add_href: Callable[[Request], str | None] = staticmethod(lambda request: None)

    def _search(
        self, replay: str, name: str, query: str, page: int, entries: list[PageEntry],
        counts: dict[str, int],
    ) -> tuple[list[ui.PageRow], str]:
        want = page * PAGE_SIZE + 1
        by_capture = {(e.url, e.timestamp): e for e in entries}
        coll = self.archive.get_collection(name)
        try:
            if not (coll.indexes_dir / "fulltext").is_dir():
                raise LookupError("no full-text index")
            from warcache.index.postprocess import fulltext_index  # the full-text index is optional here

            hits = fulltext_index(coll).search(query, limit=want)
        except UsageError as exc:
            return [], f"Search: {exc}"
        except Exception:  # noqa: BLE001 - no index (or no search module): fall back to titles
            needle = query.lower()
            found = [
                e for e in entries if needle in e.title.lower() or needle in e.url.lower()
            ]
            rows = [_row(replay, name, e, counts) for e in found[(page - 1) * PAGE_SIZE : want]]
            return rows, "The full-text index is not available: titles and URLs were searched."
        rows = []
        for hit in hits[(page - 1) * PAGE_SIZE :]:
            entry = by_capture.get((hit.url, hit.timestamp)) or PageEntry(
                url=hit.url, timestamp=hit.timestamp, warc=hit.warc_filename, offset=hit.warc_offset,
                title=hit.title)
            row = _row(replay, name, entry, counts)
            row.title = hit.title or row.title
            row.snippet, row.highlights = hit.snippet, list(hit.highlights)
            rows.append(row)
        return rows, ""

    # -- one URL, one capture --------------------------------------------------------------
    def _captures(self, name: str, url_text: str, replay: str) -> Response:
        """The calendar of a URL's captures, with their screenshots (see `timeline`)."""
        wb = parse_archival_path(f"/{name}/{url_text}", {name})
        if wb is None:
            return page_response(ui.error_page("Not a URL", "Give a URL after /*/."), 400)
        captures = self.captures_of(name, wb.url)
        cells = [(c, _thumb(name, c.entry)) for c in captures]
        notes = self.archive.get_collection(name).annotations().get(wb.url)
        html = timeline.calendar_page(name, wb.url, cells, diff_href=lambda a, b: self.diff_href(name, a, b),
                                      tags=notes.tags if notes else (), note=notes.note if notes else "")
        return page_response(html, 200 if captures else 404)

    #: Set by the application when `warcache diff` is available (the manage layer's function,
    #: handed down by `warcache replay`): differ(coll, url, ts1, ts2) -> its JSON.
    differ: Callable[[str, str, str, str], dict] | None = None

    def diff_href(self, name: str, old: timeline.Capture, new: timeline.Capture) -> str | None:
        """The diff page of two captures of a page, when both are page captures (with an article)."""
        if self.differ is None or old.entry is None or new.entry is None:
            return None
        query = urlencode({"url": new.url, "a": old.timestamp, "b": new.timestamp})
        return f"/_warcache/diff/{quote(name, safe='')}?{query}"

    def _diff(self, request: Request, name: str) -> Response:
        url, a, b = request.args.get("url", ""), request.args.get("a", ""), request.args.get("b", "")
        if name not in self.archive.collections() or not (a.isdigit() and b.isdigit()) or not url:
            return _not_found()
        try:
            diff = self.differ(name, url, a, b) if self.differ else None
        except UsageError as exc:
            return page_response(ui.error_page("No comparison", str(exc)), 404)
        if diff is None:
            return _not_found()
        return page_response(timeline.diff_page(name, url, diff))

    def captures_of(self, name: str, url: str) -> list[timeline.Capture]:
        """Every capture of `url`: warcache's page captures (with their screenshots and scores),
        and the URL index's other captures of it (imported WARCs; a page's own response is
        within seconds of its page record, and is not counted twice)."""
        # Captures within one second share their address (/<coll>/<timestamp>/<url>): one each.
        entries = list({e.timestamp: e for e in reversed(self.archive.page_entries(name))
                        if e.url == url}.values())
        out = [timeline.Capture(e.timestamp, e.url, str(e.status) if e.status else None, e.mime, e)
               for e in entries]
        seen = [timestamps.to_seconds(e.timestamp) for e in entries]
        for ln in self.archive.resolver(name).candidates(url, limit=1000):
            t = timestamps.to_seconds(ln.timestamp)
            if any(abs(t - s) <= 300 for s in seen):
                continue
            seen.append(t)
            out.append(timeline.Capture(ln.timestamp, ln.url, ln.status,
                                        "revisit" if ln.is_revisit else ln.mime))
        return sorted(out, key=lambda c: c.timestamp)

    # -- the banner --------------------------------------------------------------------------
    def _view(self, name: str, ts: str, url: str, replay: str) -> Response:
        captures = self.captures_of(name, url)
        nav = timeline.nav_json(name, url, ts, captures)
        shown = timeline.neighbours(captures, ts)[0]
        title = shown.entry.title if shown and shown.entry else ""
        src = replay + replay_path(name, nav["ts"], "", ui.url_path_quote(url))
        hosts = [{"origin": replay, "subdomains": self.archive.isolated}]
        sources = [replay]
        if self.archive.isolated:
            scheme, _, hostport = replay.partition("://")
            sources.append(f"{scheme}://*.{hostport}")
        html = timeline.banner_page(name, nav, src, hosts, self.client.banner_path, title)
        response = page_response(html, 200 if captures else 404)
        response.headers["Content-Security-Policy"] = timeline.banner_csp(sources)
        return response

    def _nav(self, request: Request, name: str) -> Response:
        ts, url = request.args.get("ts", ""), request.args.get("url", "")
        if name not in self.archive.collections() or not (ts.isdigit() and len(ts) == 14) \
                or not url.lower().startswith(("http://", "https://")) or len(url) > 8000:
            return text_response("not found\n", 404)
        nav = timeline.nav_json(name, url, ts, self.captures_of(name, url))
        response = Response(json.dumps(nav), 200, content_type="application/json")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    def _screenshot(self, name: str, filename: str, offset_text: str, *,
                    urn: str = SCREENSHOT_URN) -> Response:
        data = self._own_record(name, filename, offset_text, urn)
        if data is None:
            return text_response("not found\n", 404)
        # Only warcache's own records get here, and it writes PNG (the capture) or JPEG (the check).
        mime = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
        response = Response(data, 200, content_type=mime)
        response.headers["Cache-Control"] = "private, max-age=86400, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def _pdf(self, name: str, filename: str, offset_text: str) -> Response:
        """The page as printed at capture time. A download, never shown on this origin: a PDF is
        the archived page's content, and the browser's viewer would run on the listing origin."""
        data = self._own_record(name, filename, offset_text, PDF_URN)
        if data is None:
            return text_response("not found\n", 404)
        response = Response(data, 200, content_type="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="warcache-{offset_text}.pdf"'
        response.headers["Content-Security-Policy"] = IMAGE_CSP
        response.headers["Cache-Control"] = "private, max-age=86400, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def _check(self, name: str, ts: str, url_text: str, replay_origin: Callable[[str], str]) -> Response:
        """A capture's fidelity check: the live screenshot beside those of its replays."""
        wb = parse_archival_path(f"/{name}/{ts}/{url_text}", self.archive.collections())
        if wb is None:
            return page_response(ui.error_page("Not found", "No such capture."), 404)
        entry = next((e for e in self.archive.page_entries(wb.coll)
                      if e.url == wb.url and e.timestamp == wb.timestamp), None)
        if entry is None:
            return page_response(ui.error_page("Not found", "No such capture."), 404)
        coll = self.archive.get_collection(wb.coll)
        try:
            info = read_check(coll, entry)
        except WarcacheError as exc:
            return page_response(ui.error_page("Unreadable check", str(exc)), 500)
        return page_response(ui.check_page(_check_view(replay_origin(wb.coll), wb.coll, entry, info)))

    def _own_record(self, name: str, filename: str, offset_text: str, urn: str) -> bytes | None:
        """The payload of one of warcache's own resource records of a page (`urn` says which
        kind), or None when the address points at anything else."""
        if name not in self.archive.collections() or not offset_text.isdigit():
            return None
        try:
            record = read_record_at(self.archive.get_collection(name).warc_path(filename), int(offset_text))
        except ArchiveError:
            return None
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        if record.rec_type != "resource" or not uri.startswith(urn):
            return None
        return record.raw_stream.read()

    def _reader(self, name: str, ts: str, url_text: str, replay_origin: Callable[[str], str]) -> Response:
        from warcache.replay.reader_view import load_article  # lxml and the extractor: only when asked

        wb = parse_archival_path(f"/{name}/{ts}/{url_text}", self.archive.collections())
        if wb is None:
            return page_response(ui.error_page("Not found", "No such capture."), 404)
        coll, entries = self.archive.get_collection(wb.coll), self.archive.page_entries(wb.coll)
        view = load_article(coll, entries, self.archive.resolver(wb.coll), wb, replay_origin(wb.coll))
        if view is None:
            return page_response(
                ui.error_page("No article", "This capture has no page text to show."), 404
            )
        return page_response(ui.reader_page(view))

    def _image(self, name: str, ts: str, url_text: str) -> Response:
        """An archived image on the listing origin, for the reader view: the replay origins
        serve nothing to other origins, and only images are served here, inert (sandboxed,
        no sniffing), so no archived script ever runs on the listing origin."""
        wb = parse_archival_path(f"/{name}/{ts}/{url_text}", self.archive.collections())
        if wb is None:
            return text_response("not found\n", 404)
        capture = self.archive.resolver(wb.coll).find(wb.url, timestamp=wb.timestamp)
        if capture is None:
            return text_response("not archived\n", 404)
        with capture:
            mime = contenttype.media_type(header(capture.headers, "Content-Type"))
            if capture.status != 200 or not mime.startswith("image/"):
                return text_response("not an archived image\n", 404)
            length = capture.raw_length
            if length is not None and length > MAX_IMAGE:
                return text_response("image too large for the reader view\n", 404)
            try:
                data = capture.content(MAX_IMAGE)
            except ArchiveError:
                return text_response("unreadable image\n", 404)
        response = Response(data, 200, content_type=mime)
        response.headers["Content-Security-Policy"] = IMAGE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "private, max-age=86400"
        return response


def _browser_navigation(request: Request) -> bool:
    """A browser opening a page (the banner's view); other clients (curl, scripts, a browser
    that sends no fetch metadata) are sent on to the replay itself, as before the banner."""
    return (request.method in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Mode") == "navigate"
            and request.headers.get("Sec-Fetch-Dest") == "document")


def _thumb(name: str, entry: PageEntry | None) -> str | None:
    shot = entry.span("screenshot") if entry is not None else None
    if shot is None or entry is None:
        return None
    return f"/_warcache/screenshot/{name}/{quote(entry.warc, safe='')}/{shot[0]}"


def _row(replay: str, name: str, entry: PageEntry, counts: dict[str, int]) -> ui.PageRow:
    """One captured page in the list; `replay` is the origin replaying collection `name`."""
    url, ts = entry.url, entry.timestamp
    shot, pdf = entry.span("screenshot"), entry.span("pdf")
    thumb = None
    if shot is not None:
        thumb = f"/_warcache/screenshot/{name}/{quote(entry.warc, safe='')}/{shot[0]}"
    return ui.PageRow(
        url=url,
        title=entry.title,
        timestamp=ts,
        replay_href=timeline.view_path(name, ts, url),
        unframed_href=replay + replay_path(name, ts, "", ui.url_path_quote(url)),
        reader_href=f"/_warcache/reader/{name}/{ts}/{ui.url_path_quote(url)}",
        captures_href=f"/{name}/*/{ui.url_path_quote(url)}",
        captures=counts.get(url, 1),
        thumb_href=thumb,
        status=entry.status,
        tags=entry.tags,
        note=entry.note,
        pdf_href=f"/_warcache/pdf/{name}/{quote(entry.warc, safe='')}/{pdf[0]}" if pdf else None,
        fidelity=entry.fidelity,
        replay_fidelity=entry.replay_fidelity,
        check_href=f"/_warcache/check/{name}/{ts}/{ui.url_path_quote(url)}" if entry.check else None,
    )


def _check_view(replay: str, name: str, entry: PageEntry, info: dict | None) -> ui.CheckView:
    """What the check page shows of a capture (`info`: its latest check record, if any)."""
    url, ts = entry.url, entry.timestamp
    shot = entry.span("screenshot")
    live = f"/_warcache/screenshot/{name}/{quote(entry.warc, safe='')}/{shot[0]}" if shot else None
    view = ui.CheckView(coll=name, url=url, title=entry.title, timestamp=ts, live_shot=live,
                        replay_href=replay + replay_path(name, ts, "", ui.url_path_quote(url)),
                        fidelity=entry.fidelity, replay_fidelity=entry.replay_fidelity,
                        preferred=entry.preferred)
    if info is None:
        return view
    view.checked = str(info.get("checked") or "")
    view.software = str(info.get("software") or "")
    where = entry.check or {}
    shots = where.get("shots") if isinstance(where.get("shots"), dict) else {}
    modes = info.get("modes") if isinstance(info.get("modes"), dict) else {}
    for mode, label in (("intercept", "Replayed by interception (as warcache open)"),
                        ("replay", "Replayed through the replay server")):
        data = modes.get(mode)
        if not isinstance(data, dict):
            continue
        span, warc = shots.get(mode), where.get("warc")
        href = None
        if isinstance(span, list) and span and isinstance(span[0], int) and isinstance(warc, str):
            href = f"/_warcache/check-shot/{name}/{quote(warc, safe='')}/{span[0]}"
        score = data.get("score")
        view.modes.append(ui.CheckMode(
            label=label, score=score if isinstance(score, int) else None, shot_href=href,
            reasons=[r for r in data.get("reasons") or [] if isinstance(r, str)],
            not_archived=[u for u in data.get("not_archived") or [] if isinstance(u, str)],
            error=str(data["error"]) if data.get("error") else None))
    return view
