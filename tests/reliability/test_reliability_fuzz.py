"""Fuzzing the WARC reading that import and replay rely on, with real files made by other tools.

Seeds are WARC and ARC files from ../shared/corpora/warcs (webrecorder/warcio and warcio.js test
data, iipc/jwarc and iipc/webarchive-commons test resources; see that folder's README for commits
and licences). Hypothesis mutates them (flipped, inserted, deleted and duplicated bytes, cut
files, and for gzip files the same inside the decompressed data) and each variant goes through:

* what `warcache import` does: sniffing the file, then reading every record, indexing it for the
  URL index and extracting its pages (`indexer.index_file`);
* what replay does: the records its index lines name, read back alone (`read_record_at`) and
  served by the replay application in-process, raw (`id_`) and rewritten.

The only error allowed is ArchiveError (a clean, one-line refusal), and no variant may take more
than 10 s. WARCACHE_FUZZ_EXAMPLES sets the number of examples (300 by default; the report in
docs/reliability.md used 2000).
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import SHARED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from warcache.collection import Collection
from warcache.errors import ArchiveError
from warcache.index.cdxj import CdxjIndex
from warcache.index.postprocess import index_file
from warcache.replay import make_app
from warcache.warc.reader import WarcReader, read_record_at

pytestmark = [pytest.mark.slow]

CORPUS = SHARED / "corpora" / "warcs"
SEEDS = [
    "warcio/data/example.warc.gz", "warcio/data/example.warc", "warcio/data/example-iana.org-chunked.warc",
    "warcio/data/example.arc.gz", "warcio/data/example.arc", "warcio/data/post-test.warc.gz",
    "warcio/data/example-resource.warc.gz", "warcio.js/data/redirect.warc", "jwarc/cc.warc.gz",
    "webarchive-commons/mutliple-headers.warc",
]
EXAMPLES = int(os.environ.get("WARCACHE_FUZZ_EXAMPLES", "300"))
REPLAY = "http://f.localhost:18081"  # collection "f" on its own host name

if not CORPUS.is_dir():
    pytest.skip(f"shared WARC corpus not found at {CORPUS} (set WARCACHE_SHARED)", allow_module_level=True)
_SEED_BYTES = {name: (CORPUS / name).read_bytes() for name in SEEDS}


@st.composite
def variants(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(SEEDS))
    data = _SEED_BYTES[name]
    inner = name.endswith(".gz") and draw(st.booleans())
    if inner:
        data = gzip.decompress(data)
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        if not buf:
            break
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "duplicate", "cut"]))
        at = draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            buf[at] = draw(st.sampled_from([0, 10, 13, 32, 48, 57, 58, 255]))
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif op == "delete":
            del buf[at: at + draw(st.integers(1, 200))]
        elif op == "duplicate":
            buf[at:at] = buf[at: at + draw(st.integers(1, 400))]
        else:
            del buf[at:]
    out = bytes(buf)
    if inner:
        out = gzip.compress(out)
    return name, out


@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in this (main) thread if the block runs longer than `seconds`."""

    def alarm(_signum, _frame):
        raise TimeoutError(f"took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


OUTCOMES: dict[str, int] = {"refused": 0, "indexed": 0, "replayed": 0}


def _exercise(root: Path, name: str, data: bytes) -> None:
    coll = Collection(root, "f")
    shutil.rmtree(coll.path, ignore_errors=True)
    coll.create()
    suffix = name.rsplit("/", 1)[-1].split(".", 1)[1]
    path = coll.archive_dir / f"fuzz.{suffix}"
    path.write_bytes(data)
    try:
        WarcReader(path)  # import refuses what is not an archive at all
        result = index_file(coll, path)
    except ArchiveError:
        OUTCOMES["refused"] += 1
        return
    OUTCOMES["indexed"] += 1
    index = CdxjIndex(coll.indexes_dir)
    try:
        index.add(result.lines)
    finally:
        index.close()
    app = make_app(root, ui_port=18080, replay_port=18081)
    try:
        client = Client(app)
        for line in result.lines[:8]:
            with suppress(ArchiveError):
                read_record_at(path, line.offset).raw_stream.read()
            target = quote(line.url, safe=":/?&=%@!$'()*+,;~")
            for mod in ("id_", ""):
                response = client.get(f"{REPLAY}/f/{line.timestamp}{mod}/{target}",
                                      headers={"Sec-Fetch-Mode": "no-cors"})
                assert 200 <= response.status_code < 600
                response.close()
                OUTCOMES["replayed"] += 1
    finally:
        app.close()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(variant=variants())
def test_mutated_real_warcs_are_read_or_refused_cleanly(tmp_path, variant):
    name, data = variant
    with time_limit(10):
        _exercise(tmp_path, name, data)


def test_the_fuzzing_reached_replay():
    """(Runs after the fuzz test in this module: many variants must get past the reader, or the
    fuzzing tests little.)"""
    if OUTCOMES["indexed"] == 0:
        pytest.skip("the fuzz test did not run")
    print(OUTCOMES)
    assert OUTCOMES["indexed"] * 4 >= EXAMPLES and OUTCOMES["replayed"] * 10 >= EXAMPLES
