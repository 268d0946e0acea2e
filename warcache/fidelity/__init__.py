"""How faithful is a capture? Replay it from the archive alone and compare with what was seen live.

A broken capture stays invisible until the original is gone, and then it is too late to capture
again. So after each capture (`warcache add`, unless `--no-check`), and on demand afterwards
(`warcache check`), warcache loads the page from the archive alone, in the same browser, at the
same viewport and scroll, twice: by request interception as `warcache open` does, and through
the rewriting replay server people browse. Each replay is compared with the live page (the
screenshot, the visible text, the requests the archive answered or not, console errors only on
replay) and earns a score from 0 to 100, with its reasons and the URLs it missed.

    compare.py        the measures and the score (Pillow and rapidfuzz)
    observe.py        replaying a capture both ways in a browser, and noting what it shows
    check.py          one check: the live side, both replays, the records written
    after_capture.py  the hook `add` gives the archiver (one replay server per run)
    recheck.py        `warcache check`: existing captures scored again into a new WARC file

This package sits at the manage layer: it needs both capture (the run's browser, the live
observations) and replay, which may not import each other.
"""
