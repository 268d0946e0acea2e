"""Pages that navigate after they have loaded: the capture follows them to the end.

A page sends itself by script to https on a plain-HTTP port, to a host that does not resolve, and to
a working second page, and one moves on by a meta refresh. The failed ones are FAILED with their
reason, archived as evidence but never taken for pages (no page entry, no search hit, no export, no
DOM of warcache's own error text), and remembered for `warcache retry`. The ones that worked are
captured under the URL they ended at, with every hop recorded. A rebuild derives the same indexes.
"""

from __future__ import annotations

import json
import shutil
import sys
from urllib.parse import quote

import pytest
from conftest import REPO, run_cli
from hostile_site import MARKERS, HostileSite
from warc_helpers import read_collection, warcio_check

from warcache.collection import Collection
from warcache.index.postprocess import rebuild_collection

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sys.path.insert(0, str(REPO / "scripts"))
from chaos_kill import snapshot  # noqa: E402


class NavigationRun:
    def __init__(self, site: HostileSite, root) -> None:
        port = site.origin.rsplit(":", 1)[1]
        self.site, self.root = site, root
        self.landing = site.url("/landing.html")
        self.to_https = f"https://127.0.0.1:{port}/landing.html"  # TLS to a plain-HTTP port
        self.to_nowhere = "http://nohost.invalid/article"  # .invalid: the proxy asks no resolver
        self.urls = {
            "https": site.url("/nav-script.html?to=" + quote(self.to_https, safe="")),
            "dns": site.url("/nav-script.html?to=" + quote(self.to_nowhere, safe="")),
            "works": site.url("/nav-script.html?to=/landing.html"),
            "meta": site.url("/nav-meta.html?to=/landing.html"),
        }
        self.run = run_cli("add", "--json", "--timeout", "8", "--idle-timeout", "2", "-j", "2",
                           *self.urls.values(), root=root)
        self.results = {r["url"]: r for r in json.loads(self.run.stdout or "[]")}
        self.coll = Collection(root, "default")
        self.records = read_collection(self.coll.archive_dir)

    def result(self, key: str) -> dict:
        return self.results[self.urls[key]]

    def page_record(self, key: str) -> dict:
        uri = "urn:warcache:page:" + self.urls[key]
        found = [r for r in self.records if r.type == "metadata" and r.uri == uri]
        assert len(found) == 1, uri
        return json.loads(found[0].payload)


@pytest.fixture(scope="module")
def nav(tmp_path_factory, browser_path):
    with HostileSite() as site:
        yield NavigationRun(site, tmp_path_factory.mktemp("navigation") / "root")


def test_navigations_that_fail_are_failures_with_their_reason(nav):
    assert nav.run.code == 1 and "Traceback" not in nav.run.stderr
    lines = nav.run.stderr.splitlines()
    expected = {
        "https": f"after loading, the page went by script to {nav.to_https}, which failed: "
                 "TLS handshake with 127.0.0.1 failed",
        "dns": f"after loading, the page went by script to {nav.to_nowhere}, which failed: "
               "DNS lookup failed for nohost.invalid",
    }
    for key, reason in expected.items():
        result = nav.result(key)
        assert not result["ok"] and result["error"].startswith(reason), result
        mine = [ln for ln in lines if ln.startswith("[") and nav.urls[key] in ln]
        assert len(mine) == 1 and mine[0].endswith(f"] FAILED {nav.urls[key]}: {result['error']}"), mine
    failures = [json.loads(line) for line in nav.coll.failures_path.read_text().splitlines()]
    assert sorted(f["url"] for f in failures) == sorted([nav.urls["https"], nav.urls["dns"]])
    assert "2 of 4 captured" in nav.run.stderr


def test_a_page_that_moves_on_is_captured_under_its_final_url(nav):
    for key, by in (("works", "script"), ("meta", "meta-refresh")):
        result = nav.result(key)
        assert result["ok"] and result["status"] == 200 and result["final_url"] == nav.landing, result
        assert f"ok 200 {nav.urls[key]} -> {nav.landing} " in nav.run.stderr
        info = nav.page_record(key)
        assert info["ok"] is True and info["final_url"] == nav.landing and info["status"] == 200
        assert info["navigations"] == [{"url": nav.urls[key], "by": "request", "status": 200},
                                       {"url": nav.landing, "by": by, "status": 200}]
        dom = [r for r in nav.records if r.uri == "urn:warcache:dom:" + nav.urls[key]]
        assert len(dom) == 1 and MARKERS["landing"].encode() in dom[0].payload
        # the DOM record is tied to the response of the document it is the rendering of
        landing = [r for r in nav.records if r.type in ("response", "revisit") and r.uri == nav.landing]
        assert dom[0].headers["WARC-Concurrent-To"] in {r.headers["WARC-Record-ID"] for r in landing}
        # every hop is archived
        assert any(r.type == "response" and r.uri == nav.urls[key] for r in nav.records)
    search = run_cli("search", "--json", MARKERS["landing"], root=nav.root)
    assert sorted(h["url"] for h in search.json()) == sorted([nav.urls["works"], nav.urls["meta"]])


def test_a_failed_navigation_is_archived_as_evidence_but_never_taken_for_the_page(nav):
    for key, where in (("https", nav.to_https), ("dns", nav.to_nowhere)):
        info = nav.page_record(key)
        assert info["ok"] is False and info["error"] == nav.result(key)["error"]
        assert info["navigations"][0] == {"url": nav.urls[key], "by": "request", "status": 200}
        assert info["navigations"][-1]["url"] == where and info["navigations"][-1]["by"] == "script"
        assert info["navigations"][-1]["status"] is None and info["navigations"][-1]["error"]
        # the first document is archived; no DOM or screenshot of warcache's error text is
        assert any(r.type == "response" and r.uri == nav.urls[key] for r in nav.records)
        assert not [r for r in nav.records if r.type == "resource" and r.uri.endswith(nav.urls[key])]
    for record in nav.records:
        assert b"warcache: TLS" not in record.payload and b"warcache: DNS" not in record.payload, record.uri
    listed = {entry.url for entry in nav.coll.pages()}
    assert listed == {nav.urls["works"], nav.urls["meta"]}
    for words in ("handshake", "lookup", "warcache"):
        assert run_cli("search", "--json", words, root=nav.root).json() == []
    site = nav.root.parent / "site"
    export = run_cli("export", "cache", str(site), root=nav.root)
    assert export.code == 0, export.stderr
    exported = [p.read_text() for p in site.rglob("index.md")]
    assert len(exported) == 2 and all(MARKERS["landing"] in text for text in exported)


def test_the_archive_is_valid_and_a_rebuild_derives_the_same_indexes(nav, tmp_path):
    files = sorted(nav.coll.archive_dir.glob("*.warc.gz"))
    assert files and warcio_check(files).returncode == 0
    verify = run_cli("verify", root=nav.root)
    assert verify.code == 0, verify.stdout + verify.stderr
    copy = tmp_path / "copy"
    shutil.copytree(nav.root, copy)
    rebuild_collection(Collection(copy, "default"))
    assert snapshot(copy) == snapshot(nav.root)
    assert len(snapshot(copy)["pages"]) == 2
