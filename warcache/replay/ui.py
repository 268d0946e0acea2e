"""The replay server's own pages: collections, captured pages, capture lists, "not archived",
and the reader view.

Everything shown comes from archived data (titles, URLs, snippets, article HTML), which any
site could have filled with markup: every value is escaped here, at the one place where it
becomes HTML, and article HTML goes through an allowlist sanitiser (nh3, i.e. ammonia).
These pages carry no script at all and are served with a policy that forbids it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote, urlencode, urlsplit

import nh3

from warcache import timestamps

_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#f7f7f5}
header{background:#20232a;color:#fff;padding:.6em 1.2em;display:flex;gap:1em;align-items:center;
 flex-wrap:wrap}
header a{color:#fff;text-decoration:none;font-weight:600}
header form{margin-left:auto}
main{max-width:68em;margin:1.2em auto;padding:0 1.2em}
input[type=search]{padding:.35em .6em;min-width:18em;border:1px solid #999;border-radius:4px}
button{padding:.35em .8em}
ul.pages{list-style:none;padding:0;margin:0}
ul.pages li{display:flex;gap:1em;background:#fff;border:1px solid #e2e2e2;border-radius:6px;
 padding:.7em;margin:0 0 .7em}
.thumb{flex:0 0 200px;height:125px;overflow:hidden;background:#eee;border:1px solid #ddd}
.thumb img{width:200px;height:125px;object-fit:cover;object-position:top}
.meta{min-width:0}
.meta h2{font-size:1.05em;margin:0 0 .2em}
.url{color:#4b5563;font-size:.9em;word-break:break-all}
.when,.links{font-size:.85em;color:#555}
.links a{margin-right:.8em}
.snippet{font-size:.9em;margin:.3em 0 0}
mark{background:#fde68a}
table{border-collapse:collapse}
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.notice{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:1em 1.4em}
.pager a{margin-right:1em}
article.reader{max-width:42em;margin:0 auto;background:#fff;padding:1.5em 2em;border-radius:6px;
 border:1px solid #e2e2e2;font:18px/1.6 Georgia,serif}
article.reader img{max-width:100%;height:auto}
.reader-head{font:14px/1.4 system-ui,sans-serif;color:#555;margin-bottom:1.2em}
.badge{display:inline-block;font-size:.8em;font-weight:600;padding:.05em .55em;border-radius:1em;
 margin-left:.6em;text-decoration:none;vertical-align:middle;color:#fff}
.badge.good{background:#15803d}.badge.fair{background:#b45309}.badge.poor{background:#b91c1c}
.sides{display:flex;gap:1em;align-items:flex-start;overflow-x:auto}
.side{flex:1 1 0;min-width:16em;background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:.6em}
.side h2{font-size:1em;margin:0 0 .4em}
.side img{width:100%;height:auto;border:1px solid #ddd;display:block}
.side ul{font-size:.85em;padding-left:1.2em;word-break:break-all}
.tag{background:#e0e7ff;color:#1e3a8a;border-radius:9px;padding:0 .55em;margin-right:.35em;
 text-decoration:none;font-size:.85em;white-space:nowrap}
.tags{margin:0 0 1em;line-height:2}.labels{margin:.3em 0 0}.note{font-size:.85em;color:#444}
.add{float:right;font-weight:600}
"""


def h(value: object) -> str:
    """Escape any value for HTML text and attribute values (both quote kinds)."""
    return escape("" if value is None else str(value), quote=True)


def format_timestamp(ts: str) -> str:
    """`20240315123456` -> `2024-03-15 12:34:56 UTC` (a partial one is shown as given)."""
    return timestamps.display(ts, seconds=True)


def layout(title: str, body: str, *, coll: str | None = None, query: str = "", extra_style: str = "",
           nav: str = "", referrer: str = "no-referrer") -> str:
    search = ""
    crumbs = '<a href="/">warcache</a>'
    if coll:
        crumbs += f' / <a href="/{h(coll)}/">{h(coll)}</a>'
        search = (
            f'<form method="get" action="/{h(coll)}/" role="search">'
            f'<input type="search" name="q" value="{h(query)}" placeholder="Search this collection" '
            f'aria-label="Search"> <button>Search</button></form>'
        )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="{h(referrer)}">'
        f"<title>{h(title)}</title><style>{_STYLE}{extra_style}</style></head>\n"
        f"<body><header>{crumbs}{nav}{search}</header><main>\n{body}\n</main></body></html>\n"
    )


# ---------------------------------------------------------------------------------------
# Collections
# ---------------------------------------------------------------------------------------
@dataclass
class CollectionInfo:
    name: str
    pages: int


def collections_page(colls: list[CollectionInfo], add_href: str | None = None) -> str:
    if not colls:
        body = (
            '<div class="notice"><h1>No collections yet</h1>'
            "<p>Capture a page with <code>warcache add URL</code>, then reload.</p></div>"
        )
        return layout("warcache", body)
    rows = "".join(
        f'<tr><td><a href="/{h(c.name)}/">{h(c.name)}</a></td><td>{c.pages}</td></tr>' for c in colls
    )
    add = f'<a class="add" href="{h(add_href)}">+ Archive a URL</a>' if add_href else ""
    body = f"<h1>Collections</h1>{add}<table><tr><th>Collection</th><th>Pages</th></tr>{rows}</table>"
    return layout("warcache: collections", body)


# ---------------------------------------------------------------------------------------
# Pages of a collection
# ---------------------------------------------------------------------------------------
@dataclass
class PageRow:
    url: str
    title: str
    timestamp: str
    replay_href: str
    reader_href: str | None = None
    captures_href: str | None = None
    captures: int = 1
    thumb_href: str | None = None
    status: int | None = None
    pdf_href: str | None = None  # the page printed at capture time (--pdf)
    fidelity: int | None = None  # the latest fidelity check's scores (None: not checked)
    replay_fidelity: int | None = None
    check_href: str | None = None  # the capture's check page
    snippet: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    note: str = ""
    unframed_href: str | None = None  # the replay alone, without the banner


def _snippet(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The snippet with its highlighted spans in <mark>, everything escaped."""
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos or end > len(text) or start >= end:
            continue
        out.append(h(text[pos:start]))
        out.append(f"<mark>{h(text[start:end])}</mark>")
        pos = end
    out.append(h(text[pos:]))
    return "".join(out)


#: A score at or above GOOD is shown green, at or above FAIR amber, below it red.
GOOD, FAIR = 90, 70


def badge(fidelity: int | None, replay_fidelity: int | None, href: str | None) -> str:
    """The fidelity badge of a capture: its score replayed from the archive alone, linking to
    the side-by-side page (nothing when it was never checked)."""
    score = fidelity if fidelity is not None else replay_fidelity
    if score is None:
        return ""
    level = "good" if score >= GOOD else "fair" if score >= FAIR else "poor"
    title = f"fidelity {h(fidelity)} by interception, {h(replay_fidelity)} through the replay server"
    if href:
        return f'<a class="badge {level}" href="{h(href)}" title="{title}">fidelity {h(score)}</a>'
    return f'<span class="badge {level}" title="{title}">fidelity {h(score)}</span>'


def _row(row: PageRow) -> str:
    thumb = (
        f'<a class="thumb" href="{h(row.replay_href)}"><img loading="lazy" alt="" '
        f'src="{h(row.thumb_href)}"></a>'
        if row.thumb_href
        else '<span class="thumb"></span>'
    )
    links = [f'<a href="{h(row.replay_href)}">replay</a>']
    if row.check_href:
        links.append(f'<a href="{h(row.check_href)}">live vs replay</a>')
    if row.unframed_href:
        links.append(f'<a href="{h(row.unframed_href)}" title="the replay alone, without the banner">'
                     "unframed</a>")
    if row.reader_href:
        links.append(f'<a href="{h(row.reader_href)}">reader</a>')
    if row.pdf_href:
        links.append(f'<a href="{h(row.pdf_href)}" download>PDF</a>')
    if row.captures_href:
        label = f"{row.captures} captures" if row.captures > 1 else "all captures"
        links.append(f'<a href="{h(row.captures_href)}">{h(label)}</a>')
    status = f" · HTTP {h(row.status)}" if row.status and row.status != 200 else ""
    snippet = f'<p class="snippet">{_snippet(row.snippet, row.highlights)}</p>' if row.snippet else ""
    if row.tags or row.note:
        tags = "".join(f'<a class="tag" href="?{h(urlencode({"q": "tag:" + t}))}">#{h(t)}</a>'
                       for t in row.tags)
        snippet += f'<p class="labels">{tags}<span class="note">{h(row.note)}</span></p>'
    return (
        f'<li>{thumb}<div class="meta"><h2><a href="{h(row.replay_href)}">{h(row.title or row.url)}</a>'
        f'{badge(row.fidelity, row.replay_fidelity, row.check_href)}</h2><div class="url">{h(row.url)}</div>'
        f'<div class="when">captured {h(format_timestamp(row.timestamp))}{status}</div>'
        f'{snippet}<div class="links">{"".join(links)}</div></div></li>'
    )


def pages_page(
    coll: str, rows: list[PageRow], *, query: str = "", page: int = 1, has_next: bool = False, note: str = "",
    tags: list[tuple[str, int]] | None = None, add_href: str | None = None,
) -> str:
    heading = f"Results for “{h(query)}” in {h(coll)}" if query else f"Pages in {h(coll)}"
    if rows:
        items = f'<ul class="pages">{"".join(_row(r) for r in rows)}</ul>'
    elif query:
        items = '<p class="notice">No captured page matches this search.</p>'
    else:
        items = '<p class="notice">No pages captured in this collection yet.</p>'
    pager = []
    params = {"q": query} if query else {}
    if page > 1:
        pager.append(f'<a href="?{h(urlencode({**params, "page": page - 1}))}">← newer</a>')
    if has_next:
        pager.append(f'<a href="?{h(urlencode({**params, "page": page + 1}))}">older →</a>')
    note_html = f'<p class="when">{h(note)}</p>' if note else ""
    tag_list = ""
    if tags:
        links = "".join(
            f'<a class="tag" href="?{h(urlencode({"q": "tag:" + t}))}">#{h(t)} <small>{n}</small></a>'
            for t, n in tags)
        tag_list = f'<nav class="tags" aria-label="tags">Tags: {links}</nav>'
    add = f'<a class="add" href="{h(add_href)}">+ Archive a URL</a>' if add_href else ""
    body = f'<h1>{heading}</h1>{add}{tag_list}{note_html}{items}<p class="pager">{"".join(pager)}</p>'
    return layout(f"warcache: {coll}", body, coll=coll, query=query)


@dataclass
class CaptureRow:
    timestamp: str
    status: str | None
    mime: str | None
    replay_href: str
    url: str


def captures_page(coll: str, url: str, rows: list[CaptureRow]) -> str:
    if rows:
        body_rows = "".join(
            f'<tr><td><a href="{h(r.replay_href)}">{h(format_timestamp(r.timestamp))}</a></td>'
            f'<td>{h(r.status or "")}</td><td>{h(r.mime or "")}</td><td class="url">{h(r.url)}</td></tr>'
            for r in rows
        )
        table = (
            f"<table><tr><th>Captured</th><th>Status</th><th>Type</th><th>URL</th></tr>{body_rows}</table>"
        )
    else:
        table = '<p class="notice">This URL was never captured.</p>'
    body = f'<h1>Captures of</h1><p class="url">{h(url)}</p>{table}'
    return layout(f"warcache: captures of {url}", body, coll=coll)


# ---------------------------------------------------------------------------------------
# A capture's fidelity: live and replayed side by side
# ---------------------------------------------------------------------------------------
@dataclass
class CheckMode:
    label: str
    score: int | None
    shot_href: str | None
    reasons: list[str] = field(default_factory=list)
    not_archived: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class CheckView:
    coll: str
    url: str
    title: str
    timestamp: str
    live_shot: str | None
    replay_href: str
    fidelity: int | None = None
    replay_fidelity: int | None = None
    preferred: bool | None = None
    checked: str = ""
    software: str = ""
    modes: list[CheckMode] = field(default_factory=list)


def _side(title_html: str, shot: str | None, extra: str = "") -> str:
    picture = f'<img alt="" src="{h(shot)}">' if shot else '<p class="notice">No screenshot.</p>'
    return f'<section class="side"><h2>{title_html}</h2>{extra}{picture}</section>'


def check_page(view: CheckView) -> str:
    """A capture's fidelity: the live screenshot beside each replay's, with the reasons."""
    if not view.modes:
        note = ('<p class="notice">This capture was never checked: <code>warcache check '
                f'{h(view.url)}</code> scores it.</p>')
    else:
        note = (f'<p class="when">Checked {h(view.checked)} by {h(view.software)}: the page was loaded '
                "again from the archive alone, at the capture's viewport and scroll, and compared "
                "with what the capture saw live.</p>")
    if view.preferred is not None:
        said = ("This is the page's capture: the better of two." if view.preferred
                else "The page was captured again, and the other capture scored better.")
        note += f'<p class="when">{said}</p>'
    sides = [_side("Live (at capture time)", view.live_shot)]
    for mode in view.modes:
        items = [f"<li>{h(r)}</li>" for r in mode.reasons]
        if mode.error:
            items.insert(0, f"<li>did not load: {h(mode.error)}</li>")
        if mode.not_archived:
            urls = "".join(f"<li>{h(u)}</li>" for u in mode.not_archived)
            items.append(f"<li>not archived:<ul>{urls}</ul></li>")
        extra = f"<ul>{''.join(items)}</ul>" if items else '<p class="when">Nothing differs.</p>'
        sides.append(_side(f"{h(mode.label)}{badge(mode.score, None, None)}", mode.shot_href, extra))
    body = (
        f"<h1>Fidelity{badge(view.fidelity, view.replay_fidelity, None)}</h1>"
        f'<p class="url">{h(view.title or view.url)}<br>{h(view.url)}</p>'
        f'<p class="when">captured {h(format_timestamp(view.timestamp))} · '
        f'<a href="{h(view.replay_href)}">replay</a></p>{note}<div class="sides">{"".join(sides)}</div>'
    )
    return layout(f"warcache: fidelity of {view.url}", body, coll=view.coll)


# ---------------------------------------------------------------------------------------
# Not archived (served on the replay origin)
# ---------------------------------------------------------------------------------------
def not_archived_page(coll: str, url: str, timestamp: str, nearby: list[CaptureRow], ui_origin: str) -> str:
    host = urlsplit(url).hostname or url
    items = "".join(
        f'<li><a href="{h(r.replay_href)}">{h(r.url)}</a> '
        f'<span class="when">{h(format_timestamp(r.timestamp))}</span></li>'
        for r in nearby
    )
    near = (
        f"<h2>Captured pages of {h(host)}</h2><ul>{items}</ul>"
        if items
        else f"<p>Nothing from {h(host)} is in this collection.</p>"
    )
    when = f" at or near {h(format_timestamp(timestamp))}" if timestamp else ""
    body = (
        f'<div class="notice"><h1>Not archived</h1><p>This URL is not in collection '
        f'<a href="{h(ui_origin)}/{h(coll)}/">{h(coll)}</a>{when}:</p>'
        f'<p class="url">{h(url)}</p>{near}</div>'
    )
    page = layout("Not archived", body)
    # On the replay origin the header links must go to the listing server.
    return page.replace('<a href="/">warcache</a>', f'<a href="{h(ui_origin)}/">warcache</a>', 1)


def error_page(title: str, message: str) -> str:
    return layout(title, f'<div class="notice"><h1>{h(title)}</h1><p>{h(message)}</p></div>')


# ---------------------------------------------------------------------------------------
# Reader view
# ---------------------------------------------------------------------------------------
_READER_TAGS = set(nh3.ALLOWED_TAGS) | {"figure", "figcaption", "picture", "source", "main", "section"}
_READER_ATTRS = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height", "srcset"},
    "source": {"srcset", "type", "media"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
    "time": {"datetime"},
    "ol": {"start"},
    "*": {"lang", "dir"},
}


def sanitize_article(body_html: str, rewrite: Callable[[str, str], str | None]) -> str:
    """Allowlist-sanitise article HTML; `rewrite(url, kind)` gives each link or image its new
    URL ("link" or "image"), or None to drop it."""

    def attribute(element: str, attr: str, value: str) -> str | None:
        if attr == "href" and element == "a":
            return rewrite(value, "link")
        if attr == "src" and element == "img":
            return rewrite(value, "image")
        if attr == "srcset":
            return None  # the src is enough for reading
        return value

    return nh3.clean(
        body_html,
        tags=_READER_TAGS,
        attributes=_READER_ATTRS,
        url_schemes={"http", "https"},
        attribute_filter=attribute,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


@dataclass
class ReaderView:
    coll: str
    title: str
    url: str
    timestamp: str
    article_html: str  # already sanitised
    replay_href: str
    byline: str | None = None
    site_name: str | None = None


def reader_page(view: ReaderView) -> str:
    extra = " · ".join(h(x) for x in (view.byline, view.site_name) if x)
    body = (
        f'<article class="reader"><div class="reader-head"><h1>{h(view.title or view.url)}</h1>'
        f'<div class="url">Original: <a href="{h(view.url)}" rel="noopener noreferrer">'
        f"{h(view.url)}</a></div>"
        f'<div class="when">Captured {h(format_timestamp(view.timestamp))} · '
        f'<a href="{h(view.replay_href)}">replay the page</a>{" · " + extra if extra else ""}</div>'
        f"</div>{view.article_html}</article>"
    )
    return layout(f"{view.title or view.url} (reader)", body, coll=view.coll)


def url_path_quote(url: str) -> str:
    """A URL made safe to put in a path (what a browser would send), for links we build."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")
