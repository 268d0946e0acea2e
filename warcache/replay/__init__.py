"""Offline replay of captures: a replay server (`warcache replay`) and `warcache open`.

make_app(root, ...)      the WSGI application (two origins: listing and replayed pages)
serve(root, ...)         run it with waitress until interrupted
start_server(root, ...)  run it in a background thread (tests, embedding)
open_capture(root, url)  show a capture in Chromium, every request answered from the archive

How a replayed page sees its own URL.  Pages look at their address in many ways: routers
read `location.pathname`, scripts build API addresses from `location.host`, frames check
`event.origin`, modules resolve against `import.meta.url`, workers and service workers have
their own `location`.  Browsers let no script redefine `window.location` or its parts, so a
page replayed at `/<coll>/<ts>/<url>` (pywb's path, one origin for everything) sees that
path.  pywb and ReplayWeb.page (both through wombat.js) hide it by rewriting every script:
each is wrapped in a block that rebinds `window`, `document`, `location`... to proxies, with
regular expressions that also rewrite string literals, break module scripts (pywb 2.10's
wrapper is a syntax error in strict code) and leave workers and `import.meta.url` partly
wrong; all archived origins share one origin, so cross-origin frames become same-origin.

warcache gives each original origin its own host name instead, per collection and capture
time, with the original path (`origins`): `https://news.example/a?b` captured at T in
collection C replays at `http://news.example.<T>s.C.localhost:8081/a?b`.  Paths, queries,
fragments, relative URLs, history, routers, modules, workers and service workers then work
natively, and cross-origin stays cross-origin, as live.  What still differs is the host
part; the client script (`client`, static/) gives back document.URL, referrer, domain,
window.origin, Request/Response.url, MessageEvent.origin, cookies' domains, postMessage
targets, and sends navigations to original URLs (the Navigation API's navigate event) into
the archive; a small rewrite with a real JavaScript parser covers the rest, which no run-time
hook can reach: reads of `location`, cross-origin `postMessage` targets, `import.meta`,
absolute imports, navigations a frame starts for its top window (`jsrewrite`).  The
timestamp travels in the host name because every other carrier is lost for some request
(cookies for credential-less fetches, the Referer under no-referrer policies, the path is
what pages read).  Rejected: a wombat-style wrapper (fragile, as above); `history
.replaceState` to a fake path (the document's real URL, hence relative URLs and reloads,
would point nowhere); a service worker per replay (it would outlive it, and still not fix
`location`).  pywb's URLs remain the way in: a navigation to one is sent on to its session
host; `id_` and other non-navigations are answered on the collection's host as before (curl,
scripts).  With one shared origin (`--shared-origin`, or a public address without a domain)
there are no session hosts and pages see pywb's URLs, apart from what the rewritten reads
of `location` map back.
"""

from warcache.replay.app import ReplayApp
from warcache.replay.server import RunningServer, make_app, serve, start_server

__all__ = ["ReplayApp", "RunningServer", "make_app", "open_capture", "serve", "start_server"]


def open_capture(*args, **kwargs):
    """See `warcache.replay.intercept.open_capture` (imported lazily: it needs Playwright)."""
    from warcache.replay.intercept import open_capture as _open

    return _open(*args, **kwargs)
