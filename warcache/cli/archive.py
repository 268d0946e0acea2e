"""The commands that read and look after the archive: import, index, search, list, show, export, verify."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from warcache.cli.options import collection_option
from warcache.cli.output import highlight, human_bytes, plain, say, shorten, when
from warcache.collection import list_collections, open_collection, root_path
from warcache.errors import UsageError


@click.command("import")
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
    from warcache.manage.importer import import_files

    coll = open_collection(root_path(ctx.obj["root"]), collection, create=True)
    report = import_files(coll, [Path(f) for f in files])
    for line in report.messages:
        say(line, err=True)
    click.echo(f"imported {len(report.imported)} of {len(files)} files into collection {coll.name!r}: "
               f"{report.index.lines} URL index lines, {report.index.docs} pages searchable", err=True)
    if report.failed:
        ctx.exit(1)


@click.command()
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.option("--rebuild", is_flag=True, help="Throw the indexes away and re-derive them from the WARCs.")
@click.pass_context
def index(ctx: click.Context, collection: str | None, rebuild: bool) -> None:
    """Bring the indexes up to date with the WARC files (all of them with --rebuild).

    The WARCs are the source of truth: the URL index, the full-text index and the page list can
    always be made again from them.
    """
    from warcache.index.postprocess import index_collection

    root = root_path(ctx.obj["root"])
    names = [collection] if collection else list_collections(root)
    if not names:
        raise UsageError(f"no collections in {root}")
    for name in names:
        coll = open_collection(root, name)
        report = index_collection(coll, rebuild=rebuild)
        for warning in report.warnings:
            say(f"warning: {warning}", err=True)
        click.echo(f"{name}: {report.files} WARC files {'re-indexed' if rebuild else 'newly indexed'}, "
                   f"{report.lines} URL index lines, {report.docs} pages searchable", err=True)


@click.command()
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
    after:2024-01-01, before:2024-06 (dates of capture), tag:NAME.
        warcache search 'climate "sea level" site:example.org after:2024'
    """
    from warcache.search.archive import archive_indexes, group_hits, hit_json, search_archive

    root = root_path(ctx.obj["root"])
    indexes = archive_indexes(root, collection)
    hits = search_archive(root, " ".join(query), limit=limit, indexes=indexes)
    for index in indexes:
        if index.outdated():
            name = index.collection
            say(f"note: the full-text index of collection {name!r} is in an older, slower layout; "
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
        title = plain(title)
        click.echo(click.style(title, bold=True) if color else title)
        times = ", ".join(when(h.timestamp) for h in group)
        say(f"  {first.url}")
        say(f"  captured {times} [{first.collection}]")
        click.echo(f"  {highlight(first.snippet, first.highlights, color)}")
        click.echo()


@click.command("list")
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.option("--below", type=click.IntRange(0, 101), metavar="N",
              help="Only pages whose capture scored under N in its fidelity check (worth redoing).")
@click.option("--json", "as_json", is_flag=True, help="Print the pages as JSON on stdout.")
@click.pass_context
def list_(ctx: click.Context, collection: str | None, below: int | None, as_json: bool) -> None:
    """List captured pages, newest first, with their capture times and fidelity.

    A page captured more than once says whether its article text "changed" or is "unchanged"
    since the capture before (`warcache diff URL` shows what changed).
    """
    from warcache.manage.pages import list_pages

    root = root_path(ctx.obj["root"])
    pages = list_pages(root, collection=collection, below=below)
    if as_json:
        click.echo(json.dumps(pages, indent=2, ensure_ascii=False))
        return
    if not pages:
        click.echo("no captured pages" + (f" scoring under {below}" if below is not None else ""), err=True)
        return
    for page in pages:
        latest = page["captures"][0]
        more = f" (+{len(page['captures']) - 1} earlier)" if len(page["captures"]) > 1 else ""
        if latest.get("change"):
            more = f" (+{len(page['captures']) - 1} earlier, {latest['change']})"
        size = human_bytes(latest["bytes"]) if latest.get("bytes") else "-"
        score = f"fidelity {page['fidelity']:>3}" if page["fidelity"] is not None else "fidelity   -"
        say(f"{when(latest['timestamp'])}  {latest.get('status') or '-':>3}  {size:>9}  {score}  "
                   f"[{page['collection']}] {shorten(page['title'] or '(no title)', 60)}{more}")
        say(f"    {page['url']}")
        if page["tags"] or page["note"]:
            tags = " ".join(f"#{t}" for t in page["tags"])
            say(f"    {tags}{'  ' if tags and page['note'] else ''}{shorten(page['note'], 80)}")


@click.command()
@click.argument("target", metavar="URL|HASH")
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, target: str, collection: str | None, as_json: bool) -> None:
    """Every capture of one URL (or of the md5 hash of its URL): where it is, what it holds."""
    from warcache.manage.pages import show_captures

    captures = show_captures(root_path(ctx.obj["root"]), target, collection=collection)
    if as_json:
        click.echo(json.dumps(captures, indent=2, ensure_ascii=False))
        return
    for c in captures:
        say(f"{when(c['timestamp'])} [{c['collection']}] {c['status']} {c['url']}")
        if c["final_url"] != c["url"]:
            say(f"    ended at     {c['final_url']}")
        say(f"    title        {c['title']}")
        say(f"    headline     {c['headline']} ({c['article_chars']} characters of article text)")
        click.echo(f"    recorded     {c['resources']} responses ({c['revisits']} already stored), "
                   f"{human_bytes(c['bytes'] or 0)}")
        click.echo(f"    WARC         {c['warc_path']} at byte {c['offset']}")
        if c.get("screenshot"):
            click.echo(f"    screenshot   {c['screenshot']}")
        if c.get("pdf"):
            click.echo(f"    PDF          {c['pdf']}")
        if c.get("media"):
            click.echo(f"    media        {c['media']}")
        _say_fidelity(c)
        click.echo(f"    replay       /{c['collection']}/{c['timestamp']}/{c['url']}")


def _say_fidelity(c: dict) -> None:
    """`show`'s fidelity lines: the scores, then per mode the reasons and the URLs not archived."""
    check = c.get("check")
    if c.get("fidelity") is None and c.get("replay_fidelity") is None and not check:
        click.echo("    fidelity     not checked (`warcache check URL` scores it)")
        return
    mark = {True: " (the page's capture: the better of two)", False: " (captured again: see the other)"}
    say(f"    fidelity     {c.get('fidelity')} by interception, {c.get('replay_fidelity')} through the "
        f"replay server{mark.get(c.get('preferred'), '')}")
    if check and check.get("error"):
        say(f"    check        {check['error']}")
        return
    if check:
        say(f"    checked      {check.get('checked')} by {check.get('software')}")
    for name, mode in (check or {}).get("modes", {}).items():
        label = {"intercept": "interception", "replay": "replay server"}.get(name, name)
        if mode.get("error"):
            say(f"      {label}: did not load: {mode['error']}")
        for reason in mode.get("reasons", []):
            say(f"      {label}: {reason}")
        for url in mode.get("not_archived", []):
            say(f"      {label}: not archived: {url}")


@click.group()
def export() -> None:
    """Export a collection: the cached-articles site, or a WACZ package."""


@export.command("cache")
@click.argument("dest", type=click.Path(file_okay=False))
@collection_option
@click.option("--redact", is_flag=True,
              help="Accepted, and always true here: this export holds no headers, cookies or storage.")
@click.pass_context
def export_cache_cmd(ctx: click.Context, dest: str, collection: str, redact: bool) -> None:
    """Write the cached-articles site: DEST/<YYYY>/<md5 of URL>/index.md and index.html per page,
    and DEST/index.html listing them, newest first. Re-running rewrites only what changed.

    It holds each article's text, title and URL, and no HTTP headers: nothing of a session
    (cookies, Authorization, storage) a page was captured with is in it, with or without --redact.
    """
    from warcache.manage.export_articles import export_cache

    coll = open_collection(root_path(ctx.obj["root"]), collection)
    report = export_cache(coll.root, coll, dest)
    for url, why in report.skipped:
        say(f"skipped {url}: {why}", err=True)
    click.echo(f"{report.articles} articles in {report.dest}: {report.written} files written, "
               f"{report.unchanged} unchanged, {report.removed} stale folders removed", err=True)


@export.command("wacz")
@click.argument("dest", type=click.Path())
@collection_option
@click.option("--redact", is_flag=True,
              help="Blank the values of Cookie, Authorization and Set-Cookie headers in the copy "
                   "(the collection keeps them).")
@click.pass_context
def export_wacz_cmd(ctx: click.Context, dest: str, collection: str, redact: bool) -> None:
    """Package the collection as a WACZ file (for ReplayWeb.page and other tools).

    With --redact, the package holds copies of the WARCs in which the session a page was captured
    with (the Cookie and Authorization headers sent, the Set-Cookie headers received) is blanked,
    so the package can be shared; what the pages showed stays.
    """
    from warcache.manage.wacz import write_wacz

    coll = open_collection(root_path(ctx.obj["root"]), collection)
    report = write_wacz(coll, dest, redact=redact)
    redacted = f", {report.redacted_records} records redacted" if redact else ""
    click.echo(f"wrote {report.path} ({len(report.warcs)} WARC files, {report.index_lines} index lines, "
               f"{report.pages} pages{redacted}, {human_bytes(report.bytes)})", err=True)
    for name in report.left_out:
        click.echo(f"left out {name}", err=True)
    for warning in report.warnings:
        say(f"warning: {warning}", err=True)


@click.command()
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.pass_context
def verify(ctx: click.Context, collection: str | None) -> None:
    """Read every record, check digests and that every index entry points at a real record.

    Nothing is modified. The exit status is 1 when anything is wrong.
    """
    from warcache.manage.verify import verify_collection

    root = root_path(ctx.obj["root"])
    names = [collection] if collection else list_collections(root)
    if not names:
        raise UsageError(f"no collections in {root}")
    ok = True
    for name in names:
        report = verify_collection(open_collection(root, name))
        for problem in report.problems:
            say(f"{name}: {problem}", err=True)
        for note in report.notes:
            say(f"{name}: note: {note}", err=True)
        click.echo(f"{name}: {report.summary()}", err=True)
        ok = ok and report.ok
    if not ok:
        ctx.exit(1)


@click.command()
@click.argument("target", metavar="URL|HASH")
@click.argument("tags", nargs=-1)
@click.option("-r", "--remove", multiple=True, metavar="TAG", help="Take this tag off (repeatable).")
@click.option("--note", default=None, metavar="TEXT", help="Set the page's note ('' clears it).")
@click.option("-c", "--collection", default=None, help="Only this collection (default: all holding the URL).")
@click.pass_context
def tag(ctx: click.Context, target: str, tags: tuple[str, ...], remove: tuple[str, ...], note: str | None,
        collection: str | None) -> None:
    """Label a captured page (a URL, or the md5 hash of its URL) with tags and a note.

    Tags and notes are written into the collection's WARCs (a small file per change), so
    `warcache index --rebuild` keeps them. Search them with tag:NAME.

    \b
        warcache tag https://example.com/post reading climate
        warcache tag https://example.com/post -r reading --note "cited in my thesis"
    """
    from warcache.manage.annotate import annotate

    changes = annotate(root_path(ctx.obj["root"]), target, add=list(tags), remove=list(remove), note=note,
                       collection=collection)
    if not changes:
        click.echo("nothing changed", err=True)
    for change in changes:
        a = change.annotation
        say(f"[{change.collection}] {a.url}: {' '.join('#' + t for t in a.tags) or '(no tags)'}"
            f"{'  note: ' + shorten(a.note, 60) if a.note else ''}", err=True)
