"""What `warcache add` does when things go wrong: bad input, unreachable servers, a killed run,
two runs at once. Each URL fails on its own with a one-line reason; nothing archived is touched."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from fixture_site import MARKERS
from warc_helpers import read_warc, warcio_check

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.rglob("*"))
            if p.is_file()}


def test_each_bad_url_fails_alone_with_a_one_line_reason(site, tmp_path, browser_path):
    good = site.url("/final.html")
    first = run_cli("add", good, root=tmp_path)
    assert first.code == 0, first.stderr
    coll = tmp_path / "collections" / "default"
    before = _digests(coll / "archive")
    http_port = site.origin.rsplit(":", 1)[1]
    cases = {
        "notaurl": "give a full URL",
        "ftp://example.test/": "unsupported URL scheme 'ftp'",
        "file:///etc/passwd": "refusing file",
        f"http://127.0.0.1:{_free_port()}/": "connection refused by 127.0.0.1",
        "http://nohost.invalid/": "DNS lookup failed for nohost.invalid",
        site.url("/hang"): "timed out",
        site.https_url("/"): "TLS certificate of 127.0.0.1 not trusted",
        f"https://127.0.0.1:{http_port}/": "TLS handshake with 127.0.0.1 failed",
    }
    run = run_cli("add", "--timeout", "4", *cases, good, root=tmp_path)
    assert run.code == 1
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    for url, reason in cases.items():
        failed = [ln for ln in lines if "FAILED" in ln and url.strip() in ln]
        assert len(failed) == 1, (url, run.stderr)
        assert reason in failed[0], (url, failed[0])
    assert any(" ok 200 " + good in ln for ln in lines), run.stderr
    assert f"1 of {len(cases) + 1} captured" in run.stderr
    after = _digests(coll / "archive")
    for name, digest in before.items():
        assert after[name] == digest  # earlier captures untouched
    assert warcio_check(sorted((coll / "archive").iterdir())).returncode == 0


def test_a_url_with_non_ascii_characters_is_captured_under_the_url_the_browser_requested(site, tmp_path,
                                                                                          browser_path):
    """Found by hand: `add http://host/café` failed with "nothing was received", because the
    browser asked for /caf%C3%A9 and warcache looked for /café."""
    run = run_cli("add", "--idle-timeout", "1", "--no-scroll", site.url("/café/ü?q=ö ä"), root=tmp_path)
    expected = site.url("/caf%C3%A9/%C3%BC?q=%C3%B6%20%C3%A4")
    assert run.code == 0 and f"ok 404 {expected}" in run.stderr, run.stderr
    assert site.sent_for(expected)  # what the server was asked for
    records = [r for p in sorted((tmp_path / "collections" / "default" / "archive").iterdir())
               for r in read_warc(p)]
    assert any(r.type == "response" and r.uri == expected for r in records)


@pytest.mark.parametrize("args, code, message", [
    (["add", "-c", "../evil", "http://127.0.0.1:9/"], 1, "invalid collection name"),
    (["add", "--viewport", "huge", "http://127.0.0.1:9/"], 2, "WIDTHxHEIGHT"),
    (["add", "--browser", "/nonexistent/chrome", "http://127.0.0.1:9/"], 1, "not an executable file"),
    (["add"], 2, "give URLs to capture, or --links-from"),
    (["nonsense"], 2, "No such command"),
])
def test_bad_options_give_one_clear_line(tmp_path, args, code, message):
    run = run_cli(*args, root=tmp_path)
    assert run.code == code, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr


def test_root_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    run = run_cli("add", "http://127.0.0.1:9/", root=f)
    assert run.code != 0 and "Traceback" not in run.stderr
    assert f.read_text() == "x"


def test_a_killed_run_leaves_no_complete_looking_file_and_the_next_run_recovers(site, tmp_path, browser_path):
    archive = tmp_path / "collections" / "default" / "archive"
    urls = [site.url("/final.html"), site.url("/slow?ms=6000"), site.url("/slow?ms=6000")]
    cmd = [sys.executable, "-m", "warcache", "--root", str(tmp_path), "add", "--no-check", *urls]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if line.startswith("[1/3] ok") or not line:
                break
        assert line.startswith("[1/3] ok"), line
        time.sleep(1.5)  # the second page is now being captured
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    leftovers = list(archive.glob("*.open"))
    assert len(leftovers) == 1
    assert not list(archive.glob("*.warc.gz"))  # nothing a reader would take for complete
    # The next run sets the leftover right before capturing.
    run = run_cli("add", site.url("/notfound"), root=tmp_path)
    assert run.code == 0, run.stderr
    assert "note: recovered" in run.stderr
    assert not list(archive.glob("*.open"))
    files = sorted(archive.glob("*.warc.gz"))
    assert len(files) == 2 and warcio_check(files).returncode == 0
    recovered = [f for f in files if f.name == leftovers[0].name[: -len(".open")]]
    assert recovered, files
    records = read_warc(recovered[0])
    pages = [r.uri for r in records if r.type == "metadata"]
    assert pages == ["urn:warcache:page:" + site.url("/final.html")]
    final = next(r for r in records if r.type == "response" and r.uri == site.url("/final.html"))
    assert MARKERS["final"].encode() in final.content


def test_two_runs_on_one_collection_never_share_a_file(site, tmp_path, browser_path):
    cmds = [[sys.executable, "-m", "warcache", "--root", str(tmp_path), "add", "--no-check",
             "--no-scroll", site.url(p)]
            for p in ("/final.html", "/notfound")]
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in cmds]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    files = sorted((tmp_path / "collections" / "default" / "archive").glob("*.warc.gz"))
    assert len(files) == 2
    assert warcio_check(files).returncode == 0
    for f in files:
        assert sum(1 for r in read_warc(f) if r.type == "metadata") == 1


@pytest.fixture
def tiny_disk(tmp_path):
    """A 700 KB tmpfs (root only): room for a few small pages, not for the big one."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_run_cleanly_and_loses_nothing(site, tiny_disk, browser_path):
    first = run_cli("add", site.url("/final.html"), root=tiny_disk)
    assert first.code == 0, first.stderr
    archive = tiny_disk / "collections" / "default" / "archive"
    before = _digests(archive)
    run = run_cli("add", site.url("/"), site.url("/notfound"), site.url("/"), site.url("/"), root=tiny_disk)
    assert run.code == 1
    assert "Traceback" not in run.stderr
    error = [ln for ln in run.stderr.splitlines() if ln.startswith("Error:")]
    assert len(error) == 1 and "No space left on device" in error[0], run.stderr
    assert _digests(archive).items() >= before.items()  # earlier captures intact
    complete = sorted(archive.glob("*.warc.gz"))
    assert warcio_check(complete).returncode == 0
    assert len(list(archive.glob("*.open"))) == 1  # the partial file is never taken for complete
