"""Rewriting archived JavaScript where it reads its own address, with a real parser.

Replayed pages run on session hosts that keep the original path (see `origins`), so most of
what scripts do with URLs works untouched; the run-time client maps the rest (document.URL,
Request.url, navigations to original URLs...).  What no run-time hook can reach:

* reads of `location` and `X.location`: browsers do not let anyone redefine `window.location`
  or the parts of a Location object, so `location.hostname` would give the session host;
* `X.postMessage(m, "https://original")` to a cross-origin frame: the function a script gets
  from a cross-origin window is a fresh built-in, not one the client could have replaced;
* `import.meta` (its `url` is the session host's) and `import(...)`/`import ... from` with an
  absolute original URL (module loading asks no hook).

So those few forms are rewritten, and nothing else:

    location.host            -> __wc$loc(location).host      (a view giving original values)
    win.postMessage(m, o)    -> __wc$pm(win).postMessage(m, o)   (maps the target origin)
    top.location = url       -> top.location = __wc$nav(url)      (so does location = url)
    import.meta.url          -> __wc$meta(import.meta).url
    import(x)                -> import(__wc$imp(x))
    import "https://cdn/x"   -> import "<its session-host URL>"

Navigations by assignment (`location = x`, `top.location = x`) get their URL mapped: the
client's Navigation API handler sees a window's own navigations, but not those a frame
starts for its top window, and Chromium lets a cross-site frame send its top window to that
window's own origin only, so an unmapped URL would be refused, or leave the archive.

The helpers are looked up at run time and return their argument unchanged when it is not a
Location, a window, an import.meta or a URL, so a local variable that happens to be called
`location` is harmless; a prologue gives each script identity fallbacks, so a script that
runs where the client is not (a frame a page wrote itself) still runs.

Why tree-sitter: a parser keeps string literals, comments and regular expressions intact
(regular-expression rewriters, pywb's and wabac.js's, change them too), knows modules from
the rest, and is fast (C, about 0.1-0.3 s per MiB here).  Scripts that do not parse cleanly,
or are larger than MAX_SOURCE, are served as archived; the run-time client still works for
them.  The parse result (the list of edits, not the text) is cached by payload digest and
REWRITER_VERSION, since the same library is served to every page of a site; the edits are
applied per request because an absolute import maps to the requesting session's host.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: Bump when the edits change: cached plans of an older version are not reused.
REWRITER_VERSION = "2"
#: Scripts bigger than this are served as archived (parsing them would stall the request).
MAX_SOURCE = 8 * 1024 * 1024
#: Parse results kept in memory (a plan is a few integers per edit).
CACHE_ENTRIES = 4096

_HELPERS = {
    "loc": b"__wc$loc",
    "pm": b"__wc$pm",
    "meta": b"__wc$meta",
    "imp": b"__wc$imp",
    "nav": b"__wc$nav",
}
_TRIGGERS = (b"location", b"postMessage", b"import")

_QUERY = """
((identifier) @ident (#eq? @ident "location"))
((shorthand_property_identifier) @short (#eq? @short "location"))
(member_expression property: (property_identifier) @prop (#eq? @prop "location")) @member
(call_expression function: (member_expression object: (_) @pmobj
  property: (property_identifier) @pmprop (#eq? @pmprop "postMessage")))
(meta_property) @meta
(call_expression function: (import) arguments: (arguments . (_) @dynarg))
(assignment_expression left: (identifier) @navleft (#eq? @navleft "location") right: (_) @navright)
(assignment_expression
  left: (member_expression property: (property_identifier) @navprop (#eq? @navprop "location"))
  right: (_) @navright)
(import_statement source: (string) @source)
(export_statement source: (string) @source)
"""

#: Parents of an identifier that declare or bind it rather than read it.
_BINDING_PARENTS = frozenset({
    "formal_parameters", "array_pattern", "object_pattern", "rest_pattern", "catch_clause",
    "import_specifier", "export_specifier", "namespace_import", "import_clause", "namespace_export",
    "labeled_statement", "break_statement", "continue_statement", "pair_pattern",
})
_BINDING_FIELDS = {
    "variable_declarator": "name", "function_declaration": "name", "function_expression": "name",
    "generator_function_declaration": "name", "generator_function": "name", "class_declaration": "name",
    "class": "name", "arrow_function": "parameter", "assignment_pattern": "left",
    "for_in_statement": "left", "method_definition": "name",
}
_ASSIGNMENTS = frozenset({"assignment_expression", "augmented_assignment_expression"})


@dataclass(frozen=True)
class _Edit:
    """Insert `text` at `at`, or (source) replace the URL in the string at [at, end)."""

    at: int
    order: tuple[int, int, int]  # ties at one position: closing before opening, outer before inner
    text: bytes = b""
    end: int = -1  # > at for a string literal whose URL is mapped at apply time


@dataclass(frozen=True)
class Plan:
    edits: tuple[_Edit, ...]


_NOTHING = Plan(())


class JsRewriter:
    """Plans and applies the rewrites of one script; plans are cached (thread-safe)."""

    def __init__(self, max_entries: int = CACHE_ENTRIES) -> None:
        self._cache: OrderedDict[str, Plan | None] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self._parser = None
        self._query = None
        self._parse_lock = threading.Lock()
        self.available = _language() is not None

    # -- public -------------------------------------------------------------------------
    def rewrite(self, data: bytes, *, key: str | None = None, map_url: Callable[[str], str] | None = None,
                ) -> bytes | None:
        """The rewritten script, or None to serve it as it is (nothing to do, or cannot)."""
        plan = self.plan(data, key=key)
        if plan is None or not plan.edits:
            return None
        return apply(data, plan, map_url)

    def rewrite_text(self, text: str, map_url: Callable[[str], str] | None = None) -> str:
        """An inline script given as Latin-1-decoded text (see `rewrite`): the same text if unchanged."""
        data = _latin1(text)
        if data is None:
            return text
        out = self.rewrite(data, map_url=map_url)
        return text if out is None else out.decode("latin-1")

    def plan(self, data: bytes, *, key: str | None = None) -> Plan | None:
        """What to change in `data` (None: leave it as archived)."""
        if len(data) > MAX_SOURCE or not self.available:
            return None
        if not any(t in data for t in _TRIGGERS):
            return _NOTHING
        key = f"{REWRITER_VERSION}:{key or hashlib.sha1(data).hexdigest()}"
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        plan = self._make_plan(data)
        with self._lock:
            self._cache[key] = plan
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return plan

    # -- parsing ------------------------------------------------------------------------
    def _make_plan(self, data: bytes) -> Plan | None:
        from tree_sitter import Parser, Query, QueryCursor

        language = _language()
        with self._parse_lock:
            if self._parser is None:
                self._parser = Parser(language)
                self._query = Query(language, _QUERY)
            tree = self._parser.parse(data)
            if tree.root_node.has_error:
                return None
            captures = QueryCursor(self._query).captures(tree.root_node)
        edits: list[_Edit] = []
        used: set[str] = set()

        def wrap(node, helper: str, rank: int = 1) -> None:
            """`helper(` before the node, `)` after; of two wraps of one node, the lower rank
            is the outer one."""
            name = _HELPERS[helper]
            span = node.end_byte - node.start_byte
            edits.append(_Edit(node.start_byte, (1, -span, rank), name + b"("))
            edits.append(_Edit(node.end_byte, (0, -node.start_byte, -rank), b")"))
            used.add(helper)

        for node in captures.get("ident", []):
            if _reads(node):
                wrap(node, "loc")
        for node in captures.get("short", []):
            edits.append(_Edit(node.start_byte, (1, 0, 1), b"location: __wc$loc("))
            edits.append(_Edit(node.end_byte, (0, -node.start_byte, -1), b")"))
            used.add("loc")
        for node in captures.get("member", []):
            if node.child_by_field_name("object").type != "super" and _reads(node):
                wrap(node, "loc")
        for node in captures.get("pmobj", []):
            if node.type != "super":
                wrap(node, "pm")
        for node in captures.get("meta", []):
            if data[node.start_byte:node.end_byte].replace(b" ", b"") == b"import.meta":
                wrap(node, "meta")
        for node in captures.get("dynarg", []):
            wrap(node, "imp")
        for node in captures.get("navright", []):
            wrap(node, "nav", rank=0)
        for node in captures.get("source", []):
            inner = [c for c in node.children if c.type == "string_fragment"]
            if len(node.children) == 3 and len(inner) == 1:
                text = data[inner[0].start_byte:inner[0].end_byte].lower()
                if text.startswith((b"http://", b"https://", b"//")):
                    edits.append(_Edit(inner[0].start_byte, (2, 0, 0), end=inner[0].end_byte))
        if not edits:
            return _NOTHING
        at = _prologue_position(tree.root_node)
        prologue = b"".join(
            b"var " + _HELPERS[h] + b"=globalThis." + _HELPERS[h] + b"||function(x){return x};"
            for h in sorted(used)
        )
        if prologue:
            edits.append(_Edit(at, (-1, 0, 0), prologue))
        edits.sort(key=lambda e: (e.at, e.order))
        return Plan(tuple(edits))


def apply(data: bytes, plan: Plan, map_url: Callable[[str], str] | None) -> bytes:
    """The script with the plan's edits made (absolute import sources mapped by `map_url`)."""
    out: list[bytes] = []
    pos = 0
    for edit in plan.edits:
        if edit.at < pos:
            continue  # cannot happen (edits never overlap); never corrupt the output if it does
        out.append(data[pos:edit.at])
        if edit.end > edit.at:
            url = data[edit.at:edit.end].decode("latin-1")
            out.append((map_url(url) if map_url else url).encode("latin-1", "replace"))
            pos = edit.end
        else:
            out.append(edit.text)
            pos = edit.at
    out.append(data[pos:])
    return b"".join(out)


def _reads(node) -> bool:  # noqa: ANN001 - a tree_sitter.Node
    """True when this `location` expression is read (not assigned, declared or deleted)."""
    parent = node.parent
    if parent is None:
        return False
    kind = parent.type
    field = _field_of(parent, node)
    if kind in _BINDING_PARENTS:
        return False
    if field is not None and _BINDING_FIELDS.get(kind) == field:
        return False
    if kind in _ASSIGNMENTS and field == "left":
        return False
    if kind == "update_expression":
        return False
    if kind == "unary_expression" and parent.child_by_field_name("operator").type == "delete":
        return False
    if kind == "call_expression" and field == "function":
        return False  # `x.location(...)`: a method that happens to have the name
    return not (kind == "for_in_statement" and field == "left")


def _field_of(parent, node) -> str | None:  # noqa: ANN001
    for i, child in enumerate(parent.children):
        if child.id == node.id:
            return parent.field_name_for_child(i)
    return None


def _prologue_position(root) -> int:  # noqa: ANN001
    """After a hashbang line and the directive prologue ("use strict"), where code may start."""
    at = 0
    for child in root.children:
        directive = child.type == "expression_statement" and child.named_child_count == 1 and (
            child.named_children[0].type == "string")
        if child.type == "hash_bang_line" or directive:
            at = child.end_byte
        elif child.type != "comment":
            break
    return at


def _latin1(text: str) -> bytes | None:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None  # decoded from UTF-16: leave it


_LANGUAGE: list = []


def _language():  # noqa: ANN202 - a tree_sitter.Language, or None without the wheels
    if not _LANGUAGE:
        try:
            import tree_sitter
            import tree_sitter_javascript

            _LANGUAGE.append(tree_sitter.Language(tree_sitter_javascript.language()))
        except ImportError:  # pragma: no cover - both are dependencies; a broken install degrades
            _LANGUAGE.append(None)
    return _LANGUAGE[0]
