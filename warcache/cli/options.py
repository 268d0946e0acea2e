"""Options shared by several commands, and the parsing of their values."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from warcache.collection import DEFAULT_COLLECTION

if TYPE_CHECKING:
    from warcache.capture.page import CaptureOptions


def default_jobs() -> int:
    """Parallel captures suited to the machine: a browser context per core, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _parse_viewport(ctx, param, value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter("use WIDTHxHEIGHT, e.g. 1280x800") from None
    if not (200 <= width <= 7680 and 200 <= height <= 4320):
        raise click.BadParameter("width and height must be between 200 and 7680x4320")
    return width, height


def _parse_resolve(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for value in values:
        host, sep, address = value.rpartition(":") if value.count(":") == 1 else value.partition("=")
        if not sep or not host or not address:
            raise click.BadParameter(f"{value!r}: use HOST:ADDRESS (or HOST=ADDRESS for IPv6)")
        mapping[host.lower()] = address.strip("[]")
    return mapping


def _read_with(reader: str):
    """A callback reading an option's file with a library function (imported only when the option
    is given), its one-line error as the option's."""

    def callback(ctx, param, value):
        if value is None or value == ():
            return value
        import importlib

        from warcache.errors import UsageError

        ctx.meta[f"warcache.raw.{param.name}"] = value  # the file names, for the warcinfo record
        module, _, name = reader.rpartition(".")
        read = getattr(importlib.import_module(module), name)
        try:
            return [read(v) for v in value] if isinstance(value, tuple) else read(value)
        except UsageError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


def _check_media(ctx, param, value: bool) -> bool:
    if value:
        from warcache.capture.ytdlp import check_available
        from warcache.errors import UsageError

        try:
            check_available()
        except UsageError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def collection_option(f):
    return click.option("-c", "--collection", default=DEFAULT_COLLECTION, show_default=True,
                        help="Collection to use (created on first capture).")(f)


#: Bringing a logged-in session (warcache/capture/session.py); at most one of them.
session_options = [
    click.option("--cookies", "cookies_file", metavar="FILE",
                 help="Capture with the cookies of a Netscape cookies.txt (as browser extensions and "
                      "yt-dlp export them)."),
    click.option("--storage-state", "storage_state_file", metavar="FILE",
                 help="Capture with the cookies and storage of a Playwright storage-state JSON file."),
    click.option("--profile", "profile_dir", metavar="DIR",
                 help="Capture in a Chromium profile made by `warcache login` (one page at a time); "
                      "the site's updates to the session are kept in it."),
]


def capture_options(f):
    """The options of every command that captures (add, retry)."""
    options = [
        click.option("--browser", "browser_path", metavar="PATH", envvar="WARCACHE_CHROMIUM",
                     help="Chromium or Chrome to drive [env WARCACHE_CHROMIUM]."),
        click.option("--timeout", type=click.FloatRange(1, 3600), default=60, show_default=True,
                     help="Seconds to wait for a page to load."),
        click.option("--idle-timeout", type=click.FloatRange(0, 600), default=10, show_default=True,
                     help="Seconds to wait for the network to go quiet after load."),
        click.option("--no-scroll", is_flag=True,
                     help="Do not scroll the page (lazy content may be missed)."),
        click.option("--scroll-timeout", type=click.FloatRange(0, 3600), default=30, show_default=True,
                     help="Seconds to spend scrolling."),
        click.option("--max-scroll-steps", type=click.IntRange(0, 10000), default=50, show_default=True),
        click.option("--viewport", default="1280x800", show_default=True, callback=_parse_viewport,
                     help="Browser window size WIDTHxHEIGHT."),
        click.option("--user-agent", default="",
                     help="User agent (default: this Chromium's, without 'Headless')."),
        click.option("--ignore-https-errors", is_flag=True,
                     help="Capture sites whose TLS certificate is invalid or self-signed."),
        click.option("--no-screenshot", is_flag=True, help="Do not store a screenshot."),
        click.option("--max-warc-size", type=click.IntRange(1 << 20), default=1 << 30, show_default=True,
                     help="Start a new WARC file once one passes this many bytes."),
        click.option("--max-resource-size", type=click.IntRange(1024), default=1 << 30, show_default=True,
                     help="Record at most this many bytes of one response body; the rest is cut "
                          "(the record says WARC-Truncated: length)."),
        click.option("--resolve", multiple=True, callback=_parse_resolve, metavar="HOST:ADDRESS",
                     help="Connect to ADDRESS for HOST instead of looking it up (repeatable)."),
        click.option("--dismiss-consent", is_flag=True,
                     help="Answer cookie/consent dialogs (reject, else accept) and hide what remains."),
        click.option("--consent-rules", metavar="FILE",
                     callback=_read_with("warcache.capture.consent.read_rules_file"),
                     help="More consent dialogs to know (TOML, as warcache/capture/consent_rules.toml); "
                          "tried before the shipped ones."),
        click.option("--no-expand", is_flag=True,
                     help="Do not open <details> or click 'read more' / 'load more'."),
        click.option("--no-play", is_flag=True, help="Do not play the page's <video> and <audio>."),
        click.option("--behavior", "behavior", metavar="FILE.js",
                     callback=_read_with("warcache.capture.userscript.read_script"),
                     help="Run this script in the page after load: async (wc) => {...} (see README)."),
        click.option("--behavior-timeout", type=click.FloatRange(1, 3600), default=20, show_default=True,
                     help="Seconds each behaviour (consent, expand, play, --behavior) may take."),
        click.option("--pdf", is_flag=True, help="Also store the page printed to PDF by Chromium."),
        click.option("--media", is_flag=True, callback=_check_media,
                     help="Also download the page's video with yt-dlp (pip install 'warcache[media]')."),
        click.option("--media-timeout", type=click.FloatRange(1, 86400), default=300, show_default=True,
                     help="Seconds yt-dlp may take for one page (--media)."),
        click.option("--block", multiple=True, metavar="PATTERN",
                     help="Neither fetch nor archive requests matching this adblock rule, e.g. "
                          "'||tracker.example^' (repeatable)."),
        click.option("--block-list", multiple=True, metavar="FILE",
                     callback=_read_with("warcache.capture.blocklist.read_block_list"),
                     help="A list of adblock rules (EasyList, EasyPrivacy...) to block (repeatable)."),
        click.option("-j", "--jobs", type=click.IntRange(1, 32), default=default_jobs,
                     show_default="cores, max 4",
                     help="Pages captured at once, each in its own browser context."),
        click.option("--no-check", is_flag=True, envvar="WARCACHE_NO_CHECK",
                     help="Skip the fidelity check (replaying each page from the archive and comparing) "
                          "[env WARCACHE_NO_CHECK=1]."),
        click.option("--retry-below", type=click.IntRange(1, 100), metavar="N",
                     help="Capture a page once more, with longer waits, when its fidelity is under N; "
                          "both captures are kept, the better one is the page's."),
        click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout."),
        *session_options,
        click.option("-q", "--quiet", is_flag=True,
                     help="Print only what went wrong (failed captures, recovered files): silent when all "
                          "is well, for cron. The exit status says it too."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def broker_option(f):
    return click.option("--broker", metavar="URL", envvar="WARCACHE_BROKER",
                        help="Redis of the capture queue, redis://HOST[:PORT][/DB] [env WARCACHE_BROKER].")(f)


def store_option(f):
    return click.option("--store", metavar="URL", envvar="WARCACHE_STORE",
                        help="Where workers deliver WARC files: a directory every machine sees "
                             "(file:///PATH) or s3://BUCKET/PREFIX[?endpoint=URL] "
                             "[env WARCACHE_STORE; default: ROOT/incoming].")(f)


def queue_options(f):
    """Capturing through the queue instead of locally (add, retry)."""
    return broker_option(store_option(f))


def capture_settings(kw: dict) -> tuple[CaptureOptions, dict]:
    """The capture options from a command's keyword arguments, and the arguments left over."""
    import os.path

    from warcache.capture.page import CaptureOptions

    ctx = click.get_current_context(silent=True)
    behavior_path = _raw_value(ctx, "behavior")
    list_paths = _raw_value(ctx, "block_list") or ()
    block, lists = list(kw.pop("block")), kw.pop("block_list") or []
    sources = [f"--block {p}" for p in block] + [f"--block-list {os.path.basename(p)}" for p in list_paths]
    opts = CaptureOptions(
        timeout=kw.pop("timeout"), idle_timeout=kw.pop("idle_timeout"), scroll=not kw.pop("no_scroll"),
        scroll_timeout=kw.pop("scroll_timeout"), max_scroll_steps=kw.pop("max_scroll_steps"),
        viewport=kw.pop("viewport"), user_agent=kw.pop("user_agent"),
        ignore_https_errors=kw.pop("ignore_https_errors"), screenshot=not kw.pop("no_screenshot"),
        max_resource_size=kw.pop("max_resource_size"), resolve=kw.pop("resolve"),
        dismiss_consent=kw.pop("dismiss_consent"), consent_rules=kw.pop("consent_rules"),
        expand=not kw.pop("no_expand"), play_media=not kw.pop("no_play"),
        behavior_script=kw.pop("behavior") or "",
        behavior_name=os.path.basename(behavior_path) if behavior_path else "",
        behavior_timeout=kw.pop("behavior_timeout"), pdf=kw.pop("pdf"), media=kw.pop("media"),
        media_timeout=kw.pop("media_timeout"),
        block_rules=tuple(block + [rule for rules in lists for rule in rules]), block_sources=tuple(sources),
        session=_session(kw))
    return opts, kw


def _raw_value(ctx: click.Context | None, name: str):
    """What the user typed for an option whose callback turned it into something else (a file
    name whose content the callback read)."""
    if ctx is None:
        return None
    return ctx.meta.get(f"warcache.raw.{name}")


def _session(kw: dict):
    """The session of --cookies, --storage-state or --profile, read and checked now (before anything
    is captured), or None."""
    from warcache.capture.session import COOKIES, PROFILE, STORAGE_STATE, load_session
    from warcache.errors import UsageError

    given = [(kind, kw.pop(key)) for kind, key in ((COOKIES, "cookies_file"),
                                                   (STORAGE_STATE, "storage_state_file"),
                                                   (PROFILE, "profile_dir"))]
    given = [(kind, value) for kind, value in given if value]
    if len(given) > 1:
        raise UsageError("use one of --cookies, --storage-state and --profile, not several")
    return load_session(*given[0]) if given else None
