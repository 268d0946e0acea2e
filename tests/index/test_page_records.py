"""Which page records are pages: the rule a capture and a rebuild share (is_page_record)."""

from __future__ import annotations

from warcache.errors import ArchiveError
from warcache.index.postprocess import indexing_failed, is_page_record

#: What Chromium rendered for the recording proxy's error answer, as captures made before page
#: records said `ok` stored it for a page whose navigation after load had failed.
PROXY_ERROR_DOM = (b'<html><head><meta name="color-scheme" content="light dark"></head><body><pre style='
                   b'"word-wrap: break-word; white-space: pre-wrap;">warcache: TLS handshake with 127.0.0.1 '
                   b'failed (WRONG_VERSION_NUMBER)\n</pre></body></html>')


def test_records_that_say_ok_decide_for_themselves():
    assert is_page_record({"ok": True}, b"<html><body>x</body></html>")
    assert not is_page_record({"ok": False, "error": "redirect loop"}, None)
    assert is_page_record({"ok": True}, PROXY_ERROR_DOM)  # (never written, but the flag rules)


def test_older_records_are_pages_unless_their_dom_is_the_proxy_error_text():
    assert is_page_record({"status": 200}, b"<html><head></head><body><p>article</p></body></html>")
    assert is_page_record({"status": 200}, None)
    assert not is_page_record({"status": 200}, PROXY_ERROR_DOM)
    plain_text = PROXY_ERROR_DOM.replace(b"warcache: TLS", b"a text file about TLS")
    assert is_page_record({"status": 200}, plain_text)
    longer = PROXY_ERROR_DOM.replace(b"</pre>", b"</pre><p>and a real page after it</p>")
    assert is_page_record({"status": 200}, longer)


def test_an_indexing_failure_names_the_page_and_the_reason():
    said = indexing_failed("http://a.test/p", ArchiveError("full-text index x is busy"))
    assert said == "full-text indexing of http://a.test/p failed (full-text index x is busy)"
    said = indexing_failed("http://a.test/p", RecursionError("maximum recursion\ndepth exceeded"))
    assert said == ("full-text indexing of http://a.test/p failed "
                    "(RecursionError: maximum recursion depth exceeded)")
