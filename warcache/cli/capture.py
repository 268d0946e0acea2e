"""The commands that capture: add, retry."""

from __future__ import annotations

import json
import sys

import click

from warcache.cli.options import capture_options, capture_settings, collection_option, queue_options
from warcache.cli.output import describe, human_bytes, say
from warcache.collection import Collection, open_collection, root_path, validate_name


def _age(ctx, param, value: str | None) -> tuple[str, float] | None:
    """--recapture-older-than: (as typed, seconds)."""
    if value is None:
        return None
    from warcache.errors import UsageError
    from warcache.timestamps import parse_age

    try:
        return value.strip(), parse_age(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
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
@click.option("--recapture-older-than", "older_than", metavar="AGE", callback=_age,
              help="Also capture again each page of the collection whose newest capture is older than "
                   "AGE: 30d, 12h, 2w (with no URLs, only these: fit for cron).")
@click.option("--dry-run", is_flag=True, help="List what would be captured, capture nothing.")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="Tag the pages captured (and those already held) so (repeatable; see `warcache tag`).")
@capture_options
@queue_options
@click.pass_context
def add(ctx: click.Context, urls: tuple[str, ...], collection: str, links_from: tuple[str, ...],
        base_url: str | None, include: tuple[str, ...], exclude: tuple[str, ...], recapture: bool,
        older_than: tuple[str, float] | None, dry_run: bool, tags: tuple[str, ...], **kw) -> None:
    """Capture URLs with a real browser into WARC files.

    Each page is loaded in a fresh browser context, left to run its JavaScript, scrolled so lazy
    content loads, and every HTTP exchange it made is recorded, with a screenshot and the rendered
    DOM. With --links-from, every outbound link of a post, feed or bookmarks file is captured,
    except those the collection already holds (run it again: only new links are captured).

    With --broker, the pages are captured by `warcache worker`s, on this machine or others: the
    URLs are queued, the workers deliver WARC files to --store, and each is taken into the
    collection here before its line is printed. Ctrl-C leaves the queued work queued.

    Exit status: 0 when every capture worked (or there was nothing to capture), 1 when one
    failed or the command could not run, 2 for a bad option, 130 when interrupted.

    \b
        warcache add https://example.com/ https://example.org/post
        warcache add --links-from post.md --base-url https://myblog.example/post/
        warcache add --links-from https://myblog.example/feed.xml -j 4
        warcache add -q --recapture-older-than 30d -c blog    # in a crontab
        warcache add --broker redis://queue.lan:6379/0 --links-from feed.xml
    """
    from warcache.capture.batch import plan
    from warcache.manage.annotate import annotate_url, clean_tag

    if not urls and not links_from and older_than is None:
        raise click.UsageError("give URLs to capture, or --links-from SOURCE, or --recapture-older-than AGE")
    age = older_than[1] if older_than is not None else None
    for t in tags:
        clean_tag(t)  # a bad tag is an error before anything is captured
    root = root_path(ctx.obj["root"])
    if dry_run:
        coll = Collection(root, validate_name(collection))
    else:  # only pages to capture again: the collection must be there already
        coll = open_collection(root, collection, create=bool(urls or links_from))
    todo = plan(coll, list(urls), links_from=list(links_from), base_url=base_url, include=list(include),
                exclude=list(exclude), recapture=recapture, older_than=age)
    quiet = kw["quiet"]
    tell = (lambda _text: None) if quiet else (lambda text: say(text, err=True))
    for message in todo.messages:
        tell(message)
    if older_than is not None:
        tell(f"{len(todo.stale)} pages of collection {coll.name!r} were last captured more than "
             f"{older_than[0]} ago")
    if todo.already:
        tell(f"{len(todo.already)} already in collection {coll.name!r} (--recapture to capture again)")
    if todo.failed_before:
        tell(f"{len(todo.failed_before)} failed before (`warcache retry` tries them again)")
    if dry_run:
        for url in todo.to_capture:
            say(url)
        tell(f"would capture {len(todo.to_capture)} URLs")
        return
    if tags:
        for url in todo.already:
            annotate_url(coll, url, add=list(tags))
    if not todo.to_capture:
        tell("nothing new to capture")
        return
    opts, kw = capture_settings(kw)
    results = run_and_report(coll, opts, todo.to_capture, tags=list(tags), **kw)
    ctx.exit(1 if any(not r.ok for r in results) else 0)


@click.command()
@collection_option
@capture_options
@queue_options
@click.pass_context
def retry(ctx: click.Context, collection: str, **kw) -> None:
    """Capture again the URLs whose capture failed."""
    coll = open_collection(root_path(ctx.obj["root"]), collection)
    urls = list(dict.fromkeys(f["url"] for f in coll.failures() if f.get("url")))
    if not urls:
        if not kw["quiet"]:
            click.echo(f"no failed captures to retry in collection {coll.name!r}", err=True)
        return
    opts, kw = capture_settings(kw)
    results = run_and_report(coll, opts, urls, **kw)
    ctx.exit(1 if any(not r.ok for r in results) else 0)


@click.command()
@click.argument("url")
@click.option("--profile", "profile_dir", required=True, metavar="DIR",
              help="The profile to keep the session in: a new directory, or one made before.")
@click.option("--browser", "browser_path", metavar="PATH", envvar="WARCACHE_CHROMIUM",
              help="Chromium or Chrome to open [env WARCACHE_CHROMIUM].")
def login(url: str, profile_dir: str, browser_path: str | None) -> None:
    """Log in to a site once, in a browser window, and keep the session in a profile.

    A Chromium window opens on URL with the profile DIR (nothing is recorded). Log in as usual,
    then close the window (or press Enter here). Then capture with the session:

    \b
        warcache login https://news.example/login --profile ~/.warcache-profile
        warcache add --profile ~/.warcache-profile https://news.example/paywalled-article

    Needs a display (a desktop session). Elsewhere, export the cookies of a browser that is logged
    in and use `warcache add --cookies FILE` or `--storage-state FILE`.
    """
    from warcache.capture.profile import login_profile

    def ready() -> None:
        click.echo("log in in the browser window, then close it (or press Enter here) to keep the session",
                   err=True)

    def count(n: int, noun: str) -> str:
        return f"{n} {noun}{'' if n == 1 else 's'}"

    report = login_profile(url, profile_dir, browser_path=browser_path, on_ready=ready)
    if report.warning:
        say(f"warning: {report.warning}", err=True)
    kept = f" ({count(report.kept, 'session cookie')} kept for later runs)" if report.kept else ""
    say(f"saved the session in {report.profile}: {count(report.cookies, 'cookie')}{kept}", err=True)
    say(f"capture with it: warcache add --profile {report.profile} URL", err=True)


def run_and_report(coll: Collection, opts, urls: list[str], *, browser_path: str | None, jobs: int,
                   max_warc_size: int, as_json: bool, quiet: bool = False, broker: str | None = None,
                   store: str | None = None, no_check: bool = False, retry_below: int | None = None,
                   tags: list[str] | None = None) -> list:
    """Capture `urls` here, or through the queue with `broker`, printing a line per URL as it lands
    and a summary (the same either way); exits 130 when interrupted. `quiet` (for cron, which
    mails whatever a job prints): only failures, what recovery did, the summary when something
    failed, and an interruption are printed. Each page captured here is checked for fidelity
    unless `no_check` (pages captured by workers are not: the check runs where the capture does)."""
    from warcache.capture.run import RunEvents, run_captures

    if retry_below is not None and (no_check or broker):
        raise click.UsageError("--retry-below needs the fidelity check: leave out "
                               + ("--broker" if broker else "--no-check"))

    tty = sys.stderr.isatty() and not quiet
    total = len(urls)
    done: list[int] = [0]

    def started(i: int, url: str) -> None:
        if tty:
            say(f"[{done[0]}/{total}] capturing {url} ...", err=True)

    def landed(i: int, result) -> None:
        done[0] += 1
        if tags and result.ok:
            from warcache.manage.annotate import annotate_url

            annotate_url(coll, result.url, add=tags)
        if quiet and result.ok:
            return
        say(f"[{done[0]}/{total}] {describe(result)}", err=True)
        for warning in result.warnings:
            say(f"      warning: {warning}", err=True)

    def waiting(text: str) -> None:
        if not quiet:
            say(text, err=True)

    events = RunEvents(started=started, landed=landed, note=lambda t: say(t, err=True), waiting=waiting)
    if broker:
        from warcache.distributed.client import run_queued

        # A browser named on this command line is the workers' too; one from this machine's
        # environment is not.
        ctx = click.get_current_context()
        given = ctx.get_parameter_source("browser_path") == click.core.ParameterSource.COMMANDLINE
        outcome = run_queued(coll, opts, urls, broker=broker, store=store or default_store(coll),
                             browser_path=browser_path if given else None, events=events)
    else:
        checker = None
        if not no_check:
            from warcache.fidelity.after_capture import FidelityChecker

            checker = FidelityChecker(coll)
        try:
            outcome = run_captures(coll, opts, urls, browser_path=browser_path, jobs=jobs,
                                   max_warc_size=max_warc_size, events=events, after_store=checker,
                                   retry_below=retry_below)
        finally:
            if checker is not None:
                checker.close()
    if as_json:
        click.echo(json.dumps([r.to_json() for r in outcome.results], indent=2, ensure_ascii=False))
    if not (quiet and outcome.ok):
        click.echo(f"{outcome.captured} of {len(urls)} captured into collection {coll.name!r} "
                   f"({human_bytes(outcome.bytes)} written to {coll.archive_dir})", err=True)
    if outcome.interrupted and broker:
        click.echo(f"interrupted: {len(outcome.not_captured)} not reported yet; queued jobs stay queued "
                   "(`warcache queue` shows them, `warcache ingest` takes their files in):", err=True)
        for url in outcome.not_captured:
            say(f"  {url}", err=True)
        sys.exit(130)
    if outcome.interrupted:
        click.echo(f"interrupted: {len(outcome.not_captured)} not captured (run the same command again to "
                   "capture them):", err=True)
        for url in outcome.not_captured:
            say(f"  {url}", err=True)
        sys.exit(130)
    return outcome.results


def default_store(coll: Collection) -> str:
    """Where workers deliver without --store: ROOT/incoming, a directory workers on this machine
    (or with the root mounted at the same path) can write."""
    return (coll.root / "incoming").as_uri()
