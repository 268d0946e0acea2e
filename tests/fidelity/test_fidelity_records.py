"""The fidelity check's bookkeeping, without a browser: which check of a capture counts, which
capture of a retried page is the page's, old page lists still read, and the replay pages built
from a check record escape what it quotes from the page."""

from __future__ import annotations

import json

from warcache.index.checks import apply_checks, check_ref, page_capture
from warcache.pagelist import PageEntry
from warcache.replay import ui


def _entry(warc: str = "a.warc.gz", offset: int = 0, ts: str = "20240101000000") -> PageEntry:
    return PageEntry(url="https://example.com/", timestamp=ts, warc=warc, offset=offset)


def _ref(checked: str, fidelity: int, *, capture=("a.warc.gz", 0), warc="a.warc.gz", offset=100,
         retry_of=None):
    info = {"capture": {"warc": capture[0], "offset": capture[1]}, "checked": checked,
            "fidelity": fidelity, "replay_fidelity": fidelity - 1}
    if retry_of:
        info["retry_of"] = {"warc": retry_of[0], "offset": retry_of[1]}
    ref = check_ref(info, warc=warc, offset=offset)
    assert ref is not None
    return ref


def test_an_entry_written_before_the_check_reads_back_unchanged():
    old = {"url": "https://example.com/", "timestamp": "20240101000000", "warc": "a.warc.gz", "offset": 0,
           "future_key": [1, 2]}
    entry = PageEntry.from_json(dict(old))
    assert entry.fidelity is None and entry.check is None and entry.preferred is None
    again = json.loads(entry.to_line())
    assert "fidelity" not in again and "check" not in again and again["future_key"] == [1, 2]


def test_the_latest_check_of_a_capture_wins_whatever_the_order_found():
    entry = _entry()
    later = _ref("2024-02-01T00:00:00+00:00", 60, warc="b.warc.gz", offset=5)
    earlier = _ref("2024-01-01T00:00:00+00:00", 97)
    assert apply_checks([entry], [later, earlier])
    assert entry.fidelity == 60 and entry.check["warc"] == "b.warc.gz"
    assert not apply_checks([entry], [earlier])  # an older check changes nothing
    assert entry.fidelity == 60
    back = PageEntry.from_json(json.loads(entry.to_line()))
    assert (back.fidelity, back.replay_fidelity, back.check) == (60, 59, entry.check)


def test_a_check_naming_no_capture_is_not_trusted():
    assert check_ref({"checked": "2024"}, warc="a", offset=0) is None
    negative = {"capture": {"warc": "a.warc.gz", "offset": -1}, "checked": "2024"}
    assert check_ref(negative, warc="a", offset=0) is None
    assert check_ref(["not", "a", "dict"], warc="a", offset=0) is None


def test_of_a_retried_page_the_better_capture_is_the_pages():
    first, second = _entry(offset=0, ts="20240101000000"), _entry(offset=500, ts="20240101000100")
    checks = [_ref("2024-01-01T00:00:10+00:00", 70),
              _ref("2024-01-01T00:01:10+00:00", 92, capture=("a.warc.gz", 500), offset=600,
                   retry_of=("a.warc.gz", 0))]
    apply_checks([first, second], checks)
    assert (first.preferred, second.preferred) == (False, True)
    assert page_capture([first, second]) is second
    # `warcache check` later finds the first capture better: the mark moves
    apply_checks([first, second], [_ref("2024-03-01T00:00:00+00:00", 99, offset=900)])
    assert (first.preferred, second.preferred) == (True, False)
    assert page_capture([first, second]) is first


def test_the_check_page_and_badge_escape_what_the_page_said():
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    view = ui.CheckView(coll="c", url=f"https://example.com/{evil}", title=evil, timestamp="20240101000000",
                        live_shot=None, replay_href=f"/c/20240101000000/{evil}", fidelity=50,
                        replay_fidelity=40, checked=evil, software=evil,
                        modes=[ui.CheckMode(label="Replayed", score=50, shot_href=None,
                                            reasons=[f"text 50% similar; missing: “{evil}”"],
                                            not_archived=[f"https://example.com/{evil}"], error=evil)])
    html = ui.check_page(view)
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    row = ui.PageRow(url=evil, title=evil, timestamp="20240101000000", replay_href=evil, fidelity=88,
                     replay_fidelity=90, check_href=f"/_warcache/check/c/20240101000000/{evil}")
    listing = ui.pages_page("c", [row])
    assert "<script>" not in listing and 'class="badge fair"' in listing and ">fidelity 88<" in listing
