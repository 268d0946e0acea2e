"""Hostile pages: one `warcache add` run over pages that misbehave on purpose (tests/hostile_site.py).

What warcache promises for each: the capture ends within its time budget with one clear line (ok
with warnings, or FAILED with a reason), memory stays bounded, what was received is archived, and
every WARC stays valid. The run is shared by the tests below; each checks one promise.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from hostile_site import (
    CONTROL_TITLE,
    DOWNLOAD_BODY,
    DOWNLOAD_NAME,
    MALFORMED,
    MARKERS,
    HostileSite,
    run_watched,
)
from warc_helpers import read_collection, warcio_check

from warcache.capture.page import CaptureOptions
from warcache.collection import Collection
from warcache.index.postprocess import rebuild_collection

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sys.path.insert(0, str(REPO / "scripts"))
from chaos_kill import snapshot  # noqa: E402

MAX_RESOURCE = 64 << 20
OPTIONS = CaptureOptions(timeout=8, idle_timeout=2, scroll_timeout=4, max_scroll_steps=20)
BUDGET = OPTIONS.budget()  # the most one capture may take with the options below
ARGS = ["--timeout", "8", "--idle-timeout", "2", "--scroll-timeout", "4", "--max-scroll-steps", "20",
        "--max-resource-size", str(MAX_RESOURCE), "-j", "2"]
LONG_PATH = "/long/" + "a" * 30_000
PATHS = [
    "/longpoll.html", "/trickle.html", "/redirect-loop", "/self-redirect", "/endless-scroll.html",
    "/dialogs.html", "/dialogs-blocking.html", "/navaway.html", "/navaway-once.html", "/popups.html",
    "/ws.html", "/malformed.html", *(f"/malformed/{kind}" for kind in MALFORMED), "/control-title.html",
    LONG_PATH, "/download.html", "/download.txt", "/huge.bin?mb=400", "/huge.html?mb=300",
]
#: Characters no line printed for a person may carry (they would drive the terminal).
UNSAFE = [chr(c) for c in (*range(0, 9), *range(11, 32), *range(0x7F, 0xA0))] + ["\u202e"]


class HostileRun:
    def __init__(self, base: Path, site: HostileSite) -> None:
        self.site = site
        self.root = base / "root"
        self.home, self.work, self.tmp = base / "home", base / "work", base / "tmp"
        for d in (self.home, self.work, self.tmp):
            d.mkdir(parents=True)
        self.urls = [site.url(p) for p in PATHS]
        env = {**os.environ, "HOME": str(self.home), "TMPDIR": str(self.tmp)}
        env.pop("WARCACHE_ROOT", None)
        cmd = [sys.executable, "-m", "warcache", "--root", str(self.root), "add", "--no-check", "--json",
               *ARGS, *self.urls]
        self.run = run_watched(cmd, timeout=900, env=env, cwd=str(self.work))
        self.results = {r["url"]: r for r in json.loads(self.run.stdout or "[]")}
        self.archive = self.root / "collections" / "default" / "archive"
        self.records = read_collection(self.archive)

    def result(self, path: str) -> dict:
        return self.results[self.site.url(path)]

    def responses(self, path: str) -> list:
        url = self.site.url(path)
        return [r for r in self.records if r.type == "response" and r.uri == url]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, browser_path):
    with HostileSite() as site:
        yield HostileRun(tmp_path_factory.mktemp("hostile"), site)


def test_every_page_ends_within_its_budget_with_one_clear_line(hostile):
    assert "Traceback" not in hostile.run.stderr
    assert hostile.run.code == 1, hostile.run.stderr[-3000:]  # malformed pages and loops fail, see below
    assert sorted(hostile.results) == sorted(hostile.urls)
    lines = hostile.run.stderr.splitlines()
    for url, result in hostile.results.items():
        mine = [ln for ln in lines if ln.startswith("[") and f" {url}" in ln]
        assert len(mine) == 1, (url[:120], mine)
        assert (" ok " in mine[0]) == result["ok"] and ("FAILED" in mine[0]) != result["ok"]
        assert result["seconds"] < BUDGET, (url[:120], result)
        # Each page ended on one of its own bounds, never on the last-resort budget.
        assert not any("cut short" in w for w in result["warnings"]), (url[:120], result["warnings"])
    print(f"hostile run: {len(hostile.urls)} pages in {hostile.run.seconds:.0f} s, peak RSS "
          f"{hostile.run.peak_rss_mb:.0f} MiB; slowest " + ", ".join(
              f"{u.rsplit('/', 1)[-1][:30]} {r['seconds']:.0f} s" for u, r in sorted(
                  hostile.results.items(), key=lambda kv: -kv[1]["seconds"])[:4]))


def test_memory_stays_bounded_and_a_huge_body_is_cut_once(hostile):
    assert hostile.run.peak_rss_mb < 500, hostile.run.peak_rss_mb
    for path in ("/huge.bin?mb=400", "/huge.bin?mb=300"):
        records = hostile.responses(path)
        assert len(records) == 1, (path, len(records))  # the browser's retries were not recorded again
        assert records[0].headers.get("WARC-Truncated") == "length"
        assert len(records[0].payload) == MAX_RESOURCE
    assert hostile.result("/huge.bin?mb=400")["ok"]
    assert hostile.result("/huge.html?mb=300")["ok"]


def test_every_warc_is_valid_and_verify_is_clean(hostile):
    assert not list(hostile.archive.glob("*.open"))
    files = sorted(hostile.archive.glob("*.warc.gz"))
    assert files and warcio_check(files).returncode == 0
    verify = run_cli("verify", root=hostile.root)
    assert verify.code == 0, verify.stderr


def test_indexes_written_during_the_run_equal_a_clean_rebuild(hostile, tmp_path):
    """Cut bodies, malformed responses, loops: what capture indexed is what a rebuild derives."""
    copy = tmp_path / "copy"
    shutil.copytree(hostile.root, copy)
    rebuild_collection(Collection(copy, "default"))
    assert snapshot(copy) == snapshot(hostile.root)


def test_never_ending_requests_are_archived_as_far_as_they_went(hostile):
    longpoll = hostile.result("/longpoll.html")
    assert longpoll["ok"] and any("still busy" in w for w in longpoll["warnings"])
    ticks = [r for r in hostile.records if r.type in ("response", "revisit") and "/tick?" in r.uri]
    assert len(ticks) >= 10
    trickle = hostile.responses("/trickle.bin")
    assert len(trickle) == 1 and trickle[0].headers.get("WARC-Truncated")
    assert trickle[0].payload and set(trickle[0].payload) == {ord("x")}


@pytest.mark.parametrize("path", ["/redirect-loop", "/self-redirect"])
def test_redirect_loops_keep_the_hops_and_say_why_they_stopped(hostile, path):
    result = hostile.result(path)
    assert result["seconds"] < 15
    assert not result["ok"] and result["error"].startswith("redirect loop: the browser gave up after")
    assert result["warc"]  # failed, and still archived: the hops say what the site did
    hops = [r for r in hostile.records if r.type in ("response", "revisit") and path in r.uri]
    assert len(hops) >= 19


def test_scrolling_dialogs_navigation_and_popups_are_bounded(hostile):
    scroll = hostile.result("/endless-scroll.html")
    assert scroll["ok"] and any("stopped scrolling" in w for w in scroll["warnings"])
    dialogs = [r for r in hostile.records if r.type == "resource"
               and r.uri == "urn:warcache:dom:" + hostile.site.url("/dialogs.html")]
    assert dialogs and MARKERS["dialogs"].encode() in dialogs[0].payload
    stuck = hostile.result("/dialogs-blocking.html")
    assert stuck["ok"] and any("did not respond" in w for w in stuck["warnings"])
    once = hostile.result("/navaway-once.html")  # it moves on by script after load: followed
    assert once["ok"] and once["final_url"] == hostile.site.url("/landing.html")
    dom_uri = "urn:warcache:dom:" + hostile.site.url("/navaway-once.html")
    landing = [r for r in hostile.records if r.uri == dom_uri]
    assert landing and MARKERS["landing"].encode() in landing[0].payload
    restless = hostile.result("/navaway.html")  # it moves on every 150 ms, for ever
    assert restless["ok"] and any("kept navigating" in w for w in restless["warnings"])
    assert hostile.result("/popups.html")["ok"]
    assert hostile.site.hits["/popups.html"] > 3  # popups were opened, and each was closed again


def test_a_websocket_handshake_is_recorded_and_the_chatter_ends(hostile):
    result = hostile.result("/ws.html")
    assert result["ok"], result
    ws = hostile.responses("/ws")
    assert len(ws) == 1 and ws[0].head.startswith(b"HTTP/1.1 101 ")
    request = [r for r in hostile.records if r.type == "request" and r.uri == hostile.site.url("/ws")]
    assert request and b"Upgrade: websocket" in request[0].head
    assert hostile.site.counters["ws-frames"] > 5


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_responses_get_a_clear_status(hostile, kind):
    result = hostile.result(f"/malformed/{kind}")
    records = hostile.responses(f"/malformed/{kind}")
    if kind == "huge-head":
        assert not result["ok"] and "message head too large" in result["error"]
    elif kind == "empty":
        assert not result["ok"] and "closed the connection without answering" in result["error"]
    else:
        assert result["ok"], result
        assert records  # (malformed.html loads each kind again in a frame)
        for record in records:
            recorded = record.head + record.payload
            assert recorded == MALFORMED[kind][: len(recorded)]  # byte for byte, as far as it went
            assert MARKERS["malformed"].encode() in record.payload  # the body too, framing or not
    if kind in ("short-body", "bad-chunk"):
        assert all(r.headers.get("WARC-Truncated") == "disconnect" for r in records)
        assert any("arrived broken" in w for w in result["warnings"])
        assert result["seconds"] < 15  # not the navigation timeout twice over


def test_control_characters_are_archived_but_never_reach_the_terminal(hostile):
    result = hostile.result("/control-title.html")
    assert result["ok"] and MARKERS["control"] in result["title"] and "\x9b" in result["title"]
    listing = run_cli("list", root=hostile.root)
    search = run_cli("search", MARKERS["control"], root=hostile.root)
    show = run_cli("show", hostile.site.url("/control-title.html"), root=hostile.root)
    for out in (hostile.run.stderr, listing.stdout, listing.stderr, search.stdout, show.stdout):
        assert not [c for c in UNSAFE if c in out], [hex(ord(c)) for c in UNSAFE if c in out]
    assert "vicunacontrol" in search.stdout and "\ufffd" in listing.stdout
    assert len(CONTROL_TITLE) > 100_000


def test_a_30_kb_url_is_captured_indexed_and_found(hostile):
    assert hostile.result(LONG_PATH)["ok"]
    search = run_cli("search", "--json", MARKERS["long_url"], root=hostile.root)
    assert search.code == 0 and [h["url"] for h in search.json()] == [hostile.site.url(LONG_PATH)]


def test_downloads_are_archived_and_never_land_outside_the_browser_profile(hostile):
    for path in ("/download.txt", "/download.html"):
        assert hostile.result(path)["ok"]
    bodies = hostile.responses("/download.txt")
    assert bodies and all(r.payload == DOWNLOAD_BODY for r in bodies)
    marker = MARKERS["download"].encode()
    leaked = []
    for top in (hostile.home, hostile.work, hostile.tmp):
        for path in top.rglob("*"):
            if path.is_file() and (path.name == DOWNLOAD_NAME or marker in path.read_bytes()):
                leaked.append(path)
    assert leaked == []
    assert not list(hostile.tmp.iterdir()), list(hostile.tmp.iterdir())  # the temporary profile is gone
    assert not list(hostile.work.iterdir())  # nothing written where the command was run
