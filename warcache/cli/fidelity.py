"""The command that scores captures again: check."""

from __future__ import annotations

import json

import click

from warcache.cli.output import say, when
from warcache.collection import root_path


@click.command()
@click.argument("target", metavar="[URL|HASH]", required=False)
@click.option("--all", "every", is_flag=True, help="Every capture of the collection (of all without -c).")
@click.option("-c", "--collection", default=None, help="Only this collection (default: all).")
@click.option("--browser", "browser_path", metavar="PATH", envvar="WARCACHE_CHROMIUM",
              help="Chromium or Chrome to drive [env WARCACHE_CHROMIUM].")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@click.pass_context
def check(ctx: click.Context, target: str | None, every: bool, collection: str | None,
          browser_path: str | None, as_json: bool) -> None:
    """Score captures again: replay each from the archive alone and compare with what was seen live.

    Every capture of URL (or of the md5 hash of its URL), or with --all every capture. Nothing
    archived changes: the new scores go into a new WARC file of the collection, and the page
    list takes the latest.

    \b
        warcache check https://example.com/post
        warcache check --all -c research
    """
    from warcache.fidelity.recheck import check_captures, targets

    captures = targets(root_path(ctx.obj["root"]), target, every=every, collection=collection)
    total = len(captures)
    done = [0]

    def checked(item) -> None:
        done[0] += 1
        head = f"[{done[0]}/{total}] {when(item.entry.timestamp)} [{item.collection}] {item.entry.url}"
        if item.result is None:
            say(f"{head}: not checked: {item.error}", err=True)
            return
        say(f"{head}: fidelity {item.result.fidelity} (replay server {item.result.replay_fidelity})",
            err=True)
        for reason in item.result.reasons():
            say(f"      {reason}", err=True)

    report = check_captures(captures, browser_path=browser_path, on_checked=checked)
    if as_json:
        rows = [{"collection": c.collection, "url": c.entry.url, "timestamp": c.entry.timestamp,
                 "error": c.error, **(c.result.to_json() if c.result else {})} for c in report.checked]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    scored = sum(1 for c in report.checked if c.result is not None)
    files = ", ".join(report.warcs) or "none"
    click.echo(f"{scored} of {total} captures checked (new WARC files: {files})", err=True)
    if scored < total:
        ctx.exit(1)
