"""Comparing a replay of a capture with what the page showed live, and the score it earns.

Four measures, each from 0 to 1, and the reasons that explain them:

* **screenshot**: the share of the picture that looks the same. Both full-page screenshots are
  turned to grey and cut into cells of CELL x CELL CSS pixels (whatever scale each was drawn at),
  each cell averaged (Pillow's box
  filter, which evens out anti-aliasing and sub-pixel differences of text); a cell is alike when
  its average grey is within CELL_THRESHOLD of 255 levels of the other picture's. Each row of
  cells is matched with the most alike row of the other picture within SHIFT_PX pixels up or down,
  because a page fills in at a different pace at each load and its blocks may land a few lines
  apart or in another order; rows with no counterpart (a shorter page) differ. Rows are matched
  both ways, so content only one side shows counts, whichever side. The measure is the mean of
  the alike share of the first screen (the viewport at the top: what a reader sees on opening
  the page) and of the whole page.
* **text**: how much of the visible text (the page's `innerText`, whitespace evened, its lines
  sorted: scripts fill a page in the order their requests come back) is the same, as rapidfuzz's
  normalised Indel similarity (`fuzz.ratio`: 1 - insertions and deletions / total length), on
  characters, or on whole lines for texts longer than TEXT_CHARS_BY_CHARACTER; the reasons quote
  lines shown live and missing on replay, and lines shown only on replay.
* **resources**: the share of the replay's requests that the archive answered. A request the
  archive had no answer for is *not archived*, and listed by URL, unless it failed live too.
* **console**: errors in the console that the live page did not have (uncaught exceptions,
  `console.error`), each costing CONSOLE_ERROR_COST. Messages about resources that failed to load
  are left to the resources measure, and URLs in messages are ignored (replay rewrites them).

The score is `100 x` the weighted mean of the measures at hand (WEIGHTS; a measure without live
data, such as the text of a capture made before warcache kept it, is left out and the others
weigh more), rounded.

Pillow and rapidfuzz are imported here, and this module only by the check, so `warcache --help`
does not load them.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field

from PIL import Image, ImageChops
from rapidfuzz import fuzz

#: How much each measure counts in the score.
WEIGHTS = {"screenshot": 0.4, "text": 0.3, "resources": 0.2, "console": 0.1}
CELL = 8
CELL_THRESHOLD = 16
SHIFT_PX = 400
TEXT_CHARS_BY_CHARACTER = 200_000
CONSOLE_ERROR_COST = 0.25
#: How many missing lines, URLs and errors a result names (the counts are always complete).
MAX_NAMED = 50
_URL = re.compile(r"\b(?:https?|blob|data):[^\s'\"()<>]+", re.IGNORECASE)
_LOAD_FAILED = "failed to load resource"


@dataclass
class Seen:
    """What one showing of the page gave (live, or one replay)."""

    screenshot: bytes | None = None  # full-page PNG or JPEG
    scale: float = 1.0  # its device pixels per CSS pixel
    text: str | None = None
    console_errors: list[str] | None = None  # None: not known (the live side of an old capture)
    answered: int = 0  # requests answered from the archive (replays only)
    not_archived: list[str] = field(default_factory=list)  # original URLs, replays only
    failed: list[str] = field(default_factory=list)  # requests that failed (the live side)


@dataclass
class Comparison:
    """How one replay compares with the live page."""

    score: int
    measures: dict[str, float] = field(default_factory=dict)  # the measures at hand, 0..1
    reasons: list[str] = field(default_factory=list)
    not_archived: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)  # figures behind the measures (JSON)

    def to_json(self) -> dict:
        return {"score": self.score, "measures": {k: round(v, 4) for k, v in self.measures.items()},
                "reasons": self.reasons, "not_archived": self.not_archived, "details": self.details}


def compare(live: Seen, replay: Seen, viewport: tuple[int, int], *,
            shot: ShotSimilarity | None = None) -> Comparison:
    """Score `replay` against `live` (see the module docstring); `shot`, the screenshots'
    similarity when it was measured already."""
    out = Comparison(score=0)
    if live.screenshot and replay.screenshot:
        shot = shot or screenshot_similarity(live.screenshot, replay.screenshot, viewport,
                                             scales=(live.scale, replay.scale))
        out.measures["screenshot"] = shot.similarity
        out.details["screenshot"] = shot.to_json()
        if shot.similarity < 0.995:
            out.reasons.append(shot.describe())
    elif live.screenshot:
        out.measures["screenshot"] = 0.0
        out.reasons.append("no screenshot of the replay")
    else:
        out.reasons.append("no live screenshot to compare with")
    if live.text is not None and replay.text is not None:
        text = text_similarity(live.text, replay.text)
        out.measures["text"] = text.similarity
        out.details["text"] = text.to_json()
        if text.similarity < 0.995:
            out.reasons.append(text.describe())
    elif live.text is not None:
        out.measures["text"] = 0.0
        out.reasons.append("no text from the replay")
    else:
        out.reasons.append("no live text to compare with (captured before warcache kept it)")
    failed_live = set(live.failed)
    missing = list(dict.fromkeys(u for u in replay.not_archived if u not in failed_live))
    total = replay.answered + len(missing)
    out.measures["resources"] = replay.answered / total if total else 1.0
    out.not_archived = missing[:MAX_NAMED]
    out.details["resources"] = {"answered": replay.answered, "not_archived": len(missing)}
    if missing:
        named = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        out.reasons.append(f"{len(missing)} of {total} requests not archived: {named}")
    if live.console_errors is not None:
        new = replay_only_errors(live.console_errors, replay.console_errors or [])
        out.measures["console"] = max(0.0, 1.0 - CONSOLE_ERROR_COST * len(new))
        out.details["console_errors"] = new[:MAX_NAMED]
        if new:
            out.reasons.append(f"{len(new)} console errors only on replay: " + "; ".join(
                _shorten(e, 120) for e in new[:3]))
    total_weight = sum(WEIGHTS[k] for k in out.measures)
    score = sum(WEIGHTS[k] * v for k, v in out.measures.items()) / total_weight if total_weight else 0.0
    out.score = max(0, min(100, round(100 * score)))
    return out


# -- screenshots ------------------------------------------------------------------------------


@dataclass
class ShotSimilarity:
    similarity: float
    first_screen: float  # unchanged share of the first screen
    whole_page: float  # unchanged share of the whole page
    live_height: int
    replay_height: int

    def to_json(self) -> dict:
        return {"first_screen": round(self.first_screen, 4), "whole_page": round(self.whole_page, 4),
                "live_height": self.live_height, "replay_height": self.replay_height}

    def describe(self) -> str:
        text = (f"screenshot {self.similarity:.0%} alike ({1 - self.first_screen:.0%} of the first screen "
                f"and {1 - self.whole_page:.0%} of the page differ")
        if abs(self.live_height - self.replay_height) > CELL:
            shorter = "shorter" if self.replay_height < self.live_height else "longer"
            text += f"; the replay is {abs(self.live_height - self.replay_height)} px {shorter}"
        return text + ")"


def screenshot_similarity(live: bytes, replay: bytes, viewport: tuple[int, int], *,
                          scales: tuple[float, float] = (1.0, 1.0)) -> ShotSimilarity:
    """Compare two full-page screenshots (any format Pillow reads) taken at the same viewport,
    drawn at `scales` device pixels per CSS pixel."""
    a, b = _cells(live, scales[0]), _cells(replay, scales[1])
    rows_a, rows_b = _best_rows(a, b), _best_rows(b, a)
    screen = max(1, math.ceil(viewport[1] / CELL))
    whole = _mean(rows_a + rows_b)
    first = _mean(rows_a[:screen] + rows_b[:screen])
    return ShotSimilarity((first + whole) / 2, first, whole, a.height * CELL, b.height * CELL)


def prepare_screenshot(data: bytes | None, scale: float = 1.0) -> None:
    """Decode a screenshot into cells ahead of `compare` (which then finds it ready)."""
    if data:
        _cells(data, scale)


@functools.lru_cache(maxsize=4)  # the live picture is compared with each replay: decoded once
def _cells(data: bytes, scale: float = 1.0) -> Image.Image:
    """The picture in grey, one pixel per cell of CELL x CELL CSS pixels (its mean). A JPEG is
    decoded at the smallest size its format allows that still has a pixel per cell."""
    with Image.open(io.BytesIO(data)) as image:
        full = image.width or 1
        step = CELL * scale  # image pixels per cell
        image.draft("L", (max(1, math.ceil(image.width / step)), max(1, math.ceil(image.height / step))))
        grey = image.convert("L")
    step *= grey.width / full
    size = (max(1, math.ceil(grey.width / step)), max(1, math.ceil(grey.height / step)))
    return grey.resize(size, Image.Resampling.BOX)


_CHANGED = [0 if v <= CELL_THRESHOLD else 255 for v in range(256)]


def _best_rows(a: Image.Image, b: Image.Image) -> list[float]:
    """For each row of cells of `a`, the alike share of the most alike row of `b` within SHIFT_PX.
    (Done with whole-picture Pillow operations per shift, not row by row in Python.)"""
    width = min(a.width, b.width)
    widest = max(a.width, b.width)
    least = Image.new("L", (1, a.height), 255)  # per row: the smallest changed share found (0..255)
    window = SHIFT_PX // CELL
    for shift in range(-window, window + 1):
        top, bottom = max(0, -shift), min(a.height, b.height - shift)
        if bottom <= top:
            continue
        changed = ImageChops.difference(a.crop((0, top, width, bottom)),
                                        b.crop((0, top + shift, width, bottom + shift))).point(_CHANGED)
        if widest > width:  # cells only the wider picture has differ
            padded = Image.new("L", (widest, bottom - top), 255)
            padded.paste(changed, (0, 0))
            changed = padded
        column = Image.new("L", (1, a.height), 255)
        column.paste(changed.resize((1, bottom - top), Image.Resampling.BOX), (0, top))
        least = ImageChops.darker(least, column)
    return [1 - v / 255 for v in least.tobytes()]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 1.0


# -- text -------------------------------------------------------------------------------------


@dataclass
class TextSimilarity:
    similarity: float
    missing: list[str]  # lines shown live, not on replay
    extra: list[str]  # lines shown only on replay
    live_chars: int
    replay_chars: int

    def to_json(self) -> dict:
        return {"missing_lines": self.missing[:MAX_NAMED], "extra_lines": self.extra[:MAX_NAMED],
                "live_chars": self.live_chars, "replay_chars": self.replay_chars}

    def describe(self) -> str:
        text = f"text {self.similarity:.0%} similar"
        if self.missing:
            text += "; missing: " + ", ".join(f"“{_shorten(x, 80)}”" for x in self.missing[:3])
        if self.extra:
            text += "; only on replay: " + ", ".join(f"“{_shorten(x, 80)}”" for x in self.extra[:3])
        return text


def text_lines(text: str) -> list[str]:
    """The lines of a visible text, whitespace evened, empty ones left out."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def text_similarity(live: str, replay: str) -> TextSimilarity:
    a, b = text_lines(live), text_lines(replay)
    # In sorted order: scripts fill a page in the order their requests come back, which differs
    # from one load to the next; a line that is missing or changed still counts.
    joined_a, joined_b = "\n".join(sorted(a)), "\n".join(sorted(b))
    if not joined_a and not joined_b:
        similarity = 1.0
    elif len(joined_a) + len(joined_b) <= TEXT_CHARS_BY_CHARACTER:
        similarity = fuzz.ratio(joined_a, joined_b) / 100
    else:
        similarity = fuzz.ratio(sorted(a), sorted(b)) / 100  # sequences of lines: each line an element
    only_a, only_b = Counter(a) - Counter(b), Counter(b) - Counter(a)
    missing = list(dict.fromkeys(x for x in a if x in only_a))  # in the order they were shown
    extra = list(dict.fromkeys(x for x in b if x in only_b))
    return TextSimilarity(similarity, missing, extra, len(joined_a), len(joined_b))


# -- console ----------------------------------------------------------------------------------


def replay_only_errors(live: list[str], replay: list[str]) -> list[str]:
    """Console errors of the replay the live page did not have (as many times as they are more)."""
    def key(message: str) -> str:
        return " ".join(_URL.sub("<url>", message).split())

    def counted(message: str) -> bool:
        return not message.lower().startswith(_LOAD_FAILED)

    remaining = Counter(key(m) for m in live if counted(m))
    out = []
    for message in replay:
        if not counted(message):
            continue
        k = key(message)
        if remaining[k] > 0:
            remaining[k] -= 1
        else:
            out.append(message)
    return out


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
