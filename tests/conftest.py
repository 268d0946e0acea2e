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
    from warcache.browser import find_browser

    return find_browser().executable


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args: str, root: Path | None = None, timeout: float = 300, env: dict | None = None) -> CliRun:
    """Run the real `warcache` entry point in a subprocess, as a user would."""
    cmd = [sys.executable, "-m", "warcache"]
    if root is not None:
        cmd += ["--root", str(root)]
    cmd += list(args)
    full_env = {**os.environ, **(env or {})}
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
