"""What warcache does to a loaded page, end to end with the real browser on a local site:
consent walls answered, "load more" and "read more" clicked, a user's behaviour script, media
played (a file served with byte ranges, an HLS stream), the page printed to PDF, trackers
blocked by an adblock list, and the page's video downloaded by yt-dlp (--media).

Two runs of the real `warcache add` against tests/behaviour_site.py: one with the options on,
one without them (the controls: a consent wall left alone keeps the page from scrolling).
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from behaviour_site import CMP_HOST, LOADMORE_PAGES, MARKERS, TRACKER_HOST, BehaviourSite
from conftest import run_cli
from hostile_site import cmdline
from warc_helpers import Rec, read_collection, warcio_check

from warcache.collection import Collection

pytestmark = [pytest.mark.browser]

PAGES = ["/consent.html", "/generic-consent.html", "/framed-consent.html", "/loadmore.html", "/behavior.html",
         "/video.html", "/hls.html", "/tracked.html"]

TABS_SCRIPT = """async (wc) => {
  if (!document.querySelector('#show-comments')) return 'not this page';
  await wc.click('#show-comments');
  await wc.waitForSelector('.comment', 5000);
  wc.log(`${document.querySelectorAll('.comment').length} comments`);
  await wc.waitForIdle();
  return 'opened the comments';
}
"""
FAILING_SCRIPT = "async (wc) => { await wc.click('#no-such-thing'); }\n"
#: A consent platform of the user's own, served in an iframe (the frame rule) on another host.
CONSENT_RULES = """
[[cmp]]
name = "Test CMP"
frame = "cmp.test"
detect = [".message"]
reject = ["button.reject"]
accept = ["button.accept"]
"""
BLOCK_LIST = """[Adblock Plus 2.0]
! a list of the usual shape: comments, a host anchor, an exception
||tracker.test^
@@||127.0.0.1^$document
"""


class Run:
    def __init__(self, site: BehaviourSite, root, coll: str, pages: list[str], *args: str) -> None:
        self.site, self.root = site, root
        self.urls = [site.url(p) for p in pages]
        site.clear()
        self.run = run_cli("add", "--json", "-c", coll, "--resolve", f"{TRACKER_HOST}:127.0.0.1",
                           "--resolve", f"{CMP_HOST}:127.0.0.1",
                           "--idle-timeout", "3", *args, *self.urls, root=root)
        self.received = list(site.received)
        self.results = {r["url"]: r for r in json.loads(self.run.stdout or "[]")}
        self.coll = Collection(root, coll)
        self.records = read_collection(self.coll.archive_dir)

    def page_record(self, path: str) -> dict:
        uri = "urn:warcache:page:" + self.site.url(path)
        found = [r for r in self.records if r.type == "metadata" and r.uri == uri]
        assert len(found) == 1, (uri, self.run.stderr)
        return json.loads(found[0].payload)

    def behaviour(self, path: str, name: str) -> dict:
        found = [b for b in self.page_record(path)["behaviours"] if b["name"].startswith(name)]
        assert len(found) == 1, self.page_record(path)["behaviours"]
        return found[0]

    def dom(self, path: str) -> str:
        uri = "urn:warcache:dom:" + self.site.url(path)
        return next(r for r in self.records if r.uri == uri).payload.decode()

    def asked(self, path: str, host: str | None = None) -> list:
        return [r for r in self.received if r.path == path and (host is None or r.host.split(":")[0] == host)]

    def responses(self, path: str) -> list[Rec]:
        return [r for r in self.records if r.type == "response" and r.uri == self.site.url(path)]


@pytest.fixture(scope="module")
def site():
    with BehaviourSite() as s:
        yield s


@pytest.fixture(scope="module")
def on(site, tmp_path_factory, browser_path) -> Run:
    files = tmp_path_factory.mktemp("behaviour-files")
    (files / "tabs.js").write_text(TABS_SCRIPT)
    (files / "trackers.txt").write_text(BLOCK_LIST)
    (files / "consent.toml").write_text(CONSENT_RULES)
    root = tmp_path_factory.mktemp("behaviours") / "root"
    return Run(site, root, "on", PAGES, "-j", "2", "--dismiss-consent", "--pdf",
               "--consent-rules", str(files / "consent.toml"),
               "--behavior", str(files / "tabs.js"), "--block-list", str(files / "trackers.txt"),
               "--block", "/ads/banner*")


@pytest.fixture(scope="module")
def off(site, on, tmp_path_factory) -> Run:
    files = tmp_path_factory.mktemp("behaviour-files-off")
    (files / "fails.js").write_text(FAILING_SCRIPT)
    return Run(site, on.root, "off", ["/consent.html", "/loadmore.html", "/video.html"],
               "--no-expand", "--media", "--behavior", str(files / "fails.js"))


def test_every_page_is_captured_with_its_behaviours_reported(on):
    assert on.run.code == 0 and "Traceback" not in on.run.stderr, on.run.stderr
    for url in on.urls:
        assert on.results[url]["ok"], on.results[url]
    for path in PAGES:
        names = [b["name"] for b in on.page_record(path)["behaviours"]]
        expected = ["dismiss-consent", "expand", "scroll", "play-media", "behavior tabs.js"]
        assert names == expected, (path, names)
        for b in on.page_record(path)["behaviours"]:
            assert b["did"] and 0 <= b["seconds"] < 30, b
    assert warcio_check(sorted(on.coll.archive_dir.glob("*.warc.gz"))).returncode == 0


def test_a_known_consent_platform_is_rejected_and_its_leftovers_hidden(on):
    did = on.behaviour("/consent.html", "dismiss-consent")["did"]
    assert "reject" in did and "OneTrust: #onetrust-reject-all-handler" in did, did
    assert "unlocked scrolling" in did and "hid" in did, did
    assert on.asked("/consent/answer?choice=reject") and not on.asked("/consent/answer?choice=accept")
    # The wall left a backdrop and a scroll lock behind: once they are gone, scrolling loads the
    # lazy part of the article, which is archived and in the rendered DOM.
    assert on.asked("/api/lazy.json?page=consent")
    dom = on.dom("/consent.html")
    assert MARKERS["consent_lazy"] in dom and MARKERS["consent_article"] in dom
    assert re.search(r'id="onetrust-consent-sdk"[^>]*display: none !important', dom), dom[:2000]


def test_a_dialog_of_no_known_platform_is_answered_by_its_button_text(on):
    did = on.behaviour("/generic-consent.html", "dismiss-consent")["did"]
    assert "'Alle ablehnen' (reject" in did and "unlocked scrolling" in did, did
    assert on.asked("/api/lazy.json?page=generic")
    assert MARKERS["generic_lazy"] in on.dom("/generic-consent.html")
    assert not on.asked("/privacy.html")  # the dialog's link was not followed


def test_a_dialog_in_an_iframe_is_answered_by_a_users_rule_and_its_container_hidden(on):
    did = on.behaviour("/framed-consent.html", "dismiss-consent")["did"]
    assert "'Reject' (reject, Test CMP: button.reject)" in did and "hid 1 overlay" in did, did
    assert on.asked("/consent/answer?choice=reject-in-frame", host=CMP_HOST)
    assert not on.asked("/consent/answer?choice=accept-in-frame", host=CMP_HOST)
    dom = on.dom("/framed-consent.html")
    assert re.search(r'id="sp_message_container_7"[^>]*display: none !important', dom), dom[:3000]


def test_without_the_option_the_wall_stays_and_the_page_cannot_scroll(off):
    assert off.run.code == 0, off.run.stderr
    names = [b["name"] for b in off.page_record("/consent.html")["behaviours"]]
    assert "dismiss-consent" not in names and "expand" not in names
    assert not off.asked("/consent/answer?choice=reject") and not off.asked("/api/lazy.json?page=consent")


def test_load_more_is_clicked_until_it_goes_and_read_more_once(on):
    did = on.behaviour("/loadmore.html", "expand")["did"]
    assert f"'load more' {LOADMORE_PAGES} times" in did and "'read more' once" in did, did
    assert "opened 1 <details>" in did
    for n in range(1, LOADMORE_PAGES + 1):
        assert len(on.asked(f"/api/items.json?page={n}")) == 1
    dom = on.dom("/loadmore.html")
    assert f"{MARKERS['loadmore']}{LOADMORE_PAGES} item 2" in dom and MARKERS["readmore"] in dom
    assert re.search(r"<details open", dom)
    # A "Read more" link to another page, and a form's submit button, are never clicked.
    assert not on.asked("/elsewhere.html") and not any(r.path.startswith("/submitted") for r in on.received)
    assert on.page_record("/loadmore.html")["final_url"] == on.site.url("/loadmore.html")


def test_expanded_text_is_searchable(on):
    run = run_cli("search", "--json", "-c", "on", MARKERS["readmore"], root=on.root)
    assert run.code == 0, run.stderr
    assert [r["url"] for r in json.loads(run.stdout)] == [on.site.url("/loadmore.html")]


def test_without_expanding_nothing_is_clicked(off):
    assert not off.asked("/api/items.json?page=1") and not off.asked("/api/rest.json")


def test_the_user_behaviour_runs_with_its_api_and_reports(on):
    b = on.behaviour("/behavior.html", "behavior tabs.js")
    assert "returned 'opened the comments'" in b["did"] and b["log"] == ["2 comments"], b
    assert len(on.asked("/api/comments.json")) == 1
    assert f"{MARKERS['behavior']} two" in on.dom("/behavior.html")
    assert on.responses("/api/comments.json")
    assert "returned 'not this page'" in on.behaviour("/video.html", "behavior tabs.js")["did"]


def test_a_failing_user_behaviour_is_a_warning_not_a_failure(off):
    result = off.results[off.site.url("/consent.html")]
    assert result["ok"]
    assert any("behavior fails.js failed" in w and "#no-such-thing" in w for w in result["warnings"]), result
    assert off.behaviour("/consent.html", "behavior fails.js")["did"].startswith("failed:")


def _assembled(run: Run, path: str) -> bytes:
    """The file as the archive holds it: whole responses, or the byte ranges of 206 pieces put
    together (every byte must be covered)."""
    data, covered = None, None
    for rec in run.responses(path):
        status = int(rec.head.split(b" ", 2)[1])
        if status == 200:
            return rec.content
        assert status == 206, rec.head
        match = re.search(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", rec.head, re.I)
        start, end, total = (int(g) for g in match.groups())
        if data is None:
            data, covered = bytearray(total), bytearray(total)
        data[start:end + 1] = rec.content
        covered[start:end + 1] = b"\x01" * (end + 1 - start)
    assert data is not None and all(covered), f"{path}: not archived whole"
    return bytes(data)


def test_media_served_with_ranges_is_played_and_archived_whole(on):
    did = on.behaviour("/video.html", "play-media")["did"]
    assert "played 2 media elements" in did and "clip.webm" in did and "tone.wav" in did, did
    for path in ("/media/clip.webm", "/media/tone.wav"):
        assert any(r.headers.get("Range", "").startswith("bytes=") for r in on.asked(path)), path
        assert _assembled(on, path) == on.site.media[path]


def test_an_hls_stream_is_played_and_its_manifest_and_segments_archived(on):
    did = on.behaviour("/hls.html", "play-media")["did"]
    assert "played 1 media element" in did and "index.m3u8" in did, did
    for path in ("/media/hls/index.m3u8", "/media/hls/seg0.ts", "/media/hls/seg1.ts"):
        assert _assembled(on, path) == on.site.media[path], path


def test_the_pdf_is_stored_listed_shown_and_served(on):
    url = on.site.url("/loadmore.html")
    pdfs = [r for r in on.records if r.type == "resource" and r.uri == "urn:warcache:pdf:" + url]
    assert len(pdfs) == 1 and pdfs[0].payload.startswith(b"%PDF-")
    assert pdfs[0].headers["Content-Type"] == "application/pdf"
    entry = next(e for e in on.coll.pages() if e.url == url)
    assert entry.span("pdf") == (pdfs[0].offset, entry.span("pdf")[1])
    show = run_cli("show", "-c", "on", url, root=on.root)
    where = f"{on.coll.archive_dir / entry.warc} at byte {pdfs[0].offset}"
    assert show.code == 0 and f"PDF          {where}" in show.stdout, show.stdout
    from werkzeug.test import Client

    from warcache.replay import make_app

    client = Client(make_app(on.root, ui_port=18080, replay_port=18081))
    listing = client.get("/on/", base_url="http://127.0.0.1:18080").get_data(as_text=True)
    href = f"/_warcache/pdf/on/{entry.warc}/{pdfs[0].offset}"
    assert f'href="{href}" download>PDF</a>' in listing
    served = client.get(href, base_url="http://127.0.0.1:18080")
    assert served.status_code == 200 and served.get_data() == pdfs[0].payload
    assert served.headers["Content-Disposition"].startswith("attachment")
    other = client.get(f"/_warcache/pdf/on/{entry.warc}/{entry.span('dom')[0]}",
                       base_url="http://127.0.0.1:18080")
    assert other.status_code == 404  # only PDF records are served there


def test_blocked_trackers_are_neither_fetched_nor_archived_and_are_listed(on):
    url = on.site.url("/tracked.html")
    assert not any(r.host.startswith(TRACKER_HOST) for r in on.received)
    assert not on.asked("/ads/banner.gif") and on.asked("/ads/ok.gif")
    assert not any(TRACKER_HOST in r.uri or "/ads/banner" in r.uri for r in on.records)
    record = on.page_record("/tracked.html")
    blocked = {on.site.tracker_url("/track.js"), on.site.tracker_url("/pixel.gif"),
               on.site.url("/ads/banner.gif")}
    assert set(record["blocked"]) == blocked and record["blocked_count"] == 3
    assert on.results[url]["blocked"] == 3
    line = next(ln for ln in on.run.stderr.splitlines() if f"ok 200 {url} " in ln)
    assert ", 3 blocked," in line, line


def test_warcinfo_names_the_behaviours_and_lists_but_not_their_content(on):
    info = next(r for r in on.records if r.type == "warcinfo").payload.decode()
    assert "dismiss-consent" in info and "behavior tabs.js" in info and "--block-list trackers.txt" in info
    assert "tracker.test^" not in info and "show-comments" not in info


def test_media_option_stores_what_yt_dlp_downloaded(off):
    url = off.site.url("/video.html")
    media = [r for r in off.records if r.type == "resource" and r.uri.startswith("urn:warcache:media:" + url)]
    payloads = sorted(r.payload for r in media)
    assert payloads == sorted([off.site.media["/media/clip.webm"], off.site.media["/media/tone.wav"]])
    infos = [r for r in off.records
             if r.type == "metadata" and r.uri.startswith("urn:warcache:media-info:" + url)]
    assert len(infos) == 2 and {i.headers["WARC-Refers-To"] for i in infos} == {m.id for m in media}
    assert all(json.loads(i.payload)["webpage_url"] == url for i in infos)
    listed = off.page_record("/video.html")["media"]
    assert {m["bytes"] for m in listed} == {len(p) for p in payloads}
    # yt-dlp talked to the fixture only (it runs with --ignore-config and the page's URL).
    assert off.site.hosts() <= {"127.0.0.1"}
    show = run_cli("show", "-c", "off", url, root=off.root)
    assert "    media        " in show.stdout, show.stdout


def test_a_rebuild_derives_the_same_page_list_with_pdf_and_media(on, off):
    for name in ("on", "off"):
        coll = Collection(on.root, name)
        before = sorted(e.to_line() for e in coll.pages())
        run = run_cli("index", "--rebuild", "-c", name, root=on.root)
        assert run.code == 0, run.stderr
        assert sorted(e.to_line() for e in coll.pages()) == before
    assert any("pdf" in e.records for e in Collection(on.root, "on").pages())
    assert any("media" in e.records for e in Collection(on.root, "off").pages())


def test_verify_accepts_the_new_records(on):
    run = run_cli("verify", "-c", "on", root=on.root)
    assert run.code == 0, run.stdout + run.stderr


@pytest.mark.parametrize("option, content, message", [
    ("--consent-rules", "[[cmp]]\nname = 'x'\nreject = 'oops'\n", "'reject' must be a list of CSS selectors"),
    ("--consent-rules", "[[cmp]\n", "not valid TOML"),
    ("--behavior", "", "is empty"),
    ("--block-list", None, "cannot read block list"),
])
def test_bad_behaviour_files_give_one_clear_line(tmp_path, option, content, message):
    path = tmp_path / "file"
    if content is not None:
        path.write_text(content)
    run = run_cli("add", option, str(path), "http://127.0.0.1:9/", root=tmp_path / "root")
    assert run.code == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (tmp_path / "root" / "collections").exists()


def test_a_media_download_over_media_timeout_is_stopped_and_the_page_kept(site, tmp_path):
    # The video comes a byte every 50 ms (17 KB: 14 minutes): only --media-timeout ends yt-dlp.
    url = site.url("/slow-video.html")
    start = time.monotonic()
    run = run_cli("add", "--json", "--media", "--media-timeout", "2", "--no-play", url, root=tmp_path)
    took = time.monotonic() - start
    assert run.code == 0, run.stderr
    [result] = json.loads(run.stdout)
    assert result["ok"] and "yt-dlp did not finish within 2 s" in " ".join(result["warnings"]), result
    assert took < 60, took
    assert site.requests_for("/media/slow.webm"), "yt-dlp never asked for the video"
    # yt-dlp was stopped at its bound: the download did not go on (it began after yt-dlp started).
    deadline = time.monotonic() + 5
    while not site.trickled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(site.trickled) == 1 and site.trickled[0] < 3, site.trickled
    records = read_collection(Collection(tmp_path, "default").archive_dir)
    assert not [r for r in records if r.uri.startswith(("urn:warcache:media:", "urn:warcache:media-info:"))]
    assert any(r.uri == "urn:warcache:dom:" + url for r in records)  # the page itself is archived
    still = [pid for pid in os.listdir("/proc") if pid.isdigit() and url in cmdline(int(pid))]
    assert still == [], "yt-dlp is still running"
