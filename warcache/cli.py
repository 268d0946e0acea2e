"""The `warcache` command: a thin layer over the library.

Each command parses its options, calls one library function, and prints. Data goes to stdout
(`--json`), progress and messages to stderr. Every failure the user can cause ends in a one-line
`Error: ...` and a non-zero exit; tracebacks only with `--debug`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import click

from warcache import __version__
from warcache.archiver import Archiver, PageResult
from warcache.browser import find_browser
from warcache.capture import CaptureOptions
from warcache.collection import DEFAULT_COLLECTION, list_collections, open_collection, root_path
from warcache.errors import UsageError, WarcacheError
from warcache.importer import import_files
from warcache.indexer import index_collection
from warcache.search import group_hits, hit_json, search_archive


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


@cli.command()
@click.argument("urls", nargs=-1, required=True)
@collection_option
@click.option("--browser", "browser_path", metavar="PATH", envvar="WARCACHE_CHROMIUM",
              help="Chromium or Chrome to drive [env WARCACHE_CHROMIUM].")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=60, show_default=True,
              help="Seconds to wait for a page to load.")
@click.option("--idle-timeout", type=click.FloatRange(0, 600), default=10, show_default=True,
              help="Seconds to wait for the network to go quiet after load.")
@click.option("--no-scroll", is_flag=True, help="Do not scroll the page (lazy content may be missed).")
@click.option("--scroll-timeout", type=click.FloatRange(0, 3600), default=30, show_default=True,
              help="Seconds to spend scrolling.")
@click.option("--max-scroll-steps", type=click.IntRange(0, 10000), default=50, show_default=True)
@click.option("--viewport", default="1280x800", show_default=True, callback=_parse_viewport,
              help="Browser window size WIDTHxHEIGHT.")
@click.option("--user-agent", default="", help="User agent (default: this Chromium's, without 'Headless').")
@click.option("--ignore-https-errors", is_flag=True,
              help="Capture sites whose TLS certificate is invalid or self-signed.")
@click.option("--no-screenshot", is_flag=True, help="Do not store a screenshot.")
@click.option("--max-warc-size", type=click.IntRange(1 << 20), default=1 << 30, show_default=True,
              help="Start a new WARC file once one passes this many bytes.")
@click.option("--resolve", multiple=True, callback=_parse_resolve, metavar="HOST:ADDRESS",
              help="Connect to ADDRESS for HOST instead of looking it up (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@click.pass_context
def add(ctx: click.Context, urls: tuple[str, ...], collection: str, browser_path: str | None,
        timeout: float, idle_timeout: float, no_scroll: bool, scroll_timeout: float,
        max_scroll_steps: int, viewport: tuple[int, int], user_agent: str, ignore_https_errors: bool,
        no_screenshot: bool, max_warc_size: int, resolve: dict[str, str], as_json: bool) -> None:
    """Capture URLs with a real browser into WARC files.

    Each page is loaded in a fresh browser context, left to run its JavaScript, scrolled so lazy
    content loads, and every HTTP exchange it made is recorded, with a screenshot and the rendered
    DOM.

    \b
        warcache add https://example.com/ https://example.org/post
        warcache add -c research --json https://example.com/
    """
    coll = open_collection(root_path(ctx.obj["root"]), collection, create=True)
    choice = find_browser(browser_path)
    opts = CaptureOptions(timeout=timeout, idle_timeout=idle_timeout, scroll=not no_scroll,
                          scroll_timeout=scroll_timeout, max_scroll_steps=max_scroll_steps,
                          viewport=viewport, user_agent=user_agent,
                          ignore_https_errors=ignore_https_errors, screenshot=not no_screenshot,
                          resolve=resolve)
    results = asyncio.run(_add_all(coll, opts, choice, list(urls), max_warc_size))
    failed = [r for r in results if not r.ok]
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], indent=2, ensure_ascii=False))
    done = len(results) - len(failed)
    size = sum(r.bytes for r in results)
    click.echo(f"{done} of {len(results)} captured into collection {coll.name!r} "
               f"({_human_bytes(size)} written to {coll.archive_dir})", err=True)
    if failed:
        ctx.exit(1)


async def _add_all(coll, opts: CaptureOptions, choice, urls: list[str],
                   max_warc_size: int) -> list[PageResult]:
    results: list[PageResult] = []
    tty = sys.stderr.isatty()

    def recovered(item) -> None:
        click.echo(f"note: {item.describe()}", err=True)

    async with Archiver(coll, opts, choice, max_warc_size=max_warc_size, on_recovered=recovered) as archiver:
        for n, url in enumerate(urls, 1):
            prefix = f"[{n}/{len(urls)}]"
            if tty:
                click.echo(f"{prefix} capturing {url} ...", err=True)
            result = await archiver.add(url)
            results.append(result)
            click.echo(f"{prefix} {_describe(result)}", err=True)
            for warning in result.warnings:
                click.echo(f"      warning: {warning}", err=True)
    return results


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
        click.echo(line, err=True)
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
            click.echo(f"warning: {warning}", err=True)
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
    hits = search_archive(root, " ".join(query), collection=collection, limit=limit)
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
        click.echo(click.style(title, bold=True) if color else title)
        times = ", ".join(_when(h.timestamp) for h in group)
        click.echo(f"  {first.url}")
        click.echo(f"  captured {times} [{first.collection}]")
        click.echo(f"  {_highlight(first.snippet, first.highlights, color)}")
        click.echo()


def _when(ts: str) -> str:
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]}" if len(ts) >= 12 else ts


def _highlight(snippet: str, spans: list[tuple[int, int]], color: bool) -> str:
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
@click.pass_context
def replay(ctx: click.Context, host: str, port: int, replay_port: int | None, collection: str | None,
           threads: int) -> None:
    """Serve the archive locally: captured pages come back whole, offline.

    \b
    URLs follow pywb's: /<coll>/<timestamp>/<url>, /<coll>/<url> (latest),
    /<coll>/<timestamp>id_/<url> (the archived bytes unchanged).
    Every replayed page may load only from the replay server: nothing is fetched live.
    """
    root = root_path(ctx.obj["root"])
    if collection:
        open_collection(root, collection)
    from warcache.replay import serve

    serve(root, host=host, port=port, collection=collection, replay_port=replay_port, threads=threads)


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
    click.echo(f"{result.url} as captured {_when(result.timestamp)} [{result.collection}]: "
               f"{result.served} requests answered from the archive, {result.refused} refused", err=True)
    if result.screenshot:
        click.echo(f"screenshot saved to {result.screenshot}", err=True)


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
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            raise
        message = str(exc).strip().splitlines()
        click.echo(f"Error: unexpected {type(exc).__name__}: {message[0] if message else ''} "
                   "(run with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(code or 0)
