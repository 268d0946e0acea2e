"""Reading a session: cookies.txt, Playwright storage state, profile directories and their lock.

No browser here: these are the checks that run before anything is captured. Every error is one line,
names the line or the entry, and never shows a cookie's value (a secret).
"""

from __future__ import annotations

import json
import os
import time

import pytest

from warcache.capture.page import CaptureOptions
from warcache.capture.profile import ProfileLock, check_profile, display_problem
from warcache.capture.session import (
    COOKIES,
    PROFILE,
    STORAGE_STATE,
    Session,
    load_cookies_txt,
    load_session,
    load_storage_state,
)
from warcache.errors import UsageError

SECRET = "s3cr3t-v4lue-0f-the-sess10n"
FUTURE = int(time.time()) + 86400
PAST = int(time.time()) - 86400


def _write(tmp_path, text: str, name: str = "cookies.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cookies_txt_as_extensions_yt_dlp_and_curl_write_it(tmp_path):
    text = ("# Netscape HTTP Cookie File\n"
            "# a comment\n\n"
            f"#HttpOnly_.example.com\tTRUE\t/\tTRUE\t{FUTURE}\tsid\t{SECRET}\n"
            "news.example.org\tFALSE\t/paper\tFALSE\t0\tprefs\tdark\r\n"
            f"example.net\tTRUE\t/\tFALSE\t{FUTURE}.5\tlang\t\n"  # no dot, but marked for subdomains
            f".example.org\tFALSE\t/\tFALSE\t{FUTURE}\thostonly\t1\n")  # a dot, but marked host-only
    session = load_cookies_txt(_write(tmp_path, text))
    assert session.kind == COOKIES and session.notes == ()
    by_name = {c["name"]: c for c in session.cookies}
    assert by_name["sid"] == {"name": "sid", "value": SECRET, "domain": ".example.com", "path": "/",
                              "expires": FUTURE, "secure": True, "httpOnly": True}
    assert by_name["prefs"]["expires"] == -1 and by_name["prefs"]["path"] == "/paper"
    assert by_name["prefs"]["httpOnly"] is False
    assert by_name["lang"]["domain"] == ".example.net" and by_name["lang"]["value"] == ""
    assert by_name["hostonly"]["domain"] == "example.org"
    assert session.where == {0: "line 4", 1: "line 5", 2: "line 6", 3: "line 7"}
    assert session.context_args() == {"storage_state": {"cookies": session.cookies, "origins": []}}


def test_expired_cookies_are_left_out_and_a_file_of_only_expired_ones_is_an_error(tmp_path):
    fresh = f"example.com\tFALSE\t/\tFALSE\t{FUTURE}\ta\t1\n"
    stale = f"example.com\tFALSE\t/\tFALSE\t{PAST}\tb\t{SECRET}\n"
    session = load_cookies_txt(_write(tmp_path, fresh + stale))
    assert [c["name"] for c in session.cookies] == ["a"]
    assert session.notes == ("1 expired cookie in cookies.txt left out",)
    with pytest.raises(UsageError, match="all 1 cookies in it have expired"):
        load_cookies_txt(_write(tmp_path, stale, "old.txt"))


BAD_COOKIE_LINES = [
    (f"example.com FALSE / FALSE 0 sid {SECRET}", "line 2: expected 7 fields separated by tabs, found 1 "
                                                  "(spaces instead of tabs?)"),
    (f"example.com\tFALSE\t/\tFALSE\t0\t{SECRET}", "line 2: expected 7 fields separated by tabs, found 6"),
    (f"example.com\tMAYBE\t/\tFALSE\t0\tsid\t{SECRET}", "line 2: the include-subdomains flag (field 2)"),
    (f"example.com\tFALSE\t/\tyes\t0\tsid\t{SECRET}", "line 2: the secure flag (field 4)"),
    (f"example.com\tFALSE\tpaper\tFALSE\t0\tsid\t{SECRET}", "line 2: the path (field 3) must start with /"),
    (f"example.com\tFALSE\t/\tFALSE\tsoon\tsid\t{SECRET}", "line 2: the expiry (field 5) must be a number"),
    (f"example.com\tFALSE\t/\tFALSE\t-5\tsid\t{SECRET}", "line 2: the expiry (field 5) must be 0"),
    (f"\tFALSE\t/\tFALSE\t0\tsid\t{SECRET}", "line 2: the domain (field 1) is empty"),
    (f"example.com\tFALSE\t/\tFALSE\t0\t\t{SECRET}", "line 2: a cookie without a name"),
]


@pytest.mark.parametrize(("line", "message"), BAD_COOKIE_LINES)
def test_a_malformed_cookie_line_is_a_one_line_error_without_the_value(tmp_path, line, message):
    path = _write(tmp_path, "# Netscape HTTP Cookie File\n" + line + "\n")
    with pytest.raises(UsageError) as err:
        load_cookies_txt(path)
    text = str(err.value)
    assert message in text and text.startswith(f"--cookies {path}: ")
    assert SECRET not in text and "\n" not in text


@pytest.mark.parametrize(("content", "message"), [
    ("# Netscape HTTP Cookie File\n# nothing else\n", "holds no cookies"),
    (b"\xff\xfe\x00binary", "not a text file"),
    (None, "no such file"),
    ("dir", "is a directory"),
])
def test_unreadable_cookie_files(tmp_path, content, message):
    path = tmp_path / "cookies.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_session(COOKIES, path)


def _state(**overrides) -> dict:
    cookie = {"name": "sid", "value": SECRET, "domain": "example.com", "path": "/", "expires": -1,
              "httpOnly": True, "secure": False, "sameSite": "Lax"}
    cookie.update(overrides)
    return {"cookies": [cookie],
            "origins": [{"origin": "https://example.com", "localStorage": [{"name": "t", "value": SECRET}]}]}


def test_storage_state_as_playwright_writes_it(tmp_path):
    path = _write(tmp_path, json.dumps(_state()), "state.json")
    session = load_storage_state(path)
    assert session.kind == STORAGE_STATE
    assert session.cookies[0]["value"] == SECRET and session.cookies[0]["sameSite"] == "Lax"
    origin = session.context_args()["storage_state"]["origins"][0]
    assert origin["localStorage"] == [{"name": "t", "value": SECRET}]
    assert session.where == {0: "cookies[0]"}
    # Storage alone is a session too (a site that keeps its token in localStorage).
    only_storage = _write(tmp_path, json.dumps({"origins": _state()["origins"]}), "storage.json")
    assert load_storage_state(only_storage).cookies == []


@pytest.mark.parametrize(("data", "message"), [
    ("{not json", "not JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    ("[]", "not a Playwright storage state"),
    ('{"cookies": {}}', '"cookies" must be a list'),
    ('{"cookies": [], "origins": []}', "holds no cookies and no storage"),
    (_state(name=""), "cookies[0]: a cookie without a name"),
    (_state(value=5), 'cookies[0] (sid): "value" must be a string'),
    (_state(name=7), 'cookies[0]: "name" must be a string'),
    (_state(path="x"), 'cookies[0] (sid): "path" must start with /'),
    (_state(expires="tomorrow"), 'cookies[0] (sid): "expires" must be -1'),
    (_state(expires=-7), 'cookies[0] (sid): "expires" must be -1'),
    (_state(httpOnly="yes"), 'cookies[0] (sid): "httpOnly" must be true or false'),
    (_state(sameSite="lax"), 'cookies[0] (sid): "sameSite" must be Strict, Lax or None'),
    (_state(domain=" "), 'cookies[0] (sid): "domain" is empty or has spaces'),
    ({"origins": [{"origin": "file:///x", "localStorage": []}]}, 'origins[0]: "origin" must be an http'),
    ({"origins": [{"origin": "https://a.example", "localStorage": [{"name": "t", "value": 5}]}]},
     "origins[0] (https://a.example): localStorage[0] must be an object"),
    ({"cookies": [{"name": "a", "value": SECRET, "domain": "x.example", "path": "/", "expires": PAST}]},
     "all 1 cookies in it have expired, and it holds no storage"),
])
def test_a_malformed_storage_state_is_a_one_line_error_without_the_value(tmp_path, data, message):
    path = _write(tmp_path, data if isinstance(data, str) else json.dumps(data), "state.json")
    with pytest.raises(UsageError) as err:
        load_storage_state(path)
    text = str(err.value)
    assert message in text and text.startswith(f"--storage-state {path}: ")
    assert SECRET not in text and "\n" not in text


def test_what_is_written_about_a_session_is_its_kind_and_file_name_only(tmp_path):
    path = _write(tmp_path, json.dumps(_state()), "state.json")
    session = load_storage_state(path)
    opts = CaptureOptions(session=session)
    assert opts.settings()["session"] == {"kind": "storage-state", "source": "state.json"}
    for shown in (repr(session), repr(opts), str(opts.settings()), session.summary()):
        assert SECRET not in shown and str(tmp_path) not in shown.replace(str(path), "")
    assert session.summary() == "capturing with 1 cookie and the storage of 1 origin from state.json"


def test_a_browsers_message_is_shown_without_any_value_of_the_session(tmp_path):
    """What the browser says when it refuses a session may quote it: every cookie, localStorage and
    IndexedDB value is taken out of the message before it is shown."""
    from warcache.capture.session import _scrub

    record = {"key": "api", "value": {"token": SECRET[::-1], "scopes": ["read", SECRET.upper()]}}
    state = _state()
    state["origins"][0]["indexedDB"] = [{"name": "members", "version": 1,
                                         "stores": [{"name": "tokens", "records": [record]}]}]
    session = load_storage_state(_write(tmp_path, json.dumps(state), "state.json"))
    message = f"Invalid value {SECRET} in {SECRET[::-1]}, {SECRET.upper()} and {SECRET}x"
    assert _scrub(message, session) == "Invalid value [value] in [value], [value] and [value]x"


def test_profile_directories(tmp_path):
    with pytest.raises(UsageError, match="no such directory: make one with `warcache login"):
        check_profile(tmp_path / "missing")
    assert check_profile(tmp_path / "missing", create=True) == (tmp_path / "missing").absolute()
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="is empty, not a browser profile"):
        check_profile(tmp_path / "empty")
    assert check_profile(tmp_path / "empty", create=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a browser profile directory"):
        check_profile(tmp_path / "file", create=True)
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    with pytest.raises(UsageError, match="not a Chromium profile .* will not write a browser's files"):
        check_profile(home, create=True)  # not even `warcache login` fills a directory that is not a profile
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "Local State").write_text('{"truncated": ')
    with pytest.raises(UsageError, match="'Local State' file is damaged"):
        check_profile(damaged)
    good = tmp_path / "good"
    (good / "Default").mkdir(parents=True)
    (good / "Local State").write_text("{}")
    assert load_session(PROFILE, good) == Session(PROFILE, good.absolute())


def test_a_profile_serves_one_run_at_a_time(tmp_path):
    profile = tmp_path / "profile"
    with ProfileLock(profile), pytest.raises(UsageError, match="in use by another warcache run"):
        ProfileLock(profile).acquire()
    with ProfileLock(profile):  # released: usable again
        pass


def test_a_profile_open_in_a_running_browser_is_refused(tmp_path):
    import socket
    import subprocess

    profile = tmp_path / "profile"
    profile.mkdir()
    lock = profile / "SingletonLock"
    # Chromium's own lock names "<host>-<pid>" of the browser using the profile.
    browser = subprocess.Popen(["bash", "-c", "exec -a chromium-stand-in sleep 30"])
    try:
        time.sleep(0.2)  # (until exec has renamed it)
        os.symlink(f"{socket.gethostname()}-{browser.pid}", lock)
        with pytest.raises(UsageError, match=f"open in a running browser \\(process {browser.pid}\\)"):
            ProfileLock(profile).acquire()
    finally:
        browser.kill()
        browser.wait()
    with ProfileLock(profile):  # that browser is gone: Chromium takes its lock over, so may warcache
        pass
    lock.unlink()
    os.symlink(f"{socket.gethostname()}-{os.getpid()}", lock)  # alive, but not a browser: a reused id
    with ProfileLock(profile):
        pass


def test_login_needs_a_display_on_x11_and_wayland_systems():
    assert "no display" in display_problem({}, "linux")
    assert display_problem({"DISPLAY": ""}, "linux").startswith("no display to open a browser window on")
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({}, "darwin") is None
