"""The layers contract: each package imports only the layers below it (see pyproject.toml).

import-linter reads the import graph from the source and checks the contract in
[tool.importlinter]; a broken contract fails this test with import-linter's report, which
names the import and its line.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def _lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("import-linter is not installed (pip install -e .[dev])")
    return exe


def test_layers_import_downward_only() -> None:
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "BROKEN" not in report, report


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The contract can fail: the same check on a copy of the package with one upward import."""
    copy = tmp_path / "src"
    shutil.copytree(REPO / "warcache", copy / "warcache", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "warcache" / "warc" / "reader.py"
    target.write_text(target.read_text() + "\nfrom warcache.replay import ui  # noqa\n")
    env = {"PYTHONPATH": str(copy), "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=copy, capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    assert "warcache.warc.reader -> warcache.replay.ui" in proc.stdout
