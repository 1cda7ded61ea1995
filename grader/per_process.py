"""One object per process (a pool, a spawner thread), safe across the fork of a Celery pool process."""
from __future__ import annotations

import atexit
import os
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    """One object per process, made on first use: closed at exit, and forgotten without being
    touched in a forked child (a Celery pool process), where its parent's waiting processes and
    spawner thread do not exist; the child makes its own. The pools of grader/prestart.py and
    grader/forkserver.py, the spawner thread of grader/sandbox.py."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: T | None = None
        self._lock = threading.Lock()
        atexit.register(self._shutdown)
        os.register_at_fork(after_in_child=self._forget)

    def get(self) -> T:
        with self._lock:
            if self._made is None:
                self._made = self._make()
            return self._made

    def _shutdown(self) -> None:
        if self._made is not None:
            self._made.close()  # type: ignore[attr-defined]

    def _forget(self) -> None:
        self._made = None
        self._lock = threading.Lock()
