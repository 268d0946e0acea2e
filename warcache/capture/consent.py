"""`--dismiss-consent`: answer the cookie/consent dialog a page opens, so the archive shows the page.

Many pages open under a consent dialog that covers the text and locks scrolling; archived as
is, every replay shows the dialog and not the article. With `--dismiss-consent`, after the page
has loaded and its network gone quiet, warcache:

1. looks for a consent platform it knows (consent_rules.toml: OneTrust, Cookiebot, Didomi,
   Quantcast, Usercentrics, TrustArc, Sourcepoint's iframes, ...) in the page and its frames, and
   clicks its "reject all" button, else its "accept" button;
2. when none is known, looks for a button inside something that looks like a consent dialog
   whose text is a "reject all" in one of several languages, else an "accept";
3. waits for the network to go quiet (the click may reload or load things), then hides what the
   platform leaves on screen (its banner, its backdrop, leftover fixed overlays that talk about
   cookies) and unlocks scrolling on `html` and `body`.

Reject comes first: a page archived without consent is closer to what any reader sees, and it
loads fewer trackers. The rules are data: `--consent-rules FILE` adds a file of the same format,
read first (see the top of consent_rules.toml). What was done is the behaviour's report in the
page record: `clicked 'Reject all' (OneTrust: #onetrust-reject-all-handler); hid 1 overlay`.

Clicks are the page's own `click()` on the element, so they work on buttons behind other
overlays; a CMP that insists on trusted events is handled by hiding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from warcache.capture.domjs import HELPERS
from warcache.errors import UsageError

_CMP_KEYS = {"name": str, "detect": list, "reject": list, "accept": list, "hide": list, "frame": str}


@dataclass
class ConsentRules:
    """The platforms to look for, in order, and the button texts of the generic search."""

    cmps: list[dict] = field(default_factory=list)
    reject_texts: list[str] = field(default_factory=list)
    accept_texts: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"cmps": self.cmps, "reject": self.reject_texts, "accept": self.accept_texts}


def parse_rules(text: str, where: str) -> dict:
    """Check a rules file's content; return it as plain data (cmp list and texts). Raises
    UsageError with one line naming the file and the entry for anything malformed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"consent rules {where}: not valid TOML ({exc})") from None
    unknown = set(data) - {"cmp", "texts"}
    if unknown:
        raise UsageError(f"consent rules {where}: unknown section {sorted(unknown)[0]!r} "
                         "(expected [[cmp]] and [texts])")
    cmps = data.get("cmp", [])
    if not isinstance(cmps, list):
        raise UsageError(f"consent rules {where}: 'cmp' must be [[cmp]] tables")
    out_cmps = []
    for i, cmp in enumerate(cmps, 1):
        name = cmp.get("name") if isinstance(cmp, dict) else None
        what = f"consent rules {where}: [[cmp]] {i}" + (f" ({name!r})" if isinstance(name, str) else "")
        if not isinstance(cmp, dict) or not isinstance(name, str) or not name:
            raise UsageError(f"{what}: needs a name")
        for key, value in cmp.items():
            kind = _CMP_KEYS.get(key)
            if kind is None:
                raise UsageError(f"{what}: unknown key {key!r}")
            if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
                raise UsageError(f"{what}: {key!r} must be "
                                 + ("a list of CSS selectors" if kind is list else "a string"))
        if not cmp.get("detect"):
            raise UsageError(f"{what}: needs 'detect' selectors")
        out_cmps.append({"name": name, "detect": cmp["detect"], "reject": cmp.get("reject", []),
                         "accept": cmp.get("accept", []), "hide": cmp.get("hide", []),
                         "frame": cmp.get("frame", "")})
    texts = data.get("texts", {})
    if not isinstance(texts, dict) or set(texts) - {"reject", "accept"}:
        raise UsageError(f"consent rules {where}: [texts] takes 'reject' and 'accept' lists")
    out_texts = {}
    for key in ("reject", "accept"):
        values = texts.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise UsageError(f"consent rules {where}: [texts] {key} must be a list of strings")
        out_texts[key] = [" ".join(v.lower().split()) for v in values if v.strip()]
    return {"cmp": out_cmps, "texts": out_texts}


def read_rules_file(path: str | Path) -> dict:
    """A user's rules file, checked (see parse_rules)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise UsageError(f"cannot read consent rules {path}: {reason}") from None
    return parse_rules(text, str(path))


@functools.cache
def _shipped() -> dict:
    return parse_rules(resources.files("warcache.capture").joinpath("consent_rules.toml")
                       .read_text(encoding="utf-8"), "consent_rules.toml")


def load_rules(user: dict | None = None) -> ConsentRules:
    """The shipped rules, with a user's (from read_rules_file) in front."""
    shipped = _shipped()
    rules = ConsentRules()
    for part in (user, shipped):
        if part:
            rules.cmps += part["cmp"]
            rules.reject_texts += part["texts"]["reject"]
            rules.accept_texts += part["texts"]["accept"]
    return rules


#: Find and click the dialog's button in one frame. Returns what it clicked, or null.
_CLICK_JS = "async ({cmps, reject, accept, inFrame, frameUrl}) => {" + HELPERS + r"""
  const clickable = 'button, [role="button"], a, input[type="button"], input[type="submit"]';
  const shown = (selectors) => selectors.some((s) => deepAll(s).some(visible));
  const firstVisible = (selectors) => {
    for (const s of selectors) {
      const el = deepAll(s).find(visible);
      if (el) return [el, s];
    }
    return [null, null];
  };
  const shownText = (el) => ((el.innerText || el.value || '').trim() || label(el)).replace(/\s+/g, ' ');
  const press = (el) => {
    try { el.scrollIntoView({block: 'center'}); } catch (e) { /* detached */ }
    el.click();
  };
  for (const cmp of cmps) {
    if (cmp.frame ? !(inFrame && frameUrl.includes(cmp.frame)) : inFrame) continue;
    if (!shown(cmp.detect)) continue;
    for (const [choice, selectors] of [['reject', cmp.reject], ['accept', cmp.accept]]) {
      const [el, selector] = firstVisible(selectors);
      if (el) {
        const text = shownText(el);
        press(el);
        return {cmp: cmp.name, choice, selector, text};
      }
    }
  }
  // The generic search: a button with a known text inside something that looks like consent.
  const consentish = /cookie|consent|gdpr|privacy|cmp|datenschutz|confidentialit|privacidad|tracking/i;
  const container = (el) => {
    for (let node = el; node && node !== document.body;
         node = node.parentElement || node.getRootNode().host) {
      const marks = [node.id, typeof node.className === 'string' ? node.className : '',
                     node.getAttribute && node.getAttribute('aria-label'),
                     node.getAttribute && node.getAttribute('aria-labelledby')].join(' ');
      if (consentish.test(marks)) return node;
      const role = node.getAttribute && (node.getAttribute('role') || '');
      const modal = role === 'dialog' || role === 'alertdialog'
        || (node.getAttribute && node.getAttribute('aria-modal') === 'true');
      if (modal && consentish.test((node.innerText || '').slice(0, 3000))) return node;
    }
    return inFrame && consentish.test(frameUrl) ? document.body : null;
  };
  const buttons = deepAll(clickable).filter(visible);
  for (const [choice, texts] of [['reject', reject], ['accept', accept]]) {
    for (const el of buttons) {
      if (!matchesText(label(el), texts)) continue;
      const box = container(el);
      if (!box) continue;
      const href = el.getAttribute('href');
      if (href && !href.startsWith('#') && !href.startsWith('javascript:')) continue;  // it would navigate
      const text = shownText(el);
      press(el);
      const cls = typeof box.className === 'string' ? box.className.trim().split(/\s+/)[0] : '';
      const mark = box.id ? '#' + box.id : box.tagName.toLowerCase() + (cls ? '.' + cls : '');
      return {cmp: null, choice, selector: mark, text};
    }
  }
  return null;
}"""

#: Hide what the dialog left on screen and unlock scrolling. Returns [hidden count, unlocked].
_HIDE_JS = "({hide}) => {" + HELPERS + r"""
  let hidden = 0;
  const conceal = (el) => {
    if (!visible(el)) return;
    el.style.setProperty('display', 'none', 'important');
    hidden++;
  };
  for (const s of hide) deepAll(s).forEach(conceal);
  // Leftovers: fixed or sticky boxes that talk about cookies, and empty backdrops over the page.
  const consentish = /cookie|consent|gdpr|datenschutz|confidentialit|privacidad/i;
  const area = innerWidth * innerHeight;
  for (const el of document.body ? document.body.querySelectorAll('*') : []) {
    const style = getComputedStyle(el);
    if (style.position !== 'fixed' && style.position !== 'sticky') continue;
    if (!visible(el)) continue;
    const rect = el.getBoundingClientRect();
    const cover = Math.max(0, Math.min(rect.right, innerWidth) - Math.max(rect.left, 0))
      * Math.max(0, Math.min(rect.bottom, innerHeight) - Math.max(rect.top, 0)) / area;
    const text = (el.innerText || '').trim();
    const marks = el.id + ' ' + (typeof el.className === 'string' ? el.className : '');
    if ((consentish.test(marks) || consentish.test(text.slice(0, 2000))) && text.length < 4000) conceal(el);
    else if (!text && cover > 0.8 && !el.querySelector('img, video, canvas, iframe')) conceal(el);
  }
  let unlocked = false;
  for (const el of [document.documentElement, document.body]) {
    if (!el) continue;
    const style = getComputedStyle(el);
    if (style.overflow === 'hidden' || style.overflowY === 'hidden') {
      el.style.setProperty('overflow', 'visible', 'important');
      el.style.setProperty('overflow-y', 'visible', 'important');
      unlocked = true;
    }
    if (el === document.body && style.position === 'fixed') {
      el.style.setProperty('position', 'static', 'important');
      unlocked = true;
    }
  }
  return [hidden, unlocked];
}"""


async def dismiss_consent(page, rules: ConsentRules, wait_idle, *, timeout: float) -> str:
    """Run the steps of the module docstring on `page`; return what was done, in words."""
    deadline = time.monotonic() + timeout
    args = {"cmps": rules.cmps, "reject": rules.reject_texts, "accept": rules.accept_texts}
    clicked = None
    for attempt in range(2):  # a dialog that a script opens late: look once more after a pause
        clicked = await _click_in_frames(page, args, deadline)
        if clicked is not None or attempt or time.monotonic() >= deadline:
            break
        await wait_idle(0.5, min(2.0, max(0.0, deadline - time.monotonic())))
    if clicked is not None:
        await wait_idle(0.5, min(5.0, max(0.5, deadline - time.monotonic())))
    hide = [s for cmp in rules.cmps for s in cmp["hide"]]
    hidden, unlocked = 0, False
    with contextlib.suppress(Exception):  # a page that navigated meanwhile: the click is what counts
        hidden, unlocked = await page.main_frame.evaluate(_HIDE_JS, {"hide": hide})
    parts = []
    if clicked is None:
        parts.append("found no consent dialog")
    else:
        where = (f"{clicked['cmp']}: {clicked['selector']}" if clicked.get("cmp")
                 else f"in {clicked['selector']}")
        parts.append(f"clicked {clicked['text'][:60]!r} ({clicked['choice']}, {where})")
    if hidden:
        parts.append(f"hid {hidden} overlay{'s' if hidden != 1 else ''}")
    if unlocked:
        parts.append("unlocked scrolling")
    return "; ".join(parts)


async def _click_in_frames(page, args: dict, deadline: float) -> dict | None:
    """The main frame first, then every other frame (dialogs served in iframes)."""
    main = page.main_frame
    for frame in [main, *[f for f in page.frames if f is not main]]:
        if time.monotonic() >= deadline:
            return None
        try:
            found = await asyncio.wait_for(
                frame.evaluate(_CLICK_JS, {**args, "inFrame": frame is not main, "frameUrl": frame.url}),
                max(0.1, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - a detached or navigating frame: try the others
            continue
        if found is not None:
            return found
    return None
