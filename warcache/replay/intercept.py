"""`warcache open URL`: look at a capture in Chromium, every request answered from the archive.

Unlike the replay server, nothing is rewritten: the page loads under its original URL and
origin, and Playwright's request interception (`context.route`) answers each request the
browser makes with the archived response nearest to the page's capture time (status, headers
and decoded body), so the page's scripts, cookies, storage and service workers behave as they
did live.  A request the archive cannot answer is aborted, never sent: besides interception,
Chromium is told that no host name resolves and to use a proxy that does not exist, so even a
request that escaped interception (a WebSocket, a DNS prefetch) could not reach the network.
Date and Math.random are pinned to the capture, as in the replay server.  Requests the
archive holds no exact capture of are matched as the replay server matches them (fuzzy
matching, JSONP callback names, responsive-image candidates, Range requests: see
`matching` and `ranges`), and each such answer is reported in `OpenResult.fuzzy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from warcache import timestamps
from warcache.chromium import BrowserChoice, find_browser, launch_args
from warcache.collection import Collection, list_collections, open_collection, root_path
from warcache.errors import ArchiveError, BrowserNotFound, UsageError
from warcache.replay import jsonp, ranges
from warcache.replay.client import pin_script, seed_for
from warcache.replay.headers import HOP_BY_HOP
from warcache.replay.matching import Matcher
from warcache.replay.resolve import Capture, Resolver, header
from warcache.replay.rules import RulesFiles, rule_files
from warcache.replay.ui import error_page
from warcache.urls import normalize_url

#: Flags that keep the browser off the network whatever happens to interception.
OFFLINE_ARGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--disable-features=NetworkPrediction,Prerender2",
)
_BODY_HEADERS = frozenset({"content-encoding", "content-length"})
_PARTIAL_HEADERS = ranges.DESCRIBED_HEADERS | {"content-length"}
MAX_HOPS = 10


def _redirect_target(capture: Capture, url: str) -> str | None:
    """The absolute Location of an archived redirect, or None."""
    if not 300 <= capture.status < 400 or capture.status == 304:
        return None
    location = header(capture.headers, "Location")
    if not location:
        return None
    try:
        target = urljoin(url, location.strip())
    except ValueError:
        return None
    return target if target.lower().startswith(("http://", "https://")) else None


def _redirect_page(location: str) -> str:
    """A page that goes on to `location` at once (an archived redirect, seen from inside)."""
    target = json.dumps(location).replace("</", "<\\/")
    return (
        f'<!doctype html><meta http-equiv="refresh" content="0; url={escape(location)}">'
        f"<script>location.replace({target});</script>"
    )


@dataclass
class OpenResult:
    """What happened while the capture was shown."""

    url: str
    collection: str
    timestamp: str
    served: int = 0  # requests answered from the archive
    refused: list[str] = field(default_factory=list)  # URLs the archive had no answer for
    fuzzy: list[str] = field(default_factory=list)  # "fuzzy: <asked> -> <archived>" lines
    screenshot: Path | None = None


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def locate(
    root: Path, url: str, *, at: str | None = None, collection: str | None = None
) -> tuple[Collection, str]:
    """The collection holding `url` and the timestamp of its capture nearest to `at`."""
    if at is not None:
        at = timestamps.parse_user_timestamp(at)
    names = [collection] if collection else list_collections(root)
    best: tuple[Collection, str] | None = None
    for name in names:
        coll = open_collection(root, name)
        resolver = Resolver(coll)
        try:
            capture = resolver.find(url, timestamp=at)
            if capture is None:
                continue
            stamp = capture.timestamp
            capture.close()
        finally:
            resolver.close()
        if best is None or _closer(stamp, best[1], at):
            best = (coll, stamp)
    if best is None:
        where = f"collection {collection!r}" if collection else "any collection"
        raise UsageError(f"{url} is not archived in {where}")
    return best


def _closer(a: str, b: str, at: str | None) -> bool:
    if at is None:
        return a > b
    return timestamps.distance(a, at) < timestamps.distance(b, at)


def fulfil_parts(capture: Capture, method: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body to hand to `route.fulfill` for an archived response.

    The body is decoded (Playwright sends it as is, with a length), so the headers that
    described the archived coding go; repeated headers are joined as Playwright expects.
    """
    body = b""
    encoded = False
    if method.upper() != "HEAD" and capture.status not in (204, 304):
        try:
            body = capture.content()
        except ArchiveError:
            body, encoded = b"", True  # an unknown coding: hand it over encoded, the browser may know it
    if encoded:
        body = b"".join(capture.iter_entity())
    drop = HOP_BY_HOP | (frozenset({"content-length"}) if encoded else _BODY_HEADERS)
    headers: dict[str, str] = {}
    for name, value in capture.headers:
        key = name.lower()
        if key in drop:
            continue
        if key in headers:
            headers[key] += ("\n" if key == "set-cookie" else ", ") + value
        else:
            headers[key] = value
    return capture.status, headers, body


def partial_parts(partial: ranges.Ranged) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body for `route.fulfill` of a range (or a body made of pieces)."""
    body = partial.read()
    headers: dict[str, str] = {}
    for name, value in partial.template.headers:
        key = name.lower()
        if key in HOP_BY_HOP or key in _PARTIAL_HEADERS:
            continue
        headers[key] = headers[key] + ", " + value if key in headers else value
    for name, value in partial.headers:
        headers[name.lower()] = value
    return partial.status, headers, body


@dataclass
class OfflinePage:
    """A page showing a capture (from `offline_page`): the Playwright page and the tally."""

    page: Any  # playwright.async_api.Page
    result: OpenResult


@contextlib.asynccontextmanager
async def offline_page(
    root: str | os.PathLike[str] | None,
    url: str,
    *,
    at: str | None = None,
    collection: str | None = None,
    browser: str | None = None,
    headless: bool = True,
    timeout: float = 30.0,
    viewport: tuple[int, int] = (1280, 800),
    scale: float = 1.0,
) -> AsyncIterator[OfflinePage]:
    """Chromium showing the capture of `url`, every request answered from the archive.

    The page has loaded when this yields; the browser closes on exit.  `open_capture` is built
    on it; other callers can script the page (scroll it, read it, take screenshots).
    """
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    base = root_path(root)
    url = normalize_url(url)
    coll, stamp = locate(base, url, at=at, collection=collection)
    choice: BrowserChoice = find_browser(browser, window=not headless)
    result = OpenResult(url, coll.name, stamp)
    resolver = Resolver(coll)
    try:
        async with async_playwright() as pw:
            try:
                chromium = await pw.chromium.launch(
                    **choice.launch_options(),
                    headless=headless,
                    args=launch_args() + list(OFFLINE_ARGS),
                )
            except PlaywrightError as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise BrowserNotFound(f"could not start the browser ({choice.source}): {first}") from None
            try:
                page = await _open_page(
                    chromium, resolver, result, url, stamp, timeout=timeout, viewport=viewport, scale=scale
                )
                yield OfflinePage(page, result)
            finally:
                with contextlib.suppress(PlaywrightError):
                    await chromium.close()
    finally:
        resolver.close()


#: The context proxy of a page shown in a browser that was not started offline (`offline_page_in`):
#: nothing listens there, so a request that escaped interception fails instead of going out.
#: (Playwright sends loopback addresses through a context's proxy too.)
NOWHERE_PROXY = {"server": "http://127.0.0.1:9"}


def offline_context_options(viewport: tuple[int, int], *, proxy: dict | None = NOWHERE_PROXY,
                            scale: float | None = None) -> dict[str, Any]:
    """The options of a browser context a capture is shown in by interception."""
    options: dict[str, Any] = {"viewport": {"width": viewport[0], "height": viewport[1]},
                               "service_workers": "allow"}
    if proxy is not None:
        options["proxy"] = proxy
    if scale is not None:
        options["device_scale_factor"] = scale
    return options


@contextlib.asynccontextmanager
async def offline_page_in(
    browser,  # noqa: ANN001 - a Playwright Browser
    coll: Collection,
    url: str,
    timestamp: str,
    *,
    timeout: float = 30.0,
    viewport: tuple[int, int] = (1280, 800),
    prepare: Callable[[Any], Awaitable[None]] | None = None,
    scale: float | None = None,
    page: Any = None,
) -> AsyncIterator[OfflinePage]:
    """`offline_page` in a fresh context of a browser the caller runs already (the fidelity
    check uses the capture's): the capture of `url` at `timestamp` in `coll`, every request
    answered from the archive.  `prepare(context)` runs before the page opens (to listen to it);
    `scale` is the device scale factor (the fidelity check draws its replays at half scale).
    `page`: a blank page the caller opened ahead, alone in a context made with
    `offline_context_options` (opening one takes the browser about a second on a busy machine),
    used instead of a new one.  Raises UsageError when the page does not load; the context is
    closed on exit."""
    result = OpenResult(url, coll.name, timestamp)
    resolver = Resolver(coll)
    context = page.context if page is not None else None
    try:
        async def prepared(ctx) -> None:  # noqa: ANN001
            nonlocal context
            context = ctx
            if prepare is not None:
                await prepare(ctx)

        page = await _open_page(browser, resolver, result, url, timestamp, timeout=timeout,
                                viewport=viewport, proxy=NOWHERE_PROXY, prepare=prepared, scale=scale,
                                page=page)
        yield OfflinePage(page, result)
    finally:
        if context is not None:
            with contextlib.suppress(Exception):
                await context.close()
        resolver.close()


async def open_capture_async(
    root: str | os.PathLike[str] | None,
    url: str,
    *,
    at: str | None = None,
    collection: str | None = None,
    screenshot: str | os.PathLike[str] | None = None,
    browser: str | None = None,
    full_page: bool = False,
    timeout: float = 30.0,
    viewport: tuple[int, int] = (1280, 800),
    scale: float = 1.0,
) -> OpenResult:
    """See `open_capture`."""
    from playwright.async_api import Error as PlaywrightError

    headless = screenshot is not None
    locate(root_path(root), normalize_url(url), at=at, collection=collection)  # say what is wrong first
    if not headless and not _has_display():
        raise UsageError(
            "no display to open a window on ($DISPLAY is not set): "
            "use --screenshot FILE to save a picture instead"
        )
    async with offline_page(
        root,
        url,
        at=at,
        collection=collection,
        browser=browser,
        headless=headless,
        timeout=timeout,
        viewport=viewport,
        scale=scale,
    ) as shown:
        page = shown.page
        if screenshot is not None:
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state("networkidle", timeout=min(timeout, 10) * 1000)
                await page.wait_for_load_state("load", timeout=timeout * 1000)
            path = Path(screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(path), full_page=full_page)
            shown.result.screenshot = path
        else:
            closed = asyncio.get_running_loop().create_future()

            def done(_: object) -> None:
                if not closed.done():
                    closed.set_result(None)

            page.on("close", done)
            page.context.browser.on("disconnected", done)
            await closed
    return shown.result


async def _open_page(
    chromium,
    resolver: Resolver,
    result: OpenResult,
    url: str,
    stamp: str,
    *,  # noqa: ANN001
    timeout: float,
    viewport: tuple[int, int],
    proxy: dict | None = None,
    prepare: Callable[[Any], Awaitable[None]] | None = None,
    scale: float | None = None,
    page: Any = None,
):  # noqa: ANN202 - a Playwright Page
    """A page showing the capture (`page`: a blank one opened ahead, in its own context made
    with the same options; the routes and the pinning script apply to it as to a new page)."""
    from playwright.async_api import Error as PlaywrightError

    if page is None:
        context = await chromium.new_context(**offline_context_options(viewport, proxy=proxy, scale=scale))
    else:
        context = page.context
    if prepare is not None:
        await prepare(context)
    await context.add_init_script(script=pin_script(timestamps.to_ms(stamp), seed_for(url, stamp)))
    page_holder: dict = {}
    matcher = Matcher(resolver, RulesFiles(rule_files(resolver.coll.root, resolver.coll.path)))

    async def answer(route, request) -> None:  # noqa: ANN001 - Playwright's types
        try:
            body = request.post_data_buffer or b""
        except PlaywrightError:
            body = b""
        # Only a POST or PUT is looked up by its body (index.cdxj.request_key): asking the browser
        # for the header costs a round trip per request, which other requests need not wait for.
        content_type = (await request.header_value("content-type")
                        if request.method in ("POST", "PUT") else None)
        referrers = []
        if request.resource_type == "image":
            # The document or style sheet that asked (a cross-origin Referer is only an origin:
            # the frame's document is tried too).
            for doc in (await request.header_value("referer"), _frame_url(request)):
                if doc and (doc, stamp) not in referrers:
                    referrers.append((doc, stamp))
        found = await asyncio.to_thread(
            matcher.find,
            request.url,
            timestamp=stamp,
            method=request.method,
            content_type=content_type,
            body=body,
            image=request.resource_type == "image",
            referrers=lambda: referrers,
        )
        capture = found.capture if found is not None else None
        asked = ranges.parse_range(await request.header_value("range"))
        partial = None
        if found is not None and (capture is None or (asked is not None and capture.status == 200)):
            if capture is None:
                partial = await asyncio.to_thread(ranges.from_pieces, found.pieces, resolver.load, asked)
            else:
                partial = await asyncio.to_thread(ranges.from_whole, capture, asked)  # type: ignore[arg-type]
            if partial is None and capture is None:
                found = None
        if found is not None and found.note():
            result.fuzzy.append(found.note() or "")
        if partial is not None:
            status, headers, payload = await asyncio.to_thread(partial_parts, partial)
            result.served += 1
            await route.fulfill(status=status, headers=headers, body=payload)
            return
        if capture is None or found is None:
            result.refused.append(request.url)
            page = page_holder.get("page")
            if request.is_navigation_request() and page is not None and request.frame == page.main_frame:
                html = error_page("Not archived", f"{request.url} is not in collection {result.collection}.")
                await route.fulfill(status=404, content_type="text/html; charset=utf-8", body=html)
            else:
                await route.abort("blockedbyclient")
            return
        location = _redirect_target(capture, request.url)
        if location is not None and request.is_navigation_request():
            # Playwright does not intercept the request a fulfilled redirect leads to (it would
            # go to the network): the browser is sent on with a page that navigates instead.
            capture.close()
            result.served += 1
            await route.fulfill(
                status=200, content_type="text/html; charset=utf-8", body=_redirect_page(location)
            )
            return
        hops = 0
        while location is not None and hops < MAX_HOPS:  # a script's request: follow it here
            capture.close()
            hops += 1
            capture = await asyncio.to_thread(resolver.find, location, timestamp=stamp)
            if capture is None:
                result.refused.append(location)
                await route.abort("blockedbyclient")
                return
            location = _redirect_target(capture, location)
        callback = found.callback() if hops == 0 else None
        with capture:
            status, headers, payload = await asyncio.to_thread(fulfil_parts, capture, request.method)
        if callback is not None:
            payload = jsonp.rename_callback(payload, callback) or payload
        result.served += 1
        await route.fulfill(status=status, headers=headers, body=payload)

    async def no_socket(ws) -> None:  # noqa: ANN001
        result.refused.append(ws.url)
        await ws.close(code=1008, reason="not archived")

    await context.route("**/*", answer)
    await context.route_web_socket("**/*", no_socket)
    if page is None:
        page = await context.new_page()
    page_holder["page"] = page
    try:
        await page.goto(url, wait_until="load", timeout=timeout * 1000)
    except PlaywrightError as exc:
        raise UsageError(f"could not open {url}: {(str(exc).splitlines() or [''])[0]}") from None
    return page


def _frame_url(request) -> str | None:  # noqa: ANN001 - a Playwright Request
    try:
        return request.frame.url
    except Exception:  # noqa: BLE001 - a service worker's request has no frame
        return None


def open_capture(
    root: str | os.PathLike[str] | None,
    url: str,
    *,
    at: str | None = None,
    collection: str | None = None,
    screenshot: str | os.PathLike[str] | None = None,
    browser: str | None = None,
    full_page: bool = False,
    timeout: float = 30.0,
    scale: float = 1.0,
) -> OpenResult:
    """Open the capture of `url` nearest to `at` (latest without) in Chromium, offline.

    With `screenshot`, the browser runs headless and the page is saved as PNG there; without,
    a window opens (a display is needed) and the call returns when it is closed.  `collection`
    limits the search to one collection; `browser` is a Chromium executable (as `--browser`);
    `scale` is the window's device pixel ratio (2 for a high-density screen).
    Raises UsageError when the URL is not archived or there is no display for a window.
    """
    return asyncio.run(
        open_capture_async(
            root,
            url,
            at=at,
            collection=collection,
            screenshot=screenshot,
            browser=browser,
            full_page=full_page,
            timeout=timeout,
            scale=scale,
        )
    )
