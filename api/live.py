"""Live progress for the result pages: one watcher per API process feeds every open stream.

Each Server-Sent-Events stream used to poll the database twice a second on its own: 3000
open streams slowed `GET /` from 29 ms to ~3 s. Here one task per process reads every
watched submission in one query per tick and wakes only the streams whose row changed;
streams are capped per submission and per client address so that no one can open
thousands. Hand-written (asyncio, ~100 lines): an SSE library would still need this fan-out,
and a database NOTIFY or Redis pub/sub would not work with the embedded SQLite setup.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool

from storage.db import session_scope
from storage.models import Submission
from storage.watch import submissions_by_id

log = logging.getLogger(__name__)
Render = Callable[[Submission], dict[str, Any]]
KEEP_ALIVE_S = 15.0
MAX_STREAM_S = 24 * 3600.0


class TooManyStreams(Exception):
    """A cap was reached; the message says which, in words for the student."""


@dataclass(eq=False)
class _Stream:
    submission_id: str
    client: str
    last: str | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Notifier:
    """Per-process watcher of the submissions that open streams follow."""

    def __init__(self, database_url: str, render: Render, *, per_submission: int, per_client: int,
                 interval_s: float = 0.5) -> None:
        self.database_url = database_url
        self.render = render
        self.per_submission = per_submission
        self.per_client = per_client
        self.interval_s = interval_s
        self._streams: dict[str, set[_Stream]] = {}
        self._by_client: dict[str, int] = {}
        self._texts: dict[str, str] = {}
        self._task: asyncio.Task | None = None
        self.polls = 0  # database reads so far (the benchmark prints it)

    def open(self, submission_id: str, client: str, first: dict[str, Any]) -> _Stream:
        watching = self._streams.get(submission_id, set())
        if len(watching) >= self.per_submission:
            raise TooManyStreams(f"This submission already has {len(watching)} live views open; close one "
                                 "(the page refreshes itself every 10 s instead).")
        if self._by_client.get(client, 0) >= self.per_client:
            raise TooManyStreams(f"This address already has {self.per_client} live views open; close some "
                                 "tabs (the page refreshes itself every 10 s instead).")
        stream = _Stream(submission_id, client, last=json.dumps(first))
        self._streams.setdefault(submission_id, set()).add(stream)
        self._by_client[client] = self._by_client.get(client, 0) + 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())
        return stream

    def close(self, stream: _Stream) -> None:
        watching = self._streams.get(stream.submission_id)
        if watching is None or stream not in watching:
            return
        watching.discard(stream)
        if not watching:
            del self._streams[stream.submission_id]
            self._texts.pop(stream.submission_id, None)
        left = self._by_client[stream.client] - 1
        if left:
            self._by_client[stream.client] = left
        else:
            del self._by_client[stream.client]

    def open_streams(self) -> int:
        return sum(len(s) for s in self._streams.values())

    async def _watch(self) -> None:
        """Until no stream is left: read every watched row in one query, wake the changed ones."""
        while self._streams:
            ids = list(self._streams)
            try:
                texts = await run_in_threadpool(self._read, ids)
            except Exception:  # a database hiccup: the streams wait for the next tick, not forever
                log.exception("live progress: reading %d submissions failed", len(ids))
                await asyncio.sleep(self.interval_s)
                continue
            self.polls += 1
            for sid, text in texts.items():
                if self._texts.get(sid) != text:
                    self._texts[sid] = text
                    for stream in self._streams.get(sid, ()):
                        stream.changed.set()
            await asyncio.sleep(self.interval_s)

    def _read(self, ids: list[str]) -> dict[str, str]:
        with session_scope(self.database_url) as session:
            return {sub.id: json.dumps(self.render(sub)) for sub in submissions_by_id(session, ids=ids)}

    async def events(self, stream: _Stream, *, final: Callable[[dict[str, Any]], bool]) -> AsyncIterator[str]:
        """The stream's `data:` lines: the state at once, then each change, until it is final."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + MAX_STREAM_S
        try:
            assert stream.last is not None
            yield f"data: {stream.last}\n\n"
            if final(json.loads(stream.last)):
                return
            while loop.time() < ends:
                try:
                    await asyncio.wait_for(stream.changed.wait(), KEEP_ALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                stream.changed.clear()
                text = self._texts.get(stream.submission_id)
                if text is None:  # the row is gone
                    return
                if text != stream.last:
                    stream.last = text
                    yield f"data: {text}\n\n"
                    if final(json.loads(text)):
                        return
        finally:
            self.close(stream)
