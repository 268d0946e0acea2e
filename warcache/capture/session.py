"""Bringing a logged-in session to a capture: cookies and storage from a file, or a browser profile.

The articles people cache are often behind a login or a paywall they pay for. A capture can carry
the session of a browser that is logged in, in one of three kinds:

    cookies        --cookies FILE         a Netscape cookies.txt (browser extensions, yt-dlp, curl)
    storage-state  --storage-state FILE   Playwright's JSON (`context.storage_state()`): cookies,
                                          and each origin's localStorage (and IndexedDB)
    profile        --profile DIR          a persistent Chromium profile (see profile.py)

A file is read and checked in full before anything is captured: a line or an entry that cannot be
used is a one-line error, so no page is captured with half a session. Cookies that have expired
are left out (the browser would drop them too), and a file with none left is an error.

Secrets: a session's values never appear in what warcache writes about a capture (warcinfo, page
records, messages, `--json`). `Session.describe()` is all that is written: its kind and the name of
the file or directory it came from. Errors name the line or the entry and the cookie's name, never
a value. The state itself is hidden from `repr`, so printing the options shows no secret. (The
request records keep the Cookie and Authorization headers the browser sent, because they are the
archive; `export --redact` blanks them in a copy.)

Why cookies.txt is read here rather than by `http.cookiejar.MozillaCookieJar`: its errors quote the
offending line, that is the cookie's value, which is a secret, and cannot say which line it was; it
refuses files that browser extensions write (a host name without a leading dot marked for
subdomains, no header line) and warns with a traceback on others. The format is seven
tab-separated fields per line (and a `#HttpOnly_` prefix on the domain for HttpOnly cookies); its
rules are checked line by line below, with errors that name the line only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Browser
from playwright.async_api import Error as PlaywrightError

from warcache.errors import UsageError

COOKIES, STORAGE_STATE, PROFILE = "cookies", "storage-state", "profile"
OPTION = {COOKIES: "--cookies", STORAGE_STATE: "--storage-state", PROFILE: "--profile"}

HTTPONLY_PREFIX = "#HttpOnly_"
SAME_SITE = ("Strict", "Lax", "None")
#: A session file larger than this is not a session file (a browser's whole cookie jar is < 1 MB).
MAX_FILE_SIZE = 32 * 1024 * 1024


@dataclass(frozen=True)
class Session:
    """A session to capture with. `state` (Playwright's storage-state dict) is the secret part."""

    kind: str  # COOKIES, STORAGE_STATE or PROFILE
    source: Path  # the file or profile directory it came from
    state: dict | None = field(default=None, repr=False, compare=False)  # None for a profile
    where: dict[int, str] = field(default_factory=dict, repr=False, compare=False)  # cookie -> "line 3"
    notes: tuple[str, ...] = ()  # for the user: cookies left out because they expired

    @property
    def option(self) -> str:
        return OPTION[self.kind]

    def describe(self) -> dict[str, str]:
        """What capture records about the session: its kind and the name of its file, nothing more."""
        return {"kind": self.kind, "source": self.source.name}

    def context_args(self) -> dict:
        """Keyword arguments for `browser.new_context`: the cookies and storage (a copy)."""
        if self.state is None:
            return {}
        return {"storage_state": json.loads(json.dumps(self.state))}

    @property
    def cookies(self) -> list[dict]:
        return list((self.state or {}).get("cookies", []))

    def summary(self) -> str:
        """One line for the user: which session, how much of it (no values)."""
        if self.kind == PROFILE:
            return f"capturing with the browser profile {self.source} (one page at a time)"
        origins = len((self.state or {}).get("origins", []))
        storage = f" and the storage of {_count(origins, 'origin')}" if origins else ""
        return f"capturing with {_count(len(self.cookies), 'cookie')}{storage} from {self.source.name}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def load_session(kind: str, path: str | Path) -> Session:
    """The session of `--cookies FILE`, `--storage-state FILE` or `--profile DIR`; UsageError if
    it cannot be used whole."""
    if kind == COOKIES:
        return load_cookies_txt(path)
    if kind == STORAGE_STATE:
        return load_storage_state(path)
    if kind == PROFILE:
        from warcache.capture.profile import check_profile

        return Session(PROFILE, check_profile(Path(path).expanduser()))
    raise ValueError(kind)


def _read_text(path: Path, option: str) -> str:
    try:
        if path.is_dir():
            raise UsageError(f"{option} {path}: is a directory, not a file")
        size = path.stat().st_size
        if size > MAX_FILE_SIZE:
            raise UsageError(f"{option} {path}: {size} bytes is too large for a session file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{option} {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{option} {path}: not a text file (not UTF-8 at byte {exc.start})") from None


# -- cookies.txt --------------------------------------------------------------------------------


def load_cookies_txt(path: str | Path) -> Session:
    """Read a Netscape cookies.txt: `domain  subdomains  path  secure  expires  name  value`,
    tab-separated, `#HttpOnly_` before the domain of an HttpOnly cookie, `#` comments."""
    path = Path(path).expanduser()
    text = _read_text(path, "--cookies")
    where = f"--cookies {path}"
    cookies: list[dict] = []
    lines: dict[int, str] = {}
    expired = 0
    now = time.time()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        http_only = line.startswith(HTTPONLY_PREFIX)
        if http_only:
            line = line[len(HTTPONLY_PREFIX):]
        elif not line.strip() or line.lstrip().startswith(("#", "$")):
            continue
        cookie = _cookie_line(line, f"{where}: line {number}")
        cookie["httpOnly"] = http_only
        if 0 < cookie["expires"] <= now:
            expired += 1
            continue
        lines[len(cookies)] = f"line {number}"
        cookies.append(cookie)
    if not cookies:
        if expired:
            raise UsageError(f"{where}: all {expired} cookies in it have expired: export them again")
        raise UsageError(f"{where}: holds no cookies (a Netscape cookies.txt has one cookie per line, "
                         "seven fields separated by tabs)")
    notes = (f"{_count(expired, 'expired cookie')} in {path.name} left out",) if expired else ()
    return Session(COOKIES, path, {"cookies": cookies, "origins": []}, lines, notes)


def _cookie_line(line: str, where: str) -> dict:
    fields = line.split("\t")
    if len(fields) != 7:
        hint = " (spaces instead of tabs?)" if len(fields) == 1 and " " in line.strip() else ""
        raise UsageError(f"{where}: expected 7 fields separated by tabs, found {len(fields)}{hint}")
    domain, subdomains, path, secure, expires, name, value = fields
    domain = domain.strip()
    if not domain or any(c.isspace() for c in domain):
        raise UsageError(f"{where}: the domain (field 1) is empty or has spaces")
    flags = {}
    for label, number, flag in (("include-subdomains", 2, subdomains), ("secure", 4, secure)):
        flag = flag.strip().upper()
        if flag not in ("TRUE", "FALSE"):
            raise UsageError(f"{where}: the {label} flag (field {number}) must be TRUE or FALSE")
        flags[label] = flag == "TRUE"
    if not path.startswith("/"):
        raise UsageError(f"{where}: the path (field 3) must start with /")
    try:
        when = float(expires.strip() or "0")
    except ValueError:
        raise UsageError(f"{where}: the expiry (field 5) must be a number of seconds since 1970") from None
    if when < 0 or when != when:
        raise UsageError(f"{where}: the expiry (field 5) must be 0 (session) or a time after 1970")
    if not name:
        raise UsageError(f"{where}: a cookie without a name (field 6) is not supported")
    # The flag says what the cookie is; the leading dot is how a browser writes a domain cookie.
    domain = "." + domain.lstrip(".") if flags["include-subdomains"] else domain.lstrip(".")
    return {"name": name, "value": value, "domain": domain, "path": path,
            "expires": when if when > 0 else -1, "secure": flags["secure"]}


# -- Playwright storage state -------------------------------------------------------------------


def load_storage_state(path: str | Path) -> Session:
    """Read Playwright's storage state: `{"cookies": [...], "origins": [{"origin", "localStorage":
    [{"name", "value"}], "indexedDB"?}]}`. Unknown keys are ignored; the rest is checked."""
    path = Path(path).expanduser()
    where = f"--storage-state {path}"
    try:
        data = json.loads(_read_text(path, "--storage-state"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict) or not ({"cookies", "origins"} & data.keys()):
        raise UsageError(f"{where}: not a Playwright storage state (an object with \"cookies\" and "
                         "\"origins\")")
    raw_cookies, raw_origins = data.get("cookies", []), data.get("origins", [])
    for key, value in (("cookies", raw_cookies), ("origins", raw_origins)):
        if not isinstance(value, list):
            raise UsageError(f"{where}: \"{key}\" must be a list")
    cookies, lines, expired, now = [], {}, 0, time.time()
    for i, item in enumerate(raw_cookies):
        cookie = _state_cookie(item, f"{where}: cookies[{i}]")
        if 0 < cookie["expires"] <= now:
            expired += 1
            continue
        lines[len(cookies)] = f"cookies[{i}]"
        cookies.append(cookie)
    origins = [_state_origin(item, f"{where}: origins[{i}]") for i, item in enumerate(raw_origins)]
    if not cookies and not any(o.get("localStorage") or o.get("indexedDB") for o in origins):
        if expired:
            raise UsageError(f"{where}: all {expired} cookies in it have expired, and it holds no storage")
        raise UsageError(f"{where}: holds no cookies and no storage")
    notes = (f"{_count(expired, 'expired cookie')} in {path.name} left out",) if expired else ()
    return Session(STORAGE_STATE, path, {"cookies": cookies, "origins": origins}, lines, notes)


def _state_cookie(item: object, where: str) -> dict:
    if not isinstance(item, dict):
        raise UsageError(f"{where}: must be an object")
    name = item.get("name")
    if not isinstance(name, str):
        raise UsageError(f"{where}: \"name\" must be a string")
    if not name:
        raise UsageError(f"{where}: a cookie without a name is not supported")
    where = f"{where} ({name})"
    cookie: dict = {"name": name}
    for key in ("value", "domain", "path"):
        value = item.get(key)
        if not isinstance(value, str):
            raise UsageError(f"{where}: \"{key}\" must be a string")
        cookie[key] = value
    if not cookie["domain"].strip(".") or any(c.isspace() for c in cookie["domain"]):
        raise UsageError(f"{where}: \"domain\" is empty or has spaces")
    if not cookie["path"].startswith("/"):
        raise UsageError(f"{where}: \"path\" must start with /")
    expires = item.get("expires", -1)
    if isinstance(expires, bool) or not isinstance(expires, int | float) or (expires < 0 and expires != -1):
        raise UsageError(f"{where}: \"expires\" must be -1 (session) or seconds since 1970")
    cookie["expires"] = expires
    for key in ("httpOnly", "secure"):
        value = item.get(key, False)
        if not isinstance(value, bool):
            raise UsageError(f"{where}: \"{key}\" must be true or false")
        cookie[key] = value
    if "sameSite" in item:
        if item["sameSite"] not in SAME_SITE:
            raise UsageError(f"{where}: \"sameSite\" must be Strict, Lax or None")
        cookie["sameSite"] = item["sameSite"]
    return cookie


def _state_origin(item: object, where: str) -> dict:
    if not isinstance(item, dict):
        raise UsageError(f"{where}: must be an object")
    origin = item.get("origin")
    parts = urlsplit(origin) if isinstance(origin, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{where}: \"origin\" must be an http or https origin (https://example.com)")
    storage = item.get("localStorage", [])
    if not isinstance(storage, list):
        raise UsageError(f"{where} ({origin}): \"localStorage\" must be a list")
    for j, entry in enumerate(storage):
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                and isinstance(entry.get("value"), str)):
            raise UsageError(f"{where} ({origin}): localStorage[{j}] must be an object with a string "
                             "\"name\" and \"value\"")
    out = {"origin": origin, "localStorage": [{"name": e["name"], "value": e["value"]} for e in storage]}
    if "indexedDB" in item:
        if not isinstance(item["indexedDB"], list):
            raise UsageError(f"{where} ({origin}): \"indexedDB\" must be a list")
        out["indexedDB"] = item["indexedDB"]  # its shape is Playwright's to check (see check_in_browser)
    return out


# -- the browser's view ---------------------------------------------------------------------------


async def check_in_browser(browser: Browser, session: Session, timeout: float) -> None:
    """Open a context with the session, as every capture will, and make sure the browser took all
    of it: a cookie it refuses (a `__Host-` cookie with a domain, a value with a `;`) or drops is a
    UsageError naming it, before anything is captured. Nothing is fetched: Playwright fills
    localStorage from pages it answers itself."""
    if session.state is None:
        return
    try:
        context = await asyncio.wait_for(browser.new_context(**session.context_args()), timeout)
    except PlaywrightError as exc:
        culprit = await _refused(browser, session, timeout)
        raise UsageError(f"{session.option} {session.source}: the browser refused {culprit}: "
                         f"{_reason(exc, session)}") from None
    try:
        kept = {_cookie_key(c) for c in await asyncio.wait_for(context.cookies(), timeout)}
    finally:
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(context.close(), timeout)
    dropped = [i for i, c in enumerate(session.cookies) if _cookie_key(c) not in kept]
    if dropped:
        first = _name(session, dropped[0])
        more = f" and {len(dropped) - 1} more" if len(dropped) > 1 else ""
        raise UsageError(f"{session.option} {session.source}: the browser would not keep {first}{more} "
                         "(a cookie its rules refuse: check its domain, path, secure and prefix)")


async def _refused(browser: Browser, session: Session, timeout: float) -> str:
    """Which part of the session the browser refuses: a cookie (given to it one at a time, in one
    context: a browser's export holds hundreds), or else the storage."""
    context = await asyncio.wait_for(browser.new_context(), timeout)
    try:
        for i, cookie in enumerate(session.cookies):
            try:
                await asyncio.wait_for(context.add_cookies([cookie]), timeout)  # type: ignore[list-item]
            except PlaywrightError:
                return _name(session, i)
    finally:
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await asyncio.wait_for(context.close(), timeout)
    return "the storage of its origins"


def _cookie_key(cookie: dict) -> tuple[str, str, str]:
    return cookie["name"], cookie["domain"].lstrip(".").lower(), cookie["path"]


def _name(session: Session, index: int) -> str:
    cookie = session.cookies[index]
    where = session.where.get(index, f"cookie {index + 1}")
    return f"the cookie {cookie['name']!r} for {cookie['domain']} ({where})"


def _reason(exc: PlaywrightError, session: Session) -> str:
    """The browser's own reason, last in Playwright's message ("Protocol error (Storage.setCookies):
    Invalid cookie fields"), without the protocol's words or any value of the session."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    reason = re.sub(r"^Protocol error \([^)]*\):\s*", "", lines[-1] if lines else "")
    return _scrub(reason, session).rstrip(":") or "no reason given"


def _scrub(text: str, session: Session) -> str:
    """`text` (a browser's message) without any value of the session in it."""
    values = [c["value"] for c in session.cookies]
    for origin in (session.state or {}).get("origins", []):
        values += [e["value"] for e in origin.get("localStorage", [])]
        for database in origin.get("indexedDB", []):  # every string stored in it, however nested
            for store in database.get("stores", []) if isinstance(database, dict) else ():
                for record in store.get("records", []) if isinstance(store, dict) else ():
                    values += _strings(record)
    for value in sorted((v for v in values if len(v) >= 3), key=len, reverse=True):
        text = text.replace(value, "[value]")
    return text


def _strings(item: object) -> list[str]:
    """Every string in a JSON value (an IndexedDB record as Playwright writes it)."""
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict):
        return [s for value in item.values() for s in _strings(value)]
    if isinstance(item, list):
        return [s for value in item for s in _strings(value)]
    return []
