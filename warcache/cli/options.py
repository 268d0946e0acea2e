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


def collection_option(f):
    return click.option("-c", "--collection", default=DEFAULT_COLLECTION, show_default=True,
                        help="Collection to use (created on first capture).")(f)


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
        click.option("-j", "--jobs", type=click.IntRange(1, 32), default=default_jobs,
                     show_default="cores, max 4",
                     help="Pages captured at once, each in its own browser context."),
        click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def capture_settings(kw: dict) -> tuple[CaptureOptions, dict]:
    """The capture options from a command's keyword arguments, and the arguments left over."""
    from warcache.capture.page import CaptureOptions

    opts = CaptureOptions(
        timeout=kw.pop("timeout"), idle_timeout=kw.pop("idle_timeout"), scroll=not kw.pop("no_scroll"),
        scroll_timeout=kw.pop("scroll_timeout"), max_scroll_steps=kw.pop("max_scroll_steps"),
        viewport=kw.pop("viewport"), user_agent=kw.pop("user_agent"),
        ignore_https_errors=kw.pop("ignore_https_errors"), screenshot=not kw.pop("no_screenshot"),
        max_resource_size=kw.pop("max_resource_size"), resolve=kw.pop("resolve"))
    return opts, kw
