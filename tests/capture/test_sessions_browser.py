"""Pages behind a login, captured with the real browser in each of the ways a session is brought.

The site (tests/login_site.py) serves its article only to a logged-in reader, and an extra paragraph
only to a script that has the API token from localStorage. Each way of bringing the session must
capture the article (in the DOM record, and searchable), and nothing warcache writes about the
capture may hold a secret: only the request records (what was sent) and the Set-Cookie headers of
response records (what was received) do, because they are the archive. `export --redact` takes
those out of a copy.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import run_cli
from login_site import ARTICLE_MARKER, EXTRA_MARKER, LOGGED_OUT_MARKER, PASSWORD, USER, LoginSite
from warcio.archiveiterator import ArchiveIterator

pytestmark = [pytest.mark.browser]

QUICK = ("--no-scroll", "--idle-timeout", "1", "--no-screenshot")


@pytest.fixture(scope="module")
def login_site():
    with LoginSite() as site:
        yield site


def _add(root: Path, *args: str):
    return run_cli("add", *QUICK, "--json", *args, root=root)


def _warcs(root: Path) -> list[Path]:
    return sorted((root / "collections").rglob("*.warc.gz"))


def _records(root: Path):
    for path in _warcs(root):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                yield path, record


def _doms(root: Path) -> list[str]:
    return [record.content_stream().read().decode() for _, record in _records(root)
            if record.rec_headers.get_header("WARC-Target-URI", "").startswith("urn:warcache:dom:")]


def _page_records(root: Path) -> list[dict]:
    return [json.loads(record.content_stream().read()) for _, record in _records(root)
            if record.rec_headers.get_header("WARC-Target-URI", "").startswith("urn:warcache:page:")]


def _leaks(root: Path, secrets: list[str], outputs: list[str]) -> list[str]:
    """Every place a secret appears in what warcache wrote (every file of the root, every output),
    except the request records and the Set-Cookie headers of responses: the archive."""
    found = []

    def check(where: str, data: bytes) -> None:
        found.extend(f"{where}: {s[:6]}..." for s in secrets if s.encode() in data)

    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if not path.name.endswith(".warc.gz"):
            check(str(path.relative_to(root)), path.read_bytes())
            continue
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                kind, uri = record.rec_type, record.rec_headers.get_header("WARC-Target-URI")
                where = f"{path.name} {kind} {uri}"
                check(where + " (WARC headers)", record.rec_headers.to_bytes())
                if kind == "request":
                    continue
                if record.http_headers is not None:
                    kept = [(k, v) for k, v in record.http_headers.headers if k.lower() != "set-cookie"]
                    check(where + " (HTTP headers)", repr(kept).encode())
                check(where, record.raw_stream.read())
    for i, text in enumerate(outputs):
        check(f"output {i}", text.encode())
    return found


def _sent(root: Path, secret: str) -> bool:
    """The request records keep what was sent, secrets included (the positive control)."""
    return any(record.rec_type == "request" and secret.encode() in record.http_headers.to_bytes()
               for _, record in _records(root))


def _searchable(root: Path, word: str) -> list[str]:
    run = run_cli("search", "--json", word, root=root)
    assert run.code == 0, run.stderr
    return [hit["url"] for hit in run.json()]


def test_without_a_session_the_site_asks_to_log_in(login_site, tmp_path):
    run = _add(tmp_path, login_site.url("/article"))
    assert run.code == 0, run.stderr
    [dom] = _doms(tmp_path)
    assert LOGGED_OUT_MARKER in dom and ARTICLE_MARKER not in dom  # so the tests below can fail


def test_cookies_txt(login_site, tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n"
                       "# exported by a browser extension\n"
                       f"#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\t{login_site.session_token}\n"
                       "127.0.0.1\tFALSE\t/\tFALSE\t1000000000\told\tstale\n")
    root = tmp_path / "root"
    run = _add(root, "--cookies", str(cookies), login_site.url("/article"))
    assert run.code == 0, run.stderr
    assert "note: capturing with 1 cookie from cookies.txt" in run.stderr
    assert "note: 1 expired cookie in cookies.txt left out" in run.stderr
    [dom] = _doms(root)
    assert ARTICLE_MARKER in dom and LOGGED_OUT_MARKER not in dom
    assert EXTRA_MARKER not in dom  # (cookies only: no localStorage, so no API token)
    assert _searchable(root, ARTICLE_MARKER) == [login_site.url("/article")]
    [page] = _page_records(root)
    assert page["session"] == {"kind": "cookies", "source": "cookies.txt"}
    warcinfo = next(r for _, r in _records(root) if r.rec_type == "warcinfo").content_stream().read()
    assert b'"session": {"kind": "cookies", "source": "cookies.txt"}' in warcinfo
    assert _sent(root, login_site.session_token)
    assert _leaks(root, [login_site.session_token], [run.stdout, run.stderr]) == []


@pytest.fixture(scope="module")
def state_capture(login_site, tmp_path_factory):
    """The article captured with a Playwright storage state: the cookie and the localStorage token."""
    tmp = tmp_path_factory.mktemp("state")
    state = tmp / "state.json"
    state.write_text(json.dumps({
        "cookies": [{"name": "sid", "value": login_site.session_token, "domain": "127.0.0.1", "path": "/",
                     "expires": -1, "httpOnly": True, "secure": False, "sameSite": "Lax"}],
        "origins": [{"origin": login_site.origin,
                     "localStorage": [{"name": "api_token", "value": login_site.api_token}]}]}))
    root = tmp / "root"
    run = _add(root, "--storage-state", str(state), login_site.url("/article"))
    assert run.code == 0, run.stderr
    return {"root": root, "run": run, "secrets": [login_site.session_token, login_site.api_token]}


def test_storage_state(login_site, state_capture):
    root, run = state_capture["root"], state_capture["run"]
    [dom] = _doms(root)
    assert ARTICLE_MARKER in dom and EXTRA_MARKER in dom  # the cookie, and the token from localStorage
    assert _searchable(root, EXTRA_MARKER) == [login_site.url("/article")]
    [page] = _page_records(root)
    assert page["session"] == {"kind": "storage-state", "source": "state.json"}
    assert _sent(root, login_site.session_token) and _sent(root, login_site.api_token)
    assert _leaks(root, state_capture["secrets"], [run.stdout, run.stderr]) == []
    # Playwright filled localStorage without a request: every exchange recorded is the page's own.
    paths = sorted({urlsplit(r.rec_headers.get_header("WARC-Target-URI")).path
                    for _, r in _records(root) if r.rec_type == "request"})
    assert paths == ["/api/extra", "/article", "/favicon.ico", "/static/extra.js", "/static/style.css"]


def _save_state_with_indexeddb(site: LoginSite, path: Path) -> None:
    """What a user does to bring a site that keeps its token in IndexedDB: log in with Playwright,
    then `context.storage_state(path=..., indexed_db=True)`."""
    from playwright.async_api import async_playwright

    from warcache.chromium import find_browser, launch_args

    async def run() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=find_browser().executable, args=launch_args())
            try:
                context = await browser.new_context()
                await context.add_cookies([{"name": "sid", "value": site.session_token, "url": site.base}])
                page = await context.new_page()
                await page.goto(site.url("/welcome?store=idb"))
                await page.wait_for_selector("#stored")
                await context.storage_state(path=path, indexed_db=True)
            finally:
                await browser.close()

    asyncio.run(run())


def test_storage_state_with_indexeddb(login_site, tmp_path):
    state = tmp_path / "idb-state.json"
    _save_state_with_indexeddb(login_site, state)
    [origin] = json.loads(state.read_text())["origins"]
    assert origin["localStorage"] == [] and origin["indexedDB"]  # the token is in IndexedDB only
    root = tmp_path / "root"
    run = _add(root, "--storage-state", str(state), login_site.url("/article"))
    assert run.code == 0, run.stderr
    [dom] = _doms(root)
    assert ARTICLE_MARKER in dom and EXTRA_MARKER in dom  # the script found the token in IndexedDB
    assert _sent(root, login_site.api_token)
    assert _leaks(root, [login_site.session_token, login_site.api_token], [run.stdout, run.stderr]) == []


def _scripted_login(site: LoginSite, profile: Path, *, reading: float = 0.6, poll: float = 0.2):
    """`warcache login`'s own code, headless, with a script for the user's part: log in, look at the
    welcome page for `reading` seconds, close the window."""
    from playwright.async_api import async_playwright

    from warcache.capture.profile import login
    from warcache.chromium import find_browser

    async def user(page) -> None:
        await page.fill("input[name=user]", USER)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button")
        await page.wait_for_selector("#welcome")
        await asyncio.sleep(reading)  # the user reads the page (the login watches the cookies meanwhile)
        await page.context.close()  # and closes the window: the browser forgets its session cookies

    async def run():
        async with async_playwright() as pw:
            return await login(pw, find_browser(), site.url("/login"), profile, headless=True, script=user,
                               poll=poll)

    return asyncio.run(run())


def test_a_window_closed_as_soon_as_the_user_is_in_keeps_the_session(login_site, tmp_path):
    # The cookies are looked at once a minute here: only the look each response brings sees the
    # session cookie before the window is gone (with looks by the clock alone: 0 kept).
    report = _scripted_login(login_site, tmp_path / "profile", reading=0, poll=60)
    assert report.kept == 1


def test_profile_made_by_login_then_used_across_runs(login_site, tmp_path):
    profile = tmp_path / "profile"
    report = _scripted_login(login_site, profile)
    assert report.warning is None
    assert report.kept == 1  # sid is a session cookie: kept, or the profile would be logged out now
    root = tmp_path / "root"
    css_before = len(login_site.hits("/static/style.css"))
    first = _add(root, "--profile", str(profile), "-j", "4",
                 login_site.url("/article"), login_site.url("/article"))
    assert first.code == 0, first.stderr
    assert f"note: capturing with the browser profile {profile} (one page at a time)" in first.stderr
    second = _add(root, "--profile", str(profile), login_site.url("/article"))  # a later run: still logged in
    assert second.code == 0, second.stderr
    doms = _doms(root)
    assert len(doms) == 3
    for dom in doms:
        assert ARTICLE_MARKER in dom and EXTRA_MARKER in dom and LOGGED_OUT_MARKER not in dom
    assert _searchable(root, ARTICLE_MARKER) == [login_site.url("/article")] * 3
    assert [p["session"] for p in _page_records(root)] == [{"kind": "profile", "source": "profile"}] * 3
    # Each page as a fresh context would capture it: the stylesheet (cacheable for an hour) went
    # over the wire, and into the archive, for every capture, not only the first.
    assert len(login_site.hits("/static/style.css")) - css_before == 3
    css = [r for _, r in _records(root) if r.rec_type in ("response", "revisit")
           and r.rec_headers.get_header("WARC-Target-URI") == login_site.url("/static/style.css")]
    assert len(css) == 3
    # Only the page's own exchanges: the browser's own traffic neither went out nor was recorded.
    hosts = {urlsplit(r.rec_headers.get_header("WARC-Target-URI")).netloc
             for _, r in _records(root) if r.rec_type == "request"}
    assert hosts == {urlsplit(login_site.base).netloc}
    secrets = [login_site.session_token, login_site.api_token]
    assert _sent(root, login_site.session_token) and _sent(root, login_site.api_token)
    assert _leaks(root, secrets, [first.stdout, first.stderr, second.stdout, second.stderr]) == []


def test_login_command_needs_a_display(login_site, tmp_path):
    profile = tmp_path / "profile"
    run = run_cli("login", login_site.url("/login"), "--profile", str(profile),
                  env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert run.code == 1
    assert run.stderr.startswith("Error: no display to open a browser window on")
    assert run.stderr.count("\n") == 1 and not profile.exists()


def _refused(run, root: Path, *, message: str, secret: str | None = None) -> None:
    assert run.code != 0
    assert message in run.stderr, run.stderr
    assert run.stderr.strip().count("\n") == 0, run.stderr  # one line
    assert "Traceback" not in run.stderr
    if secret:
        assert secret not in run.stderr + run.stdout
    assert _warcs(root) == [] and not list(root.rglob("*.open"))  # nothing captured


def test_a_bad_session_fails_before_anything_is_captured(login_site, tmp_path):
    url = login_site.url("/article")
    token = login_site.session_token
    root = tmp_path / "root"
    malformed = tmp_path / "malformed.txt"
    malformed.write_text(f"# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\t{token}\n"
                         f"127.0.0.1 FALSE / FALSE 0 other {token}\n")
    _refused(_add(root, "--cookies", str(malformed), url), root, secret=token,
             message=f"Error: --cookies {malformed}: line 3: expected 7 fields separated by tabs")
    # Well-formed, but a cookie the browser refuses (a __Host- cookie must be secure): the browser
    # is asked before any page is captured, and names it.
    refused = tmp_path / "refused.txt"
    refused.write_text(f"127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\t{token}\n"
                       f"127.0.0.1\tFALSE\t/\tFALSE\t0\t__Host-pref\t{token}\n")
    _refused(_add(root, "--cookies", str(refused), url), root, secret=token,
             message=f"Error: --cookies {refused}: the browser refused the cookie '__Host-pref' for "
                     "127.0.0.1 (line 2): Invalid cookie fields")
    state = tmp_path / "state.json"
    state.write_text('{"cookies": [{"name": "sid", "value": "' + token + '", "domain": "127.0.0.1"}]}')
    _refused(_add(root, "--storage-state", str(state), url), root, secret=token,
             message=f'Error: --storage-state {state}: cookies[0] (sid): "path" must be a string')
    _refused(_add(root, "--profile", str(tmp_path / "nothing"), url), root,
             message="no such directory: make one with `warcache login URL --profile DIR`")
    _refused(_add(root, "--cookies", str(malformed), "--profile", str(tmp_path), url), root,
             message="use one of --cookies, --storage-state and --profile, not several")


def test_a_profile_in_use_is_refused(login_site, tmp_path):
    from warcache.capture.profile import ProfileLock

    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "Local State").write_text("{}")
    root = tmp_path / "root"
    with ProfileLock(profile):  # another run has it
        run = _add(root, "--profile", str(profile), login_site.url("/article"))
    _refused(run, root, message=f"Error: --profile {profile.absolute()}: in use by another warcache run")


# -- exports ------------------------------------------------------------------------------------


def _validator() -> list[str] | None:
    explicit = os.environ.get("WARCACHE_WACZ_BIN")
    for candidate in (explicit, "/tmp/waczvenv/bin/wacz", shutil.which("wacz")):
        if candidate and Path(candidate).is_file():
            return [candidate]
    return None


def _unpacked(zf: zipfile.ZipFile) -> bytes:
    """Every byte of the package, its WARCs decompressed."""
    out = []
    for name in zf.namelist():
        data = zf.read(name)
        out.append(gzip.decompress(data) if name.endswith(".gz") else data)
    return b"".join(out)


def test_export_wacz_redact(state_capture, tmp_path):
    root, secrets = state_capture["root"], state_capture["secrets"]
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _warcs(root)}
    plain = run_cli("export", "wacz", str(tmp_path / "plain.wacz"), root=root)
    assert plain.code == 0, plain.stderr
    with zipfile.ZipFile(tmp_path / "plain.wacz") as zf:
        assert all(s.encode() in _unpacked(zf) for s in secrets)  # the collection keeps them
    run = run_cli("export", "wacz", "--redact", str(tmp_path / "shared.wacz"), root=root)
    assert run.code == 0, run.stderr
    assert "records redacted" in run.stderr
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in _warcs(root)} == before
    with zipfile.ZipFile(tmp_path / "shared.wacz") as zf:
        everything = _unpacked(zf)
        for secret in secrets:
            assert secret.encode() not in everything
        assert ARTICLE_MARKER.encode() in everything  # what the page showed stays
        assert b"\r\nCookie:\r\n" in everything and b"\r\nAuthorization:\r\n" in everything
        assert b"\r\nSet-Cookie:\r\n" in everything
        # Every index line leads to its record in the redacted copy (offsets moved).
        lines = zf.read("indexes/index.cdxj").decode().splitlines()
        assert len(lines) > 5
        for line in lines:
            fields = json.loads(line.split(" ", 2)[2])
            data = zf.read(f"archive/{fields['filename']}")
            chunk = data[int(fields["offset"]):int(fields["offset"]) + int(fields["length"])]
            record = next(ArchiveIterator(io.BytesIO(chunk)))
            assert record.rec_headers.get_header("WARC-Target-URI") == fields["url"]
        # Block digests are right for every record of the copy.
        for name in zf.namelist():
            if name.startswith("archive/"):
                records = list(ArchiveIterator(io.BytesIO(zf.read(name)), check_digests=True))
                assert records and all(r.digest_checker.passed is not False for r in records), name
    cmd = _validator()
    if cmd is None:
        pytest.skip("py-wacz not installed (python -m venv /tmp/waczvenv; then pip install wacz in it)")
    check = subprocess.run([*cmd, "validate", "-f", str(tmp_path / "shared.wacz")], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0 and "is valid" in check.stdout, check.stdout + check.stderr


def test_export_cache_holds_nothing_of_the_session(state_capture, tmp_path):
    root, secrets = state_capture["root"], state_capture["secrets"]
    for args in ((), ("--redact",)):
        dest = tmp_path / ("site" + "".join(args))
        run = run_cli("export", "cache", *args, str(dest), root=root)
        assert run.code == 0, run.stderr
        written = b"".join(p.read_bytes() for p in dest.rglob("*") if p.is_file())
        assert ARTICLE_MARKER.encode() in written
        assert not any(s.encode() in written for s in secrets)


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                    reason="needs Xvfb and xdotool (apt-get install xvfb xdotool) for a real window")
def test_login_in_a_real_window(login_site, tmp_path):
    """`warcache login` as a user runs it: a window (on a virtual display), the form typed in, the
    window closed; then a capture with the profile is logged in."""
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    profile = tmp_path / "profile"
    # The site is the module's: earlier tests have loaded its pages already.
    seen_login, seen_welcome = len(login_site.hits("/login")), len(login_site.hits("/welcome"))
    try:
        display = ":" + xvfb.stdout.readline().strip()
        env = {"DISPLAY": display, "WAYLAND_DISPLAY": ""}

        def xdo(*args: str) -> str:
            return subprocess.run(["xdotool", *args], env={**os.environ, **env}, capture_output=True,
                                  text=True, timeout=30).stdout.strip()

        login = subprocess.Popen([sys.executable, "-m", "warcache", "login", login_site.url("/login"),
                                  "--profile", str(profile)], env={**os.environ, **env}, text=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        window = ""
        deadline = time.monotonic() + 60
        while not window and time.monotonic() < deadline:
            window = xdo("search", "--onlyvisible", "--class", "chromium").split("\n")[-1]
            time.sleep(0.5)
        assert window, "no browser window appeared"
        deadline = time.monotonic() + 30
        while len(login_site.hits("/login")) == seen_login and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        # The user types the form, and types it again when nothing happened (on a loaded machine
        # keys typed while the page was still settling went nowhere): select-all first, so what
        # was typed before is replaced.
        for _attempt in range(3):
            xdo("windowfocus", "--sync", window)
            xdo("mousemove", "--window", window, "400", "500", "click", "1")  # into the page
            time.sleep(0.5)
            for keys in (("key", "Tab"), ("key", "ctrl+a"), ("type", "--delay", "20", USER), ("key", "Tab"),
                         ("key", "ctrl+a"), ("type", "--delay", "20", PASSWORD), ("key", "Return")):
                xdo(*keys)
            deadline = time.monotonic() + 15
            while len(login_site.hits("/welcome")) == seen_welcome and time.monotonic() < deadline:
                time.sleep(0.2)
            if len(login_site.hits("/welcome")) > seen_welcome:
                break
        welcomed = len(login_site.hits("/welcome")) > seen_welcome
        time.sleep(2.0)  # the user reads the welcome page
        xdo("key", "--window", window, "ctrl+shift+w")  # and closes the window
        _out, err = login.communicate(timeout=90)
    finally:
        xvfb.kill()
        xvfb.wait()
    assert login.returncode == 0, err
    assert welcomed, f"the typed login never reached the welcome page; {err}"
    assert "saved the session in" in err and "1 session cookie kept for later runs" in err, err
    assert login_site.session_token not in err
    root = tmp_path / "root"
    run = _add(root, "--profile", str(profile), login_site.url("/article"))
    assert run.code == 0, run.stderr
    [dom] = _doms(root)
    assert ARTICLE_MARKER in dom and EXTRA_MARKER in dom
