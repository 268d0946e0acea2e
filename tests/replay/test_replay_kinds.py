"""Pages that ask for what was never archived exactly, replayed offline in a real browser.

The kinds site (tests/kinds_site.py) has one page per kind: volatile URLs and POST bodies,
JSONP with run-time callback names, responsive images, media played and seeked, scripts with
`integrity`.  Each is visited live (at device pixel ratio 1 and 2), captured with the real CLI
(`default`), and the image and media pages captured again the way warcache captured before it
fetched image candidates and whole files (`old`); then the site is stopped and every page is
replayed with the replay server and with `warcache open`.  A page must show what it showed
live, with no request going anywhere but the replay server (`open`: nothing refused).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import run_cli
from kinds_site import DONE, OUT, PAGES, KindsSite
from PIL import Image, ImageChops
from playwright.sync_api import sync_playwright
from warcio.archiveiterator import ArchiveIterator

from warcache.capture.page import CaptureOptions
from warcache.capture.run import run_captures
from warcache.chromium import find_browser, launch_args
from warcache.collection import open_collection
from warcache.replay import start_server
from warcache.replay.intercept import offline_page

pytestmark = [pytest.mark.browser]

VIEWPORT = {"width": 1000, "height": 700}
OLD_PAGES = ("/images.html", "/media.html")
MAX_DIFFERENT = 0.002


def _differing(a: bytes, b: bytes) -> float:
    one, two = Image.open(io.BytesIO(a)).convert("RGB"), Image.open(io.BytesIO(b)).convert("RGB")
    assert one.size == two.size
    diff = ImageChops.difference(one, two).convert("L").point(lambda v: 255 if v > 24 else 0)
    return diff.histogram()[255] / (one.size[0] * one.size[1])


#: The requests each page makes that can only be answered fuzzily (`/api/since?from=<seconds>`
#: is left out: replayed within the second of the capture, its URL is the archived one).
NOTED = {
    "/volatile.html": {"/api/busted.json", "/api/random.json", "/api/items", "/api/clock", "/api/search",
                       "/api/post", "/api/form"},
    "/jsonp.html": {"/api/jsonp", "/api/jsonp-guarded"},
}


def _noted(notes: list[str]) -> set[str]:
    """The paths of the `fuzzy: <asked> -> <archived>` lines whose two URLs share their path."""
    paths = set()
    for note in notes:
        asked, _, archived = note.removeprefix("fuzzy: ").partition(" -> ")
        ask, got = re.search(r"https?://\S+", asked), re.search(r"https?://\S+", archived)
        if ask and got and urlsplit(ask.group()).path == urlsplit(got.group()).path:
            paths.add(urlsplit(ask.group()).path)
    return paths


def _show(page, url: str) -> tuple[str, bytes]:
    """Load `url`, click (media may play only after a click), wait until the page is done."""
    page.goto(url)
    page.click("h1")
    page.wait_for_function(DONE, timeout=30000)
    page.wait_for_timeout(200)
    return page.evaluate(OUT), page.screenshot(full_page=True)


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """(root, {path: url}, live {(path, dpr): (text, screenshot)}); the site is stopped."""
    site = KindsSite().start()
    try:
        urls = {path: site.url(path) for path in PAGES}
        live = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_browser().executable, args=launch_args())
            for dpr in (1, 2):
                context = browser.new_context(viewport=VIEWPORT, device_scale_factor=dpr)
                page = context.new_page()
                for path in PAGES if dpr == 1 else ("/images.html",):
                    live[path, dpr] = _show(page, urls[path])
                context.close()
            browser.close()
        root = tmp_path_factory.mktemp("kinds")
        run = run_cli("add", *urls.values(), root=root)
        assert run.code == 0, run.stderr
        old = run_captures(
            open_collection(root, "old", create=True),
            CaptureOptions(fetch_extras=False),
            [urls[p] for p in OLD_PAGES],
            max_warc_size=1 << 30,
        )
        assert old.ok, [r.error for r in old.results]
    finally:
        site.stop()
    for path in PAGES:
        assert "BROKEN" not in live[path, 1][0] and "failed" not in live[path, 1][0], live[path, 1][0]
    return root, urls, live


@pytest.fixture(scope="module")
def server(kinds):
    with start_server(kinds[0]) as running:
        yield running


def _replay_server(server, coll: str, url: str, dpr: float = 1) -> tuple[str, bytes, list[str], list]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser().executable, args=launch_args())
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=dpr)
        context.add_init_script(
            "window.__violations = []; document.addEventListener("
            "'securitypolicyviolation', (e) => window.__violations.push(e.blockedURI));"
        )
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        page = context.new_page()
        text, shot = _show(page, f"{server.replay_url_for(coll)}{coll}/{url}")
        violations = page.evaluate("window.__violations")
        browser.close()
    # The collection's host, its session hosts (`<origin>.<ts>h<port>.<coll>.localhost`), the listing.
    replay = urlsplit(server.replay_url_for(coll)).netloc
    allowed = {replay, urlsplit(server.ui_url).netloc}
    strays = [
        u
        for u in requests
        if urlsplit(u).scheme in ("http", "https", "ws", "wss")
        and urlsplit(u).netloc not in allowed
        and not urlsplit(u).netloc.endswith("." + replay)
    ]
    return text, shot, strays, violations


def _open(root: Path, coll: str, url: str, dpr: float = 1):
    async def run():
        async with offline_page(
            root, url, collection=coll, viewport=(VIEWPORT["width"], VIEWPORT["height"]), scale=dpr
        ) as shown:
            await shown.page.click("h1")
            await shown.page.wait_for_function(DONE, timeout=30000)
            await shown.page.wait_for_timeout(200)
            text = await shown.page.evaluate(OUT)
            shot = await shown.page.screenshot(full_page=True)
            return text, shot, shown.result

    return asyncio.run(run())


# ---------------------------------------------------------------------------------------
# Every kind, both modes
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PAGES)
def test_server_replays_each_kind_as_it_was_live(kinds, server, path, caplog):
    root, urls, live = kinds
    with caplog.at_level(logging.INFO, logger="warcache.replay"):
        text, _, strays, violations = _replay_server(server, "default", urls[path])
    assert text == live[path, 1][0]
    assert strays == [] and violations == []
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fuzzy: ")]
    if path in ("/volatile.html", "/jsonp.html"):
        # One log line per request that was answered by another capture, naming both.
        assert _noted(notes) >= NOTED[path], notes
    if path == "/volatile.html":
        assert any("page=2" in n.split(" -> ")[0] and "page=2" in n.split(" -> ")[1] for n in notes)


@pytest.mark.parametrize("path", PAGES)
def test_open_replays_each_kind_as_it_was_live(kinds, path):
    root, urls, live = kinds
    text, _, result = _open(root, "default", urls[path])
    assert text == live[path, 1][0]
    assert result.refused == []
    if path in ("/volatile.html", "/jsonp.html"):
        assert _noted(result.fuzzy) >= NOTED[path], result.fuzzy


# ---------------------------------------------------------------------------------------
# Responsive images at another pixel density, media from pieces: new and old captures
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("coll", ["default", "old"])
def test_server_shows_the_image_page_at_dpr_2(kinds, server, coll, caplog):
    root, urls, live = kinds
    with caplog.at_level(logging.INFO, logger="warcache.replay"):
        text, shot, strays, violations = _replay_server(server, coll, urls["/images.html"], dpr=2)
    assert text == live["/images.html", 2][0]
    assert _differing(shot, live["/images.html", 2][1]) < MAX_DIFFERENT
    assert strays == [] and violations == []
    notes = [r.getMessage() for r in caplog.records if "image set" in r.getMessage()]
    if coll == "default":
        assert notes == []  # every candidate up to 3x was captured: exact answers
    else:
        assert len(notes) == 5, notes  # each 2x answered with its archived 1x


@pytest.mark.parametrize("coll", ["default", "old"])
def test_open_shows_the_image_page_at_dpr_2(kinds, coll):
    root, urls, live = kinds
    text, shot, result = _open(root, coll, urls["/images.html"], dpr=2)
    assert text == live["/images.html", 2][0]
    assert _differing(shot, live["/images.html", 2][1]) < MAX_DIFFERENT
    assert result.refused == []
    assert len([n for n in result.fuzzy if "image set" in n]) == (0 if coll == "default" else 5)


def test_media_of_an_old_capture_plays_from_its_pieces(kinds, server):
    """Captured before whole files were fetched: only the 206 pieces the player asked for."""
    root, urls, live = kinds
    text, _, strays, _ = _replay_server(server, "old", urls["/media.html"])
    assert text == live["/media.html", 1][0]
    assert strays == []
    text, _, result = _open(root, "old", urls["/media.html"])
    assert text == live["/media.html", 1][0]
    assert result.refused == []


def test_wacz_index_leaves_out_the_pieces_of_whole_files(kinds, tmp_path):
    """ReplayWeb.page answers 404 for a URL with 206 lines in the index, even when the whole
    file is there too: such pieces stay in the WARCs but not in the package's index."""
    root, urls, _ = kinds
    statuses = {}
    for coll in ("default", "old"):
        dest = tmp_path / f"{coll}.wacz"
        assert run_cli("export", "wacz", "-c", coll, str(dest), root=root).code == 0
        with zipfile.ZipFile(dest) as zf:
            index = zf.read("indexes/index.cdxj").decode().splitlines()
            records = [r.rec_headers.get_header("WARC-Target-URI") for name in zf.namelist()
                       if name.startswith("archive/") for r in ArchiveIterator(io.BytesIO(zf.read(name)))
                       if r.rec_type == "response"]
        tone = [json.loads(ln.split(" ", 2)[2]) for ln in index if "/media/tone.wav " in ln]
        statuses[coll] = sorted({t["status"] for t in tone})
        assert records.count(urls["/media.html"].replace("media.html", "media/tone.wav")) >= 4
    assert statuses == {"default": ["200"], "old": ["206"]}


def test_open_command_reports_what_it_matched_fuzzily(kinds, tmp_path):
    root, urls, _ = kinds
    run = run_cli("open", urls["/jsonp.html"], "--screenshot", str(tmp_path / "j.png"), root=root)
    assert run.code == 0, run.stderr
    notes = [ln.strip() for ln in run.stderr.splitlines() if ln.strip().startswith("fuzzy: ")]
    assert len(notes) == 4, run.stderr
    assert all("callback=" in n.split(" -> ")[0] and "callback=" in n.split(" -> ")[1] for n in notes)
