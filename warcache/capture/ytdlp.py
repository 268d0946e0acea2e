"""`--media`: the page's video as yt-dlp downloads it, stored with the page.

Why: on video platforms the browser plays a stream cut into many small segments, in whatever
rendition suited the capture's screen; what the recording proxy keeps of it may not replay well.
yt-dlp knows these platforms (and, through its generic extractor, any page with a `<video src>` or
a direct media URL) and downloads the video as one file. That file goes into the WARC as a
`resource` record `urn:warcache:media:<page url>` (Content-Type from its extension), followed by
yt-dlp's description of it (title, uploader, formats: its info JSON) as a `metadata` record
`urn:warcache:media-info:<page url>` that refers to it; both are tied to the page's main response
(`WARC-Concurrent-To`) and listed in the page record's `media`.

How it runs: `python -m yt_dlp` in a subprocess (so the bound of `--media-timeout` seconds can
end it), after the page's capture, on the URL of the document captured, with the capture's user
agent, no user configuration (`--ignore-config`), no playlist, one file (`-f b/bv*+ba`: a format
that needs no merging when there is one), and `--max-filesize` set to `--max-resource-size`. It
talks to the site directly, not through the recording proxy (its requests are not the page's);
`--resolve` and the block lists do not apply to it.

yt-dlp is an optional dependency, installed with `pip install 'warcache[media]'`; it is imported
(looked up) only when `--media` is given. A download that fails is a warning on the capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import mimetypes
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from warcache.errors import UsageError

MAX_INFO = 4 * 1024 * 1024  # an info JSON larger than this is cut to its main fields


@dataclass
class MediaFile:
    """One file yt-dlp downloaded, waiting in a temporary directory to be written."""

    path: Path
    content_type: str
    info: dict  # yt-dlp's info JSON (or its main fields)
    workdir: Path
    _stream: IO[bytes] | None = field(default=None, repr=False)

    def open(self) -> IO[bytes]:
        """The file, to write into the WARC (closed by cleanup())."""
        self._stream = self.path.open("rb")
        return self._stream

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def summary(self) -> dict:
        """What the page record says of it."""
        return {"file": self.path.name, "bytes": self.size, "content_type": self.content_type,
                "title": self.info.get("title"), "source": self.info.get("webpage_url"),
                "extractor": self.info.get("extractor_key") or self.info.get("extractor"),
                "format": self.info.get("format")}

    def cleanup(self) -> None:
        if self._stream is not None:
            self._stream.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def check_available() -> None:
    """Raise UsageError (one line, naming the extra) when yt-dlp is not installed."""
    if importlib.util.find_spec("yt_dlp") is None:
        raise UsageError("--media needs yt-dlp: pip install 'warcache[media]' (or pip install yt-dlp)")


async def download(url: str, *, user_agent: str, max_size: int, timeout: float,
                   ignore_https_errors: bool = False) -> tuple[list[MediaFile], str | None]:
    """Download the media of `url`; return the files and, when it failed, why (one line)."""
    workdir = Path(tempfile.mkdtemp(prefix="warcache-media-"))
    args = [sys.executable, "-m", "yt_dlp", "--ignore-config", "--no-playlist", "--no-progress",
            "--no-warnings", "--no-cache-dir", "--no-mtime", "--no-part", "--restrict-filenames",
            "--write-info-json", "--max-filesize", str(max_size), "--socket-timeout", "30",
            "-f", "b/bv*+ba", "-o", str(workdir / "%(id).80s.%(ext)s")]
    if user_agent:
        args += ["--user-agent", user_agent]
    if ignore_https_errors:
        args.append("--no-check-certificates")
    args += ["--", url]
    try:
        proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        return [], f"yt-dlp could not start: {exc.strerror or exc}"
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException as exc:  # the bound, or the run cancelled (Ctrl-C): yt-dlp must end too
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        shutil.rmtree(workdir, ignore_errors=True)
        if isinstance(exc, TimeoutError):
            return [], f"yt-dlp did not finish within {timeout:g} s"
        raise
    files = _collect(workdir, max_size)
    if files:
        return files, None
    shutil.rmtree(workdir, ignore_errors=True)
    return [], _reason(err, proc.returncode)


def _collect(workdir: Path, max_size: int) -> list[MediaFile]:
    out = []
    for info_path in sorted(workdir.glob("*.info.json")):
        try:
            info = json.loads(info_path.read_bytes())
        except ValueError:
            continue
        stem = info_path.name.removesuffix(".info.json")
        for path in sorted(workdir.glob(stem + ".*")):
            if path == info_path or path.suffix in (".part", ".ytdl", ".json") or not path.is_file():
                continue
            if path.stat().st_size > max_size or path.stat().st_size == 0:
                continue
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            out.append(MediaFile(path, ctype, _trim(info), workdir))
    return out


def _trim(info: dict) -> dict:
    if len(json.dumps(info)) <= MAX_INFO:
        return info
    keys = ("id", "title", "description", "uploader", "upload_date", "duration", "webpage_url",
            "extractor", "extractor_key", "format", "format_id", "ext", "width", "height", "url")
    return {k: info[k] for k in keys if k in info}


def _reason(stderr: bytes, code: int | None) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    if errors:
        return "yt-dlp: " + errors[-1].removeprefix("ERROR:").strip()[:300]
    if code == 0:
        return "yt-dlp found no media it could download within the size limit"
    return f"yt-dlp failed (exit status {code})" + (f": {lines[-1][:300]}" if lines else "")
