"""The TA queue feed: streams share one snapshot per interval; the cap holds."""
from __future__ import annotations

import asyncio

import pytest

from api.ta_live import QueueFeed, TooManyTaStreams


def test_streams_share_snapshots_and_are_capped() -> None:
    calls = []

    def snapshot() -> dict:
        calls.append(1)
        return {"queued": len(calls)}

    feed = QueueFeed(snapshot, interval_s=60, max_streams=2)

    async def two_streams() -> list[str]:
        feed.open()
        feed.open()
        with pytest.raises(TooManyTaStreams):
            feed.open()
        a, b = feed.events(), feed.events()
        first = [await a.__anext__(), await b.__anext__()]
        await a.aclose()
        await b.aclose()
        return first

    first = asyncio.run(two_streams())
    assert first == ['data: {"queued": 1}\n\n'] * 2 and feed.reads == 1
    assert feed.open_streams == 0  # closing a stream gives its place back
