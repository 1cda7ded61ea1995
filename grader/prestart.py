"""Pre-started sandboxes: one of each kind waits, so a grade does not wait for bwrap and torch.

A worker's structure checks and verifier come from fork servers instead (grader/forkserver.py)
where cgroups are there; the training sandbox, and those two where they are not, come from here.

A grade's structure checks used to spend ~2.5 s before the student's first line ran: bwrap,
Python, `import torch`, and torch.export's first-use imports. A worker grading one file after
another now starts the next sandbox while it grades: the next grade takes it, ready. Each
sandbox still runs exactly one job and is then killed with its cgroup and folders
(grader/sandbox.py), so nothing of one student's run can reach another's.

Sandboxes are spawned by one background thread, so that a refill never holds up the grade
that asked for it.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Hashable

from grader.per_process import PerProcess
from grader.sandbox import Started

# A sandbox started ahead runs at this niceness until its job: it uses idle CPU only, so a
# grade (or a fine-tune) in progress is not slowed by the next one's start.
BACKGROUND_NICE = 19
MAX_KINDS = 4  # configs kept warm at once (a worker uses three: structure child, verifier, training)


class Prestarter:
    """Sandboxes started ahead, one per key (what was started: entry, limits, inputs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[Hashable, Future[Started]] = {}
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")

    def take(self, key: Hashable, start: Callable[..., Started], *, refill: bool = False) -> Started:
        """A started sandbox for `key` (the waiting one if it is still alive, else a new one).

        `start(nice=N)` starts one (grader/sandbox.py start_sandbox);
        with `refill`, the next one for the same key starts now (else call refill() when the
        current work is past its busiest part: on a small host a start competes for the cores)."""
        with self._lock:
            waiting = self._waiting.pop(key, None)
        started = None
        if waiting is not None:
            try:
                started = waiting.result()
            except Exception:
                started = None  # its start failed: start again below, which raises the error
            if started is not None and not started.alive():
                started.close()
                started = None
        if started is None:
            started = self._spawner.submit(start, nice=0).result()
        if refill:
            self.refill(key, start)
        return started

    def refill(self, key: Hashable, start: Callable[..., Started]) -> None:
        """Start a sandbox for `key` to wait for the next take(), unless one already waits."""
        with self._lock:
            if key in self._waiting:
                return
            while len(self._waiting) >= MAX_KINDS:  # the oldest config is likely not used any more
                oldest = next(iter(self._waiting))
                self._waiting.pop(oldest).add_done_callback(_close_quietly)
            self._waiting[key] = self._spawner.submit(start, nice=BACKGROUND_NICE)

    def close(self) -> None:
        """Kill every waiting sandbox (at exit, and in a forked child, which cannot use them)."""
        with self._lock:
            waiting = list(self._waiting.values())
            self._waiting.clear()
        for future in waiting:
            future.add_done_callback(_close_quietly)


def _close_quietly(future: Future[Started]) -> None:
    try:
        future.result().close()
    except Exception:
        pass


_POOL = PerProcess(Prestarter)


def pool() -> Prestarter:
    """This process's prestarter (made on first use)."""
    return _POOL.get()
