"""The commands about a page's captures over time: diff (what changed), forget (remove them)."""

from __future__ import annotations

import json
import re
import sys

import click

from warcache.cli.output import human_bytes, plain, say, shorten
from warcache.collection import root_path
from warcache.errors import UsageError

#: Words of unchanged text shown around each change (all of it with --full).
CONTEXT_WORDS = 12


@click.command()
@click.argument("target", metavar="URL|HASH")
@click.argument("times", nargs=-1, metavar="[TS1 [TS2]]")
@click.option("-c", "--collection", default=None, help="Only captures in this collection (default: all).")
@click.option("--full", is_flag=True, help="Show all the text, not only the changes and the words near them.")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON on stdout.")
@click.pass_context
def diff(ctx: click.Context, target: str, times: tuple[str, ...], collection: str | None, full: bool,
         as_json: bool) -> None:
    """What changed in a page's article text between two captures, word by word.

    Without times: the latest two captures. With TS1: that capture against the latest. With
    TS1 and TS2: those two. A time is YYYYMMDDhhmmss or a prefix of it, and names the capture
    nearest to it.

    \b
        warcache diff https://example.com/post
        warcache diff https://example.com/post 2024-05 2024-06
    """
    from warcache.manage.diff import diff_captures

    if len(times) > 2:
        raise click.UsageError("give at most two times")
    result = diff_captures(root_path(ctx.obj["root"]), target, *times, collection=collection)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    from warcache.timestamps import display

    color = sys.stdout.isatty()
    for mark, side in (("---", result.old), ("+++", result.new)):  # to the second: captures minutes apart
        say(f"{mark} {display(side.timestamp, seconds=True, zone=False)} [{side.collection}] "
            f"{shorten(side.title, 60)}")
    say(f"    {result.url}")
    if not result.changed:
        click.echo("no change in the article text", err=True)
        return
    click.echo()
    click.echo(render(result.ops, color=color, context=None if full else CONTEXT_WORDS))
    deleted, inserted = result.words("delete"), result.words("insert")
    click.echo(f"{deleted} word{'s' if deleted != 1 else ''} deleted, {inserted} inserted", err=True)


def render(ops, *, color: bool, context: int | None) -> str:
    """A word diff for a terminal: deletions red and struck through, insertions green (or
    `[-...-]` and `{+...+}` without colour), long unchanged runs cut to `context` words around
    the changes. Archived text is made safe for the terminal first."""
    out: list[str] = []
    for n, op in enumerate(ops):
        text = plain(op.text)
        if op.op == "equal":
            out.append(_trim(text, context, first=n == 0, last=n == len(ops) - 1))
            continue
        lead = text[: len(text) - len(text.lstrip())]
        body = text.lstrip()
        if color:
            if op.op == "delete":
                marked = click.style(body, fg="red", strikethrough=True)
            else:
                marked = click.style(body, fg="green", bold=True)
        else:
            marked = f"[-{body}-]" if op.op == "delete" else f"{{+{body}+}}"
        out.append(lead + marked)
    return "".join(out).strip("\n")


def _trim(text: str, context: int | None, *, first: bool, last: bool) -> str:
    """An unchanged run, cut to `context` words at each end that touches a change."""
    if context is None:
        return text
    tokens = re.findall(r"\s*\S+", text)
    head = 0 if first else context
    tail = 0 if last else context
    if len(tokens) <= head + tail + 4:
        return text
    cut = "[…]" if first else " […]"
    return "".join(tokens[:head]) + cut + "".join(tokens[len(tokens) - tail:])


@click.command()
@click.argument("target", metavar="URL|HASH")
@click.option("--at", "at", metavar="TIMESTAMP",
              help="Only the capture made at this time (YYYYMMDDhhmmss, or a prefix naming one capture).")
@click.option("-c", "--collection", default=None,
              help="Only in this collection (default: every collection holding the page).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.pass_context
def forget(ctx: click.Context, target: str, at: str | None, collection: str | None, yes: bool,
           dry_run: bool) -> None:
    """Remove a page's captures from the archive, for good.

    Every record of each capture goes: its responses and requests, screenshot, DOM and page
    record (for pages of other tools' WARCs, the page's response and request). The WARC files
    are written anew without them, checked, and swapped in; indexes, search, exports and replay
    no longer have the page. Other captures that stored a payload as a revisit of it keep it.
    Asks first on a terminal; elsewhere it needs --yes.

    \b
        warcache forget https://example.com/post
        warcache forget https://example.com/post --at 20240517102030 -c blog
    """
    from warcache.manage.forget import forget_captures, plan_forget
    from warcache.timestamps import display

    def to_the_second(ts: str) -> str:  # what --at takes: captures of one URL can be minutes apart
        return display(ts, seconds=True, zone=False)

    plan = plan_forget(root_path(ctx.obj["root"]), target, at=at, collection=collection)
    url = plan.captures[0][1].url
    count = len(plan.captures)
    say(f"{'would forget' if dry_run else 'forgetting'} {count} capture{'s' if count != 1 else ''} of {url}:",
        err=True)
    for coll, entry in plan.captures:
        size = human_bytes(entry.bytes) if entry.bytes else "-"
        say(f"  {to_the_second(entry.timestamp)}  {entry.status or '-':>3}  {size:>9}  [{coll.name}] "
            f"{shorten(entry.title or '(no title)', 50)}  archive/{entry.warc}", err=True)
    if dry_run:
        return
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("forget asks for confirmation on a terminal; pass --yes to forget without "
                             "asking")
        if not click.confirm("Forget them? This cannot be undone", default=False, err=True):
            click.echo("nothing was forgotten", err=True)
            ctx.exit(1)

    def progress(text: str) -> None:
        if sys.stderr.isatty():
            say(f"  {text}", err=True)

    for coll, entries in plan.by_collection():  # each collection swapped, and reported, on its own
        report = forget_captures(coll, entries, every_capture=plan.every_capture, progress=progress)
        for note in report.notes:
            say(f"note: {note}", err=True)
        times = ", ".join(to_the_second(e.timestamp) for e in report.captures)
        say(f"forgot {len(report.captures)} capture{'s' if len(report.captures) != 1 else ''} of {url} in "
            f"collection {report.collection!r} ({times}): {report.records} records, "
            f"{human_bytes(report.bytes)}", err=True)
        for old, new in report.rewritten:
            now = f"archive/{new}" if new else "(nothing left in it: removed)"
            click.echo(f"  archive/{old} -> {now}", err=True)
        if report.resolved:
            held = len(report.resolved)
            say(f"  {held} revisit{'s' if held != 1 else ''} in other captures now "
                f"hold{'s' if held == 1 else ''} the payload {'they' if held != 1 else 'it'} pointed at"
                + (f" ({report.repointed} more point{'s' if report.repointed == 1 else ''} at "
                   f"{'it' if held == 1 else 'those'})" if report.repointed else ""), err=True)
            for item in report.resolved[:10]:
                say(f"    {item}", err=True)
