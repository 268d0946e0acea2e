"""The search query language, parsed into a small syntax tree that does not depend on Whoosh.

Why a parser of our own rather than Whoosh's `QueryParser`: Whoosh's parser is deliberately lenient
(an unbalanced quote or parenthesis silently becomes a literal), while `warcache search` must tell the
user, in one line, what is wrong with a query. Keeping the tree independent of Whoosh also lets the
search benchmark translate the very same queries to SQLite FTS5.

The language is in QUERY_HELP below (the CLI can show it as is).
"""

from __future__ import annotations

import calendar
import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from warcache.errors import UsageError

QUERY_HELP = """\
Search queries work like a web search engine's:

  climate talks        pages with all the words (and their plurals and tenses, unless very common)
  "climate talks"      the exact phrase
  paris OR london      either word;  paris AND london  both (the default)
  paris -london        without a word (also NOT london);  ( ... ) groups
  negotia*             words starting with "negotia"
  title:talks          in the title (also title:"climate talks")
  site:example.com     on that host or its subdomains (domain: works too)
  url:example.com/blog URLs starting with that (scheme and "www." ignored)
  after:2024-01-01     captured on or after that day;  before:2024-06-30  on or before it
                       (also after:2024 = from 1 Jan 2024, before:2024-05 = to 31 May 2024; UTC)
  lang:fr              pages in that language ("en" also matches "en-GB")
  tag:climate          pages you tagged so (`warcache tag URL climate`)

Operators are recognised in capitals only: "or" and "and" are ordinary words.
Queries of only filters (site:, after:, -word, ...) list captures newest first.
"""

__all__ = [
    "QUERY_HELP",
    "And",
    "DateRange",
    "Lang",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "Site",
    "Tag",
    "Url",
    "Word",
    "date_bounds",
    "normalize_host",
    "normalize_url_key",
    "parse_query",
]


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Word:
    """A bare word: `field` is None for the default text fields, or "title"; `prefix` for `word*`."""

    text: str
    field: str | None = None
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    """Words that must appear next to each other, in order."""

    text: str
    field: str | None = None


@dataclass(frozen=True)
class Site:
    """A host and all of its subdomains (already normalised: lower case, punycode, no port)."""

    host: str


@dataclass(frozen=True)
class Url:
    """URLs whose normalised key starts with `prefix` (see `normalize_url_key`)."""

    prefix: str


@dataclass(frozen=True)
class DateRange:
    """Inclusive bounds on the 14-digit capture timestamp, as integers; None means open."""

    low: int | None = None
    high: int | None = None


@dataclass(frozen=True)
class Lang:
    """A language tag, lower case ("en", "pt-br")."""

    code: str


@dataclass(frozen=True)
class Tag:
    """Pages whose URL bears this tag (lower case; see warcache.manage.annotate)."""

    name: str


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Word | Phrase | Site | Url | DateRange | Lang | Tag | Not | And | Or


# --------------------------------------------------------------------------- normalisation helpers


def normalize_host(value: str) -> str:
    """Reduce a host as users type or paste it ("https://WWW.Example.com:443/x") to its indexed form.

    The same function normalises hosts at index time, so "Bücher.de" and "xn--bcher-kva.de" meet.
    A leading "www." is kept: `site:www.example.com` is narrower than `site:example.com`.
    """
    text = value.strip()
    if "://" in text:
        text = urlsplit(text).netloc
    text = text.split("/", 1)[0].rsplit("@", 1)[-1]
    # Drop the port; an IPv6 literal keeps its brackets and colons.
    text = text.split("]", 1)[0] + "]" if text.startswith("[") else text.split(":", 1)[0]
    text = text.strip(".").lower()
    with contextlib.suppress(UnicodeError):
        text = text.encode("idna").decode("ascii")
    return text


def normalize_url_key(url: str) -> str:
    """The form `url:` prefixes are compared in: no scheme, no "www.", host in lower case.

    Why: users type "url:example.com/blog", not "url:https://www.example.com/blog".
    Path and query keep their case, since servers may treat them as case-sensitive.
    """
    text = url.strip()
    text = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", text)
    host, sep, rest = text.partition("/")
    host = host.lower()
    if host.startswith("www."):
        host = host[4:]
    host = re.sub(r":(80|443)$", "", host)
    return host + sep + rest


_DATE_FORMS = (
    (re.compile(r"^(\d{4})$"), "%Y"),
    (re.compile(r"^(\d{4})-(\d{1,2})$"), "%Y-%m"),
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), "%Y-%m-%d"),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), "%Y%m%d"),
    (re.compile(r"^(\d{14})$"), "%Y%m%d%H%M%S"),
)


def date_bounds(value: str) -> tuple[int, int]:
    """The first and last 14-digit timestamps of the period a date names ("2024-05" is all of May).

    Raises UsageError for anything that is not a real calendar date.
    """
    text = value.strip()
    for pattern, form in _DATE_FORMS:
        if pattern.match(text):
            try:
                start = datetime.strptime(text, form)
            except ValueError:
                break
            if form == "%Y":
                end = start.replace(month=12, day=31, hour=23, minute=59, second=59)
            elif form == "%Y-%m":
                last = calendar.monthrange(start.year, start.month)[1]
                end = start.replace(day=last, hour=23, minute=59, second=59)
            elif form == "%Y%m%d%H%M%S":
                end = start
            else:
                end = start.replace(hour=23, minute=59, second=59)
            return int(start.strftime("%Y%m%d%H%M%S")), int(end.strftime("%Y%m%d%H%M%S"))
    raise UsageError(f"bad date {value!r}: use YYYY, YYYY-MM or YYYY-MM-DD (e.g. 2024-05-17)")


# --------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Tok:
    kind: str  # WORD PHRASE FIELD LPAREN RPAREN AND OR NOT MINUS
    text: str = ""
    field: str = ""
    quoted: bool = False


_FIELDS = {
    "title": "title",
    "site": "site",
    "domain": "site",
    "url": "url",
    "after": "after",
    "before": "before",
    "lang": "lang",
    "language": "lang",
    "tag": "tag",
}
_OPERATORS = {"AND": "AND", "OR": "OR", "NOT": "NOT"}
_BARE_END = set(' \t\r\n\f\v()"')


def _read_quoted(query: str, start: int) -> tuple[str, int]:
    """The text between the quote at `start` and the next quote, and the index just past it."""
    end = query.find('"', start + 1)
    if end < 0:
        raise UsageError('unbalanced quote: a phrase opened with " is never closed')
    return query[start + 1 : end], end + 1


def _tokenize(query: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Tok("LPAREN" if ch == "(" else "RPAREN"))
            i += 1
        elif ch == '"':
            text, i = _read_quoted(query, i)
            tokens.append(_Tok("PHRASE", text))
        elif ch == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] not in ")-":
            # `-word`, `-"a phrase"`, `-(a OR b)`: all exclusions (a lone "-" is a word)
            tokens.append(_Tok("MINUS"))
            i += 1
        else:
            j = i
            while j < n and query[j] not in _BARE_END:
                j += 1
            tok, i = _bare_token(query, query[i:j], j)
            tokens.append(tok)
    return tokens


def _bare_token(query: str, word: str, end: int) -> tuple[_Tok, int]:
    """Classify an unquoted run of characters: operator, `field:value` or plain word."""
    if word in _OPERATORS:
        return _Tok(_OPERATORS[word]), end
    name, colon, value = word.partition(":")
    field = _FIELDS.get(name.lower()) if colon else None
    if field is None:
        return _Tok("WORD", word), end
    if not value and end < len(query) and query[end] == '"':
        text, end = _read_quoted(query, end)
        return _Tok("FIELD", text, field, quoted=True), end
    if not value:
        raise UsageError(f"{name}: needs a value (e.g. {name}:{_EXAMPLES[field]})")
    return _Tok("FIELD", value, field), end


_EXAMPLES = {
    "title": "climate",
    "site": "example.com",
    "url": "example.com/blog",
    "after": "2024-01-01",
    "before": "2024-06-30",
    "lang": "en",
    "tag": "reading",
}


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the tokens: or_expr := and_expr (OR and_expr)*, and so on."""

    def __init__(self, tokens: list[_Tok]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Node:
        node = self.or_expr()
        tok = self.peek()
        if tok is not None:  # only an unmatched ")" can stop or_expr early
            raise UsageError("unbalanced parenthesis: ')' without a matching '('")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind not in ("OR", "RPAREN"):
            if tok.kind == "AND":
                if not items:
                    raise UsageError("'AND' needs a search term on each side")
                self.take()
                nxt = self.peek()
                if nxt is None or nxt.kind in ("OR", "RPAREN", "AND"):
                    raise UsageError("'AND' needs a search term on each side")
                continue
            items.append(self.unary())
        if not items:
            raise UsageError(self._empty_reason())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _empty_reason(self) -> str:
        """Why an AND-group came out empty, in the user's terms."""
        tok = self.peek()
        prev = self.tokens[self.pos - 1] if self.pos > 0 else None
        if (tok is not None and tok.kind == "OR") or (prev is not None and prev.kind == "OR"):
            return "'OR' needs a search term on each side"
        if tok is not None and tok.kind == "RPAREN":
            if prev is not None and prev.kind == "LPAREN":
                return "empty parentheses '()' in query"
            return "unbalanced parenthesis: ')' without a matching '('"
        return "empty query: give some words to search for"

    def unary(self) -> Node:
        tok = self.take()
        if tok.kind in ("NOT", "MINUS"):
            nxt = self.peek()
            if nxt is None or nxt.kind in ("OR", "AND", "RPAREN"):
                raise UsageError("'NOT' (or '-') needs a search term after it")
            return Not(self.unary())
        if tok.kind == "LPAREN":
            if (nxt := self.peek()) is not None and nxt.kind == "RPAREN":
                raise UsageError("empty parentheses '()' in query")
            node = self.or_expr()
            closing = self.peek()
            if closing is None:
                raise UsageError("unbalanced parenthesis: '(' is never closed")
            self.take()
            return node
        if tok.kind == "WORD":
            return _word(tok.text, None)
        if tok.kind == "PHRASE":
            return Phrase(tok.text)
        return _field(tok)


def _word(text: str, field: str | None) -> Word:
    if text.endswith("*") and len(text.rstrip("*")) > 0:
        stem = text.rstrip("*")
        if len(stem) < 2:
            raise UsageError(f"{text!r}: give at least 2 characters before '*'")
        return Word(stem, field, prefix=True)
    return Word(text, field)


def _field(tok: _Tok) -> Node:
    value = tok.text
    if tok.field == "title":
        return Phrase(value, "title") if tok.quoted else _word(value, "title")
    if not value.strip():
        raise UsageError(f"{tok.field}: needs a value (e.g. {tok.field}:{_EXAMPLES[tok.field]})")
    if tok.field == "site":
        host = normalize_host(value)
        if not host:
            raise UsageError(f"site:{value}: not a host name (e.g. site:example.com)")
        return Site(host)
    if tok.field == "url":
        return Url(normalize_url_key(value.rstrip("*")))
    if tok.field == "after":
        return DateRange(low=date_bounds(value)[0])
    if tok.field == "before":
        return DateRange(high=date_bounds(value)[1])
    if tok.field == "tag":
        return Tag(value.strip().lstrip("#").lower())
    return Lang(value.strip().lower().replace("_", "-"))


def parse_query(query: str) -> Node:
    """Parse a user's query into a syntax tree; raise UsageError with a one-line reason if malformed."""
    if not query or not query.strip():
        raise UsageError("empty query: give some words to search for")
    return _Parser(_tokenize(query)).parse()
