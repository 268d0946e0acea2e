"""Tags and notes: `warcache tag`, tag: in search, and their surviving `index --rebuild`.

The pages are other tools' WARC responses (imported): tagging is about the page list and the
records written, not about how a page was captured.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from warc_helpers import read_collection, write_responses


def _page(title: str, words: str) -> bytes:
    filler = "Some ordinary article text for the extractor to keep. " * 8
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"<p>{words} {filler}</p></article></body></html>").encode()


def _archive(tmp_path: Path, cli) -> Path:
    root = tmp_path / "root"
    warc = write_responses(tmp_path / "in.warc.gz", [
        ("https://a.example/one", _page("First page", "glacier ocean"), [("Content-Type", "text/html")]),
        ("https://b.example/two", _page("Second page", "glacier mountain"), [("Content-Type", "text/html")]),
        ("https://c.example/three", _page("Third page", "desert"), [("Content-Type", "text/html")]),
    ])
    run = cli("import", str(warc), "-c", "main", root=root)
    assert run.code == 0, run.stderr
    return root


def _search(cli, root: Path, query: str) -> list[str]:
    run = cli("search", "--json", query, root=root)
    assert run.code == 0, run.stderr
    return sorted(h["url"] for h in run.json())


def _listed(cli, root: Path) -> dict[str, dict]:
    run = cli("list", "--json", root=root)
    assert run.code == 0, run.stderr
    return {p["url"]: p for p in run.json()}


def test_tags_and_notes_filter_search_and_survive_a_rebuild(tmp_path, cli):
    root = _archive(tmp_path, cli)
    run = cli("tag", "https://a.example/one", "Reading", "climate", root=root)
    assert run.code == 0, run.stderr
    assert "#reading #climate" in run.stderr
    hashed = __import__("hashlib").md5(b"https://b.example/two").hexdigest()
    assert cli("tag", hashed, "climate", "--note", "cited <b>twice</b>", root=root).code == 0
    assert cli("tag", "https://a.example/one", "-r", "reading", root=root).code == 0

    assert _search(cli, root, "tag:climate") == ["https://a.example/one", "https://b.example/two"]
    assert _search(cli, root, "glacier tag:climate -ocean") == ["https://b.example/two"]
    assert _search(cli, root, "tag:reading") == []
    assert _search(cli, root, "desert OR tag:climate") == [
        "https://a.example/one", "https://b.example/two", "https://c.example/three"]
    listed = _listed(cli, root)
    assert listed["https://a.example/one"]["tags"] == ["climate"]
    assert listed["https://b.example/two"]["note"] == "cited <b>twice</b>"
    assert listed["https://c.example/three"]["tags"] == []

    # The records are in the WARCs: one small file per change, never an appended archived file.
    archive = root / "collections" / "main" / "archive"
    notes = [r for r in read_collection(archive) if r.uri.startswith("urn:warcache:annotation:")]
    assert len(notes) == 3
    assert json.loads(notes[-1].payload)["tags"] == ["climate"]
    assert len(list(archive.glob("warcache-annotation-*.warc.gz"))) == 3
    assert gzip.open(archive / "in.warc.gz").read().count(b"annotation") == 0

    # Throw the derived lists away: a rebuild finds the same tags and notes in the WARCs.
    indexes = root / "collections" / "main" / "indexes"
    (indexes / "annotations.jsonl").unlink()
    (indexes / "pages.jsonl").unlink()
    assert _listed(cli, root) == {}
    run = cli("index", "--rebuild", root=root)
    assert run.code == 0, run.stderr
    listed = _listed(cli, root)
    assert listed["https://a.example/one"]["tags"] == ["climate"]
    assert listed["https://b.example/two"]["tags"] == ["climate"]
    assert listed["https://b.example/two"]["note"] == "cited <b>twice</b>"
    assert _search(cli, root, "tag:climate") == ["https://a.example/one", "https://b.example/two"]


def test_bad_tags_and_unknown_pages_are_one_line_errors(tmp_path, cli):
    root = _archive(tmp_path, cli)
    before = sorted(p.name for p in (root / "collections" / "main" / "archive").iterdir())
    for args in (["https://a.example/one", "two words"], ["https://a.example/one", "a:b"],
                 ["https://nowhere.example/", "x"], ["https://a.example/one"]):
        run = cli("tag", *args, root=root)
        assert run.code != 0
        assert "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert sorted(p.name for p in (root / "collections" / "main" / "archive").iterdir()) == before
    # The same tags again change nothing and write nothing.
    assert cli("tag", "https://a.example/one", "x", root=root).code == 0
    run = cli("tag", "https://a.example/one", "x", root=root)
    assert run.code == 0 and "nothing changed" in run.stderr
    assert len(list((root / "collections" / "main" / "archive").glob("warcache-annotation-*"))) == 1
    # The tag's file was indexed when written: `warcache index` has nothing left to do.
    run = cli("index", root=root)
    assert run.code == 0 and "0 WARC files newly indexed" in run.stderr, run.stderr
