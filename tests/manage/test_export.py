"""Exports of a real capture: the cached-articles static site, and WACZ packages.

The pages are served by a small local server (127.0.0.1 only) and captured with the real browser through
`warcache add`, then exported with the library functions the CLI calls.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import lxml.html
import pytest
from conftest import run_cli
from warcio.archiveiterator import ArchiveIterator

from warcache.collection import open_collection
from warcache.errors import UsageError
from warcache.manage.export_articles import export_cache
from warcache.manage.wacz import export_wacz, write_wacz

pytestmark = [pytest.mark.browser]

HEADLINE = 'Tom & Jerry\'s <script>alert("pwned")</script> "quoted" headline'
ARTICLE_PATH = "/news/2024/article.html?id=1&lang=en"
ARTICLE_MARKER = "zebrafinchcache"
PARAGRAPH = ("The {m} survey counted birds along the river for the third year running, and the volunteers "
             "recorded more species than in any year before, including two that had not been seen there "
             "for a decade. Revision {n} of this page.")


def _article_page(n: int) -> bytes:
    text = PARAGRAPH.format(m=ARTICLE_MARKER, n=n)
    paragraphs = "".join(f"<p>{text} Paragraph {i}.</p>\n" for i in range(5))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(HEADLINE)}</title>
<meta property="og:title" content="{html.escape(HEADLINE, quote=True)}">
<meta name="author" content="Ann &lt;b&gt;Writer&lt;/b&gt;">
</head><body>
<nav><a href="/">Home</a></nav>
<article>
<h1>{html.escape(HEADLINE)}</h1>
{paragraphs}
<p onclick="alert(1)">See <a href="../about/team.html?x=1&amp;y=2">the team</a> and
<a href="#notes">the notes</a>.</p>
<p><img src="img/photo.png" alt="a photo" width="10" height="10"></p>
<pre id="notes">line one

line three</pre>
<script>document.getElementById("notes").setAttribute("data-ran", "yes")</script>
</article>
</body></html>
""".encode()


class _Server(BaseHTTPRequestHandler):
    article_hits = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == ARTICLE_PATH:
            type(self).article_hits += 1
            self._send(200, "text/html; charset=utf-8", _article_page(type(self).article_hits))
        elif self.path == "/gone.html":
            self._send(404, "text/html; charset=utf-8", b"<html><body><p>gone</p></body></html>")
        elif self.path == "/notes.txt":
            self._send(200, "text/plain; charset=utf-8", b"plain text notes\n")
        else:
            self._send(404, "text/plain", b"not here")

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def captured(tmp_path_factory, browser_path):
    """One `warcache add` run: the article twice (the second capture is newer), a 404 and a text file."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    root = tmp_path_factory.mktemp("export-root")
    try:
        # -j 1: the second capture of the article must start after the first one ends
        run = run_cli("add", "-j", "1", "--no-scroll", "--idle-timeout", "1",
                      base + ARTICLE_PATH, base + ARTICLE_PATH,
                      base + "/gone.html", base + "/notes.txt", root=root)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert run.code == 0, run.stderr
    return {"root": root, "base": base, "url": base + ARTICLE_PATH, "hits": _Server.article_hits}


@pytest.fixture(scope="module")
def site(captured, tmp_path_factory):
    dest = tmp_path_factory.mktemp("cache-site")
    report = export_cache(captured["root"], "default", dest)
    return {"dest": dest, "report": report}


def _entries(root: Path) -> list[dict]:
    return [e.to_json() for e in open_collection(root, "default").pages()]


# ------------------------------------------------------------------------------------------- cached site


def test_one_article_per_url_from_its_newest_capture(captured, site):
    report = site["report"]
    assert report.articles == 1
    assert report.written == 3 and report.unchanged == 0  # index.md, index.html, the top index.html
    skipped = dict(report.skipped)
    assert skipped[captured["base"] + "/gone.html"] == "the page answered HTTP 404"
    assert skipped[captured["base"] + "/notes.txt"].startswith("not an HTML page (text/plain")
    assert captured["hits"] >= 2  # two captures of the article: the newer one is the one exported
    md = next(site["dest"].glob("*/*/index.md")).read_text()
    assert f"Revision {captured['hits']} of this page" in md
    assert f"Revision {captured['hits'] - 1} of" not in md


def test_index_md_is_exactly_the_documented_format(captured, site):
    url = captured["url"]
    digest = hashlib.md5(url.encode("utf-8")).hexdigest()
    newest = max((e for e in _entries(captured["root"]) if e["url"] == url), key=lambda e: e["timestamp"])
    folder = site["dest"] / newest["timestamp"][:4] / digest
    assert sorted(p.name for p in folder.iterdir()) == ["index.html", "index.md"]
    data = (folder / "index.md").read_bytes()
    header = f"title: {HEADLINE}\nurl: {url}\nhash_url: {digest}\n\n".encode()
    assert data.startswith(header), data[:300]
    body = data[len(header):].decode("utf-8")
    assert body.endswith("\n") and not body.endswith("\n\n") and body.startswith("<")
    assert not re.search(r"\n[ \t]*\n", body)  # no empty line: Markdown would end the HTML block there
    tree = lxml.html.fragment_fromstring(body, create_parent="div")
    text = tree.text_content()
    assert text.count(ARTICLE_MARKER) == 5
    assert tree.xpath("//pre")[0].text_content() == "line one\n\nline three"  # &#10; kept the empty line
    hrefs = [a.get("href") for a in tree.iter("a")]
    assert captured["base"] + "/news/about/team.html?x=1&y=2" in hrefs  # made absolute
    assert [img.get("src") for img in tree.iter("img")] == [captured["base"] + "/news/2024/img/photo.png"]
    assert not tree.xpath("//script") and "onclick" not in body and "<script" not in body


def test_article_page_escapes_archived_text_and_runs_no_script(captured, site):
    page = next(site["dest"].glob("*/*/index.html"))
    text = page.read_text()
    assert "<script" not in text.lower() and "onclick" not in text
    assert html.escape(HEADLINE) in text  # in <title> and <h1>
    assert "Ann &lt;b&gt;Writer&lt;/b&gt;" in text
    assert f'href="{html.escape(captured["url"], quote=True)}"' in text  # `&` escaped in the link
    tree = lxml.html.fromstring(text)
    assert tree.findtext(".//title") == HEADLINE and tree.findtext(".//h1") == HEADLINE
    csp = tree.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert ARTICLE_MARKER in tree.text_content()
    ts = next(e["timestamp"] for e in _entries(captured["root"]) if e["url"] == captured["url"])
    assert f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}" in text  # the capture date


def test_pages_link_to_each_other_relatively(site):
    dest = site["dest"]
    top = dest / "index.html"
    links = lxml.html.fromstring(top.read_text()).xpath("//a/@href")
    local = [h for h in links if not h.startswith("http")]
    assert local and all((dest / h).is_file() for h in local), local
    article = dest / local[0]
    back = lxml.html.fromstring(article.read_text()).xpath("//nav/a/@href")[0]
    assert (article.parent / back).resolve() == top.resolve()
    assert html.escape(HEADLINE) in top.read_text()


def test_reexport_writes_only_what_changed_and_removes_stale_folders(captured, site, tmp_path):
    dest = tmp_path / "site"
    shutil.copytree(site["dest"], dest)
    files = sorted(dest.rglob("index.*"))
    before = {p: p.stat().st_mtime_ns for p in files}
    again = export_cache(captured["root"], "default", dest)
    assert (again.written, again.unchanged, again.removed) == (0, 3, 0)
    assert {p: p.stat().st_mtime_ns for p in files} == before
    article = next(dest.glob("*/*/index.html"))
    article.write_text("edited by hand")
    stale = dest / "1999" / ("0" * 32)
    stale.mkdir(parents=True)
    (stale / "index.md").write_text("old")
    foreign = dest / "1998" / ("1" * 32)
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("not ours")
    third = export_cache(captured["root"], "default", dest)
    assert (third.written, third.unchanged, third.removed) == (1, 2, 1)
    assert article.read_text() != "edited by hand"
    assert not (dest / "1999").exists() and (foreign / "notes.txt").exists()


def test_export_errors_are_usage_errors(captured, tmp_path):
    with pytest.raises(UsageError, match="no collection 'nope'"):
        export_cache(captured["root"], "nope", tmp_path / "x")
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        export_cache(captured["root"], "default", afile)


# ------------------------------------------------------------------------------------------- WACZ


@pytest.fixture(scope="module")
def wacz(captured, tmp_path_factory):
    dest = tmp_path_factory.mktemp("wacz") / "default.wacz"
    coll = open_collection(captured["root"], "default")
    report = write_wacz(coll, dest)
    return {"path": dest, "report": report, "coll": coll}


def test_wacz_members_hashes_and_datapackage(wacz):
    coll = wacz["coll"]
    warcs = coll.warc_files()
    with zipfile.ZipFile(wacz["path"]) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted([f"archive/{p.name}" for p in warcs] + [
            "indexes/index.cdxj", "pages/pages.jsonl", "datapackage.json", "datapackage-digest.json"])
        for p in warcs:
            info = zf.getinfo(f"archive/{p.name}")
            assert info.compress_type == zipfile.ZIP_STORED  # players read records by byte range
            assert zf.read(info) == p.read_bytes()
        package = json.loads(zf.read("datapackage.json"))
        assert package["profile"] == "data-package" and package["wacz_version"] == "1.1.1"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", package["created"])
        listed = {r["path"]: r for r in package["resources"]}
        assert set(listed) == set(names) - {"datapackage.json", "datapackage-digest.json"}
        for path, res in listed.items():
            data = zf.read(path)
            assert res["bytes"] == len(data)
            assert res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert re.fullmatch(r"[-a-z0-9._/]+", res["name"])
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest == {"path": "datapackage.json",
                          "hash": "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()}


def test_wacz_pages_list(captured, wacz):
    with zipfile.ZipFile(wacz["path"]) as zf:
        lines = zf.read("pages/pages.jsonl").decode().splitlines()
    header, pages = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header == {"format": "json-pages-1.0", "id": "pages", "title": "default: all pages"}
    entries = _entries(captured["root"])
    assert len(pages) == len(entries) == wacz["report"].pages == 4
    assert len({p["id"] for p in pages}) == 4
    for page in pages:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", page["ts"]) and page["title"]
    assert sorted((p["url"], p["ts"].replace("-", "").replace(":", "").replace("T", "").rstrip("Z"))
                  for p in pages) == sorted((e["url"], e["timestamp"]) for e in entries)
    titles = {p["url"]: p["title"] for p in pages}
    assert titles[captured["url"]] == HEADLINE


def test_wacz_index_is_sorted_and_every_line_leads_to_its_record(wacz, tmp_path):
    with zipfile.ZipFile(wacz["path"]) as zf:
        raw = zf.read("indexes/index.cdxj")
        zf.extractall(tmp_path)
    lines = raw.decode().splitlines()
    assert lines == sorted(lines) and len(lines) == wacz["report"].index_lines > 10
    for line in lines:
        urlkey, ts, blob = line.split(" ", 2)
        fields = json.loads(blob)
        with open(tmp_path / "archive" / fields["filename"], "rb") as fh:
            fh.seek(int(fields["offset"]))
            member = fh.read(int(fields["length"]))
        assert gzip.decompress(member).startswith(b"WARC/1.1\r\n")  # exactly one whole gzip member
        record = next(iter(ArchiveIterator(io.BytesIO(member))))
        assert record.rec_headers.get_header("WARC-Target-URI") == fields["url"]
        assert urlkey and len(ts) == 14


def test_wacz_indexes_warcs_the_collection_index_does_not_cover(captured, wacz, tmp_path):
    copy = tmp_path / "root"
    shutil.copytree(captured["root"], copy)
    for seg in (copy / "collections" / "default" / "indexes").glob("*.cdxj"):
        seg.unlink()
    path = export_wacz(copy, "default", tmp_path)  # a directory: <collection>.wacz inside it
    assert path == tmp_path / "default.wacz"
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(wacz["path"]) as original:
        assert zf.read("indexes/index.cdxj") == original.read("indexes/index.cdxj")


def test_wacz_refuses_bad_destinations(captured, tmp_path):
    with pytest.raises(UsageError, match="must end in .wacz"):
        export_wacz(captured["root"], "default", tmp_path / "out.zip")
    with pytest.raises(UsageError, match="is not a directory"):
        export_wacz(captured["root"], "default", tmp_path / "missing" / "out.wacz")
    empty = open_collection(tmp_path / "r", "empty", create=True)
    with pytest.raises(UsageError, match="no WARC files"):
        write_wacz(empty, tmp_path / "e.wacz")
    assert not list(tmp_path.glob("*.wacz")) and not list(tmp_path.glob(".*part"))


def _validator() -> list[str] | None:
    """py-wacz's `wacz` command, installed apart from the project (it pins old dependencies)."""
    explicit = os.environ.get("WARCACHE_WACZ_BIN")
    for candidate in (explicit, "/tmp/waczvenv/bin/wacz", shutil.which("wacz")):
        if candidate and Path(candidate).is_file():
            return [candidate]
    return None


def test_py_wacz_validates_the_package_and_catches_a_tampered_one(wacz, tmp_path):
    cmd = _validator()
    if cmd is None:
        pytest.skip("py-wacz not installed (python -m venv /tmp/waczvenv; then pip install wacz in it)")
    run = subprocess.run([*cmd, "validate", "-f", str(wacz["path"])], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "is valid" in run.stdout, run.stdout + run.stderr
    # The same package with pages.jsonl changed after hashing must fail: the check is real.
    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(wacz["path"]) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "pages/pages.jsonl":
                data = data.replace(b"all pages", b"ALL pages")
            dst.writestr(info, data)
    run = subprocess.run([*cmd, "validate", "-f", str(tampered)], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "invalid" in run.stdout and "hash" in run.stdout, run.stdout + run.stderr
