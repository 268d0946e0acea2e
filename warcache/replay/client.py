"""The script replay puts into archived pages and workers (static/*.js), and what configures it.

The bundle (pin.js, core.js, client.js) pins Date and Math.random to the capture and maps the
URLs a page builds at run time into the archive; it is served at `/_warcache/static/client.js`
under a version derived from its content, so browsers may cache it for good.  A replayed
document gets the script tag at its top (`ClientScript.head`), and on a shared origin an import
map too (root-relative module specifiers would leave the archive there; on a session host they
resolve natively); a replayed worker gets the same code prepended, with worker.js instead of
client.js.  `warcache open` needs only the clock pinning (`pin_script`).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from warcache import timestamps
from warcache.replay import ui
from warcache.replay.headers import text_response

STATIC_DIR = Path(__file__).with_name("static")


def _read_static(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def client_bundle() -> str:
    """The script injected into replayed pages (clock pinning, URL mapping, the client)."""
    return "\n".join(_read_static(n) for n in ("pin.js", "core.js", "client.js"))


def pin_script(time_ms: int, seed: int) -> str:
    """A script that pins Date and Math.random (used by `warcache open` as an init script)."""
    return _read_static("pin.js") + f"\nself.__warcachePin({time_ms}, {seed}); delete self.__warcachePin;\n"


def seed_for(url: str, timestamp: str) -> int:
    """The Math.random seed of a capture: the same at every replay of it, never 0."""
    return zlib.crc32(f"{timestamp} {url}".encode()) or 1


class ClientScript:
    """The client scripts, read once when the server starts."""

    def __init__(self) -> None:
        self.bundle = client_bundle().encode("utf-8")
        self.version = hashlib.sha1(self.bundle).hexdigest()[:12]
        self.banner = _read_static("banner.js").encode("utf-8")
        self.banner_path = f"/_warcache/ui/banner.js?v={hashlib.sha1(self.banner).hexdigest()[:12]}"
        self.worker_prefix = "\n".join(_read_static(n) for n in ("pin.js", "core.js", "worker.js"))

    def response(self, name: str) -> Response:
        """`/_warcache/static/<name>`: the bundle (whatever `?v=`), nothing else."""
        if name.split("?", 1)[0] != "client.js":
            return text_response("not found\n", 404)
        return self._script(self.bundle)

    def banner_response(self) -> Response:
        """The banner's own script, for the listing origin (`timeline`)."""
        return self._script(self.banner)

    @staticmethod
    def _script(body: bytes) -> Response:
        response = Response(body, 200, content_type="text/javascript; charset=utf-8")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @staticmethod
    def config(coll: str, stamp: str, url: str, suffix: str | None = None, csp: str | None = None,
               banner: list[str] | None = None) -> str:
        """The client's settings for a replayed `url` of `coll` at `stamp`, as JSON.  `suffix`
        (`<collection label>.<domain>`) says the page is on a session host (see `origins`)."""
        cfg: dict[str, object] = {
            "coll": coll,
            "ts": stamp,
            "url": url,
            "time": timestamps.to_ms(stamp),
            "seed": seed_for(url, stamp),
            "mode": "host" if suffix else "path",
        }
        if suffix:
            cfg["suffix"] = suffix
        if csp:
            cfg["csp"] = csp
        if banner:
            cfg["banner"] = banner  # the listing origin, whose framed view shows a banner
        return json.dumps(cfg, ensure_ascii=True)

    def head(self, coll: str, stamp: str, url: str, suffix: str | None = None,
             banner: list[str] | None = None) -> str:
        """What goes at the top of a replayed document: the client's script tag and, on a
        shared origin, the import map (root-relative and absolute module specifiers into the
        archive)."""
        cfg = self.config(coll, stamp, url, suffix, banner=banner)
        tag = f'<script src="/_warcache/static/client.js?v={self.version}" data-wc="{ui.h(cfg)}"></script>'
        if suffix:
            return tag
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        prefix = f"/{coll}/{stamp}"
        imports = {
            "/": f"{prefix}/{origin}/",
            f"/{coll}/": f"/{coll}/",
            "/_warcache/": "/_warcache/",
            "http://": f"{prefix}/http://",
            "https://": f"{prefix}/https://",
        }
        importmap = json.dumps({"imports": imports}, ensure_ascii=True).replace("</", "<\\/")
        return f'<script type="importmap" data-warcache="">{importmap}</script>{tag}'

    def worker(self, coll: str, stamp: str, url: str, body: bytes, suffix: str | None = None,
               csp: str | None = None) -> bytes:
        """An archived worker script with the client in front of it (`csp`: the policy a
        service worker gives the pages it makes up, see worker.js)."""
        cfg = self.config(coll, stamp, url, suffix, csp)
        return (f"self.__warcacheCfg = {cfg};\n{self.worker_prefix}\n").encode() + body
