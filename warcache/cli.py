"""The `warcache` command: a thin layer over the library.

Each command parses its options, calls one library function, and prints. Data goes to stdout
(`--json`), progress and messages to stderr. Every failure the user can cause ends in a one-line
`Error: ...` and a non-zero exit; tracebacks only with `--debug`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from warcache import __version__
from warcache.archiver import Archiver, PageResult
from warcache.batch import Progress, capture_many, default_jobs, plan
from warcache.browser import find_browser
from warcache.capture import CaptureOptions
from warcache.collection import (
    DEFAULT_COLLECTION,
    Collection,
    list_collections,
    open_collection,
    root_path,
    validate_name,
)
from warcache.errors import UsageError, WarcacheError
from warcache.history import list_pages, show_captures
from warcache.importer import import_files
from warcache.indexer import index_collection
from warcache.search import archive_indexes, group_hits, hit_json, search_archive


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", type=click.Path(file_okay=False), envvar="WARCACHE_ROOT",
              help="Directory holding collections/ [env WARCACHE_ROOT; default: current directory].")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.version_option(__version__, prog_name="warcache")
@click.pass_context
def cli(ctx: click.Context, root: str | None, debug: bool) -> None:
    """warcache: a personal, faithful web archive.

    \b
    Capture pages with a real browser into WARC files:
        warcache add https://example.com/article
    """
    ctx.obj = {"root": root, "debug": debug}


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


def _capture_settings(kw: dict) -> tuple[CaptureOptions, dict]:
    opts = CaptureOptions(
        timeout=kw.pop("timeout"), idle_timeout=kw.pop("idle_timeout"), scroll=not kw.pop("no_scroll"),
        scroll_timeout=kw.pop("scroll_timeout"), max_scroll_steps=kw.pop("max_scroll_steps"),
        viewport=kw.pop("viewport"), user_agent=kw.pop("user_agent"),
        ignore_https_errors=kw.pop("ignore_https_errors"), screenshot=not kw.pop("no_screenshot"),
        max_resource_size=kw.pop("max_resource_size"), resolve=kw.pop("resolve"))
    return opts, kw


@cli.command()
@click.argument("urls", nargs=-1)
@collection_option
@click.option("--links-from", "links_from", multiple=True, metavar="SOURCE",
              help="Capture every link of a file or URL: Markdown, HTML, text, RSS/Atom, bookmarks "
                   "(repeatable).")
@click.option("--base-url", metavar="URL", help="Resolve relative links of a local SOURCE against this URL.")
@click.option("--include", multiple=True, metavar="PATTERN",
              help="Only links matching: a glob on the whole URL (https://example.com/*) or re:REGEX.")
@click.option("--exclude", multiple=True, metavar="PATTERN",
              help="Leave out links matching (like --include).")
@click.option("--recapture", is_flag=True,
              help="Capture links already in the collection again (a new capture).")
@click.option("--dry-run", is_flag=True, help="List what would be captured, capture nothing.")
@capture_options
@click.pass_context
def add(ctx: click.Context, urls: tuple[str, ...], collection: str, links_from: tuple[str, ...],
        base_url: str | None, include: tuple[str, ...], exclude: tuple[str, ...], recapture: bool,
        dry_run: bool, **kw) -> None:
    """Capture URLs with a real browser into WARC files.

    Each page is loaded in a fresh browser context, left to run its JavaScript, scrolled so lazy
    content loads, and every HTTP exchange it made is recorded, with a screenshot and the rendered
    DOM. With --links-from, every outbound link of a post, feed or bookmarks file is captured,
    except those the collection already holds (run it again: only new links are captured).

    \b
        warcache add https://example.com/ https://example.org/post
        warcache add --links-from post.md --base-url https://myblog.example/post/
        warcache add --links-from https://myblog.example/feed.xml -j 4
    """
    if not urls and not links_from:
        raise click.UsageError("give URLs to capture, or --links-from SOURCE")
    root = root_path(ctx.obj["root"])
    coll = (open_collection(root, collection, create=True) if not dry_run
            else Collection(root, validate_name(collection)))
    todo = plan(coll, list(urls), links_from=list(links_from), base_url=base_url, include=list(include),
                exclude=list(exclude), recapture=recapture)
    for message in todo.messages:
        _say(message, err=True)
    if todo.already:
        click.echo(f"{len(todo.already)} already in collection {coll.name!r} (--recapture to capture again)",
                   err=True)
    if todo.failed_before:
        click.echo(f"{len(todo.failed_before)} failed before (`warcache retry` tries them again)", err=True)
    if dry_run:
        for url in todo.to_capture:
            _say(url)
        click.echo(f"would capture {len(todo.to_capture)} URLs", err=True)
        return
    if not todo.to_capture:
        click.echo("nothing new to capture", err=True)
        return
    opts, kw = _capture_settings(kw)
    results = _run_captures(coll, opts, todo.to_capture, **kw)
    ctx.exit(1 if any(not r.ok for r in results) else 0)


@cli.command()
@collection_option
@capture_options
@click.pass_context
def retry(ctx: click.Context, collection: str, **kw) -> None:
    """Capture again the URLs whose capture failed."""
    coll = open_collection(root_path(ctx.obj["root"]), collection)
    urls = list(dict.fromkeys(f["url"] for f in coll.failures() if f.get("url")))
    if not urls:
        click.echo(f"no failed captures to retry in collection {coll.name!r}", err=True)
        return
    opts, kw = _capture_settings(kw)
    results = _run_captures(coll, opts, urls, **kw)
    ctx.exit(1 if any(not r.ok for r in results) else 0)


def _run_captures(coll, opts: CaptureOptions, urls: list[str], *, browser_path: str | None, jobs: int,
                  max_warc_size: int, as_json: bool) -> list[PageResult]:
    choice = find_browser(browser_path)
    progress = Progress(urls)
    try:
        asyncio.run(_capture_all(coll, opts, choice, progress, jobs, max_warc_size))
    except (KeyboardInterrupt, asyncio.CancelledError):
        progress.interrupted = True
    except Exception:
        if not progress.interrupted:
            raise
    interrupted = progress.interrupted
    results = [progress.results[i] for i in sorted(progress.results)]
    coll.update_failures({r.url for r in results if r.ok},
                         [{"url": r.url, "reason": r.error, "time": _now_iso()}
                          for r in results if not r.ok and r.retryable])
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2, ensure_ascii=False))
    done = sum(r.ok for r in results)
    size = sum(r.bytes for r in results)
    click.echo(f"{done} of {len(urls)} captured into collection {coll.name!r} "
               f"({_human_bytes(size)} written to {coll.archive_dir})", err=True)
    if interrupted:
        missing = progress.not_captured
        click.echo(f"interrupted: {len(missing)} not captured (run the same command again to capture them):",
                   err=True)
        for url in missing:
            _say(f"  {url}", err=True)
        sys.exit(130)
    return results


async def _capture_all(coll, opts: CaptureOptions, choice, progress: Progress, jobs: int,
                       max_warc_size: int) -> None:
    tty = sys.stderr.isatty()
    total = len(progress.urls)

    def recovered(item) -> None:
        click.echo(f"note: {item.describe()}", err=True)

    def started(i: int, url: str) -> None:
        if tty:
            _say(f"[{len(progress.results)}/{total}] capturing {url} ...", err=True)

    def landed(i: int, result: PageResult) -> None:
        _say(f"[{len(progress.results)}/{total}] {_describe(result)}", err=True)
        for warning in result.warnings:
            _say(f"      warning: {warning}", err=True)

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def interrupt() -> None:
        # A terminal's Ctrl-C also reaches the browser and its driver, which then die: from here on
        # their errors mean "interrupted", and captures under way are cancelled cleanly.
        if not progress.interrupted and main is not None:
            progress.interrupted = True
            click.echo("interrupting: stopping the captures under way ...", err=True)
            main.cancel()

    def quiet_when_interrupted(loop, context) -> None:
        if not progress.interrupted:
            loop.default_exception_handler(context)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.set_exception_handler(quiet_when_interrupted)
    async with Archiver(coll, opts, choice, max_warc_size=max_warc_size, on_recovered=recovered) as archiver:
        await capture_many(archiver, progress, jobs=jobs, on_start=started, on_result=landed)


#: Characters that would let archived text (a page's title, a URL, a snippet) drive the terminal:
#: C0 controls but tab and newline (escape sequences, carriage return, bell), DEL, C1 controls
#: (U+009B is an escape sequence introducer too), and bidirectional overrides that disguise text.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _plain(text: object) -> str:
    """`text` with every character that could act on a terminal replaced by U+FFFD."""
    return _UNSAFE_CHARS.sub("\ufffd", str(text))


def _say(text: object = "", *, err: bool = False) -> None:
    """Print a line for a person: archived text in it cannot act on their terminal."""
    click.echo(_plain(text), err=err)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(r: PageResult) -> str:
    if not r.ok:
        return f"FAILED {r.url}: {r.error}"
    moved = f" -> {r.final_url}" if r.final_url and r.final_url != r.url else ""
    title = f' "{_shorten(r.title, 60)}"' if r.title else ""
    revisits = f" ({r.revisits} already stored)" if r.revisits else ""
    return (f"ok {r.status} {r.url}{moved}{title}: {r.resources} responses{revisits}, "
            f"{_human_bytes(r.bytes)}, {r.seconds:.1f} s")


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@collection_option
@click.pass_context
def import_(ctx: click.Context, files: tuple[str, ...], collection: str) -> None:
    """Add WARC/ARC files made by other tools (wget, pywb, browsertrix, warcprox...) and index them.

    The files are copied into the collection unchanged. A damaged file has every readable record
    indexed, with a warning naming the file and the offset where reading stopped.

    \b
        warcache import crawl.warc.gz old-site.arc.gz -c imported
    """
    coll = open_collection(root_path(ctx.obj["root"]), collection, create=True)
    report = import_files(coll, [Path(f) for f in files])
    for line in report.messages:
        _say(line, err=True)
    click.echo(f"imported {len(report.imported)} of {len(files)} files into collection {coll.name!r}: "
               f"{report.index.lines} URL index lines, {report.index.docs} pages searchable", err=True)
    if report.failed:
        ctx.exit(1)


@cli.command()
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.option("--rebuild", is_flag=True, help="Throw the indexes away and re-derive them from the WARCs.")
@click.pass_context
def index(ctx: click.Context, collection: str | None, rebuild: bool) -> None:
    """Bring the indexes up to date with the WARC files (all of them with --rebuild).

    The WARCs are the source of truth: the URL index, the full-text index and the page list can
    always be made again from them.
    """
    root = root_path(ctx.obj["root"])
    names = [collection] if collection else list_collections(root)
    if not names:
        raise UsageError(f"no collections in {root}")
    for name in names:
        coll = open_collection(root, name)
        report = index_collection(coll, rebuild=rebuild)
        for warning in report.warnings:
            _say(f"warning: {warning}", err=True)
        click.echo(f"{name}: {report.files} WARC files {'re-indexed' if rebuild else 'newly indexed'}, "
                   f"{report.lines} URL index lines, {report.docs} pages searchable", err=True)


@cli.command()
@click.argument("query", nargs=-1, required=True)
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as a JSON array on stdout.")
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], collection: str | None, limit: int,
           as_json: bool) -> None:
    """Search the text of archived pages.

    \b
    Words must all match; also "exact phrases", OR, NOT or -word, ( ),
    title:word, site:example.com (or domain:), url:word,
    after:2024-01-01, before:2024-06 (dates of capture).
        warcache search 'climate "sea level" site:example.org after:2024'
    """
    root = root_path(ctx.obj["root"])
    indexes = archive_indexes(root, collection)
    hits = search_archive(root, " ".join(query), limit=limit, indexes=indexes)
    for index in indexes:
        if index.outdated():
            name = index.collection
            _say(f"note: the full-text index of collection {name!r} is in an older, slower layout; "
                 f"`warcache index -c {name} --rebuild` rebuilds it from the WARCs", err=True)
    if as_json:
        click.echo(json.dumps([hit_json(h) for h in hits], indent=2, ensure_ascii=False))
        return
    if not hits:
        click.echo("no matches", err=True)
        return
    color = sys.stdout.isatty()
    for group in group_hits(hits):
        first = group[0]
        title = first.title or first.url
        title = _plain(title)
        click.echo(click.style(title, bold=True) if color else title)
        times = ", ".join(_when(h.timestamp) for h in group)
        _say(f"  {first.url}")
        _say(f"  captured {times} [{first.collection}]")
        click.echo(f"  {_highlight(first.snippet, first.highlights, color)}")
        click.echo()


def _when(ts: str) -> str:
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]}" if len(ts) >= 12 else ts


def _highlight(snippet: str, spans: list[tuple[int, int]], color: bool) -> str:
    snippet = _plain(snippet)  # one character for one: the spans stay right
    snippet = " ".join(snippet.split()) if not spans else snippet.replace("\n", " ")
    if not color or not spans:
        return snippet
    out, pos = [], 0
    for start, end in sorted(spans):
        out.append(snippet[pos:start])
        out.append(click.style(snippet[start:end], bold=True, fg="yellow"))
        pos = end
    out.append(snippet[pos:])
    return "".join(out)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (anything but loopback exposes your archive).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port of the archive's own pages; replayed pages are served on the next port.")
@click.option("--replay-port", type=click.IntRange(0, 65535), default=None,
              help="Port for replayed pages (default: --port + 1).")
@click.option("-c", "--collection", default=None, help="Serve only this collection (default: all).")
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--collection-domain", metavar="DOMAIN", default=None,
              help="Replay each collection from <collection>.DOMAIN (default: localhost, which "
                   "browsers resolve themselves; elsewhere needs DNS for *.DOMAIN).")
@click.option("--shared-origin", is_flag=True,
              help="Replay all collections from one origin (then their scripts can read each other).")
@click.pass_context
def replay(ctx: click.Context, host: str, port: int, replay_port: int | None, collection: str | None,
           threads: int, collection_domain: str | None, shared_origin: bool) -> None:
    """Serve the archive locally: captured pages come back whole, offline.

    \b
    URLs follow pywb's: /<coll>/<timestamp>/<url>, /<coll>/<url> (latest),
    /<coll>/<timestamp>id_/<url> (the archived bytes unchanged).
    Every replayed page may load only from the replay server: nothing is fetched live.
    Each collection is replayed from its own host name (<coll>.localhost on the replay
    port), so one collection's archived scripts cannot read another's captures.
    """
    root = root_path(ctx.obj["root"])
    if collection:
        open_collection(root, collection)
    from warcache.replay import serve

    serve(root, host=host, port=port, collection=collection, replay_port=replay_port, threads=threads,
          collection_domain=collection_domain, shared_origin=shared_origin)


@cli.command("open")
@click.argument("url")
@click.option("--at", "at", metavar="TIMESTAMP",
              help="Capture nearest to this time (YYYYMMDDhhmmss or a prefix).")
@click.option("-c", "--collection", default=None, help="Look only in this collection.")
@click.option("--screenshot", type=click.Path(dir_okay=False), help="Save a screenshot here (headless).")
@click.option("--full-page", is_flag=True, help="With --screenshot: the whole page, not the window.")
@click.option("--browser", "browser_path", metavar="PATH", envvar="WARCACHE_CHROMIUM")
@click.option("--timeout", type=click.FloatRange(1, 600), default=30, show_default=True)
@click.pass_context
def open_(ctx: click.Context, url: str, at: str | None, collection: str | None, screenshot: str | None,
          full_page: bool, browser_path: str | None, timeout: float) -> None:
    """Open a capture in Chromium, every request answered from the archive (no rewriting).

    The page runs on its original origin; whatever was not archived is refused, never fetched.
    """
    from warcache.opener import open_capture

    result = open_capture(root_path(ctx.obj["root"]), url, at=at, collection=collection,
                          screenshot=screenshot, browser=browser_path, full_page=full_page, timeout=timeout)
    _say(f"{result.url} as captured {_when(result.timestamp)} [{result.collection}]: "
               f"{result.served} requests answered from the archive, {len(result.refused)} refused "
               "(not archived)", err=True)
    for refused in result.refused[:20]:
        _say(f"  refused {refused}", err=True)
    if result.screenshot:
        click.echo(f"screenshot saved to {result.screenshot}", err=True)


@cli.command("list")
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the pages as JSON on stdout.")
@click.pass_context
def list_(ctx: click.Context, collection: str | None, as_json: bool) -> None:
    """List captured pages, newest first, with their capture times."""
    root = root_path(ctx.obj["root"])
    pages = list_pages(root, collection=collection)
    if as_json:
        click.echo(json.dumps(pages, indent=2, ensure_ascii=False))
        return
    if not pages:
        click.echo("no captured pages", err=True)
        return
    for page in pages:
        latest = page["captures"][0]
        more = f" (+{len(page['captures']) - 1} earlier)" if len(page["captures"]) > 1 else ""
        size = _human_bytes(latest["bytes"]) if latest.get("bytes") else "-"
        _say(f"{_when(latest['timestamp'])}  {latest.get('status') or '-':>3}  {size:>9}  "
                   f"[{page['collection']}] {_shorten(page['title'] or '(no title)', 60)}{more}")
        _say(f"    {page['url']}")


@cli.command()
@click.argument("target", metavar="URL|HASH")
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, target: str, collection: str | None, as_json: bool) -> None:
    """Every capture of one URL (or of the md5 hash of its URL): where it is, what it holds."""
    captures = show_captures(root_path(ctx.obj["root"]), target, collection=collection)
    if as_json:
        click.echo(json.dumps(captures, indent=2, ensure_ascii=False))
        return
    for c in captures:
        _say(f"{_when(c['timestamp'])} [{c['collection']}] {c['status']} {c['url']}")
        if c["final_url"] != c["url"]:
            _say(f"    ended at     {c['final_url']}")
        _say(f"    title        {c['title']}")
        _say(f"    headline     {c['headline']} ({c['article_chars']} characters of article text)")
        click.echo(f"    recorded     {c['resources']} responses ({c['revisits']} already stored), "
                   f"{_human_bytes(c['bytes'] or 0)}")
        click.echo(f"    WARC         {c['warc_path']} at byte {c['offset']}")
        if c.get("screenshot"):
            click.echo(f"    screenshot   {c['screenshot']}")
        click.echo(f"    replay       /{c['collection']}/{c['timestamp']}/{c['url']}")


@cli.group()
def export() -> None:
    """Export a collection: the cached-articles site, or a WACZ package."""


@export.command("cache")
@click.argument("dest", type=click.Path(file_okay=False))
@collection_option
@click.pass_context
def export_cache_cmd(ctx: click.Context, dest: str, collection: str) -> None:
    """Write the cached-articles site: DEST/<YYYY>/<md5 of URL>/index.md and index.html per page,
    and DEST/index.html listing them, newest first. Re-running rewrites only what changed."""
    from warcache.export_cache import export_cache

    coll = open_collection(root_path(ctx.obj["root"]), collection)
    report = export_cache(coll.root, coll, dest)
    for url, why in report.skipped:
        _say(f"skipped {url}: {why}", err=True)
    click.echo(f"{report.articles} articles in {report.dest}: {report.written} files written, "
               f"{report.unchanged} unchanged, {report.removed} stale folders removed", err=True)


@export.command("wacz")
@click.argument("dest", type=click.Path())
@collection_option
@click.pass_context
def export_wacz_cmd(ctx: click.Context, dest: str, collection: str) -> None:
    """Package the collection as a WACZ file (for ReplayWeb.page and other tools)."""
    from warcache.wacz import write_wacz

    coll = open_collection(root_path(ctx.obj["root"]), collection)
    report = write_wacz(coll, dest)
    click.echo(f"wrote {report.path} ({len(report.warcs)} WARC files, {report.index_lines} index lines, "
               f"{report.pages} pages, {_human_bytes(report.bytes)})", err=True)
    for name in report.left_out:
        click.echo(f"left out {name}", err=True)
    for warning in report.warnings:
        _say(f"warning: {warning}", err=True)


@cli.command()
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.pass_context
def verify(ctx: click.Context, collection: str | None) -> None:
    """Read every record, check digests and that every index entry points at a real record.

    Nothing is modified. The exit status is 1 when anything is wrong.
    """
    from warcache.verify import verify_collection

    root = root_path(ctx.obj["root"])
    names = [collection] if collection else list_collections(root)
    if not names:
        raise UsageError(f"no collections in {root}")
    ok = True
    for name in names:
        report = verify_collection(open_collection(root, name))
        for problem in report.problems:
            _say(f"{name}: {problem}", err=True)
        for note in report.notes:
            _say(f"{name}: note: {note}", err=True)
        click.echo(f"{name}: {report.summary()}", err=True)
        ok = ok and report.ok
    if not ok:
        ctx.exit(1)


@cli.command()
def install() -> None:
    """Download Playwright's own Chromium (needs internet access)."""
    cmd = [sys.executable, "-m", "playwright", "install", "chromium"]
    click.echo(f"running: {' '.join(cmd)}", err=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise UsageError("Playwright could not install its Chromium; install a system one instead "
                         "(Debian/Ubuntu: sudo apt-get install chromium) or pass --browser PATH")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every error into one line and an exit status."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("WARCACHE_DEBUG"))
    try:
        code = cli.main(args=args, prog_name="warcache", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except WarcacheError as exc:
        if debug:
            raise
        _say(f"Error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            raise
        message = str(exc).strip().splitlines()
        _say(f"Error: unexpected {type(exc).__name__}: {message[0] if message else ''} "
                   "(run with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(code or 0)
