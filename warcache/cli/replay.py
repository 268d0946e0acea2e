"""The commands that replay: replay (the server), open (a capture in a browser)."""

from __future__ import annotations

import click

from warcache.cli.output import say, when
from warcache.collection import open_collection, root_path


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (anything but loopback exposes your archive).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port of the archive's own pages; replayed pages are served on the next port.")
@click.option("--replay-port", type=click.IntRange(0, 65535), default=None,
              help="Port for replayed pages (default: --port + 1).")
@click.option("-c", "--collection", default=None, help="Serve only this collection (default: all).")
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--collection-domain", metavar="DOMAIN", default=None,
              help="Replay each collection under <collection>.DOMAIN (default: localhost, which "
                   "browsers resolve themselves; elsewhere needs DNS for *.DOMAIN, at any depth).")
@click.option("--shared-origin", is_flag=True,
              help="Replay all collections from one origin (then their scripts can read each other, "
                   "and pages see replay URLs, not their own).")
@click.option("--allow-add-from", "allow_add_from", multiple=True, metavar="HOST",
              help="Also show the 'Archive a URL' form to this host (repeatable; default: this "
                   "machine only).")
@click.option("--no-add", is_flag=True, help="No 'Archive a URL' form: the server only reads the archive.")
@click.option("--browser", "browser_path", metavar="PATH", envvar="WARCACHE_CHROMIUM",
              help="Chromium or Chrome for captures added from the browser [env WARCACHE_CHROMIUM].")
@click.pass_context
def replay(ctx: click.Context, host: str, port: int, replay_port: int | None, collection: str | None,
           threads: int, collection_domain: str | None, shared_origin: bool, allow_add_from: tuple[str, ...],
           no_add: bool, browser_path: str | None) -> None:
    """Serve the archive locally: captured pages come back whole, offline.

    \b
    URLs follow pywb's: /<coll>/<timestamp>/<url>, /<coll>/<url> (latest),
    /<coll>/<timestamp>id_/<url> (the archived bytes unchanged).
    A page opened there runs on a host name of its own original origin and capture
    time, <host>.<timestamp><s|h>[port].<coll>.localhost, with its original path,
    so it sees its own URL. Every replayed page may load only from its collection's
    host names: nothing is fetched live, and one collection's archived scripts
    cannot read another's captures.

    \b
    The listing opens a capture under a banner (capture time, previous/next,
    calendar at /<coll>/*/<url>), and has an 'Archive a URL' form and bookmarklet
    at /_warcache/add, for this machine only unless --allow-add-from HOST.
    """
    root = root_path(ctx.obj["root"])
    if collection:
        open_collection(root, collection)
    from warcache.replay import serve

    adder = None
    if not no_add:
        from warcache.manage.browser_add import capture_function
        from warcache.replay.adding import Adder

        adder = Adder(capture_function(root, browser_path=browser_path), allow_from=allow_add_from,
                      default_coll=collection or "default")
    from warcache.manage.browser_add import diff_function

    serve(root, host=host, port=port, collection=collection, replay_port=replay_port, threads=threads,
          collection_domain=collection_domain, shared_origin=shared_origin, adder=adder,
          differ=diff_function(root))


@click.command("open")
@click.argument("url")
@click.option("--at", "at", metavar="TIMESTAMP",
              help="Capture nearest to this time (YYYYMMDDhhmmss or a prefix).")
@click.option("-c", "--collection", default=None, help="Look only in this collection.")
@click.option("--screenshot", type=click.Path(dir_okay=False), help="Save a screenshot here (headless).")
@click.option("--full-page", is_flag=True, help="With --screenshot: the whole page, not the window.")
@click.option("--browser", "browser_path", metavar="PATH", envvar="WARCACHE_CHROMIUM")
@click.option("--timeout", type=click.FloatRange(1, 600), default=30, show_default=True)
@click.option("--dpr", type=click.FloatRange(0.5, 4), default=1.0, show_default=True,
              help="Device pixel ratio of the window (2: a high-density screen).")
@click.pass_context
def open_(ctx: click.Context, url: str, at: str | None, collection: str | None, screenshot: str | None,
          full_page: bool, browser_path: str | None, timeout: float, dpr: float) -> None:
    """Open a capture in Chromium, every request answered from the archive (no rewriting).

    The page runs on its original origin; whatever was not archived is refused, never fetched.
    """
    from warcache.replay.intercept import open_capture

    result = open_capture(root_path(ctx.obj["root"]), url, at=at, collection=collection,
                          screenshot=screenshot, browser=browser_path, full_page=full_page, timeout=timeout,
                          scale=dpr)
    say(f"{result.url} as captured {when(result.timestamp)} [{result.collection}]: "
               f"{result.served} requests answered from the archive, {len(result.refused)} refused "
               "(not archived)", err=True)
    for refused in result.refused[:20]:
        say(f"  refused {refused}", err=True)
    for note in result.fuzzy:
        say(f"  {note}", err=True)
    if result.screenshot:
        click.echo(f"screenshot saved to {result.screenshot}", err=True)
