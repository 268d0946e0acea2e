"""Offline replay of captures: a replay server (`warcache replay`) and `warcache open`.

make_app(root, ...)      the WSGI application (two origins: listing and replayed pages)
serve(root, ...)         run it with waitress until interrupted
start_server(root, ...)  run it in a background thread (tests, embedding)
open_capture(root, url)  show a capture in Chromium, every request answered from the archive
"""

from warcache.replay.app import ReplayApp
from warcache.replay.server import RunningServer, make_app, serve, start_server

__all__ = ["ReplayApp", "RunningServer", "make_app", "open_capture", "serve", "start_server"]


def open_capture(*args, **kwargs):
    """See `warcache.replay.intercept.open_capture` (imported lazily: it needs Playwright)."""
    from warcache.replay.intercept import open_capture as _open

    return _open(*args, **kwargs)
