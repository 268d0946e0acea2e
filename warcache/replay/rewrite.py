"""Rewriting archived HTML and CSS so every URL they name points back into the archive.

Size: just over 600 lines: the HTML tokeniser and the CSS rewriting share the URL rules and are kept
together; srcsets already has its own module.

A replayed page lives at `/<coll>/<ts>/<original url>` on the replay origin.  Relative URLs
then resolve correctly by themselves, but root-relative (`/static/app.js`) and absolute ones
(`https://cdn.example/x.js`) would leave the archive, so the server rewrites every URL in
markup and style sheets to `/<coll>/<ts><mod>/<absolute original url>`.

Design choices:

* Markup is tokenised here, not parsed into a tree and serialised again: everything that is
  not a rewritten attribute value stays byte for byte as archived (comments, whitespace,
  attribute order and quoting, broken markup the browser would repair its own way).
* Text is handled as Latin-1 for every ASCII-compatible charset, which maps bytes to
  characters one to one: the markup syntax is ASCII in all of them, and the bytes of text
  in any encoding come back unchanged.  Only UTF-16/32 (recognised by their BOM) are decoded.
* A URL attribute is rewritten in its raw form (entities left as they are): the browser
  decodes them after us, so `?a=1&amp;b=2` keeps meaning what it meant.
* JavaScript is rewritten only where it reads its own address (`jsrewrite`, handed in as
  `script`: inline scripts and event handler attributes); the injected client script routes
  what scripts do at run time (see client.js), and on a shared origin an import map sends
  `import()` of root-relative and absolute URLs into the archive, which no run-time hook can.
* On a session host (`sessions.OriginRewriter`) only absolute URLs change: relative ones
  resolve against the session host, which keeps the original path.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

from warcache.replay.srcsets import srcset_spans

# ---------------------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------------------
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_STRIP = "\t\n\r\f "


@dataclass(frozen=True)
class UrlRewriter:
    """Rewrites URLs found in one archived resource.

    `coll` and `timestamp` say where in the archive the resource was found; `base` is the
    original URL against which its relative URLs resolve.
    """

    coll: str
    timestamp: str
    base: str

    def prefix(self, modifier: str = "") -> str:
        stamp = f"{self.timestamp}{modifier}"
        return f"/{self.coll}/{stamp}/" if stamp else f"/{self.coll}/"

    def absolute(self, url: str) -> str | None:
        """The absolute http(s) URL `url` means here, or None if it is not one to rewrite."""
        text = url.strip(_STRIP)
        if not text or text.startswith("#"):
            return None
        text = text.replace("\t", "").replace("\n", "").replace("\r", "")
        match = _SCHEME.match(text)
        if match and match.group(1).lower() not in ("http", "https"):
            return None
        if not match:
            text = text.replace("\\", "/")
        try:
            joined = urljoin(self.base, text)
            scheme = urlsplit(joined).scheme.lower()
        except ValueError:
            return None
        if scheme not in ("http", "https"):
            return None
        return joined

    def rewrite(self, url: str, modifier: str = "") -> str:
        """`url` as a replay path, or `url` unchanged (fragments, data:, javascript:, ...)."""
        absolute = self.absolute(url)
        if absolute is None:
            return url
        return self.prefix(modifier) + absolute

    def with_base(self, base: str) -> UrlRewriter:
        return replace(self, base=base)


def rewrite_srcset(value: str, rw: UrlRewriter, modifier: str = "im_") -> str:
    """Rewrite each candidate URL of a srcset ("a.png 1x, b.png 2x"), keeping the rest as is."""
    out: list[str] = []
    pos = 0
    for start, end, _, _ in srcset_spans(value):
        out.append(value[pos:start])
        out.append(rw.rewrite(value[start:end], modifier))
        pos = end
    out.append(value[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------
# CSS
# ---------------------------------------------------------------------------------------
_CSS_URL = re.compile(
    r"""(url\(\s*)(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'|([^\s"')]+))(\s*\))""",
    re.IGNORECASE,
)
_CSS_IMPORT = re.compile(r"""(@import\s+)(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')""", re.IGNORECASE)


def rewrite_css(text: str, rw: UrlRewriter) -> str:
    """Rewrite `url(...)` and `@import "..."` in a style sheet or a style attribute."""

    def url_ref(match: re.Match[str]) -> str:
        value, quote = _quoted(match, 2)
        return f"{match.group(1)}{quote}{rw.rewrite(value, 'im_')}{quote}{match.group(5)}"

    def import_ref(match: re.Match[str]) -> str:
        value, quote = _quoted(match, 2)
        return f"{match.group(1)}{quote}{rw.rewrite(value, 'cs_')}{quote}"

    if "url(" not in text.lower() and "@import" not in text.lower():
        return text
    return _CSS_IMPORT.sub(import_ref, _CSS_URL.sub(url_ref, text))


def _quoted(match: re.Match[str], first: int) -> tuple[str, str]:
    if match.group(first) is not None:
        return match.group(first), '"'
    if match.group(first + 1) is not None:
        return match.group(first + 1), "'"
    return match.group(first + 2) or "", ""


# ---------------------------------------------------------------------------------------
# Attribute values: entities
# ---------------------------------------------------------------------------------------
_ENTITY = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;)")
_KEEP = "\ue000"  # stands for the '&' of an entity left encoded (never in Latin-1 text)


def attr_unescape(raw: str) -> str:
    """Decode the entities of an attribute value that stand for ASCII characters.

    Entities for other characters stay encoded (with a marker for `attr_escape`), because
    the text is Latin-1-decoded bytes of some unknown charset: "é" decoded from `&eacute;`
    could not be written back in the document's own encoding.
    """

    def one(match: re.Match[str]) -> str:
        decoded = html.unescape(match.group(0))
        if decoded != match.group(0) and decoded.isascii():
            return decoded
        return _KEEP + match.group(0)[1:]

    return _ENTITY.sub(one, raw)


def attr_escape(value: str, quote: str = '"') -> str:
    """The inverse of attr_unescape, for a value written between `quote` characters."""
    out = value.replace("&", "&amp;").replace(_KEEP, "&")
    if quote == '"':
        out = out.replace('"', "&quot;")
    elif quote == "'":
        out = out.replace("'", "&#39;")
    return out


# ---------------------------------------------------------------------------------------
# HTML tokens
# ---------------------------------------------------------------------------------------
_TAG_OPEN = re.compile(r"<(?:(/?)([A-Za-z][^\t\n\f\r />]*)|(!--)|(!)|(\?))")
_ATTR = re.compile(
    r"""[\t\n\f\r /]*(?:([^\t\n\f\r />][^\t\n\f\r />=]*)"""
    r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r >]*)))?)?"""
)
_COMMENT_END = re.compile(r"--!?>")
#: Elements whose content the tokeniser reads as text up to their end tag (scripting on).
RAW_TEXT = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title", "plaintext"}
)


@dataclass
class Attr:
    name: str  # lower-cased
    raw: str | None  # value as written (None: no value)
    start: int  # where the value (with its quotes) starts in the document
    end: int
    quote: str  # '"', "'" or "" (unquoted)
    name_start: int = 0
    name_end: int = 0


@dataclass
class StartTag:
    name: str  # lower-cased
    start: int
    end: int  # after '>' (or the end of the document for an unterminated tag)
    attrs: list[Attr]

    def get(self, name: str) -> str | None:
        attr = next((a for a in self.attrs if a.name == name), None)
        return None if attr is None or attr.raw is None else attr_unescape(attr.raw)


def _scan_attrs(text: str, pos: int) -> tuple[list[Attr], int]:
    attrs: list[Attr] = []
    size = len(text)
    while True:
        match = _ATTR.match(text, pos)
        pos = match.end()
        if match.group(1) is None:
            if pos >= size:
                return attrs, size
            if text[pos] == ">":
                return attrs, pos + 1
            pos += 1  # cannot happen with this pattern; guarantees progress anyway
            continue
        name = match.group(1).lower()
        where = (match.start(1), match.end(1))
        for group, quote in ((2, '"'), (3, "'"), (4, "")):
            if match.group(group) is not None:
                start, end = match.start(group), match.end(group)
                if quote:
                    start, end = start - 1, end + 1
                attrs.append(Attr(name, match.group(group), start, end, quote, *where))
                break
        else:
            attrs.append(Attr(name, None, match.end(1), match.end(1), "", *where))


def _raw_text_end(text: str, name: str, pos: int) -> int:
    """Where the end tag of raw-text element `name` starts (len(text) if it never ends)."""
    if name == "plaintext":
        return len(text)
    pattern = re.compile(r"</" + re.escape(name) + r"(?=[\t\n\f\r />])", re.IGNORECASE)
    match = pattern.search(text, pos)
    return match.start() if match else len(text)


# ---------------------------------------------------------------------------------------
# HTML rewriting
# ---------------------------------------------------------------------------------------
#: The modifier of a URL attribute, by element; "*" is any other element.
_SRC_MODS = {
    "img": "im_",
    "input": "im_",
    "script": "js_",
    "iframe": "if_",
    "frame": "if_",
    "embed": "oe_",
    "video": "oe_",
    "audio": "oe_",
    "source": "oe_",
    "track": "oe_",
}
_LINK_AS = {"script": "js_", "style": "cs_", "image": "im_", "font": "oe_", "fetch": "", "document": "if_"}


def _link_modifier(tag: StartTag) -> str:
    rel = (tag.get("rel") or "").lower().split()
    if "stylesheet" in rel:
        return "cs_"
    if "modulepreload" in rel:
        return "js_"
    if "icon" in rel or "apple-touch-icon" in rel:
        return "im_"
    if "preload" in rel or "prefetch" in rel:
        return _LINK_AS.get((tag.get("as") or "").lower(), "")
    return ""


@dataclass
class _Edit:
    start: int
    end: int
    text: str


#: `type` values of a <script> whose text is JavaScript ("" is no type attribute).
_JS_TYPES = frozenset({
    "", "module", "text/javascript", "application/javascript", "text/ecmascript", "application/ecmascript",
    "application/x-javascript", "text/x-javascript", "text/jscript", "text/livescript",
})


class HtmlRewriter:
    """Rewrites one HTML document (see the module docstring)."""

    def __init__(
        self,
        rw: UrlRewriter,
        head: str | None = None,
        keeps_bytes: Callable[[str], bool] | None = None,
        script: Callable[[str], str] | None = None,
    ) -> None:
        self.rw = rw
        self.head = head  # markup to insert at the start of <head>, or None
        self.keeps_bytes = keeps_bytes  # False for a URL whose replayed bytes differ (see _integrity)
        self.script = script  # rewrites JavaScript source (inline scripts, on* attributes)
        self._edits: list[_Edit] = []
        self._first_base: StartTag | None = None
        self._head_at: int | None = None

    def rewrite(self, text: str) -> str:
        self._tokens(text)
        if self.head is not None:
            at = self._head_at if self._head_at is not None else len(text)
            self._edits.append(_Edit(at, at, self.head))
        self._edits.sort(key=lambda e: (e.start, e.end))
        out: list[str] = []
        pos = 0
        for edit in self._edits:
            if edit.start < pos:
                continue  # overlapping edits cannot happen; never corrupt the output if they do
            out.append(text[pos : edit.start])
            out.append(edit.text)
            pos = edit.end
        out.append(text[pos:])
        return "".join(out)

    # -- tokens -------------------------------------------------------------------------
    def _tokens(self, text: str) -> None:
        pos = 0
        size = len(text)
        while pos < size:
            lt = text.find("<", pos)
            self._text_seen(text, pos, size if lt < 0 else lt)
            if lt < 0:
                return
            match = _TAG_OPEN.match(text, lt)
            if match is None:
                pos = lt + 1
                continue
            if match.group(3):  # comment
                pos = self._comment_end(text, match.end())
            elif match.group(4) or match.group(5):  # doctype, bogus comment
                gt = text.find(">", match.end())
                pos = size if gt < 0 else gt + 1
            elif match.group(1):  # end tag
                _, pos = _scan_attrs(text, match.end())
            else:
                pos = self._start_tag(text, lt, match.group(2).lower(), match.end())

    @staticmethod
    def _comment_end(text: str, pos: int) -> int:
        if text.startswith(">", pos):
            return pos + 1
        if text.startswith("->", pos):
            return pos + 2
        match = _COMMENT_END.search(text, pos)
        return match.end() if match else len(text)

    def _text_seen(self, text: str, start: int, end: int) -> None:
        if self._head_at is None and text[start:end].strip():
            self._head_at = start

    def _start_tag(self, text: str, lt: int, name: str, pos: int) -> int:
        attrs, end = _scan_attrs(text, pos)
        tag = StartTag(name, lt, end, attrs)
        if self._head_at is None:
            if name == "head":
                self._head_at = end
            elif name != "html":
                self._head_at = lt
        self._tag(tag)
        if name not in RAW_TEXT or end >= len(text):
            return end
        close = _raw_text_end(text, name, end)
        self._raw_text(tag, text, end, close)
        return close

    # -- what to rewrite ----------------------------------------------------------------
    def _tag(self, tag: StartTag) -> None:
        if tag.name == "base":
            self._base(tag)
        if tag.name == "meta":
            self._meta(tag)
            return
        for attr in tag.attrs:
            if attr.raw is None:
                continue
            new = self._attr_value(tag, attr)
            if new is not None and new != attr.raw:
                self._replace_value(attr, new)
        if "integrity" in {a.name for a in tag.attrs}:
            self._integrity(tag)
        if tag.name == "script" and (tag.get("type") or "").strip().lower() == "speculationrules":
            self._set_value(tag, "type", "application/x-archived-speculationrules")

    def _attr_value(self, tag: StartTag, attr: Attr) -> str | None:
        """The new raw value of an attribute, or None to keep it."""
        name, raw, rw = attr.name, attr.raw or "", self.rw
        if name in ("src", "href", "action", "formaction", "poster", "background", "xlink:href") or (
            name == "data" and tag.name == "object"
        ):
            if tag.name == "base" and name == "href":
                return rw.rewrite(raw, "") if self._base_is(tag) else None
            return self._url(raw, self._modifier(tag, name))
        if name in ("srcset", "imagesrcset"):
            return rewrite_srcset(raw, rw)
        if name == "style":
            return attr_escape(rewrite_css(attr_unescape(raw), rw), attr.quote or '"')
        if name == "srcdoc" and tag.name == "iframe":
            inner = HtmlRewriter(rw, self.head, self.keeps_bytes, self.script).rewrite(attr_unescape(raw))
            return attr_escape(inner, attr.quote or '"')
        if self.script is not None and name.startswith("on") and len(name) > 2:
            code = attr_unescape(raw)
            new = self.script(code)
            return None if new == code else attr_escape(new, attr.quote or '"')
        return None

    def _integrity(self, tag: StartTag) -> None:
        """Subresource integrity: a script or style sheet whose bytes replay changes would be
        blocked, so its `integrity` goes (renamed, value kept).  Style sheets are rewritten;
        scripts are served as archived unless they read their own address (see `jsrewrite`) or
        the archive does not hold their exact URL (another capture answers, see `matching`):
        `keeps_bytes` says."""
        modifier = _link_modifier(tag) if tag.name == "link" else "js_" if tag.name == "script" else None
        if modifier == "cs_":
            self._rename(tag, "integrity")
        elif modifier == "js_" and self.keeps_bytes is not None:
            absolute = self.rw.absolute(tag.get("src" if tag.name == "script" else "href") or "")
            if absolute is not None and not self.keeps_bytes(absolute):
                self._rename(tag, "integrity")

    def _modifier(self, tag: StartTag, name: str) -> str:
        if name in ("poster", "background"):
            return "im_"
        if name == "data":
            return "oe_"
        if name in ("action", "formaction"):
            return ""
        if tag.name == "link":
            return _link_modifier(tag)
        if name == "src":
            return _SRC_MODS.get(tag.name, "")
        if tag.name in ("image", "feimage"):
            return "im_"
        return ""

    def _url(self, raw: str, modifier: str) -> str | None:
        # Classify on the decoded value (an entity may hide the scheme), rewrite the raw one.
        decoded = attr_unescape(raw)
        if self.rw.absolute(decoded) is None:
            return None
        if "&" in raw and raw != decoded and _SCHEME.match(decoded.strip(_STRIP)):
            return attr_escape(self.rw.rewrite(decoded, modifier))
        return self.rw.rewrite(raw, modifier)

    def _base_is(self, tag: StartTag) -> bool:
        return tag is self._first_base

    def _base(self, tag: StartTag) -> None:
        href = tag.get("href")
        if href is None or self._first_base is not None:
            return
        self._first_base = tag
        absolute = self.rw.absolute(href)
        if absolute:
            self.rw = self.rw.with_base(absolute)

    def _meta(self, tag: StartTag) -> None:
        equiv = (tag.get("http-equiv") or "").strip().lower()
        name = (tag.get("name") or "").strip().lower()
        content = next((a for a in tag.attrs if a.name == "content" and a.raw is not None), None)
        if equiv == "refresh" and content is not None:
            new = _rewrite_refresh(content.raw or "", lambda u: self._url(u, "") or u)
            if new != content.raw:
                self._replace_value(content, new)
        elif equiv in ("content-security-policy", "content-security-policy-report-only", "set-cookie"):
            self._rename(tag, "http-equiv")  # the archive's policy must not block the replay
        elif name == "referrer":
            self._rename(tag, "name")  # replay needs the default policy (see app.py)

    def _raw_text(self, tag: StartTag, text: str, start: int, end: int) -> None:
        body = text[start:end]
        if tag.name == "style":
            new = rewrite_css(body, self.rw)
        elif tag.name == "script" and (tag.get("type") or "").strip().lower() == "importmap":
            new = rewrite_importmap(body, self.rw)
        elif tag.name == "script" and self.script is not None and _is_js(tag):
            new = self.script(body)
        else:
            return
        if new != body:
            self._edits.append(_Edit(start, end, new))

    # -- edits ---------------------------------------------------------------------------
    def _replace_value(self, attr: Attr, new_raw: str) -> None:
        if attr.quote:
            quote = attr.quote
            if quote in new_raw:
                new_raw = new_raw.replace(quote, "&quot;" if quote == '"' else "&#39;")
            self._edits.append(_Edit(attr.start, attr.end, f"{quote}{new_raw}{quote}"))
        else:
            self._edits.append(_Edit(attr.start, attr.end, '"' + new_raw.replace('"', "&quot;") + '"'))

    def _set_value(self, tag: StartTag, name: str, value: str) -> None:
        attr = next((a for a in tag.attrs if a.name == name and a.raw is not None), None)
        if attr is not None:
            self._replace_value(attr, value)

    def _rename(self, tag: StartTag, name: str) -> None:
        """Disable an attribute by renaming it (`data-archived-<name>`), keeping its value."""
        for attr in tag.attrs:
            if attr.name == name:
                self._edits.append(_Edit(attr.name_start, attr.name_end, "data-archived-" + name))


def _is_js(tag: StartTag) -> bool:
    kind = (tag.get("type") or "").strip().lower().split(";")[0].strip()
    return kind in _JS_TYPES and tag.get("src") is None


def _rewrite_refresh(content: str, rewrite: Callable[[str], str]) -> str:
    """`5; url=/next` -> `5; url=<replay path>` (the URL may be quoted or bare)."""
    match = re.match(
        r"""^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(['"]?)(.*?)(\2\s*)$""", content, re.IGNORECASE | re.DOTALL
    )
    if not match or not match.group(3):
        return content
    return match.group(1) + match.group(2) + rewrite(match.group(3)) + match.group(4)


def rewrite_importmap(body: str, rw: UrlRewriter) -> str:
    """Rewrite the addresses (and scope prefixes) of a page's own import map."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict):
        return body

    def addresses(mapping: object) -> object:
        if not isinstance(mapping, dict):
            return mapping
        return {k: (rw.rewrite(v, "js_") if isinstance(v, str) else v) for k, v in mapping.items()}

    if "imports" in data:
        data["imports"] = addresses(data["imports"])
    if isinstance(data.get("scopes"), dict):
        data["scopes"] = {rw.rewrite(k, "js_"): addresses(v) for k, v in data["scopes"].items()}
    return json.dumps(data, ensure_ascii=True)


def rewrite_html(
    text: str,
    rw: UrlRewriter,
    head: str | None = None,
    keeps_bytes: Callable[[str], bool] | None = None,
    script: Callable[[str], str] | None = None,
) -> str:
    """Rewrite a whole document; `head` is inserted where <head> starts (documents only);
    `keeps_bytes(url)` is False for scripts replay cannot serve byte for byte; `script`
    rewrites inline JavaScript."""
    return HtmlRewriter(rw, head, keeps_bytes, script).rewrite(text)


# ---------------------------------------------------------------------------------------
# Bytes in, bytes out
# ---------------------------------------------------------------------------------------
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def text_codec(body: bytes, charset: str | None) -> str:
    """The codec to read markup with: Latin-1 (byte-preserving) unless the text is UTF-16/32."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return "latin-1" if name == "utf-8" else name
    label = (charset or "").strip().lower()
    if label.startswith(("utf-16", "utf-32")):
        return label
    return "latin-1"


def rewrite_bytes(
    body: bytes,
    kind: str,
    rw: UrlRewriter,
    *,
    charset: str | None = None,
    head: str | None = None,
    keeps_bytes: Callable[[str], bool] | None = None,
    script: Callable[[str], str] | None = None,
) -> bytes:
    """Rewrite an HTML (`kind="html"`) or CSS (`kind="css"`) body, keeping its encoding."""
    codec = text_codec(body, charset)
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        codec = "latin-1"
        text = body.decode(codec)
    out = rewrite_html(text, rw, head, keeps_bytes, script) if kind == "html" else rewrite_css(text, rw)
    return out.encode(codec, "xmlcharrefreplace" if kind == "html" else "backslashreplace")
