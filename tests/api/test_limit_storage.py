"""The limiters' in-process storage: the library's counting, its sweep of old entries once a second."""
from __future__ import annotations

import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.auth import MemoryStorageSweptEachSecond, limit_storage


def test_memory_storage_counts_as_the_library_and_sweeps_once_a_second() -> None:
    ours, theirs = limit_storage("memory://"), MemoryStorage("memory://")
    assert isinstance(ours, MemoryStorageSweptEachSecond)
    rate = parse("3/second")
    time.sleep(0.05)  # the sweep timer each storage starts when made has run
    hits = {name: [MovingWindowRateLimiter(s).hit(rate, "10.0.0.1") for _ in range(5)]
            for name, s in (("ours", ours), ("theirs", theirs))}
    assert hits["ours"] == hits["theirs"] == [True, True, True, False, False]
    # The next sweep was scheduled by the hits: a second away (the library's is 10 ms), on a
    # daemon thread, so no process waits for it at exit.
    assert ours.timer.interval == MemoryStorageSweptEachSecond.SWEEP_S == 1.0
    assert ours.timer.daemon
    time.sleep(1.1)  # the window has passed: a hit counts again, and the sweep frees the old entries
    assert MovingWindowRateLimiter(ours).hit(rate, "10.0.0.1")
    ours._MemoryStorage__expire_events()  # type: ignore[attr-defined]
    assert [len(v) for v in ours.events.values()] == [1]
