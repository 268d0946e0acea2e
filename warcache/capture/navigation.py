"""Where a page went: every navigation of its main frame, and the document it ended on.

Why: a page can leave the address it was asked for after it has loaded. A script sends it to the
https version of itself or to a canonical host, a `<meta http-equiv=refresh>` moves it on, a consent
page takes its place. The title, DOM and screenshot a capture takes are those of the document the
page shows at the end, so the capture has to know which document that is, how the page got there,
and whether it is a page at all. It may be an error instead: warcache's proxy answers a request it
could not forward with an error response of its own (marked `X-Warcache-Error`), and Chromium shows
an error page of its own for a navigation that failed inside the browser (a redirect loop, a port it
refuses).

How a navigation is seen:

* Playwright's `request`, `response` and `requestfailed` events for navigation requests of the main
  frame give each navigation, its HTTP redirect hops (`redirected_from`), each hop's status and
  type, and whether the response came from the proxy (the error header) rather than a server.
* `framenavigated` of the main frame says when a new document replaced the one shown (the commit).
  It fires after the document's response. A navigation that never commits leaves the document as it
  was: a 204, a download, or one replaced by a newer navigation (`net::ERR_ABORTED`). One that fails
  any other way is followed by Chromium's error page (`chrome-error://chromewebdata/`). That error
  page reloads the failed address now and then by itself, and such a reload is not a new hop.
  A `framenavigated` to an address that no pending navigation fetched is a same-document navigation
  (`history.pushState`, a `#fragment`): the document is the same one, so it is not a hop either.
* Why the page navigated (a script, a meta refresh, a `Refresh` header, a form, a link) comes from
  Chrome's `Page.frameRequestedNavigation` event, on a CDP session of the capture's own. Without it
  (the session could not be opened) a hop just says `navigation`. A meta refresh is a navigation
  like any other; one whose delay outlasts the capture never happens during it.

Why not `page.url` at snapshot time: it follows `history.pushState`, which changes the address
but not the document, and it cannot tell a server's response from the proxy's error answer or
Chromium's error page (whose address is the one that failed). Why not the proxy's record alone:
it sees popups' documents too, and cannot tell a navigation that was shown from one cancelled
or replaced. So the events decide which response the document shown came from, and the proxy's
record says which exchange holds that response's bytes: each hop is matched to the next recorded
document request for its address (`Sec-Fetch-Dest: document`, see `document_exchanges`), and the
DOM and screenshot records are tied to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urldefrag

from playwright.async_api import BrowserContext, Frame, Page, Request, Response

from warcache import contenttype
from warcache.capture.browser_errors import net_error
from warcache.capture.httpwire import parse_head
from warcache.capture.proxy import ERROR_HEADER, Exchange

#: Chrome's reasons for a navigation (Page.ClientNavigationReason), as hops record them.
REASONS = {
    "scriptInitiated": "script", "metaTagRefresh": "meta-refresh", "httpHeaderRefresh": "refresh-header",
    "formSubmissionGet": "form", "formSubmissionPost": "form", "anchorClick": "link", "reload": "reload",
}
_HOW = {
    "script": "by script ", "meta-refresh": "by a meta refresh ", "refresh-header": "by a Refresh header ",
    "form": "by a form ", "link": "by a link ", "reload": "by reloading ",
}
ERROR_PAGE = "chrome-error://"
#: Seconds a navigation that failed in the browser may take to show Chromium's error page.
ERROR_PAGE_GRACE = 2.0


@dataclass
class Hop:
    """One request of a navigation of the main frame."""

    url: str
    by: str  # "request" (the address asked for), "redirect" (HTTP), or how the page navigated (REASONS)
    status: int = 0  # the server's status; 0 when no server answered
    mime: str = ""
    error: str | None = None  # why this hop failed, for the user (the proxy's reason, or the browser's)

    def to_json(self) -> dict:
        out: dict = {"url": self.url, "by": self.by, "status": self.status or None}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class _Navigation:
    """A navigation: its first request and the redirects that followed it."""

    hops: list[Hop]
    before: list[Hop]  # the hops that led to the document shown when this navigation began
    done: bool = False  # shown, or cancelled: no longer in flight
    failed: bool = False  # failed in the browser: Chromium is about to show its error page for it
    failed_at: float = 0.0


class NavigationLog:
    """The main frame's navigations, as they happen. Attach before the first `goto`."""

    def __init__(self, page: Page) -> None:
        self._page = page
        self._frame = page.main_frame
        self._hops: dict[Request, tuple[_Navigation, Hop]] = {}
        self._navigations: list[_Navigation] = []
        self._reasons: dict[str, list[str]] = {}  # address -> Chrome's reasons, oldest first
        self._changed = asyncio.Event()
        self.path: list[Hop] = []  # the hops that led to the document shown now
        self.error_page = False  # the document shown is Chromium's error page for path[-1]
        self.commits = 0  # documents shown so far
        self.settled = 0  # documents the capture has waited for (see capture.page._follow)
        self.restless = False  # it kept navigating: the capture stopped following it
        self._listeners: list[tuple[str, Callable]] = [
            ("request", self._on_request), ("response", self._on_response),
            ("requestfailed", self._on_failed), ("framenavigated", self._on_committed)]
        for event, handler in self._listeners:
            page.on(event, handler)

    def detach(self) -> None:
        for event, handler in self._listeners:
            with contextlib.suppress(Exception):
                self._page.remove_listener(event, handler)

    async def listen_for_reasons(self, context: BrowserContext, timeout: float) -> None:
        """Learn why each navigation happens from Chrome's own event (best effort: a browser that
        does not answer within `timeout`, or a session that cannot be opened, leaves hops unlabelled)."""
        try:
            session = await asyncio.wait_for(context.new_cdp_session(self._page), timeout)
            await asyncio.wait_for(session.send("Page.enable"), timeout)
            tree = await asyncio.wait_for(session.send("Page.getFrameTree"), timeout)
        except Exception:  # noqa: BLE001 - labels are a nicety; the capture goes on without them
            return
        main = tree.get("frameTree", {}).get("frame", {}).get("id")

        def requested(event: dict) -> None:
            if event.get("frameId") == main and event.get("url"):
                reason = REASONS.get(event.get("reason", ""), "navigation")
                self._reasons.setdefault(_bare(event["url"]), []).append(reason)

        session.on("Page.frameRequestedNavigation", requested)

    # -- what happened ---------------------------------------------------------------------------

    def in_flight(self) -> bool:
        """True while a navigation may still change the document shown (a failed one, until
        Chromium's error page for it is shown, or ERROR_PAGE_GRACE has passed)."""
        now = time.monotonic()
        return any(not n.done and not (n.failed and now - n.failed_at > ERROR_PAGE_GRACE)
                   for n in self._navigations)

    def abandon(self, reason: str) -> str | None:
        """Give up on the latest navigation still in flight, as failed for `reason` (it took too
        long): the capture ends on it. Returns the sentence for the user (None if none was in flight)."""
        for nav in reversed(self._navigations):
            if not nav.done:
                hop = nav.hops[-1]
                hop.error = reason
                nav.done = True
                self.path = nav.before + nav.hops
                self.error_page = True
                return self.describe(hop, reason)
        return None

    @property
    def document(self) -> Hop | None:
        """The hop whose response is the document shown (None before the first commit)."""
        return self.path[-1] if self.path else None

    def failure(self) -> str | None:
        """Why the document shown is not the page but an error: warcache's proxy could not fetch
        it, or the browser shows its own error page. None when the document is a page."""
        hop = self.document
        if hop is None or not (self.error_page or (hop.error and hop.status == 0)):
            return None
        return self.describe(hop, hop.error or "it failed in the browser")

    def describe(self, hop: Hop, what: str) -> str:
        """`what` happened to `hop`, in a sentence that says how the page got there."""
        start = self._start_of(hop)
        if start is None or start.by == "request":
            return what  # the address asked for (or its HTTP redirects): as for any failed URL
        how = _HOW.get(start.by, "")
        route = start.url if start is hop else f"{start.url}, which redirected to {hop.url}"
        return f"after loading, the page went {how}to {route}, which failed: {what}"

    async def wait_quiet(self, timeout: float) -> bool:
        """Wait until no navigation is in flight; False if `timeout` came first."""
        deadline = time.monotonic() + timeout
        while self.in_flight():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))
        return True

    def _start_of(self, hop: Hop) -> Hop | None:
        """The first hop of the navigation `hop` belongs to."""
        for nav in self._navigations:
            if hop in nav.hops:
                return nav.hops[0]
        return None

    # -- events ----------------------------------------------------------------------------------

    def _ours(self, request: Request) -> bool:
        try:
            return request.is_navigation_request() and request.frame == self._frame
        except Exception:  # noqa: BLE001 - a request of a frame already gone
            return False

    def _on_request(self, request: Request) -> None:
        if not self._ours(request):
            return
        url = request.url
        previous = request.redirected_from
        if previous is not None and previous in self._hops:
            nav, _ = self._hops[previous]
            hop = Hop(url, "redirect")
            nav.hops.append(hop)
        else:
            before = list(self.path)
            by = "request" if not self._navigations else self._reason(url)
            last = self.document
            failed = next((n for n in self._navigations if last in n.hops), None) if last else None
            if self.error_page and failed is not None and _bare(url) == _bare(last.url):
                # Chromium's error page reloading the address that failed: the same hop again.
                before, by = list(failed.before), failed.hops[0].by
            hop = Hop(url, by)
            nav = _Navigation([hop], before)
            self._navigations.append(nav)
        self._hops[request] = (nav, hop)
        self._changed.set()

    def _reason(self, url: str) -> str:
        queue = self._reasons.get(_bare(url))
        return queue.pop(0) if queue else "navigation"

    def _on_response(self, response: Response) -> None:
        request = response.request
        if request not in self._hops:
            return
        _, hop = self._hops[request]
        headers = response.headers
        proxy_error = headers.get(ERROR_HEADER.lower())
        if proxy_error:
            hop.error = proxy_error  # the proxy's own answer: no server status, never a page
        else:
            hop.status = response.status
            hop.mime = contenttype.media_type(headers.get("content-type"))
        self._changed.set()

    def _on_failed(self, request: Request) -> None:
        if request not in self._hops:
            return
        nav, hop = self._hops[request]
        reason = request.failure or "failed"
        if "ERR_ABORTED" in reason:  # replaced, a download, a 204: never a document
            nav.done = True  # cancelled: it shows nothing (or it had already shown its document)
        else:
            hop.error = hop.error or net_error(reason)
            if not nav.done:  # (a document cut short after it was shown is not a failed navigation)
                nav.failed = True
                nav.failed_at = time.monotonic()
        self._changed.set()

    def _on_committed(self, frame: Frame) -> None:
        if frame != self._frame:
            return
        url = frame.url
        if url.startswith(ERROR_PAGE):
            nav = next((n for n in reversed(self._navigations) if n.failed), None)
            if nav is not None:
                nav.done = True
                self.path = nav.before + nav.hops
            self.error_page = True
            self.commits += 1
        else:
            nav = next((n for n in reversed(self._navigations)
                        if not n.done and _bare(n.hops[-1].url) == _bare(url)), None)
            if nav is None:
                if url.split(":", 1)[0] in ("about", "data", "blob") and url != "about:blank#blocked":
                    # A document that came from no request (about:blank, a data: URL): still a document.
                    self.path = self.path + [Hop(url, self._reason(url))]
                    self.error_page = False
                    self.commits += 1
                # else: a same-document navigation (pushState, a fragment): the document is the same
            else:
                nav.done = True
                self.path = nav.before + nav.hops
                self.error_page = False
                self.commits += 1
        self._changed.set()


def _bare(url: str) -> str:
    return urldefrag(url)[0]


def document_exchanges(hops: list[Hop], exchanges: list[Exchange]) -> list[Exchange]:
    """The proxy's exchanges that hold `hops`, in order (hops no server answered have none).

    Each hop is matched to the next recorded exchange for its address that was a document request:
    its `Sec-Fetch-Dest` says `document`, or it says nothing (browsers send it only to secure
    origins). Going forward through the record keeps a page that reloads itself, or comes back to an
    address it passed through, matched to the right response.
    """
    ordered = sorted(exchanges, key=lambda e: e.seq)
    out: list[Exchange] = []
    at = 0
    for hop in hops:
        if hop.status == 0:
            continue
        for i in range(at, len(ordered)):
            ex = ordered[i]
            if ex.url == hop.url and ex.response_head is not None and _is_document(ex):
                out.append(ex)
                at = i + 1
                break
    return out


def _is_document(ex: Exchange) -> bool:
    dest = parse_head(ex.request_head).get("Sec-Fetch-Dest")
    return dest is None or dest.strip().lower() == "document"
