"""The replay banner and the calendar: when a page was captured, and its other captures.

The banner.  `/<coll>/<ts>/<url>` on the listing origin is a small page of our own: a bar
(the original URL, linking to the live page; the capture time; the fidelity score when the
capture has one; the previous and next captures; the calendar) above an iframe showing the
replay on the collection's replay origin.  As in pywb's framed mode, the archived page runs in
its own browsing context with its own viewport, so nothing is injected into its document or
its layout, and its scripts cannot reach the bar (another origin).  Rejected: a bar inserted
into the replayed document (pywb's unframed mode) -- the page's scripts and styles could read,
restyle or remove it, and its height shifts fixed-position layouts.

The iframe is sandboxed without `allow-top-navigation`: an archived page that framebusts
(`top.location = ...`) stays in the frame.  When the frame moves to another page, the replay
client of the new document tells the bar what it shows with `postMessage` (its original URL,
capture time and title, nothing else), addressed to the listing origin only.  The bar's own
script (static/banner.js) accepts messages from the iframe's window, from the collection's
replay host names, checks them as data (a 14-digit time, an http(s) URL), asks the listing
origin for that capture's neighbours (`nav_json`) and sets text and links from the answer,
never markup.  An archived page can send such messages too: the most it can do is make the bar
show another archived capture's address.  Polling was rejected: the listing origin cannot read
a cross-origin frame's location.

The calendar.  `/<coll>/*/<url>` lists the URL's captures by year and month, each with its
screenshot (the stored PNG, sized by CSS: no image library on the server's path, and the
browser caches it) linking to the framed view.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from warcache import timestamps
from warcache.pagelist import PageEntry
from warcache.replay import ui
from warcache.replay.ui import h

BANNER_HEIGHT = 44


@dataclass
class Capture:
    """One capture of a URL, as the banner and the calendar show it."""

    timestamp: str
    url: str
    status: str | None = None
    mime: str | None = None
    entry: PageEntry | None = None  # the page list's entry, for warcache captures of pages


def view_path(coll: str, ts: str, url: str) -> str:
    """The framed view of a capture, on the listing origin."""
    return f"/{coll}/{ts}/{ui.url_path_quote(url)}"


def calendar_path(coll: str, url: str) -> str:
    return f"/{coll}/*/{ui.url_path_quote(url)}"


def fidelity_of(entry: PageEntry | None) -> int | None:
    """The capture's fidelity score (0-100) when it was checked: by interception, else through
    the replay server (imported pages and captures made before the check have none)."""
    if entry is None:
        return None
    return entry.fidelity if entry.fidelity is not None else entry.replay_fidelity


def neighbours(captures: list[Capture], ts: str) -> tuple[Capture | None, Capture | None, Capture | None]:
    """The capture shown for `ts` (the nearest), the one before it and the one after it."""
    if not captures:
        return None, None, None
    ordered = sorted(captures, key=lambda c: c.timestamp)
    at = min(range(len(ordered)), key=lambda i: (abs(timestamps.distance(ordered[i].timestamp, ts)), i))
    prev = ordered[at - 1] if at > 0 else None
    nxt = ordered[at + 1] if at + 1 < len(ordered) else None
    return ordered[at], prev, nxt


def nav_json(coll: str, url: str, ts: str, captures: list[Capture]) -> dict:
    """What the bar shows for a capture: every value is text or a same-origin path, except
    `live`, which is the original http(s) URL."""
    shown, prev, nxt = neighbours(captures, ts)
    stamp = shown.timestamp if shown else ts
    return {
        "url": url,
        "live": url if url.lower().startswith(("http://", "https://")) else "",
        "ts": stamp,
        "when": timestamps.display(stamp, seconds=True),
        "view": view_path(coll, stamp, url),
        "prev": view_path(coll, prev.timestamp, prev.url) if prev else "",
        "prev_when": timestamps.display(prev.timestamp) if prev else "",
        "next": view_path(coll, nxt.timestamp, nxt.url) if nxt else "",
        "next_when": timestamps.display(nxt.timestamp) if nxt else "",
        "calendar": calendar_path(coll, url),
        "count": len({c.timestamp for c in captures}),
        "fidelity": fidelity_of(shown.entry if shown else None),
    }


def _json_script(value: object) -> str:
    """JSON for a `<script type="application/json">` block: no `<` can end it early."""
    return json.dumps(value, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e")


def banner_page(coll: str, nav: dict, frame_src: str, frame_hosts: list[dict], banner_js: str,
                title: str = "") -> str:
    """The framed view: the bar and the replay in its sandboxed iframe."""
    cfg = {"coll": coll, "hosts": frame_hosts, "nav": "/_warcache/nav/"}
    fidelity = nav.get("fidelity")
    badge = (f'<span id="wb-fidelity" class="wb-badge" title="fidelity of this capture (self-check)">'
             f"fidelity {h(fidelity)}</span>") if fidelity is not None else \
        '<span id="wb-fidelity" class="wb-badge" hidden></span>'
    prev = (f'<a id="wb-prev" href="{h(nav["prev"])}" title="{h(nav["prev_when"])}">‹ previous</a>'
            if nav["prev"] else '<a id="wb-prev" aria-disabled="true">‹ previous</a>')
    nxt = (f'<a id="wb-next" href="{h(nav["next"])}" title="{h(nav["next_when"])}">next ›</a>'
           if nav["next"] else '<a id="wb-next" aria-disabled="true">next ›</a>')
    live = f'<span id="wb-live">{h(nav["url"])}</span>'
    if nav["live"]:
        live = (f'<a id="wb-live" href="{h(nav["live"])}" target="_blank" rel="noopener noreferrer" '
                f'title="the live page">{h(nav["url"])}</a>')
    bar = (
        f'<header id="wb-bar"><a class="wb-home" href="/">warcache</a>'
        f'<a class="wb-coll" href="/{h(coll)}/">{h(coll)}</a>'
        f'<span class="wb-url">{live}</span>'
        f'<span class="wb-when">captured <time id="wb-when">{h(nav["when"])}</time></span>{badge}'
        f'<nav class="wb-nav">{prev}<a id="wb-calendar" href="{h(nav["calendar"])}">'
        f'<span id="wb-count">{h(nav["count"])}</span> captures</a>{nxt}'
        f'<a id="wb-unframed" href="{h(frame_src)}" title="the replay alone, without this bar">✕</a></nav>'
        f"</header>"
    )
    frame = (f'<iframe id="wb-frame" name="wb-frame" src="{h(frame_src)}" title="archived page" '
             f'sandbox="allow-scripts allow-same-origin allow-forms allow-popups allow-modals '
             f'allow-popups-to-escape-sandbox allow-downloads" referrerpolicy="no-referrer"></iframe>')
    style = (
        "html,body{height:100%;margin:0;overflow:hidden}"
        "body{display:flex;flex-direction:column;font:13px/1.3 system-ui,sans-serif}"
        f"#wb-bar{{flex:0 0 {BANNER_HEIGHT}px;box-sizing:border-box;display:flex;align-items:center;gap:.9em;"
        "padding:0 .9em;background:#20232a;color:#e5e7eb;white-space:nowrap;overflow:hidden}"
        "#wb-bar a{color:#fff;text-decoration:none}#wb-bar a:hover{text-decoration:underline}"
        ".wb-home{font-weight:700}.wb-coll{color:#cbd5e1!important}"
        ".wb-url{flex:1 1 auto;min-width:6em;overflow:hidden;text-overflow:ellipsis}"
        "#wb-live{color:#93c5fd!important}.wb-when{color:#e5e7eb}"
        ".wb-badge{background:#16a34a;color:#fff;border-radius:9px;padding:.1em .6em;font-size:.85em}"
        ".wb-nav{display:flex;gap:.8em}.wb-nav a[aria-disabled]{color:#6b7280!important}"
        "#wb-frame{flex:1 1 auto;border:0;width:100%;background:#fff}"
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{h(title or nav['url'])} · {h(nav['when'])} · warcache</title><style>{style}</style>"
        f'<script type="application/json" id="wb-cfg">{_json_script(cfg)}</script>'
        f'<script src="{h(banner_js)}" defer></script></head>\n'
        f"<body>{bar}{frame}</body></html>\n"
    )


def banner_csp(frame_sources: list[str]) -> str:
    """The framed view's policy: our script and same-origin requests, the collection's replay
    hosts in the frame, never framed itself."""
    return (
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "
        f"img-src 'self' data:; frame-src {' '.join(frame_sources)}; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


# -- the calendar ----------------------------------------------------------------------------
@dataclass
class Month:
    year: str
    month: int
    captures: list[tuple[Capture, str | None]] = field(default_factory=list)  # with its thumbnail


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]


def months_of(captures: list[tuple[Capture, str | None]]) -> list[Month]:
    """Captures grouped by year and month, newest first (oldest first within a month)."""
    out: dict[tuple[str, int], Month] = {}
    for capture, thumb in sorted(captures, key=lambda c: c[0].timestamp):
        ts = capture.timestamp
        month = min(12, max(1, int(ts[4:6]))) if len(ts) >= 6 and ts[4:6].isdigit() else 1
        out.setdefault((ts[:4], month), Month(ts[:4], month)).captures.append((capture, thumb))
    return [out[k] for k in sorted(out, reverse=True)]


def calendar_page(coll: str, url: str, captures: list[tuple[Capture, str | None]], *,
                  diff_href: Callable[[Capture, Capture], str | None] | None = None,
                  tags: tuple[str, ...] = (), note: str = "") -> str:
    """The calendar of a URL's captures (`diff_href(a, b)`: the diff page of two captures, if any)."""
    months = months_of(captures)
    if not months:
        body = (f'<h1>Captures of</h1><p class="url">{h(url)}</p>'
                '<p class="notice">This URL was never captured.</p>')
        return ui.layout(f"warcache: captures of {url}", body, coll=coll)
    years: dict[str, list[Month]] = {}
    for m in months:
        years.setdefault(m.year, []).append(m)
    parts = []
    ordered = [c for c, _ in sorted(captures, key=lambda c: c[0].timestamp)]
    before = {c.timestamp: ordered[i - 1] for i, c in enumerate(ordered) if i > 0}
    for year, ms in years.items():
        count = sum(len(m.captures) for m in ms)
        plural = "s" if count != 1 else ""
        parts.append(f'<section class="year"><h2>{h(year)} <small>{count} capture{plural}</small></h2>')
        for m in ms:
            cells = []
            for capture, thumb in m.captures:
                href = view_path(coll, capture.timestamp, capture.url)
                img = (f'<img loading="lazy" alt="" src="{h(thumb)}">' if thumb
                       else '<span class="noshot">no screenshot</span>')
                status = f" · {h(capture.status)}" if capture.status and capture.status != "200" else ""
                score = fidelity_of(capture.entry)
                badge = f' <span class="badge">fidelity {h(score)}</span>' if score is not None else ""
                diff = ""
                earlier = before.get(capture.timestamp)
                if diff_href is not None and earlier is not None:
                    link = diff_href(earlier, capture)
                    if link:
                        diff = f' · <a class="diff" href="{h(link)}">changes since previous</a>'
                cells.append(
                    f'<li><a class="shot" href="{h(href)}">{img}</a>'
                    f'<div><a href="{h(href)}">{h(timestamps.display(capture.timestamp, seconds=True))}</a>'
                    f"{status}{badge}{diff}</div></li>"
                )
            parts.append(f'<h3>{h(_MONTHS[m.month - 1])} {h(m.year)}</h3>'
                         f'<ul class="cal">{"".join(cells)}</ul>')
        parts.append("</section>")
    years_nav = " ".join(f'<a href="#y{h(y)}">{h(y)}</a>' for y in years)
    labels = ""
    if tags or note:
        links = " ".join(f'<a class="tag" href="/{h(coll)}/?{h("q=tag:" + quote(t))}">#{h(t)}</a>'
                         for t in tags)
        labels = f'<p class="labels">{links} {h(note)}</p>'
    titled = [c.entry.title for c, _ in captures if c.entry is not None and c.entry.title]
    heading = titled[-1] if titled else url
    plural = "s" if len(captures) != 1 else ""
    body = (
        f'<h1>{h(heading)}</h1><p class="url">{h(url)} · {len(captures)} capture{plural}</p>{labels}'
        f'<p class="years">{years_nav}</p>' + "".join(parts)
    )
    return ui.layout(f"warcache: captures of {url}", _anchor_years(body), coll=coll, extra_style=_CAL_STYLE)


def _anchor_years(body: str) -> str:
    """Give each year's heading its anchor (`#y2024`), for the year links at the top."""
    out = []
    for chunk in body.split('<section class="year"><h2>'):
        if out:
            year = chunk[:4]
            chunk = f'<section class="year" id="y{year}"><h2>' + chunk
        out.append(chunk)
    return "".join(out)


_CAL_STYLE = """
ul.cal{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));
 gap:.8em}
ul.cal li{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:.5em;font-size:.85em}
ul.cal .shot{display:block;height:125px;overflow:hidden;background:#eee;margin-bottom:.4em}
ul.cal img{width:100%;height:125px;object-fit:cover;object-position:top}
.noshot{display:block;padding:3em 0;text-align:center;color:#888}
.badge{background:#16a34a;color:#fff;border-radius:9px;padding:0 .5em}
.year h2 small{font-weight:normal;color:#666}
.tag{background:#e0e7ff;border-radius:9px;padding:0 .5em;margin-right:.3em;text-decoration:none}
"""


# -- the diff page ---------------------------------------------------------------------------
def diff_page(coll: str, url: str, diff: dict) -> str:
    """What changed in a page's article between two captures (`warcache diff`'s result as
    JSON: `old`, `new`, `ops` of equal/delete/insert text).  All of it is archived text: escaped."""
    old, new = diff.get("old") or {}, diff.get("new") or {}
    parts = []
    for op in diff.get("ops") or []:
        kind, text = op.get("op"), str(op.get("text", ""))
        if kind == "delete":
            parts.append(f"<del>{h(text)}</del>")
        elif kind == "insert":
            parts.append(f"<ins>{h(text)}</ins>")
        else:
            parts.append(h(text))
    summary = (f"{h(diff.get('words_deleted', 0))} words removed, {h(diff.get('words_inserted', 0))} added"
               if diff.get("changed") else "The article text did not change.")
    when_old, when_new = str(old.get("timestamp", "")), str(new.get("timestamp", ""))
    body = (
        f'<h1>Changes to</h1><p class="url">{h(url)}</p>'
        f'<p class="when">from <a href="{h(view_path(coll, when_old, url))}">'
        f"{h(timestamps.display(when_old, seconds=True))}</a> to "
        f'<a href="{h(view_path(coll, when_new, url))}">{h(timestamps.display(when_new, seconds=True))}</a>'
        f' · <a href="{h(calendar_path(coll, url))}">all captures</a></p>'
        f'<p class="summary">{summary}</p><article class="diff">{"".join(parts)}</article>'
    )
    return ui.layout(f"warcache: changes to {url}", body, coll=coll, extra_style=_DIFF_STYLE)


_DIFF_STYLE = """
article.diff{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:1.2em 1.6em;
 white-space:pre-wrap;font:16px/1.6 Georgia,serif}
del{background:#fee2e2;color:#991b1b}ins{background:#dcfce7;color:#166534;text-decoration:none}
"""
