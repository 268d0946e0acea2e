"""Archive from the browser: the listing origin's 'Archive a URL' form, its queue, its guards.

    GET  /_warcache/add[?url=&coll=]   the form (pre-filled by the bookmarklet), the bookmarklet,
                                       and the captures of this server with their progress
    POST /_warcache/add                queue a capture (url, coll, tags, token)

Captures run one at a time in a thread of the server process.  The replay package does not
capture: the command that starts the server hands it a capture function (`CaptureFn`, from
warcache.manage.browser_add), and a server started without one has no form.

Who may add.  A capture makes the server fetch a URL from the network and write to the
archive, so it must come from the user, never from a page:
- The form and its endpoint exist on the listing origin only.  The replay origins (the
  collection hosts and every session host) have no such route: archived scripts, which run
  there, cannot reach it same-origin.
- The POST must carry the server's secret token, which only the form shows.  Another origin
  cannot read the form (no CORS, frame-ancestors 'none'), so cannot learn it; a GET never
  captures, so `<img src>` and links do nothing.
- The POST must have an `Origin` equal to the listing origin it was sent to, and, when the
  browser sends fetch metadata, `Sec-Fetch-Site: same-origin`.  A form posted by a replayed page
  or by any web site carries its own origin and is refused even if the token leaked.
- The client must be on this machine (its address loopback), unless `--allow-add-from` names
  the hosts that may add.  The form is not even shown to others.
Progress shows live without script: the form page refreshes itself every two seconds while a
capture is queued or running (the listing origin keeps its no-script policy).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from warcache.collection import validate_name
from warcache.errors import UsageError
from warcache.replay import ui
from warcache.replay.headers import page_response, text_response
from warcache.replay.ui import h
from warcache.urls import normalize_url

#: capture(collection, url, tags, progress) -> a line saying what was captured; raises on failure.
CaptureFn = Callable[[str, str, Sequence[str], Callable[[str], None]], str]

ADD_PATH = "/_warcache/add"
MAX_JOBS_SHOWN = 30


@dataclass
class Job:
    id: int
    coll: str
    url: str
    tags: tuple[str, ...]
    state: str = "queued"  # queued, running, done, failed
    message: str = "waiting for its turn"
    queued: float = field(default_factory=time.time)
    ended: float | None = None


class CaptureQueue:
    """Captures run one after the other by one background thread (started on first use)."""

    def __init__(self, capture: CaptureFn) -> None:
        self.capture = capture
        self.jobs: list[Job] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, coll: str, url: str, tags: Sequence[str] = ()) -> Job:
        with self._cond:
            job = Job(len(self.jobs) + 1, coll, url, tuple(tags))
            self.jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="warcache-add", daemon=True)
                self._thread.start()
            self._cond.notify()
            return job

    def active(self) -> bool:
        with self._cond:
            return any(j.state in ("queued", "running") for j in self.jobs)

    def recent(self) -> list[Job]:
        with self._cond:
            return list(reversed(self.jobs[-MAX_JOBS_SHOWN:]))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait until no capture is queued or running (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.active():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def _next(self) -> Job | None:
        with self._cond:
            while not self._closed:
                job = next((j for j in self.jobs if j.state == "queued"), None)
                if job is not None:
                    job.state, job.message = "running", "starting the browser"
                    return job
                self._cond.wait()
            return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            def progress(text: str, job: Job = job) -> None:
                job.message = text[:500]

            try:
                message = self.capture(job.coll, job.url, job.tags, progress)
            except Exception as exc:  # noqa: BLE001 - one capture's failure is shown; the queue goes on
                job.state, job.message = "failed", (str(exc).strip() or type(exc).__name__)[:500]
            else:
                job.state, job.message = "done", message[:500]
            job.ended = time.time()


def _addresses(hosts: Iterable[str]) -> frozenset[str]:
    """The IP addresses of host names and addresses (--allow-add-from)."""
    out: set[str] = set()
    for host in hosts:
        try:
            for info in socket.getaddrinfo(host.strip("[]"), None):
                out.add(str(info[4][0]))
        except OSError as exc:
            raise UsageError(f"--allow-add-from {host}: cannot resolve it ({exc.strerror or exc})") from None
    return frozenset(out)


class Adder:
    """The form, its guards and its queue (see the module docstring)."""

    def __init__(self, capture: CaptureFn, *, allow_from: Iterable[str] = (),
                 default_coll: str = "default") -> None:
        self.queue = CaptureQueue(capture)
        self.token = secrets.token_urlsafe(32)
        self.allowed = _addresses(allow_from)
        self.default_coll = default_coll

    def close(self) -> None:
        self.queue.close()

    def client_allowed(self, request: Request) -> bool:
        """Whether the client may see the form at all: this machine, or a host it names."""
        addr = (request.remote_addr or "").strip("[]")
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        if ip.is_loopback:
            return True
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None and (mapped.is_loopback or str(mapped) in self.allowed):
            return True
        return addr in self.allowed

    def refusal(self, request: Request, listing_origin: str) -> str | None:
        """Why a POST may not queue a capture, or None when it may."""
        if not self.client_allowed(request):
            return "captures may be added from this machine only (see --allow-add-from)"
        origin = request.headers.get("Origin")
        if origin is None or origin.rstrip("/").lower() != listing_origin.lower():
            return "this request did not come from the archive's own form (Origin)"
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            return "this request did not come from the archive's own form (Sec-Fetch-Site)"
        token = request.form.get("token", "")
        if not secrets.compare_digest(token.encode(), self.token.encode()):
            return "this form has expired or is not the archive's own: reload it"
        return None

    def respond(self, request: Request, listing_origin: str, collections: frozenset[str]) -> Response:
        if not self.client_allowed(request):
            return text_response("Forbidden: captures may be added from this machine only.\n", 403)
        if request.method == "POST":
            return self._post(request, listing_origin, collections)
        if request.method not in ("GET", "HEAD"):
            return text_response("Method not allowed\n", 405)
        url = (request.args.get("url") or "")[:8000]
        coll = request.args.get("coll") or self.default_coll
        return self._page(listing_origin, url, coll, collections)

    def _post(self, request: Request, listing_origin: str, collections: frozenset[str]) -> Response:
        why = self.refusal(request, listing_origin)
        if why is not None:
            return text_response(f"Forbidden: {why}.\n", 403)
        url_text = (request.form.get("url") or "")[:8000]
        coll = (request.form.get("coll") or self.default_coll).strip()
        tags = [t for t in (request.form.get("tags") or "").replace(",", " ").split() if t][:20]
        try:
            validate_name(coll)
            url = normalize_url(url_text)
            if not url.lower().startswith(("http://", "https://")):
                raise UsageError(f"only http and https URLs can be captured, not {url_text[:80]!r}")
        except UsageError as exc:
            return page_response(self._html(listing_origin, url_text, coll, collections, error=str(exc)), 400)
        self.queue.submit(coll, url, tags)
        response = Response("", 303)
        response.headers["Location"] = ADD_PATH
        response.headers["Cache-Control"] = "no-store"
        return response

    def _page(self, listing_origin: str, url: str, coll: str, collections: frozenset[str]) -> Response:
        response = page_response(self._html(listing_origin, url, coll, collections))
        response.headers["Referrer-Policy"] = "same-origin"
        if self.queue.active():
            response.headers["Refresh"] = "2"
        return response

    def _html(self, listing_origin: str, url: str, coll: str, collections: frozenset[str],
              error: str = "") -> str:
        names = sorted(collections | {coll} if coll else collections) or [self.default_coll]
        options = "".join(f'<option{" selected" if n == coll else ""}>{h(n)}</option>' for n in names)
        bookmarklet = ("javascript:location.href=" + repr(f"{listing_origin}{ADD_PATH}?url=")
                       + "+encodeURIComponent(location.href)")
        rows = "".join(
            f'<tr class="job {h(j.state)}"><td>{h(j.state)}</td><td>{h(j.coll)}</td>'
            f'<td class="url">{h(j.url)}</td><td>{h(" ".join("#" + t for t in j.tags))}</td>'
            f"<td>{h(j.message)}{self._link(j)}</td></tr>"
            for j in self.queue.recent()
        )
        jobs = (f'<h2>Captures</h2><table id="jobs"><tr><th>State</th><th>Collection</th><th>URL</th>'
                f"<th>Tags</th><th>Progress</th></tr>{rows}</table>") if rows else ""
        err = f'<p class="notice error" role="alert">{h(error)}</p>' if error else ""
        body = (
            f"<h1>Archive a URL</h1>{err}"
            f'<form method="post" action="{ADD_PATH}" class="add-form">'
            f'<input type="hidden" name="token" value="{h(self.token)}">'
            f'<p><label>URL <input type="url" name="url" required size="60" value="{h(url)}" '
            f'placeholder="https://example.com/article" autofocus></label></p>'
            f'<p><label>Collection <input name="coll" list="colls" value="{h(coll)}" size="16"></label>'
            f'<datalist id="colls">{options}</datalist> '
            f'<label>Tags <input name="tags" size="30" placeholder="reading climate"></label></p>'
            f"<p><button>Archive</button></p></form>"
            f'<p class="when">Bookmarklet (drag it to your bookmarks bar; it opens this form for the page '
            f'you are on): <a class="bookmarklet" href="{h(bookmarklet)}">Archive with warcache</a></p>'
            f"{jobs}"
        )
        # same-origin, not no-referrer: under no-referrer the browser sends `Origin: null` with
        # the form's POST, and the Origin check needs the real one.
        return ui.layout("warcache: archive a URL", body, extra_style=_STYLE, referrer="same-origin")

    @staticmethod
    def _link(job: Job) -> str:
        if job.state != "done":
            return ""
        query = urlencode({"q": f'url:"{job.url}"'})
        return (f' · <a href="/{h(job.coll)}/*/{h(quote(job.url, safe=":/?&=%"))}">captures</a>'
                f' · <a href="/{h(job.coll)}/?{h(query)}">find</a>')


_STYLE = """
.add-form{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:1em 1.4em}
.add-form input{padding:.35em .5em;border:1px solid #999;border-radius:4px}
.job.failed td:first-child{color:#b91c1c;font-weight:600}
.job.done td:first-child{color:#15803d;font-weight:600}
.job.running td:first-child{color:#1d4ed8;font-weight:600}
.error{border-color:#b91c1c;color:#b91c1c}
.bookmarklet{background:#20232a;color:#fff;padding:.2em .6em;border-radius:4px;text-decoration:none}
"""
