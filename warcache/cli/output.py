"""What the CLI prints: archived text made safe for a terminal, sizes, times, result lines."""

from __future__ import annotations

import re

import click

from warcache import timestamps

#: Characters that would let archived text (a page's title, a URL, a snippet) drive the terminal:
#: C0 controls but tab and newline (escape sequences, carriage return, bell), DEL, C1 controls
#: (U+009B is an escape sequence introducer too), and bidirectional overrides that disguise text.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text: object) -> str:
    """`text` with every character that could act on a terminal replaced by U+FFFD."""
    return _UNSAFE_CHARS.sub("\ufffd", str(text))


def say(text: object = "", *, err: bool = False) -> None:
    """Print a line for a person: archived text in it cannot act on their terminal."""
    click.echo(plain(text), err=err)


def shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def when(ts: str) -> str:
    return timestamps.display(ts, zone=False)


def highlight(snippet: str, spans: list[tuple[int, int]], color: bool) -> str:
    snippet = plain(snippet)  # one character for one: the spans stay right
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


def describe(r) -> str:
    """The line `add` prints for one URL's result (a capture.archiver.PageResult)."""
    if not r.ok:
        return f"FAILED {r.url}: {r.error}"
    moved = f" -> {r.final_url}" if r.final_url and r.final_url != r.url else ""
    title = f' "{shorten(r.title, 60)}"' if r.title else ""
    revisits = f" ({r.revisits} already stored)" if r.revisits else ""
    blocked = f", {r.blocked} blocked" if getattr(r, "blocked", 0) else ""
    fidelity = ""
    if getattr(r, "fidelity", None) is not None:
        fidelity = f", fidelity {r.fidelity}"
        if r.replay_fidelity is not None:
            fidelity += f" (replay server {r.replay_fidelity})"
        if r.first_fidelity is not None:
            fidelity += f", captured twice (the first scored {r.first_fidelity}; both kept)"
    return (f"ok {r.status} {r.url}{moved}{title}: {r.resources} responses{revisits}{blocked}, "
            f"{human_bytes(r.bytes)}, {r.seconds:.1f} s{fidelity}")
