"""The listing origin's wayback pages in-process: the banner's view and data, the calendar, the
diff page, all escaped (archived titles and text are attacker-controlled)."""

from __future__ import annotations

import json

from conftest import run_cli
from warc_helpers import write_responses
from werkzeug.test import Client

from warcache.replay import make_app

UI = "http://localhost:18080"
NAV = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
URL = "https://a.example/one"
XSS = "<img src=x onerror=alert(1)>"


def _root(tmp_path):
    body = f"<html><head><title>{XSS}</title></head><body><p>text</p></body></html>".encode()
    a = write_responses(tmp_path / "a.warc.gz", [(URL, body, [("Content-Type", "text/html")])],
                        date="2024-05-17T10:00:00Z")
    b = write_responses(tmp_path / "b.warc.gz", [(URL, body, [("Content-Type", "text/html")])],
                        date="2025-02-03T10:00:00Z")
    root = tmp_path / "root"
    assert run_cli("import", str(a), str(b), "-c", "t", root=root).code == 0
    return root


def test_view_page_banner_and_its_data(tmp_path):
    calls = []

    def differ(coll, url, ts1, ts2):
        calls.append((coll, url, ts1, ts2))
        return {"url": url, "old": {"timestamp": ts1}, "new": {"timestamp": ts2}, "changed": True,
                "words_deleted": 1, "words_inserted": 1,
                "ops": [{"op": "equal", "text": "same "}, {"op": "delete", "text": XSS},
                        {"op": "insert", "text": "<b>new</b>"}]}

    client = Client(make_app(_root(tmp_path), ui_port=18080, replay_port=18081, differ=differ))
    r = client.get(f"/t/20240517100000/{URL}", base_url=UI, headers=NAV)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="wb-frame"' in html and "allow-top-navigation" not in html
    assert 'src="http://t.localhost:18081/t/20240517100000/https://a.example/one"' in html
    assert f'id="wb-next" href="/t/20250203100000/{URL}"' in html
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "frame-src http://t.localhost:18081 http://*.t.localhost:18081" in csp
    # Not a browser navigation: the replay itself, as before the banner.
    r = client.get(f"/t/20240517100000/{URL}", base_url=UI)
    assert r.status_code == 302 and r.headers["Location"].startswith("http://t.localhost:18081/")
    nav = json.loads(client.get(f"/_warcache/nav/t?ts=20250203100000&url={URL}", base_url=UI).get_data())
    assert nav["prev"] == f"/t/20240517100000/{URL}" and nav["next"] == "" and nav["count"] == 2
    assert client.get("/_warcache/nav/t?ts=1&url=javascript:x", base_url=UI).status_code == 404
    script = client.get("/_warcache/ui/banner.js", base_url=UI)
    assert script.headers["Content-Type"].startswith("text/javascript")

    # The calendar links the captures to the diff page, which shows the changes escaped.
    cal = client.get(f"/t/*/{URL}", base_url=UI).get_data(as_text=True)
    assert "February 2025" in cal and "May 2024" in cal
    link = cal.split('class="diff" href="')[1].split('"')[0].replace("&amp;", "&")
    page = client.get(link, base_url=UI)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and calls == [("t", URL, "20240517100000", "20250203100000")]
    assert "<del>&lt;img src=x onerror=alert(1)&gt;</del>" in text
    assert "<ins>&lt;b&gt;new&lt;/b&gt;</ins>" in text
    assert "script-src" not in page.headers["Content-Security-Policy"]


def test_no_diff_page_without_warcache_diff(tmp_path):
    client = Client(make_app(_root(tmp_path), ui_port=18080, replay_port=18081))
    assert 'class="diff"' not in client.get(f"/t/*/{URL}", base_url=UI).get_data(as_text=True)
    assert client.get(f"/_warcache/diff/t?url={URL}&a=1&b=2", base_url=UI).status_code == 404


def test_fidelity_score_shows_in_banner_calendar_and_list(tmp_path):
    """A capture whose page-list entry has a fidelity score (the self-check's field) shows it."""
    root = _root(tmp_path)
    pages = root / "collections" / "t" / "indexes" / "pages.jsonl"
    lines = [json.loads(line) for line in pages.read_text().splitlines()]
    for line in lines:
        if line["timestamp"].startswith("2024"):
            line["fidelity"] = 87
    pages.write_text("".join(json.dumps(line) + "\n" for line in lines))
    client = Client(make_app(root, ui_port=18080, replay_port=18081))
    html = client.get(f"/t/20240517100000/{URL}", base_url=UI, headers=NAV).get_data(as_text=True)
    assert 'title="fidelity of this capture (self-check)">fidelity 87</span>' in html
    later = client.get(f"/t/20250203100000/{URL}", base_url=UI, headers=NAV).get_data(as_text=True)
    assert '<span id="wb-fidelity" class="wb-badge" hidden>' in later
    assert "fidelity 87" in client.get(f"/t/*/{URL}", base_url=UI).get_data(as_text=True)
    assert "fidelity 87" in client.get("/t/", base_url=UI).get_data(as_text=True)
