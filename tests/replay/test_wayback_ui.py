"""The personal wayback machine in a real browser: the replay banner, the calendar, tags.

The session's shared capture of the fixture site (two captures of /final.html in collection
default) is served by a real replay server; Chromium opens the listing origin's pages.  With
WARCACHE_UPDATE_DOCS=1 the screenshots land in docs/ for the README (look at them before
committing them); otherwise in the test's own directory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from warcache.chromium import find_browser, launch_args
from warcache.replay import start_server

pytestmark = [pytest.mark.browser]

DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def root(shared_capture, tmp_path_factory):
    from conftest import run_cli as cli

    assert shared_capture.run.code == 0, shared_capture.run.stderr
    root = shared_capture.copy(tmp_path_factory.mktemp("wayback"))
    # A third capture of /final.html, tagged below, so that the timeline has a previous and a next.
    run = cli("add", "--recapture", "-c", "default", shared_capture.site.url("/final.html"), root=root)
    assert run.code == 0, run.stderr
    run = cli("tag", shared_capture.site.url("/final.html"), "reading", "--note", "the end of the chain",
              "-c", "default", root=root)
    assert run.code == 0, run.stderr
    return root


@pytest.fixture(scope="module")
def server(root):
    from warcache.manage.browser_add import diff_function

    with start_server(root, differ=diff_function(root)) as running:
        yield running


@pytest.fixture
def page():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_browser().executable, args=launch_args())
        context = browser.new_context(viewport=VIEWPORT)
        yield context.new_page()
        browser.close()


def _captures(root: Path, url: str) -> list[str]:
    from warcache.collection import Collection

    return sorted({e.timestamp for e in Collection(root, "default").pages() if e.url == url})


def _wait_live(page, url: str, timeout: float = 15) -> None:
    """Wait for the bar to show `url` (polled from here: the listing's policy forbids the
    string evaluation Playwright's wait_for_function would use in the page)."""
    deadline = time.monotonic() + timeout
    while page.locator("#wb-live").inner_text() != url:
        assert time.monotonic() < deadline, page.locator("#wb-live").inner_text()
        time.sleep(0.2)


def _shot(page, name: str, tmp_path: Path) -> None:
    """A screenshot for the README: into docs/ when WARCACHE_UPDATE_DOCS is set (then look at
    it before committing it), else into the test's directory."""
    path = (DOCS if os.environ.get("WARCACHE_UPDATE_DOCS") else tmp_path) / name
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def test_banner_frames_the_replay_and_follows_its_navigations(server, root, shared_capture, page, tmp_path):
    site = shared_capture.site
    final = site.url("/final.html")
    stamps = _captures(root, final)
    first, second = stamps[-2:]
    earlier = f"/default/{stamps[-3]}/{final}" if len(stamps) > 2 else None
    page.goto(f"{server.ui_url}default/{first}/{final}")
    frame = page.frame_locator("#wb-frame")
    frame.locator("body").wait_for()
    assert "badgerfinal" in frame.locator("body").inner_text(timeout=10000)
    assert page.locator("#wb-live").inner_text() == final
    assert page.locator("#wb-live").get_attribute("href") == final
    assert page.locator("#wb-when").inner_text().startswith(f"{first[:4]}-{first[4:6]}-{first[6:8]}")
    assert page.locator("#wb-prev").get_attribute("href") == earlier
    assert page.locator("#wb-next").get_attribute("href") == f"/default/{second}/{final}"
    assert page.locator("#wb-calendar").get_attribute("href") == f"/default/*/{final}"
    # The banner takes its own strip: the replayed page has the rest of the window as its viewport.
    box = page.locator("#wb-frame").bounding_box()
    assert box["y"] == 44 and box["height"] == VIEWPORT["height"] - 44
    inner = page.frames[1]
    assert inner.evaluate("[innerWidth, innerHeight]") == [VIEWPORT["width"], VIEWPORT["height"] - 44]
    assert urlsplit(inner.url).hostname.endswith(".default.localhost")
    _shot(page, "wayback-banner.png", tmp_path)

    # Next: the view of the second capture.
    page.locator("#wb-next").click()
    page.wait_for_url(f"**/default/{second}/**")
    assert page.locator("#wb-prev").get_attribute("href") == f"/default/{first}/{final}"

    # A navigation inside the frame (to another archived page): the bar follows it, by the
    # replay client's message, and the address bar too.
    home = site.url("/")
    inner = page.frames[1]
    inner.evaluate("location.href = '/'")
    _wait_live(page, home)
    assert page.url.endswith(f"/{home}") and "/default/" in page.url
    assert page.locator("#wb-calendar").get_attribute("href") == f"/default/*/{home}"
    # A page that changes its own URL (a client-side router): the bar follows that too.
    page.frames[1].evaluate("history.pushState(null, '', '/route?x=1')")
    routed = site.url("/route?x=1")
    _wait_live(page, routed)

    # A framebusting page stays in the archive: the sandbox refuses to navigate the top window.
    page.frames[1].evaluate("try { top.location.href = 'http://127.0.0.1:9/'; } catch (e) {}")
    page.wait_for_timeout(500)
    assert page.url.startswith(server.ui_url)


def test_banner_ignores_messages_from_other_windows_and_origins(server, root, shared_capture, page):
    final = shared_capture.site.url("/final.html")
    first = _captures(root, final)[0]
    page.goto(f"{server.ui_url}default/{first}/{final}")
    page.frame_locator("#wb-frame").locator("body").wait_for()
    page.wait_for_timeout(300)
    before = page.locator("#wb-live").inner_text()
    # The listing page posting to itself (not the frame's window), and the replayed page
    # posting nonsense: the bar shows the same capture, and markup never becomes markup.
    page.evaluate("""() => window.postMessage({warcache: 'shown', url: 'https://evil.example/<b>x</b>',
                                               ts: '20200101000000', title: 't'}, '*')""")
    page.frames[1].evaluate("""() => { parent.postMessage({warcache: 'shown', url: 'javascript:alert(1)',
                                        ts: '20200101000000'}, '*');
                                       parent.postMessage({warcache: 'shown', url: 'https://a.example/',
                                        ts: 'x'}, '*'); }""")
    page.wait_for_timeout(800)
    assert page.locator("#wb-live").inner_text() == before
    assert page.locator("#wb-bar b").count() == 0


def test_calendar_shows_captures_by_month_with_thumbnails(server, root, shared_capture, page, tmp_path):
    final = shared_capture.site.url("/final.html")
    stamps = _captures(root, final)
    page.goto(f"{server.ui_url}default/*/{final}")
    cells = page.locator("ul.cal li")
    assert cells.count() == len(stamps) >= 2
    month = page.locator("h3").first.inner_text()
    assert stamps[0][:4] in month
    images = page.locator("ul.cal img")
    assert images.count() == len(stamps)
    deadline = time.monotonic() + 10
    loaded = "i => i.complete && i.naturalWidth > 0"
    while not all(images.nth(i).evaluate(loaded) for i in range(images.count())):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert page.locator("a.tag").first.inner_text() == "#reading"
    hrefs = [cells.nth(i).locator("div a").first.get_attribute("href") for i in range(cells.count())]
    assert sorted(hrefs) == sorted(f"/default/{ts}/{final}" for ts in stamps)
    _shot(page, "wayback-calendar.png", tmp_path)
    # Each capture after the first links to what changed since the one before (`warcache diff`).
    diffs = page.locator("a.diff")
    assert diffs.count() == len(stamps) - 1
    diffs.first.click()
    page.wait_for_url("**/_warcache/diff/default?**")
    assert page.locator("h1").inner_text() == "Changes to"
    assert page.locator("p.summary").inner_text() == "The article text did not change."
    assert "badgerfinal" in page.locator("article.diff").inner_text()
    page.go_back()
    cells.first.locator("a.shot").click()
    page.wait_for_url("**/default/20*/**")
    assert page.locator("#wb-frame").count() == 1


def test_pages_list_shows_tags_and_filters_by_them(server, shared_capture, page):
    page.goto(f"{server.ui_url}default/")
    assert "#reading" in page.locator("nav.tags").inner_text()
    page.locator("nav.tags a.tag").first.click()
    page.wait_for_url("**/default/?q=tag*")
    titles = page.locator("ul.pages li h2").all_inner_texts()
    assert titles and all(t == "Final page" for t in titles)
    assert page.locator("ul.pages .note").first.inner_text() == "the end of the chain"
