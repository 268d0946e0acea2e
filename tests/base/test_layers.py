"""The import contracts (see pyproject.toml): each package imports only the layers below it (and
so do the modules of replay, of search and of extract), and only four modules of warcache.search
import Whoosh.

import-linter reads the import graph from the source and checks the contracts in
[tool.importlinter]; a broken contract fails this test with import-linter's report, which
names the import and its line.
"""

from __future__ import annotations

import ast
import json
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


def _lint_a_copy_with(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """lint-imports on a copy of the package where `module` (a path under warcache/) has `line` added."""
    copy = tmp_path / "src"
    shutil.copytree(REPO / "warcache", copy / "warcache", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "warcache" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    env = {"PYTHONPATH": str(copy), "PATH": str(Path(sys.executable).parent)}
    return subprocess.run([_lint_imports(), "--no-cache"], cwd=copy, capture_output=True, text=True, env=env)


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The contract can fail: the same check on a copy of the package with one upward import."""
    proc = _lint_a_copy_with(tmp_path, "warc/reader.py", "from warcache.replay import ui")
    assert proc.returncode != 0
    assert "warcache.warc.reader -> warcache.replay.ui" in proc.stdout


def test_capture_importing_the_fidelity_check_is_caught(tmp_path: Path) -> None:
    # The check sits above capture and replay (it needs both); capture reaches it only through
    # the after_store hook the CLI passes in.
    proc = _lint_a_copy_with(tmp_path, "capture/archiver.py", "from warcache.fidelity import check")
    assert proc.returncode != 0
    assert "warcache.capture.archiver -> warcache.fidelity.check" in proc.stdout


def test_an_upward_import_inside_extract_is_caught(tmp_path: Path) -> None:
    # The DOM helpers are below the clutter rules, which are below the article finder.
    proc = _lint_a_copy_with(tmp_path, "extract/dom.py", "from warcache.extract import clutter")
    assert proc.returncode != 0
    assert "warcache.extract.dom -> warcache.extract.clutter" in proc.stdout


@pytest.mark.parametrize("module", ["search/index.py", "search/topk.py", "index/postprocess.py"])
def test_a_whoosh_import_elsewhere_is_caught(tmp_path: Path, module: str) -> None:
    proc = _lint_a_copy_with(tmp_path, module, "from whoosh import query")
    assert proc.returncode != 0
    dotted = "warcache." + module.removesuffix(".py").replace("/", ".")
    assert f"{dotted} -> whoosh" in proc.stdout


# What each module allowed to import Whoosh takes from it.  import-linter sees Whoosh as one
# package; this keeps its public API (schema, analysis, index files) apart from its internals.
WHOOSH_PUBLIC = {
    # fields, formats (and whoosh.system's packing: the byte layout of a Positions value),
    # tokenizers, stop lists, the accent map and the stemmer
    "analysis": {"whoosh.fields", "whoosh.formats", "whoosh.analysis", "whoosh.lang",
                 "whoosh.lang.stopwords", "whoosh.support.charset", "whoosh.system"},
    # storage, creating and opening an index (writers are reached through the index object)
    "store": {"whoosh.index", "whoosh.filedb.filestore"},
}
WHOOSH_INTERNALS = {"postings", "match"}


def _whoosh_imports(module: str) -> set[str]:
    tree = ast.parse((REPO / "warcache" / "search" / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "whoosh":  # from whoosh import fields
            found.update(f"whoosh.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("whoosh."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "whoosh")
    return found


def test_modules_with_whoosh_public_api_stay_off_its_internals() -> None:
    for module, allowed in WHOOSH_PUBLIC.items():
        used = _whoosh_imports(module)
        assert used and used <= allowed, (module, used - allowed)
    # and the two that use internals really do (else the contract above should shrink)
    assert all(_whoosh_imports(module) for module in WHOOSH_INTERNALS)


#: What `warcache --help` and each command's `--help` must not import: the browser driver, WARC,
#: index and HTML libraries, and warcache's own layers below the CLI (each command imports them
#: inside its function, so that help, and a typo's error, come at once).
HEAVY = ("playwright", "greenlet", "warcio", "whoosh", "bs4", "lxml", "werkzeug", "waitress", "adblock",
         "yt_dlp", "warcache.capture", "warcache.replay", "warcache.manage", "warcache.index",
         "warcache.search", "warcache.extract", "warcache.warc")

_HELP_OF_EVERY_COMMAND = """
import contextlib, io, json, sys
import click
from warcache.cli import cli

def paths(cmd, path):
    yield path
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from paths(sub, path + [name])

shown = []
for path in paths(cli, []):
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
        cli.main([*path, "--help"], prog_name="warcache", standalone_mode=False)
    shown.append(" ".join(path) if "Usage:" in out.getvalue() else "NO HELP: " + " ".join(path))
print(json.dumps({"shown": shown, "modules": sorted(sys.modules)}))
"""


def test_help_imports_nothing_heavy() -> None:
    proc = subprocess.run([sys.executable, "-c", _HELP_OF_EVERY_COMMAND], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {"add", "login", "export wacz", "replay"} <= set(report["shown"]), report["shown"]
    assert not [s for s in report["shown"] if s.startswith("NO HELP")], report["shown"]
    heavy = [m for m in report["modules"] if m.startswith(HEAVY) and m.split(".")[:2] != ["warcache", "cli"]]
    assert heavy == [], heavy
