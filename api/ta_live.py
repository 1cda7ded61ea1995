"""The TA overview's live queue: one snapshot per API process, shared by every open TA stream.

A handful of TAs watch the queue, not thousands of students, but the deadline is when the
queue is long and the database busy: the snapshot (three queries) is taken at most once per
interval whatever the number of streams, and streams are capped per process.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool

KEEP_ALIVE_S = 15.0


class TooManyTaStreams(Exception):
    pass


class QueueFeed:
    def __init__(self, snapshot: Callable[[], dict[str, Any]], *, interval_s: float = 2.0, max_streams: int = 16,
                 max_stream_s: float = 3600.0) -> None:
        self.snapshot = snapshot
        self.interval_s = interval_s
        self.max_streams = max_streams
        self.max_stream_s = max_stream_s
        self.open_streams = 0
        self.reads = 0  # snapshots taken (a test checks that streams share them)
        self._value: str | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def current(self) -> str:
        async with self._lock:
            if self._value is None or time.monotonic() - self._at >= self.interval_s:
                self._value = json.dumps(await run_in_threadpool(self.snapshot), default=str)
                self._at = time.monotonic()
                self.reads += 1
            return self._value

    def open(self) -> None:
        if self.open_streams >= self.max_streams:
            raise TooManyTaStreams(f"{self.max_streams} live queue views are open on this server; "
                                   "reload the page to see the queue as it is now.")
        self.open_streams += 1

    async def events(self) -> AsyncIterator[str]:
        """`data:` lines when the queue changes, a comment line now and then to keep proxies open."""
        try:
            last, quiet, started = None, 0.0, time.monotonic()
            while time.monotonic() - started < self.max_stream_s:
                text = await self.current()
                if text != last:
                    last, quiet = text, 0.0
                    yield f"data: {text}\n\n"
                elif quiet >= KEEP_ALIVE_S:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(self.interval_s)
                quiet += self.interval_s
        finally:
            self.open_streams -= 1
