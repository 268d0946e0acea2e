"""Small JavaScript helpers the page behaviours share, as source to put in front of their own.

Why in the page: finding buttons by what they say, and whether a person could see them, needs
the rendered layout and open shadow roots, which only the page has. Every helper is a plain
function declared inside the behaviour's own function, so nothing is left on the page's globals.

    deepAll(selector, root?)  every element matching `selector` in the document and in every open
                              shadow root below it (an invalid selector matches nothing)
    visible(el)               the element takes room on screen and is not hidden by CSS
    label(el)                 what the element says: its text, else its value, aria-label or title,
                              lower-cased with spaces collapsed
    matchesText(text, list)   `text` is one of `list`, or begins with one and is at most 12
                              characters longer ("Reject all cookies" for "reject all")
"""

HELPERS = r"""
  const deepAll = (selector, root) => {
    const out = [];
    const walk = (node) => {
      try { out.push(...node.querySelectorAll(selector)); } catch (e) { return; }
      for (const el of node.querySelectorAll('*')) { if (el.shadowRoot) walk(el.shadowRoot); }
    };
    walk(root || document);
    return out;
  };
  const visible = (el) => {
    if (!el || !el.isConnected || !el.getClientRects().length) return false;
    if (el.checkVisibility) return el.checkVisibility({visibilityProperty: true, opacityProperty: false});
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none';
  };
  const label = (el) => {
    const text = (el.innerText || el.textContent || '').trim() || el.value || el.getAttribute('aria-label')
      || el.getAttribute('title') || '';
    return String(text).replace(/\s+/g, ' ').trim().toLowerCase()
      .replace(/^[\s"'«»“”›‹>]+|[\s"'«»“”›‹<.!…]+$/g, '');
  };
  const matchesText = (text, list) => {
    if (!text || text.length > 80) return false;
    for (const t of list) {
      if (text === t || (text.startsWith(t + ' ') && text.length <= t.length + 12)) return true;
    }
    return false;
  };
"""
