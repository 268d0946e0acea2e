"""The rules of fuzzy matching, as data: which query parameters are volatile, per site.

Why data and not code: which parameter of which site is a cache-buster is knowledge about the
web, not about warcache, and users meet sites warcache does not know.  pywb keeps the same
knowledge in its rules.yaml; warcache keeps it in TOML (read with the standard library's
tomllib) in three places, each adding to the one before:

    warcache/replay/rules.toml           shipped defaults
    <root>/rules.toml                    the user's, for every collection
    collections/<name>/rules.toml        one collection's

Lists under `[params]` are added to; `[matching]` values replace; a `[[site]]` rule replaces
an earlier one with the same `id` (and `enabled = false` switches it off).  Site rules of the
more specific file are tried first.  A file with a key this code does not know is refused
with a message naming the file and the key, so a typo never silently does nothing.
"""

from __future__ import annotations

import fnmatch
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from warcache.errors import UsageError

DEFAULT_RULES = Path(__file__).with_name("rules.toml")
RULES_NAME = "rules.toml"
FORMAT = 1

_PARAM_LISTS = ("ignore", "ignore_if_random", "jsonp", "keep")
_MATCHING = {"static_extensions": list, "near_days": (int, float), "max_candidates": int}
_SITE_KEYS = {
    "id": str,
    "host": list,
    "path": str,
    "ignore": list,
    "ignore_if_random": list,
    "keep": list,
    "key_params": list,
    "allow_conflicts": bool,
    "post_body": str,
    "enabled": bool,
}
_POST_BODY = ("params", "exact")


@dataclass(frozen=True)
class SiteRule:
    """Extra knowledge about some URLs (see rules.toml for what each key means)."""

    id: str
    hosts: tuple[str, ...] = ()
    path: str = ""
    ignore: tuple[str, ...] = ()
    ignore_if_random: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    key_params: tuple[str, ...] = ()
    allow_conflicts: bool = False
    post_body: str = "params"
    enabled: bool = True
    source: str = ""  # the file it came from, for messages

    def matches(self, host: str, path: str) -> bool:
        if self.hosts and not any(_host_matches(pattern, host) for pattern in self.hosts):
            return False
        return path.startswith(self.path) if self.path else True


def _host_matches(pattern: str, host: str) -> bool:
    pattern = pattern.lower().strip()
    if pattern.startswith("*.") and host == pattern[2:]:
        return True
    return fnmatch.fnmatchcase(host, pattern)


@dataclass(frozen=True)
class UrlRules:
    """The rules that apply to one URL: the defaults with its site rule (if any) on top."""

    ignore: tuple[str, ...]
    ignore_if_random: tuple[str, ...]
    jsonp: tuple[str, ...]
    keep: tuple[str, ...]
    key_params: tuple[str, ...] = ()
    allow_conflicts: bool = False
    post_body: str = "params"
    near_days: float = 30.0
    static_extensions: frozenset[str] = frozenset()
    site: str | None = None  # id of the site rule applied

    def is_listed(self, names: tuple[str, ...], param: str) -> bool:
        lower = param.lower()
        return any(fnmatch.fnmatchcase(lower, pattern) for pattern in names)

    def kept(self, param: str) -> bool:
        return self.is_listed(self.keep, param)


@dataclass(frozen=True)
class Rules:
    """All the rules of one collection (defaults, root, collection)."""

    ignore: tuple[str, ...] = ()
    ignore_if_random: tuple[str, ...] = ()
    jsonp: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    static_extensions: frozenset[str] = frozenset()
    near_days: float = 30.0
    max_candidates: int = 500
    sites: tuple[SiteRule, ...] = ()  # in the order they are tried
    files: tuple[str, ...] = field(default=(), compare=False)

    def for_url(self, url: str) -> UrlRules:
        """The rules for `url`: the defaults, and the first enabled site rule that matches."""
        try:
            parts = urlsplit(url)
            host, path = (parts.hostname or "").lower(), parts.path or "/"
        except ValueError:
            host, path = "", "/"
        base = UrlRules(
            self.ignore,
            self.ignore_if_random,
            self.jsonp,
            self.keep,
            near_days=self.near_days,
            static_extensions=self.static_extensions,
        )
        for site in self.sites:
            if site.enabled and site.matches(host, path):
                return replace(
                    base,
                    ignore=base.ignore + site.ignore,
                    ignore_if_random=base.ignore_if_random + site.ignore_if_random,
                    keep=base.keep + site.keep,
                    key_params=tuple(p.lower() for p in site.key_params),
                    allow_conflicts=site.allow_conflicts,
                    post_body=site.post_body,
                    site=site.id,
                )
        return base


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: expected a list of strings")
    return tuple(v.strip().lower() for v in value if v.strip())


def _check_type(value: object, kind: type | tuple[type, ...], where: str) -> None:
    if isinstance(value, bool) and kind is not bool:
        raise UsageError(f"{where}: expected {getattr(kind, '__name__', 'a number')}, not true/false")
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "a number"
        raise UsageError(f"{where}: expected {name}")


def _site(data: object, where: str, source: str) -> SiteRule:
    if not isinstance(data, dict):
        raise UsageError(f"{where}: a [[site]] rule must be a table")
    for key, value in data.items():
        if key not in _SITE_KEYS:
            raise UsageError(f"{where}: unknown key {key!r} (known: {', '.join(_SITE_KEYS)})")
        _check_type(value, _SITE_KEYS[key], f"{where}.{key}")
    rule_id = data.get("id")
    if not rule_id:
        raise UsageError(f"{where}: a [[site]] rule needs an id")
    post_body = data.get("post_body", "params")
    if post_body not in _POST_BODY:
        raise UsageError(f"{where}.post_body: must be one of {', '.join(_POST_BODY)}")
    return SiteRule(
        id=rule_id,
        hosts=_strings(data.get("host", []), f"{where}.host"),
        path=data.get("path", ""),
        ignore=_strings(data.get("ignore", []), f"{where}.ignore"),
        ignore_if_random=_strings(data.get("ignore_if_random", []), f"{where}.ignore_if_random"),
        keep=_strings(data.get("keep", []), f"{where}.keep"),
        key_params=_strings(data.get("key_params", []), f"{where}.key_params"),
        allow_conflicts=data.get("allow_conflicts", False),
        post_body=post_body,
        enabled=data.get("enabled", True),
        source=source,
    )


def parse_rules(text: str, source: str, base: Rules | None = None) -> Rules:
    """`base` with the rules of one file (its text; `source` names it in messages) added."""
    base = base or Rules()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"rules file {source}: not valid TOML ({exc})") from None
    where = f"rules file {source}"
    for key in data:
        if key not in ("format", "params", "matching", "site"):
            raise UsageError(f"{where}: unknown section or key {key!r}")
    if data.get("format", FORMAT) != FORMAT:
        raise UsageError(f"{where}: format {data.get('format')!r} is not one this warcache reads ({FORMAT})")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise UsageError(f"{where}: [params] must be a table")
    lists = {name: getattr(base, name) for name in _PARAM_LISTS}
    for key, value in params.items():
        if key not in _PARAM_LISTS:
            raise UsageError(f"{where}: unknown key params.{key} (known: {', '.join(_PARAM_LISTS)})")
        lists[key] = lists[key] + _strings(value, f"{where}: params.{key}")
    matching = data.get("matching", {})
    if not isinstance(matching, dict):
        raise UsageError(f"{where}: [matching] must be a table")
    settings: dict[str, object] = {}
    for key, value in matching.items():
        if key not in _MATCHING:
            raise UsageError(f"{where}: unknown key matching.{key} (known: {', '.join(_MATCHING)})")
        _check_type(value, _MATCHING[key], f"{where}: matching.{key}")
        if key == "static_extensions":
            settings[key] = frozenset(e.lstrip(".") for e in _strings(value, f"{where}: matching.{key}"))
        elif key == "max_candidates":
            settings[key] = max(1, min(int(value), 100_000))  # type: ignore[call-overload]
        else:
            settings[key] = float(value)  # type: ignore[arg-type]
    sites_data = data.get("site", [])
    if not isinstance(sites_data, list):
        raise UsageError(f"{where}: site rules are written [[site]]")
    new_sites = [_site(item, f"{where}: site #{n + 1}", source) for n, item in enumerate(sites_data)]
    new_ids = {s.id for s in new_sites}
    # The newer file's rules are tried first; a rule it redefines (or switches off) goes.
    sites = tuple(new_sites) + tuple(s for s in base.sites if s.id not in new_ids)
    return replace(base, **lists, **settings, sites=sites, files=base.files + (source,))  # type: ignore[arg-type]


def load_rules(paths: Iterable[Path]) -> Rules:
    """The shipped defaults, then each existing file of `paths` in order."""
    rules = parse_rules(DEFAULT_RULES.read_text(encoding="utf-8"), "warcache defaults")
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"rules file {path}: cannot be read ({exc})") from None
        rules = parse_rules(text, str(path), rules)
    return rules


def rule_files(root: Path, collection_dir: Path) -> list[Path]:
    """Where a collection's rules come from, after the defaults: the root's, then its own."""
    return [root / RULES_NAME, collection_dir / RULES_NAME]


class RulesFiles:
    """The rules of one collection, read again when one of its files changes (looked at once
    every `RECHECK` seconds at most: replay asks for the rules at many requests)."""

    RECHECK = 2.0

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._stamp: tuple | None = None
        self._rules: Rules | None = None
        self._checked = 0.0

    def _current_stamp(self) -> tuple:
        out = []
        for path in self.paths:
            try:
                st = path.stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def get(self) -> Rules:
        if self._rules is not None and time.monotonic() - self._checked < self.RECHECK:
            return self._rules
        stamp = self._current_stamp()
        if self._rules is None or stamp != self._stamp:
            self._rules = load_rules(self.paths)
            self._stamp = stamp
        self._checked = time.monotonic()
        return self._rules
