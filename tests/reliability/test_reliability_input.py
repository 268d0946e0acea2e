"""Every command given nonsense: a one-line error, a non-zero exit, no traceback, nothing modified.

The commands run in-process through `warcache.cli.main` (the console script's entry point), which
is what turns errors into lines and exit codes; a checksum of every file under the root is taken
before and after each. The root holds one imported page so that commands have something to read.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import pytest
from warc_helpers import write_responses

from warcache import cli

pytestmark = [pytest.mark.browser]

PAGE = "http://example.test/page"


def _write_sample(path: Path) -> None:
    body = b"<html><head><title>Sample</title></head><body><p>zebracorn sample text.</p></body></html>"
    write_responses(path, [(PAGE, body, [("Content-Type", "text/html")])])


def run(root: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(["--root", str(root), *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("input")
    _write_sample(base / "sample.warc.gz")
    (base / "page.html").write_text("<html>not a warc</html>")
    (base / "empty.warc").write_bytes(b"")
    (base / "garbage.warc.gz").write_bytes(b"\x1f\x8b" + bytes(range(256)))
    (base / "adir").mkdir()
    (base / "afile").write_text("x")
    code, _, err = run(base / "root", "import", str(base / "sample.warc.gz"))
    assert code == 0, err
    return base


# (arguments, exit code, what the one error line says); {d} is the directory of the files above.
CASES = [
    (["add", "notaurl"], 1, "FAILED notaurl: invalid URL 'notaurl'"),
    (["add", "ftp://x/"], 1, "FAILED ftp://x/: unsupported URL scheme 'ftp'"),
    (["add", "file:///etc/passwd"], 1, "refusing file: URL"),
    (["add", "--links-from", "{d}/missing.md"], 1, "Error: no such file"),
    (["add", "--links-from", "{d}/adir"], 1, "is a directory, not a file of links"),
    (["add", "-c", "bad name!", "http://127.0.0.1:9/"], 1, "Error: invalid collection name"),
    (["add", "--timeout", "-5", "http://127.0.0.1:9/"], 2, "Invalid value for '--timeout'"),
    (["add", "--viewport", "0x0", "http://127.0.0.1:9/"], 2, "Invalid value for '--viewport'"),
    (["add", "--max-resource-size", "10", "http://127.0.0.1:9/"], 2,
     "Invalid value for '--max-resource-size'"),
    (["add", "--resolve", "nonsense", "http://127.0.0.1:9/"], 2, "Invalid value for '--resolve'"),
    (["add"], 2, "give URLs to capture, or --links-from"),
    (["import", "{d}/missing.warc"], 1, "error: {d}/missing.warc: no such file"),
    (["import", "{d}/adir"], 1, "is a directory, not a WARC file"),
    (["import", "{d}/page.html"], 1, "not a WARC or ARC file"),
    (["import", "{d}/empty.warc"], 1, "empty file, not a WARC/ARC file"),
    (["import", "{d}/garbage.warc.gz"], 1, "broken gzip data at the start of the file"),
    (["import"], 2, "Missing argument 'FILES...'"),
    (["import", "-c", "../x", "{d}/sample.warc.gz"], 1, "Error: invalid collection name '../x'"),
    (["index", "-c", "nosuch"], 1, "Error: no collection 'nosuch'"),
    (["index", "--rebuild", "-c", "../x"], 1, "Error: invalid collection name"),
    (["search", '"unclosed'], 1, "Error: unbalanced quote"),
    (["search", "title:"], 1, "Error: title: needs a value"),
    (["search", "((("], 1, "Error: empty query"),
    (["search", ")"], 1, "Error: unbalanced parenthesis"),
    (["search", "after:notadate"], 1, "Error: bad date 'notadate'"),
    (["search", "after:2024-13-45"], 1, "Error: bad date '2024-13-45'"),
    (["search", "OR", "OR"], 1, "Error: 'OR' needs a search term on each side"),
    (["search", "NOT"], 1, "needs a search term after it"),
    (["search", ""], 1, "Error: empty query"),
    (["search", "-c", "nosuch", "word"], 1, "Error: no collection 'nosuch'"),
    (["search", "--limit", "0", "word"], 2, "Invalid value for '--limit'"),
    (["replay", "-c", "nosuch"], 1, "Error: no collection 'nosuch'"),
    (["replay", "--port", "99999"], 2, "Invalid value for '--port'"),
    (["replay", "--port", "0", "--collection-domain", "not a domain!"], 1,
     "Error: --collection-domain: 'not a domain!' is not a DNS name"),
    (["replay", "--host", "256.1.1.1", "--port", "0"], 1, "Error: cannot listen on 256.1.1.1:0"),
    (["open", "notaurl"], 1, "Error: invalid URL 'notaurl'"),
    (["open", "http://never.archived.test/"], 1, "is not archived in any collection"),
    (["open", "--at", "2024-99", PAGE], 1, "Error: invalid timestamp '2024-99': no such date"),
    (["open", "--at", "notatime", PAGE], 1, "Error: invalid timestamp 'notatime'"),
    (["open", "--at", "99999999999999999", PAGE], 1, "Error: invalid timestamp"),
    (["open", "-c", "nosuch", PAGE], 1, "Error: no collection 'nosuch'"),
    (["open", "--screenshot", "{d}/adir", PAGE], 2, "is a directory"),
    (["list", "-c", "nosuch"], 1, "Error: no collection 'nosuch'"),
    (["list", "-c", "../x"], 1, "Error: invalid collection name"),
    (["show", "notaurl"], 1, "Error: invalid URL 'notaurl'"),
    (["show", "http://never.archived.test/"], 1, "Error: no capture of http://never.archived.test/"),
    (["show", "0123456789abcdef0123456789abcdef"], 1, "Error: no capture of 0123456789abcdef"),
    (["export", "cache", "{d}/afile"], 2, "is a file"),
    (["export", "cache", "{d}/out", "-c", "nosuch"], 1, "Error: no collection 'nosuch'"),
    (["export", "wacz", "{d}/nonexistent/x.wacz"], 1, "is not a directory"),
    (["export", "wacz", "{d}/x.wacz", "-c", "nosuch"], 1, "Error: no collection 'nosuch'"),
    (["export", "nonsense"], 2, "No such command 'nonsense'"),
    (["verify", "-c", "nosuch"], 1, "Error: no collection 'nosuch'"),
    (["retry", "-c", "nosuch"], 1, "Error: no collection 'nosuch'"),
    (["nonsense"], 2, "No such command 'nonsense'"),
    (["add", "--recapture-older-than", "soon"], 2, "Invalid value for '--recapture-older-than'"),
    (["add", "--recapture-older-than", "30d", "-c", "nosuch"], 1, "Error: no collection 'nosuch'"),
    (["forget"], 2, "Missing argument 'URL|HASH'"),
    (["forget", "notaurl"], 1, "Error: invalid URL 'notaurl'"),
    (["forget", "http://never.archived.test/"], 1, "Error: no capture of http://never.archived.test/"),
    (["forget", PAGE], 1, "Error: forget asks for confirmation on a terminal; pass --yes"),
    (["forget", "--at", "notatime", "--yes", PAGE], 1, "Error: invalid timestamp 'notatime'"),
    (["forget", "--at", "1999", "--yes", PAGE], 1, f"Error: no capture of {PAGE} at 1999"),
    (["forget", "-c", "nosuch", "--yes", PAGE], 1, "Error: no collection 'nosuch'"),
    (["diff", PAGE], 1, "has only one capture"),
    (["diff", "notaurl"], 1, "Error: invalid URL 'notaurl'"),
    (["diff", PAGE, "2024", "2025", "2026"], 2, "give at most two times"),
]


@pytest.mark.parametrize("args, code, message", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_nonsense_gets_one_line_a_non_zero_exit_and_changes_nothing(files, args, code, message):
    root = files / "root"
    before, outside = digest(root), sorted(p.name for p in files.iterdir())
    args = [a.replace("{d}", str(files)) for a in args]
    got, out, err = run(root, *args)
    assert got == code, err
    assert "Traceback" not in err and out == ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("Error:", "error:")) or " FAILED " in ln]
    assert len(errors) == 1, lines
    assert message.replace("{d}", str(files)) in errors[0], errors[0]
    assert digest(root) == before  # nothing under the root changed
    assert sorted(p.name for p in files.iterdir()) == outside  # nothing made beside it (export)


def test_a_root_that_does_not_exist_is_not_created_by_reading_commands(tmp_path):
    root = tmp_path / "nowhere"
    for args in (["list"], ["search", "word"], ["verify"], ["index"]):
        got, _, err = run(root, *args)
        assert "Traceback" not in err
        assert not root.exists(), args
