"""Click-to-expand: open what a page folds away, so the archive holds the whole text.

Pages hide part of their text behind "read more", load comments or results behind "load more",
and fold sections into `<details>`. After the page has loaded (and a consent dialog is answered),
warcache:

* opens every closed `<details>` of the page;
* clicks, one at a time, each visible button, `[role=button]` or link whose text (or label) is a
  "read more" or "load more" in one of several languages, letting the network go quiet after each
  click. A "read more" is clicked once (a second click would fold it again); a "load more" is
  clicked again while it stays and each click adds to the page, until it goes, stops adding, or
  the bound is reached.

What is never clicked: a link that would leave the document (an `href` to another address, or a
`target` other than the page itself), a submit button of a form, and anything disabled. If a
click makes the page navigate all the same, expanding stops there and the capture follows the
page, as it does any navigation (navigation.py).

Bounded by `--behavior-timeout` seconds and MAX_CLICKS clicks. The report says what was opened:
`opened 2 <details>; clicked 'load more' 3 times, 'read more' once`.
"""

from __future__ import annotations

import time
from collections import Counter

from warcache.capture.domjs import HELPERS

MAX_CLICKS = 50

#: Texts of buttons that fetch more of a list: clicked again while the page grows.
LOAD_TEXTS = (
    "load more", "show more", "see more", "view more", "more results", "show more results",
    "load more results", "load more comments", "show more comments", "view more comments",
    "more comments", "load more posts", "load more articles", "load more stories",
    "mehr laden", "mehr anzeigen", "weitere laden", "weitere anzeigen", "mehr ergebnisse",
    "afficher plus", "voir plus", "charger plus", "afficher la suite",
    "cargar más", "ver más", "mostrar más", "carica altri", "mostra altro", "mostra di più",
    "carregar mais", "ver mais", "mostrar mais", "meer laden", "toon meer", "meer weergeven",
    "pokaż więcej", "załaduj więcej", "visa fler", "ladda fler", "visa mer", "vis flere", "vis mere",
    "näytä lisää", "показать ещё", "показать еще", "загрузить ещё", "загрузить еще",
    "もっと見る", "さらに表示", "더 보기", "加载更多", "查看更多", "显示更多",
)
#: Texts of buttons that unfold the rest of a text: clicked once.
READ_TEXTS = (
    "read more", "continue reading", "keep reading", "read full article", "read the full article",
    "read full story", "read the full story", "read the rest", "expand", "show full text",
    "show full article", "weiterlesen", "mehr lesen", "artikel weiterlesen", "lire la suite", "lire plus",
    "leer más", "seguir leyendo", "continuar leyendo", "continua a leggere", "leggi tutto", "leggi di più",
    "ler mais", "continuar lendo", "continuar a ler", "verder lezen", "lees meer", "lees verder",
    "czytaj dalej", "czytaj więcej", "läs mer", "fortsätt läsa", "læs mere", "les mer", "lue lisää",
    "читать далее", "читать дальше", "続きを読む", "阅读更多", "阅读全文", "더 읽기",
)

#: One step: open <details>, then click the next expander. State between steps (which element
#: was clicked, how big the page was then) lives in a WeakMap under a symbol, not in the DOM.
_STEP_JS = "({load, read}) => {" + HELPERS + r"""
  const key = Symbol.for('warcache.expand');
  const state = window[key] || (window[key] = {clicked: new WeakMap()});
  let opened = 0;
  for (const d of deepAll('details:not([open])')) { d.open = true; opened++; }
  const size = document.getElementsByTagName('*').length;
  const here = location.href.split('#')[0];
  const leaves = (el) => {
    const link = el.closest('a[href]');
    if (link) {
      const target = (link.getAttribute('target') || '').toLowerCase();
      if (target && target !== '_self') return true;
      const href = link.getAttribute('href').trim();
      if (!href.startsWith('#') && !/^javascript:/i.test(href)) {
        let url;
        try { url = new URL(href, document.baseURI); } catch (e) { return true; }
        if (url.href.split('#')[0] !== here) return true;
      }
    }
    const form = el.form || (el.closest && el.closest('form'));
    const type = (el.getAttribute('type') || (el.tagName === 'BUTTON' ? 'submit' : '')).toLowerCase();
    return Boolean(form && (type === 'submit' || type === 'image'));
  };
  const candidates = deepAll('button, [role="button"], a, input[type="button"]');
  for (const el of candidates) {
    if (!visible(el) || el.disabled || el.getAttribute('aria-disabled') === 'true') continue;
    const text = label(el);
    const kind = matchesText(text, load) ? 'load' : matchesText(text, read) ? 'read' : null;
    if (!kind || leaves(el)) continue;
    const before = state.clicked.get(el);
    if (before && (kind === 'read' || before.size === size || before.times >= 20)) continue;
    state.clicked.set(el, {size, times: before ? before.times + 1 : 1});
    try { el.scrollIntoView({block: 'center'}); } catch (e) { /* detached */ }
    el.click();
    return {opened, clicked: text.slice(0, 60)};
  }
  return {opened, clicked: null};
}"""


async def expand_page(page, wait_idle, moved, *, timeout: float, max_clicks: int = MAX_CLICKS) -> str:
    """Open and click as the module docstring says; `moved()` is True once the page has navigated
    away from the document it started on. Returns what was done, in words."""
    deadline = time.monotonic() + timeout
    opened, clicks = 0, Counter()
    stopped = ""
    while True:
        if time.monotonic() >= deadline:
            stopped = "stopped at the time bound"
            break
        if sum(clicks.values()) >= max_clicks:
            stopped = f"stopped after {max_clicks} clicks"
            break
        step = await page.main_frame.evaluate(_STEP_JS, {"load": LOAD_TEXTS, "read": READ_TEXTS})
        opened += step["opened"]
        if step["clicked"] is None:
            break
        clicks[step["clicked"]] += 1
        await wait_idle(0.3, min(5.0, max(0.1, deadline - time.monotonic())))
        if moved():
            stopped = f"the page navigated after clicking {step['clicked']!r}"
            break
    parts = []
    if opened:
        parts.append(f"opened {opened} <details>")
    if clicks:
        parts.append("clicked " + ", ".join(f"{text!r} " + ("once" if n == 1 else f"{n} times")
                                            for text, n in clicks.items()))
    if not parts:
        parts.append("found nothing to expand")
    if stopped:
        parts.append(stopped)
    return "; ".join(parts)
