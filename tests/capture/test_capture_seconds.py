"""Two captures of one URL in one run never share a 14-digit timestamp.

A capture is named by its URL and its second (page list, full-text index, replay, calendar), so
the archiver (DistinctSeconds) starts a second capture of a URL begun in the same second a little
later. The end-to-end case is the shared capture, which has /final.html twice in one `-j 2` run
(tests/search/test_search_cli.py counts its two captures); here the waiting itself is checked.
"""

from __future__ import annotations

import asyncio
import time

from warcache.capture.archiver import DistinctSeconds


def test_the_same_url_twice_starts_in_two_seconds_and_other_urls_do_not_wait() -> None:
    seconds = DistinctSeconds()

    async def starts() -> list[float]:
        seen = []
        for url in ("http://a.test/", "http://b.test/", "http://a.test/", "http://a.test/"):
            await seconds.wait(url)
            seen.append(time.time())
        return seen

    a1, b, a2, a3 = asyncio.run(starts())
    assert int(a1) != int(a2) != int(a3)
    assert b - a1 < 0.05 or int(b) != int(a1)  # another URL goes ahead at once (unless at a second's edge)
    assert a3 - a1 < 2.1  # it waits for the next second, no longer


def test_a_second_another_worker_took_is_not_taken() -> None:
    """Capture workers share the seconds of a URL through their broker (worker.claim_second): a
    second someone else claimed is skipped; the same claims decide, whatever each run has seen."""
    taken: set[tuple[str, int]] = set()
    asked: list[tuple[str, int]] = []

    async def claim(url: str, second: int) -> bool:
        asked.append((url, second))
        if (url, second) in taken:
            return False
        taken.add((url, second))
        return True

    async def starts() -> list[float]:
        one, other = DistinctSeconds(claim=claim), DistinctSeconds(claim=claim)  # two workers
        seen = []
        for seconds in (one, other, other):
            await seconds.wait("http://a.test/")
            seen.append(time.time())
        await other.wait("http://b.test/")
        seen.append(time.time())
        return seen

    first, second, third, b = asyncio.run(starts())
    assert len({int(first), int(second), int(third)}) == 3  # one second each, across the two
    assert third - first < 3.1
    assert ("http://b.test/", int(b)) in taken and asked[-1] == ("http://b.test/", int(b))


def test_concurrent_waits_take_turns_even_when_every_claim_is_granted() -> None:
    """Two pages of one URL at once in one worker (-j 2), the broker away (its claims all say yes):
    still two seconds."""
    async def yes(url: str, second: int) -> bool:
        await asyncio.sleep(0.01)
        return True

    seconds = DistinctSeconds(claim=yes)

    async def one() -> float:
        await seconds.wait("http://a.test/")
        return time.time()

    async def both() -> list[float]:
        return list(await asyncio.gather(one(), one()))

    first, second = asyncio.run(both())
    assert int(first) != int(second)


def test_a_claim_that_does_not_answer_is_not_waited_for() -> None:
    async def stuck(url: str, second: int) -> bool:
        await asyncio.sleep(30)
        return False

    seconds = DistinctSeconds(claim=stuck)
    start = time.monotonic()
    asyncio.run(seconds.wait("http://a.test/"))
    assert time.monotonic() - start < 2  # the claim's bound, and at most a second's edge
