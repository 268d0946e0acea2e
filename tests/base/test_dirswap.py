"""dirswap: every state a killed rewrite can leave is finished or undone by the next opener, and
the collection lock keeps writers and a rewrite apart. The collections here are plain directories
with a marker file: what is checked is which directory ends up live, not what is in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from warcache import dirswap
from warcache.collection import list_collections, open_collection
from warcache.errors import ArchiveError, UsageError

NAME = "coll"


def _collection(path: Path, marker: str) -> None:
    (path / "archive").mkdir(parents=True)
    (path / "marker").write_text(marker)


def _live(collections: Path) -> str:
    return (collections / NAME / "marker").read_text()


@pytest.fixture
def collections(tmp_path: Path) -> Path:
    base = tmp_path / "collections"
    _collection(base / NAME, "old")
    return base


def _built(collections: Path) -> Path:
    """A rewrite begun and its new collection built (not committed)."""
    root = dirswap.begin(collections, NAME)
    _collection(root / "collections" / NAME, "new")
    return root


def _journal(collections: Path) -> None:
    (dirswap.work_dir(collections, NAME) / dirswap.JOURNAL).write_text("{}")


def test_a_commit_swaps_the_new_collection_in_and_leaves_nothing_behind(collections):
    with dirswap.rewriting(collections, NAME):
        _built(collections)
        assert _live(collections) == "old"  # built beside it, the live one untouched
        dirswap.commit(collections, NAME, {"command": "test"})
    assert _live(collections) == "new"
    assert not dirswap.work_dir(collections, NAME).exists()
    assert sorted(p.name for p in collections.iterdir()) == [f".{NAME}.lock", NAME]


def test_killed_while_building_is_undone(collections):
    _built(collections)
    assert "undid" in dirswap.recover_if_idle(collections, NAME)
    assert _live(collections) == "old" and not dirswap.work_dir(collections, NAME).exists()


def test_killed_after_the_journal_is_finished(collections):
    _built(collections)
    _journal(collections)
    assert "finished" in dirswap.recover_if_idle(collections, NAME)
    assert _live(collections) == "new" and not dirswap.work_dir(collections, NAME).exists()


def test_killed_between_the_two_renames_is_finished(collections):
    _built(collections)
    _journal(collections)
    os.rename(collections / NAME, dirswap.work_dir(collections, NAME) / "old")
    assert not (collections / NAME).exists()
    # the collection is missing: listing the collections finishes the swap and finds it
    assert list_collections(collections.parent) == [NAME]
    assert _live(collections) == "new" and not dirswap.work_dir(collections, NAME).exists()


def test_killed_after_the_second_rename_is_finished(collections):
    root = _built(collections)
    _journal(collections)
    os.rename(collections / NAME, dirswap.work_dir(collections, NAME) / "old")
    os.rename(root / "collections" / NAME, collections / NAME)
    open_collection(collections.parent, NAME)
    assert _live(collections) == "new" and not dirswap.work_dir(collections, NAME).exists()


def test_killed_while_cleaning_up_leaves_the_new_collection(collections):
    root = _built(collections)
    os.rename(collections / NAME, dirswap.work_dir(collections, NAME) / "old")
    os.rename(root / "collections" / NAME, collections / NAME)  # journal already removed
    assert "left behind" in dirswap.recover_if_idle(collections, NAME)
    assert _live(collections) == "new" and not dirswap.work_dir(collections, NAME).exists()


def test_a_state_that_cannot_be_understood_deletes_nothing(collections):
    _built(collections)
    shutil.rmtree(collections / NAME)  # no journal and no live collection: not a state a kill leaves
    with pytest.raises(ArchiveError, match="nothing was deleted"):
        dirswap.recover_if_idle(collections, NAME)
    assert (dirswap.staging_root(collections, NAME) / "collections" / NAME / "marker").exists()


def test_a_live_rewrite_is_not_touched_by_openers(collections):
    with dirswap.rewriting(collections, NAME):
        _built(collections)
        assert dirswap.recover_if_idle(collections, NAME) is None  # (another descriptor: refused)
        open_collection(collections.parent, NAME)
        assert dirswap.work_dir(collections, NAME).exists()
        dirswap.abandon(collections, NAME)
    assert _live(collections) == "old"


def test_writers_and_a_rewrite_keep_apart(collections):
    busy = pytest.raises(UsageError, match="in use by another warcache command")
    writer, another = dirswap.writing(collections, NAME), dirswap.writing(collections, NAME)
    with writer, another, busy, dirswap.rewriting(collections, NAME):  # writers share; a rewrite is refused
        pass
    with dirswap.rewriting(collections, NAME):
        started = time.monotonic()
        waited = pytest.raises(UsageError, match="being rewritten by `warcache forget`")
        with waited, dirswap.writing(collections, NAME, wait=0.3):
            pass
        assert time.monotonic() - started >= 0.3
        with pytest.raises(UsageError), dirswap.rewriting(collections, NAME):
            pass


def test_a_writer_waits_for_a_rewrite_and_then_sees_the_new_collection(collections):
    entered: list[str] = []

    def writer() -> None:
        with dirswap.writing(collections, NAME, wait=20):
            entered.append(_live(collections))

    with dirswap.rewriting(collections, NAME):
        _built(collections)
        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.5)
        assert entered == []  # still waiting
        dirswap.commit(collections, NAME, {})
    thread.join(20)
    assert entered == ["new"]


FORKS = """
import os, sys, time
from pathlib import Path
from warcache import dirswap
c = Path(sys.argv[1])
with (dirswap.rewriting if sys.argv[2] == "rewrite" else dirswap.writing)(c, "coll"):
    pid = os.fork()  # as the full-text index's writer processes are forked
    if pid == 0:
        os.close(1)  # (so that the test does not wait for it to end to read its parent's output)
        os.close(2)
        time.sleep(60)
        os._exit(0)
    print(pid, flush=True)
    time.sleep(0.5)
    os._exit(137)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("kind", ["rewrite", "write"])
def test_a_forked_child_does_not_keep_a_killed_commands_lock(collections, kind):
    died = subprocess.run([sys.executable, "-c", FORKS, str(collections), kind], capture_output=True,
                          text=True, timeout=30)
    assert died.returncode == 137, died.stderr
    child = int(died.stdout.split()[0])
    try:
        deadline = time.monotonic() + 5
        if kind == "rewrite":  # killed with its parent: nothing of a killed rewrite lingers
            while _alive(child) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(child)
        else:
            assert _alive(child)  # a writer's children are left alone, but not with its lock
        with dirswap.rewriting(collections, NAME):
            pass
    finally:
        if _alive(child):
            os.kill(child, 9)


def test_the_lock_of_a_killed_rewrite_is_released_and_its_work_finished(collections):
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from warcache import dirswap\n"
        "c = Path(sys.argv[1])\n"
        "with dirswap.rewriting(c, 'coll'):\n"
        "    root = dirswap.begin(c, 'coll')\n"
        "    (root / 'collections' / 'coll' / 'archive').mkdir(parents=True)\n"
        "    (root / 'collections' / 'coll' / 'marker').write_text('new')\n"
        "    (dirswap.work_dir(c, 'coll') / 'journal.json').write_text('{}')\n"
        "    os._exit(137)\n")
    died = subprocess.run([sys.executable, "-c", script, str(collections)], capture_output=True, text=True)
    assert died.returncode == 137, died.stderr
    with dirswap.writing(collections, NAME, wait=5):
        assert _live(collections) == "new"
