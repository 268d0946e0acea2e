"""Playing a page's `<video>` and `<audio>`, so that what a reader would play is archived.

A browser fetches only the start of a media file (or nothing, with `preload="none"`) until it is
played, and a streaming player (HLS, DASH: a manifest, then segments fetched by the browser or by
script through Media Source Extensions) fetches segments only as playback goes on. So warcache
plays every media element of the page and of its frames, muted (so no autoplay policy stops it)
and fast (`playbackRate` up to 16, so a player fetches its segments sooner), until each has ended
or has buffered to its end, or the bound of `--behavior-timeout` seconds. Then it pauses them.

What this leaves in the archive is what went through the recording proxy: the files the
browser fetched, with their byte ranges. The proxy reads a response to its end even when the
browser stops listening, so a file the browser asked for from its start (`Range: bytes=0-`, as
Chromium asks) is archived whole, bounded by `--max-resource-size`; for a stream, the manifest and
the segments of the rendition the browser chose.
"""

from __future__ import annotations

import asyncio
import math
import time

from warcache.capture.domjs import HELPERS

#: Fastest playback Chromium allows; a player fetches ahead of where it plays.
PLAYBACK_RATE = 16.0
MAX_ELEMENTS = 20
MAX_FRAMES = 20

_START_JS = "async ({rate, max}) => {" + HELPERS + r"""
  const started = [];
  for (const el of deepAll('video, audio').slice(0, max)) {
    const source = el.querySelector('source[src]');
    if (!(el.currentSrc || el.getAttribute('src') || source || el.srcObject)) continue;
    el.muted = true;
    if (el.preload !== 'auto') el.preload = 'auto';
    try { el.defaultPlaybackRate = rate; el.playbackRate = rate; } catch (e) { /* rate refused */ }
    let error = null;
    try {
      await Promise.race([el.play(), new Promise((resolve) => setTimeout(resolve, 2000))]);
    } catch (e) { error = String((e && e.message) || e).slice(0, 120); }
    started.push(error);
  }
  return started;
}"""

_STATE_JS = "({max}) => {" + HELPERS + r"""
  return deepAll('video, audio').slice(0, max)
    .filter((el) => el.currentSrc || el.srcObject)
    .map((el) => {
      let buffered = 0;
      for (let i = 0; i < el.buffered.length; i++) buffered = Math.max(buffered, el.buffered.end(i));
      return {kind: el.tagName.toLowerCase(), src: el.currentSrc || 'stream',
              duration: Number.isFinite(el.duration) ? el.duration : null, buffered,
              at: el.currentTime, ended: el.ended, error: el.error ? el.error.code : null};
    });
}"""

_PAUSE_JS = "({max}) => {" + HELPERS + r"""
  for (const el of deepAll('video, audio').slice(0, max)) { try { el.pause(); } catch (e) { /* gone */ } }
}"""


def _done(state: dict) -> bool:
    if state["ended"] or state["error"] is not None:
        return True
    duration = state["duration"]
    return duration is not None and duration > 0 and state["buffered"] >= duration - 0.25


async def play_media(page, wait_idle, *, timeout: float) -> str:
    """Play, wait, pause (see the module docstring); return what was played, in words."""
    deadline = time.monotonic() + timeout
    frames = page.frames[:MAX_FRAMES]
    refused: list[str] = []
    tried = 0
    for frame in frames:
        try:
            errors = await asyncio.wait_for(
                frame.evaluate(_START_JS, {"rate": PLAYBACK_RATE, "max": MAX_ELEMENTS}),
                max(0.1, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - a detached or stuck frame: the others still play
            continue
        tried += len(errors)
        refused += [e for e in errors if e]
    if not tried:
        return "found no media to play"
    states: list[dict] = []
    timed_out = True
    while time.monotonic() < deadline:
        await wait_idle(0.3, min(1.0, max(0.0, deadline - time.monotonic())))
        states = await _states(frames, deadline)
        if all(_done(s) for s in states):
            timed_out = False
            break
    for frame in frames:
        try:
            await asyncio.wait_for(frame.evaluate(_PAUSE_JS, {"max": MAX_ELEMENTS}), 2.0)
        except Exception:  # noqa: BLE001 - as above
            continue
    await wait_idle(0.5, min(3.0, max(0.5, deadline - time.monotonic())))
    described = [_describe(s) for s in states[:5]] + ([f"{len(states) - 5} more"] if len(states) > 5 else [])
    out = f"played {len(states) or tried} media element{'s' if (len(states) or tried) != 1 else ''}"
    if described:
        out += ": " + ", ".join(described)
    if refused:
        out += f"; {len(refused)} refused to play ({refused[0]})"
    if timed_out:
        out += "; stopped at the time bound"
    return out


async def _states(frames, deadline: float) -> list[dict]:
    out: list[dict] = []
    for frame in frames:
        try:
            out += await asyncio.wait_for(frame.evaluate(_STATE_JS, {"max": MAX_ELEMENTS}),
                                          max(0.1, min(2.0, deadline - time.monotonic())))
        except Exception:  # noqa: BLE001 - as above
            continue
    return out


def _describe(state: dict) -> str:
    src = state["src"]
    name = "stream" if src.startswith("blob:") or src == "stream" else src.rsplit("/", 1)[-1][:60] or src[:60]
    duration = state["duration"]
    if state["error"] is not None:
        how = f"media error {state['error']}"
    elif duration is not None and state["buffered"] >= duration - 0.25:
        how = f"buffered whole, {_seconds(duration)}"
    elif duration is not None and not math.isinf(duration):
        how = f"buffered {_seconds(state['buffered'])} of {_seconds(duration)}"
    else:
        how = f"buffered {_seconds(state['buffered'])}"
    return f"{state['kind']} {name} ({how})"


def _seconds(value: float) -> str:
    return f"{value:.1f} s"
