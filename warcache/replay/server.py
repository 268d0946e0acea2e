"""Serving the replay application: its two sockets, run by waitress.

Why waitress: a production WSGI server in pure Python (no compiler, runs wherever Python
does), HTTP/1.1 keep-alive, a bounded thread pool, and it can listen on several sockets in
one process: the listing port and the replay port (see `app`) are served by one server.
The application itself is a plain WSGI callable, so tests drive it in-process with
werkzeug's test client (`make_app`) or over real sockets in a thread (`start_server`).
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from warcache.errors import UsageError
from warcache.replay.adding import Adder
from warcache.replay.app import ReplayApp
from warcache.replay.origins import Origins, allowed_hosts, choose_origins, is_loopback

#: differ(collection, url, ts1, ts2) -> `warcache diff`'s JSON (the manage layer's; see `listing`).
Differ = Callable[[str, str, str, str], dict]


def make_app(
    root: str | Path,
    *,
    collection: str | None = None,
    ui_port: int = 8080,
    replay_port: int | None = None,
    host: str = "127.0.0.1",
    collection_domain: str | None = None,
    shared_origin: bool = False,
    adder: Adder | None = None,
    differ: Differ | None = None,
) -> ReplayApp:
    """The WSGI application for a root, without a server (tests call it in-process)."""
    return ReplayApp(
        root,
        collection=collection,
        ui_port=ui_port,
        replay_port=ui_port + 1 if replay_port is None else replay_port,
        allowed_hosts=allowed_hosts(host),
        origins=choose_origins(host, collection_domain, shared_origin)[0],
        adder=adder,
        differ=differ,
    )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@dataclass
class RunningServer:
    """A replay server running in a background thread (see `start_server`)."""

    app: ReplayApp
    ui_url: str
    replay_url: str
    _server: object
    _thread: threading.Thread

    def close(self) -> None:
        """Stop serving: the sockets are closed by the server's own loop thread (closing them
        from here would pull them from under its select), then its workers are stopped."""
        from waitress import wasyncore
        from waitress.trigger import trigger

        server = self._server
        socket_map = server.map  # type: ignore[attr-defined]
        waker = next((o for o in list(socket_map.values()) if isinstance(o, trigger)), None)
        if waker is not None and self._thread.is_alive():
            waker.pull_trigger(lambda: wasyncore.close_all(socket_map))
            self._thread.join(10)
        else:
            wasyncore.close_all(socket_map)
        server.task_dispatcher.shutdown()  # type: ignore[attr-defined]
        self.app.close()

    def replay_url_for(self, coll: str) -> str:
        """Where collection `coll` is replayed (its own host name unless origins are shared)."""
        parts = urlsplit(self.replay_url)
        return self.app.replay_origin(coll, parts.scheme, parts.hostname or "127.0.0.1") + "/"

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _create(
    root: str | Path,
    host: str,
    port: int,
    collection: str | None,
    replay_port: int | None,
    threads: int,
    origins: Origins,
    adder: Adder | None = None,
    differ: Differ | None = None,
) -> tuple[ReplayApp, object, str, str]:
    from waitress.server import create_server

    ui_sock = _bind(host, port)
    try:
        if replay_port is None:
            replay_port = ui_sock.getsockname()[1] + 1 if port else 0
        replay_sock = _bind(host, replay_port)
    except BaseException:
        ui_sock.close()
        raise
    ui_port, replay_port = ui_sock.getsockname()[1], replay_sock.getsockname()[1]
    try:
        app = ReplayApp(
            root,
            collection=collection,
            ui_port=ui_port,
            replay_port=replay_port,
            allowed_hosts=allowed_hosts(host),
            origins=origins,
            adder=adder,
            differ=differ,
        )
        server = create_server(
            app,
            sockets=[ui_sock, replay_sock],
            threads=threads,
            ident="warcache",
            clear_untrusted_proxy_headers=True,
            channel_timeout=60,
            connection_limit=200,
        )
    except BaseException:
        ui_sock.close()
        replay_sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::", ""):
        shown = "127.0.0.1"
    return app, server, f"http://{shown}:{ui_port}/", f"http://{shown}:{replay_port}/"


def start_server(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    collection: str | None = None,
    *,
    replay_port: int | None = None,
    threads: int = 8,
    collection_domain: str | None = None,
    shared_origin: bool = False,
    adder: Adder | None = None,
    differ: Differ | None = None,
) -> RunningServer:
    """Start a replay server in a background thread (port 0: any free ports; `adder`: the
    'Archive a URL' form and its capture queue)."""
    origins = choose_origins(host, collection_domain, shared_origin)[0]
    app, server, ui_url, replay_url = _create(root, host, port, collection, replay_port, threads, origins,
                                              adder, differ)
    thread = threading.Thread(target=server.run, name="warcache-replay", daemon=True)  # type: ignore[attr-defined]
    thread.start()
    return RunningServer(app, ui_url, replay_url, server, thread)


def bind_warning(host: str) -> str | None:
    """The warning to print for a server bound to `host`, or None for a loopback address."""
    if is_loopback(host):
        return None
    return f"warning: listening on {host}: anyone who can reach this address can read the archive"


def log_to_stderr() -> None:
    """Print the replay server's log lines (what fuzzy matching answered) on stderr."""
    logger = logging.getLogger("warcache.replay")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def serve(
    root: str | Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    collection: str | None = None,
    *,
    replay_port: int | None = None,
    threads: int = 8,
    collection_domain: str | None = None,
    shared_origin: bool = False,
    adder: Adder | None = None,
    differ: Differ | None = None,
) -> None:
    """Serve replays until interrupted.  Listens on 127.0.0.1 unless told otherwise; warns on
    stderr when bound to another address (then anyone who can reach it can read the archive)."""
    origins, origin_warning = choose_origins(host, collection_domain, shared_origin)
    for warning in (bind_warning(host), None if collection else origin_warning):
        if warning:
            print(warning, file=sys.stderr)
    app, server, ui_url, replay_url = _create(root, host, port, collection, replay_port, threads, origins,
                                              adder, differ)
    log_to_stderr()
    if app.origins.isolated:
        rport = urlsplit(replay_url).port
        where = (f"http://<collection>.{app.origins.domain}:{rport}/, and each page from its original "
                 f"origin's session host, <host>.<timestamp>.<collection>.{app.origins.domain}")
    else:
        where = replay_url
    print(f"warcache replay: {ui_url} (replayed pages are served from {where})", file=sys.stderr)
    if adder is not None:
        print(f"archive from the browser: {ui_url}_warcache/add", file=sys.stderr)
    try:
        server.run()  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        pass
    finally:
        server.close()  # type: ignore[attr-defined]
        app.close()
