"""The browser's errors in plain words: no Playwright or protocol message reaches the user raw."""

from __future__ import annotations

import pytest

from warcache.capture.browser_errors import is_crash, net_error, plain

RAW = "\n=========================== logs ===========================\nnavigating to ..."


@pytest.mark.parametrize("message, sentence", [
    ("BrowserContext.new_page: Protocol error (Target.createTarget): Failed to open a new tab",
     "the browser could not open a tab for the page"),
    ("Page.goto: Target page, context or browser has been closed" + RAW,
     "the browser closed the page before the capture ended"),
    ("Page.title: Execution context was destroyed, most likely because of a navigation",
     "the page navigated away meanwhile"),
    ("Page.content: Unable to retrieve content because the page is navigating and changing the content.",
     "the page navigated away meanwhile"),
    ("Page.screenshot: Timeout 20000ms exceeded." + RAW, "timed out after 20 s"),
    ("Page.goto: net::ERR_UNSAFE_PORT at http://127.0.0.1:1/" + RAW,
     "the browser refuses to connect to that port (ERR_UNSAFE_PORT)"),
    ("Page.goto: net::ERR_SOMETHING_NEW at http://a.test/",
     "the browser could not load it (ERR_SOMETHING_NEW)"),
    ("Page.content: Protocol error (DOM.getOuterHTML): Node is detached.",
     "the browser reported: Node is detached"),
    ("Browser.new_context: Target crashed", "the page crashed"),
])
def test_playwright_messages_become_one_plain_sentence(message, sentence):
    said = plain(Exception(message))
    assert said == sentence
    assert "\n" not in said and "Protocol error" not in said and "Page." not in said


def test_net_errors_and_crashes():
    assert net_error("net::ERR_TOO_MANY_REDIRECTS") == "it redirected too many times (a redirect loop) " \
                                                     "(ERR_TOO_MANY_REDIRECTS)"
    assert net_error("net::ERR_CERT_DATE_INVALID").startswith("its TLS certificate was refused")
    assert is_crash("Page.goto: Target crashed") and is_crash("Browser has been closed")
    assert not is_crash("Page.goto: Timeout 3000ms exceeded.")
