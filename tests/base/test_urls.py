import pytest

from warcache.errors import UsageError
from warcache.urls import normalize_url


@pytest.mark.parametrize("given, expected", [
    ("http://Example.COM", "http://example.com/"),
    ("https://example.com:443/a?b=1#frag", "https://example.com/a?b=1"),
    ("http://example.com:8080/x y", "http://example.com:8080/x%20y"),
    ("https://bücher.example/", "https://xn--bcher-kva.example/"),
    ("  http://127.0.0.1:5000/p  ", "http://127.0.0.1:5000/p"),
    # as the browser will request it: UTF-8 percent-encoded, existing escapes kept
    ("http://example.com/café?q=ü", "http://example.com/caf%C3%A9?q=%C3%BC"),
    ("http://example.com/%7Ea/b%20c?x=%41", "http://example.com/%7Ea/b%20c?x=%41"),
    ("http://example.com/a\"b<c>`{d}?q='x'", "http://example.com/a%22b%3Cc%3E%60%7Bd%7D?q=%27x%27"),
    ("http://example.com/a/?x=1&y=[2]", "http://example.com/a/?x=1&y=[2]"),
])
def test_normalize(given, expected):
    assert normalize_url(given) == expected


@pytest.mark.parametrize("bad, words", [
    ("", "empty"),
    ("example.com", "full URL"),
    ("ftp://example.com/", "unsupported URL scheme"),
    ("file:///etc/passwd", "refusing file"),
    ("chrome://settings", "refusing chrome"),
    ("view-source:http://example.com", "refusing view-source"),
    ("data:text/html,hi", "refusing data"),
    ("http://", "no host"),
    ("http://exa mple.com:99999/", "invalid URL"),
    ("http://a\nb/", "control characters"),
])
def test_bad_urls_say_why(bad, words):
    with pytest.raises(UsageError, match=words):
        normalize_url(bad)
