"""The `warcache` command: a thin layer over the library.

Each command parses its options, calls one library function, and prints. Data goes to stdout
(`--json`), progress and messages to stderr. Every failure the user can cause ends in a one-line
`Error: ...` and a non-zero exit; tracebacks only with `--debug`.

The commands live by what they do (`capture`, `archive`, `history`, `replay`); each imports the library
modules it needs when it runs, so `warcache --help` and the quick commands start fast.
"""

from __future__ import annotations

import os
import subprocess
import sys

import click

from warcache import __version__
from warcache.cli import archive, capture, distributed, fidelity, history, replay
from warcache.cli.output import say
from warcache.errors import UsageError, WarcacheError


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


#: Playwright's Chromium, not its headless shell: warcache drives the full browser, headless
#: (see warcache/chromium.py), so the shell would be a download never used.
PLAYWRIGHT_INSTALL = ("install", "--no-shell", "chromium")


@click.command()
def install() -> None:
    """Download Playwright's own Chromium (needs internet access)."""
    cmd = [sys.executable, "-m", "playwright", *PLAYWRIGHT_INSTALL]
    click.echo(f"running: {' '.join(cmd)}", err=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise UsageError("Playwright could not install its Chromium; install a system one instead "
                         "(Debian/Ubuntu: sudo apt-get install chromium) or pass --browser PATH")


for command in (capture.add, capture.retry, capture.login, fidelity.check, archive.import_, archive.index,
                archive.search, archive.list_, archive.show, archive.tag, history.diff, history.forget,
                archive.export, archive.verify, replay.replay, replay.open_, distributed.worker,
                distributed.queue_, distributed.ingest, install):
    cli.add_command(command)


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
        say(f"Error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            raise
        message = str(exc).strip().splitlines()
        say(f"Error: unexpected {type(exc).__name__}: {message[0] if message else ''} "
                   "(run with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(code or 0)
