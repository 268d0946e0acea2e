"""The data behind the behaviours, without a browser: consent rules files, adblock request
types, the media option's missing extra, and what the warcinfo record says of the options."""

from __future__ import annotations

import pytest

from warcache.capture import blocklist, consent, ytdlp
from warcache.capture.httpwire import parse_head
from warcache.capture.page import CaptureOptions
from warcache.errors import UsageError


def test_the_shipped_consent_rules_load_and_a_users_come_first(tmp_path):
    shipped = consent.load_rules()
    names = [c["name"] for c in shipped.cmps]
    for known in ("OneTrust", "Cookiebot", "Didomi", "Quantcast Choice", "Usercentrics", "TrustArc",
                  "Sourcepoint"):
        assert known in names
    assert "reject all" in shipped.reject_texts and "alle ablehnen" in shipped.reject_texts
    assert "tout accepter" in shipped.accept_texts
    path = tmp_path / "mine.toml"
    path.write_text('[[cmp]]\nname = "Mine"\ndetect = ["#mine"]\nreject = ["#no"]\n'
                    '[texts]\nreject = ["  Nein   Danke "]\n')
    rules = consent.load_rules(consent.read_rules_file(path))
    assert rules.cmps[0]["name"] == "Mine" and rules.cmps[0]["accept"] == []
    assert len(rules.cmps) == len(names) + 1
    assert rules.reject_texts[0] == "nein danke"


@pytest.mark.parametrize("text, message", [
    ("[[cmp]]\ndetect = ['#x']\n", "needs a name"),
    ("[[cmp]]\nname = 'x'\n", "needs 'detect' selectors"),
    ("[[cmp]]\nname = 'x'\ndetect = ['#x']\nclick = ['#y']\n", "unknown key 'click'"),
    ("[[cmp]]\nname = 'x'\ndetect = '#x'\n", "'detect' must be a list of CSS selectors"),
    ("[texts]\nreject = 'no'\n", "[texts] reject must be a list of strings"),
    ("[other]\n", "unknown section 'other'"),
])
def test_a_bad_consent_rules_file_says_what_is_wrong_in_one_line(text, message):
    with pytest.raises(UsageError) as err:
        consent.parse_rules(text, "mine.toml")
    said = str(err.value)
    assert message in said and said.startswith("consent rules mine.toml") and "\n" not in said


def _head(*headers: str) -> object:
    return parse_head(("GET / HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode())


@pytest.mark.parametrize("url, headers, kind", [
    ("https://a.example/x", ["Sec-Fetch-Dest: script"], "script"),
    ("https://a.example/x", ["Sec-Fetch-Dest: iframe"], "subdocument"),
    ("https://a.example/x", ["Sec-Fetch-Dest: empty"], "xmlhttprequest"),
    ("https://a.example/x", ["Sec-Fetch-Dest: empty", "Ping-To: https://b.example/"], "ping"),
    ("https://a.example/x", ["Upgrade: websocket"], "websocket"),
    ("http://a.example/x", ["Accept: image/avif,image/webp,*/*"], "image"),
    ("http://a.example/x", ["Accept: text/css,*/*;q=0.1"], "stylesheet"),
    ("http://a.example/app.js?v=1", ["Accept: */*"], "script"),
    ("http://a.example/data", ["Accept: */*"], "other"),
])
def test_request_types_come_from_what_the_browser_said(url, headers, kind):
    assert blocklist.request_type(url, _head(*headers)) == kind


def test_rules_match_by_type_party_and_exception():
    check = blocklist.blocker(["! comment", "||ads.example^$third-party", "/pixel.gif$image",
                               "@@||ads.example/ok.js"], "https://news.example/a")
    assert check("https://ads.example/x.js", _head("Sec-Fetch-Dest: script"))
    assert not check("https://ads.example/x.js", _head("Sec-Fetch-Dest: script",
                                                        "Referer: https://ads.example/"))
    assert not check("https://ads.example/ok.js", _head("Sec-Fetch-Dest: script"))
    assert check("https://cdn.example/pixel.gif", _head("Sec-Fetch-Dest: image"))
    assert not check("https://cdn.example/pixel.gif", _head("Sec-Fetch-Dest: script"))
    assert blocklist.blocker(["! only a comment", ""], "https://news.example/") is None


def test_media_without_yt_dlp_names_the_extra(monkeypatch):
    monkeypatch.setattr(ytdlp.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"pip install 'warcache\[media\]'"):
        ytdlp.check_available()


def test_settings_name_the_behaviours_not_the_rules_or_the_script():
    opts = CaptureOptions(dismiss_consent=True, behavior_script="async (wc) => { secretword(); }",
                          behavior_name="mine.js", block_rules=("||tracker.example^",),
                          block_sources=("--block-list easyprivacy.txt",), pdf=True)
    settings = opts.settings()
    assert settings["behaviours"] == ["dismiss-consent", "expand", "scroll", "play-media", "behavior mine.js"]
    assert settings["blocked_by"] == ["--block-list easyprivacy.txt"] and settings["pdf"] is True
    assert "secretword" not in repr(settings) and "tracker.example" not in repr(settings)
    assert opts.budget() > CaptureOptions().budget()
