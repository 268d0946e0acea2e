"""Shared test fixtures: paths, the browser, the fixture site, and running the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WARCACHE_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (test corpora made by others); tests that need it skip when it is absent."""
    if not (SHARED / "corpora").is_dir():
        pytest.skip(f"shared corpora not found at {SHARED} (set WARCACHE_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def browser_path() -> str | None:
    """The browser the capture tests drive. Missing is a failure, not a skip: scripts/test installs one."""
    from warcache.chromium import find_browser

    return find_browser().executable


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


#: The fidelity check (issue 11) replays every page `add` captures, twice: several seconds a page
#: on a busy machine. Tests run the CLI without it (as `--no-check`) unless they ask for it with
#: env={"WARCACHE_NO_CHECK": ""}, as tests/fidelity does.
NO_CHECK = {"WARCACHE_NO_CHECK": "1"}


def run_cli(*args: str, root: Path | None = None, timeout: float = 300, env: dict | None = None) -> CliRun:
    """Run the real `warcache` entry point in a subprocess, as a user would (see NO_CHECK)."""
    cmd = [sys.executable, "-m", "warcache"]
    if root is not None:
        cmd += ["--root", str(root)]
    cmd += list(args)
    full_env = {**os.environ, **NO_CHECK, **(env or {})}
    full_env.pop("WARCACHE_ROOT", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="module")
def site():
    """The fixture web site (two loopback hosts), started for a test module."""
    from fixture_site import FixtureSite

    with FixtureSite(https=True) as s:
        yield s


#: The fixture site's pages in the shared capture: every kind of page (JavaScript app, redirect
#: chain, 404, PDF, JSON, download, workers, service worker, legacy charset, dialogs), plus the
#: https home page and a second capture of /final.html in the same run (two captures of one URL
#: in one WARC file). The collection "second" holds one more capture of /final.html.
SHARED_PAGES = ["/", "/redirect", "/notfound", "/doc.pdf", "/data.json", "/download.bin", "/worker.html",
                "/sw.html", "/charset-latin1.html", "/dialogs.html", "/final.html", "/final.html"]


@dataclass
class SharedCapture:
    """One `warcache add` of the fixture site, made once per test session.

    Tests that only read it use `root` as it is; a test that changes anything (captures again,
    damages a file) works on `copy(tmp_path)`. `log` is what the site sent during that run.
    """

    site: object  # fixture_site.FixtureSite, still running for tests that capture it again
    root: Path
    run: CliRun
    second: CliRun
    results: list[dict]
    log: list

    @property
    def urls(self) -> list[str]:
        return [self.site.url(p) for p in SHARED_PAGES] + [self.site.https_url("/")]

    @property
    def archive(self) -> Path:
        return self.root / "collections" / "default" / "archive"

    def copy(self, dest: Path) -> Path:
        """A private copy of the whole root, to change."""
        import shutil

        target = dest / "root"
        shutil.copytree(self.root, target)
        return target


@pytest.fixture(scope="session")
def shared_capture(tmp_path_factory, browser_path) -> SharedCapture:
    from fixture_site import FixtureSite

    site = FixtureSite(https=True).start()
    try:
        root = tmp_path_factory.mktemp("shared-capture")
        urls = [site.url(p) for p in SHARED_PAGES] + [site.https_url("/")]
        run = run_cli("add", "--json", "--ignore-https-errors", *urls, root=root)
        log = list(site.log)
        second = run_cli("add", "-c", "second", site.url("/final.html"), root=root)
        capture = SharedCapture(site, root, run, second, json.loads(run.stdout or "[]"), log)
        yield capture
    finally:
        site.stop()


# -- running in parallel (pytest-xdist, as scripts/test does) --------------------------------------

#: The files whose tests read the shared capture: one worker runs them all, so the capture is made
#: once, not once per worker (checked against the tests' fixtures as they are collected).
SHARED_FILES = {
    "tests/capture/test_capture.py", "tests/search/test_search_cli.py", "tests/manage/test_verify.py",
    "tests/replay/test_replay_browser.py", "tests/replay/test_add_form.py", "tests/replay/test_wayback_ui.py",
}
SHARED_GROUP = "shared-capture"


def work_unit(nodeid: str) -> str:
    """What one worker runs as a whole: a file (its module fixtures, such as a capture run its
    tests share, are made once), or all the shared capture's readers."""
    path = nodeid.split("::", 1)[0]
    return SHARED_GROUP if path in SHARED_FILES else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)


def pytest_collection_modifyitems(config, items):
    """Under xdist, hand out the longest work first (the shared capture's readers and files with
    slow tests, then those with browser tests), so no worker is left with a slow file at the end;
    and refuse a test that reads the shared capture from a file not in SHARED_FILES."""
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: nothing to arrange
    weight: dict[str, int] = {}
    for item in items:
        unit = work_unit(item.nodeid)
        if "shared_capture" in item.fixturenames and unit != SHARED_GROUP:
            raise pytest.UsageError(f"{item.nodeid} reads the shared capture: add its file to SHARED_FILES")
        slow = unit == SHARED_GROUP or item.get_closest_marker("slow")
        heavy = 2 if slow else 1 if item.get_closest_marker("browser") else 0
        weight[unit] = max(weight.get(unit, 0), heavy)
    order = {unit: n for n, unit in enumerate(weight)}
    items.sort(key=lambda item: (-weight[work_unit(item.nodeid)], order[work_unit(item.nodeid)]))
