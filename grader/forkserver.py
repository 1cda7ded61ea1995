"""Fork servers: a warmed sandbox per kind of job that forks an isolated process per grade.

Why: a sandbox started per grade costs ~3.7 CPU-s (`import torch`, torch.export's imports, the
first export) before the student's first line runs, and the verifier about as much. Pre-starting
(grader/prestart.py) hides that only when the worker has idle time; with uploads back to back
on two cores the starts themselves made the wait (bench.feedback: p95 6.8 s). A fork server pays
the start once per worker and kind, then each grade gets a fork of it in ~30 ms.

Each fork is as fresh as a new sandbox where it matters (grader/child/forkserver.py says how):
the server never reads a job, so nothing of one student is in what the next fork inherits; a
fork has its own namespaces and tmpfs, no capabilities, and here a cgroup of its own (memory,
pids, normal CPU share) before its job is written to it. The server itself runs in bubblewrap
with the same view and limits as any sandbox, except that /scratch is read-only.

Used for the structure child and the verifier where bubblewrap and cgroups are there and the
grade asked for pre-started sandboxes (a worker, a batch); otherwise grader/prestart.py.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Hashable

import psutil

from grader.cgroups import Cgroup
from grader.per_process import PerProcess
from grader.sandbox import Limits, Outcome, Started, _supervise, bubblewrap, tmpfs_sizes

log = logging.getLogger(__name__)
SUBMISSION = "/submission/resnet50_skeleton.py"  # where each fork writes the student's file
FORK_SECONDS = 30.0  # a fork that has not said hello by then is not coming
MAX_SERVERS = 4


class ForkFailed(RuntimeError):
    """The server did not fork (it died, or its fork could not isolate itself)."""


# Why fork servers are not used in this process any more (a server failed twice in a row to
# start or fork: e.g. nested user namespaces are refused here); grades then start their own.
DISABLED: list[str] = []


def usable() -> bool:
    """Fork servers need bubblewrap (the server's sandbox) and writable cgroups (one per fork)."""
    return not DISABLED and _can_fork()


@lru_cache(maxsize=1)
def _can_fork() -> bool:
    if bubblewrap() is None:
        return False
    probe = Cgroup.create(memory_bytes=1 << 30, max_pids=16)
    if probe is None:
        return False
    probe.remove()
    return True


class _ForkProcess:
    """The grader's handle on one fork (A; its child B, the namespace's init, runs the job in C
    and reports C's exit status on the job socket), shaped like the Popen that
    grader/sandbox.py's supervisor expects: wait, poll, returncode, stdout (the log)."""

    def __init__(self, pid: int, job: socket.socket, log_fd: int) -> None:
        self.pid = pid
        self.job = job
        self.returncode: int | None = None
        self.fault: str | None = None  # our own code's failure before the job ran, as the fork reported it
        self.stdout = os.fdopen(log_fd, "rb")
        self.stdin = None

    # No process group to kill: the job runs in a session of its own inside the fork's namespace;
    # the fork's cgroup is how the grader kills all of it (grader/sandbox.py's supervisor).
    group_id = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.job], [], [], 0)[0]:
            self._read_status()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self.job], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("fork", timeout or 0)
            self._read_status()
        assert self.returncode is not None
        return self.returncode

    def _read_status(self) -> None:
        data = b""
        self.job.settimeout(5)
        try:
            while chunk := self.job.recv(64):
                data += chunk
        except OSError:
            pass
        if data.startswith(b"E"):  # A or B (our code, before the job ran) could not set the fork up
            self.fault = data[1:].decode("utf-8", "replace")[:1000] or "the fork could not be set up"
            self.returncode = 70
            return
        try:
            self.returncode = int(data.decode())
        except ValueError:  # A was killed before it could report (kill, OOM): as its child was
            self.returncode = -signal.SIGKILL


@dataclass
class Forked:
    """One fork waiting for its job; run() hands it the job once, then it is gone (like Started)."""

    proc: _ForkProcess
    read_fd: int
    cgroup: Cgroup
    limits: Limits
    threads: int
    cpu_seconds: int
    inputs: dict[str, str]
    done: Callable[[], None]
    used: bool = False
    _owns_fd: bool = True
    _closed: bool = False
    _closing: threading.Lock = field(default_factory=threading.Lock)  # run's end and the engine's may race

    def alive(self) -> bool:
        return not self.used and self.proc.poll() is None

    def run(self, *, submission: Path | None, job: dict[str, Any],
            on_message: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
        """Like Started.run; raises ForkFailed (and turns fork servers off in this process) when
        the fork reports that our own code failed before the job ran: a grade must not count that
        as the student's crash."""
        assert not self.used, "a fork runs one job"
        self.used = True
        try:
            payload = {"job": {**job, "submission": SUBMISSION if submission is not None else None,
                               "inputs": self.inputs, "threads": self.threads},
                       "source": base64.b64encode(submission.read_bytes()).decode() if submission is not None else None,
                       "cpu_seconds": self.cpu_seconds, "tmpfs_bytes": tmpfs_sizes(self.limits)}
            started = time.perf_counter()  # the limits count from the job
            self._owns_fd = False
            try:
                self.proc.job.sendall(json.dumps(payload).encode())
                self.proc.job.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # it died while waiting: _supervise names how
            outcome = _supervise(self.proc, self.read_fd, self.limits, self.cgroup, started, on_message,  # type: ignore[arg-type]
                                 isolation="bubblewrap (fork server)", cpu_seconds=self.cpu_seconds)
        finally:
            self.close()
        if self.proc.fault is not None:  # ours, not the student's: the caller runs the job elsewhere
            DISABLED.append(self.proc.fault)
            log.warning("fork servers turned off in this process: %s", self.proc.fault)
            raise ForkFailed(f"the fork could not be set up: {self.proc.fault}")
        return outcome

    def close(self) -> None:
        """Kill it (if still there) and remove its cgroup; once (again: nothing)."""
        self.used = True
        with self._closing:
            if self._closed:
                return
            self._closed = True
        self.cgroup.remove()  # kills whatever of the fork is left
        for closing in (self.proc.stdout.close, self.proc.job.close):
            try:
                closing()
            except OSError:
                pass
        if self._owns_fd:
            self._owns_fd = False
            os.close(self.read_fd)
        self.done()


@dataclass
class Server:
    """A started fork server (a Started sandbox in --fork-server mode) and its control socket."""

    started: Started
    control: socket.socket
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    retired: bool = False

    def alive(self) -> bool:
        return self.started.proc.poll() is None

    def fork(self, parent: Cgroup | None = None) -> Forked:
        """A new isolated process, in a cgroup of its own (inside `parent`, whose limits it then
        shares), waiting for its job."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # the kernel tells us A's PID
        msg_r, msg_w = os.pipe()
        log_r, log_w = os.pipe()
        cgroup = None
        try:
            with self.lock:
                socket.send_fds(self.control, [b"F"], [theirs.fileno(), msg_w, log_w])
                self.in_flight += 1
            for fd in (msg_w, log_w):
                os.close(fd)
            theirs.close()
            ours.settimeout(FORK_SECONDS)
            data, ancillary, _, _ = ours.recvmsg(1, socket.CMSG_SPACE(struct.calcsize("iII")))
            creds = [d for level, kind, d in ancillary if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
            if data != b"A" or not creds:
                raise ForkFailed("the fork server's fork did not start: " + _drain(log_r))
            pid = struct.unpack("iII", creds[0][:12])[0]
            limits = self.started.limits
            cgroup = Cgroup.create(memory_bytes=limits.memory_bytes, max_pids=limits.max_processes, parent=parent)
            if cgroup is None:
                raise ForkFailed("no cgroup could be made for the fork")
            cgroup.attach(pid)  # before its job exists: nothing of the student has run yet
            psutil.Process(pid).nice(0)  # the server waits at the background niceness; the job does not
        except BaseException as exc:
            if cgroup is not None:
                cgroup.remove()
            for fd in (msg_r, log_r):
                os.close(fd)
            ours.close()
            self._fork_done()
            if isinstance(exc, (OSError, psutil.Error)):
                raise ForkFailed(f"the fork server could not fork: {exc}") from exc
            raise
        ours.settimeout(None)
        # One thread per fork: a fork's first use of a larger pool cost the verifier 0.9-1.2 s
        # more than one thread did (1.6-1.8 s against 0.73-0.76 s; bench/RESULTS.md, session 12).
        return Forked(proc=_ForkProcess(pid, ours, log_r), read_fd=msg_r, cgroup=cgroup, limits=limits,
                      threads=1, cpu_seconds=self.started.cpu_seconds,
                      inputs=self.started.view["inputs"], done=self._fork_done)

    def _fork_done(self) -> None:
        with self.lock:
            self.in_flight -= 1
            close = self.retired and self.in_flight == 0
        if close:
            self.close()

    def retire(self) -> None:
        """Close now, or when its last fork is done (closing the server kills its forks)."""
        with self.lock:
            self.retired = True
            close = self.in_flight == 0
        if close:
            self.close()

    def close(self) -> None:
        try:
            self.control.close()
        except OSError:
            pass
        self.started.close()


def _drain(fd: int) -> str:
    out = b""
    while select.select([fd], [], [], 0.5)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        out += chunk
    return out.decode("utf-8", "replace")[-2000:] or "(no output)"


def start_server(start: Callable[..., Started], nice: int) -> Server:
    """Start a server with `start(nice=, serve_fd=)` (grader/sandbox.py start_sandbox) and wait
    until it is warm."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        started = start(nice=nice, serve_fd=theirs.fileno())
    finally:
        theirs.close()
    ours.settimeout(started.limits.wall_seconds + 120)  # its warm-up is a grade's start, at most
    try:
        warm = ours.recv(1)
    except OSError:
        warm = b""
    if warm != b"W":
        log = started.proc.stdout.read1(65536) if started.proc.poll() is not None and started.proc.stdout else b""
        started.close()
        ours.close()
        raise ForkFailed("the fork server did not start: " + (log.decode("utf-8", "replace")[-2000:] or "(no output)"))
    ours.settimeout(None)
    return Server(started=started, control=ours)


class Pool:
    """One fork server per key (what it was started with: entry, limits, inputs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[Hashable, Future[Server]] = {}
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fork-server-spawner")

    def ensure(self, key: Hashable, start: Callable[..., Started], nice: int = 19) -> Future[Server]:
        """The server for `key`, started now (in the background, at `nice`) if there is none."""
        with self._lock:
            future = self._servers.get(key)
            if future is not None and (not future.done() or _healthy(future)):
                return future
            if future is not None:
                future.add_done_callback(_retire_quietly)
            while len(self._servers) >= MAX_SERVERS:
                self._servers.pop(next(iter(self._servers))).add_done_callback(_retire_quietly)
            future = self._spawner.submit(start_server, start, nice)
            self._servers[key] = future
            return future

    def fork(self, key: Hashable, start: Callable[..., Started], parent: Cgroup | None = None) -> Forked:
        """A fork of the server for `key` (started now if there is none; once again if it died),
        in a cgroup inside `parent` where given."""
        try:
            return self._fork_once(key, start, parent)
        except ForkFailed:
            pass
        try:
            return self._fork_once(key, start, parent)
        except ForkFailed as exc:
            DISABLED.append(str(exc))
            log.warning("fork servers turned off in this process: %s", exc)
            raise

    def _fork_once(self, key: Hashable, start: Callable[..., Started], parent: Cgroup | None) -> Forked:
        future = self.ensure(key, start)
        try:
            return future.result().fork(parent)
        except ForkFailed:
            with self._lock:
                if self._servers.get(key) is future:
                    del self._servers[key]
            future.add_done_callback(_retire_quietly)
            raise

    def close(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for future in servers:
            future.add_done_callback(_retire_quietly)


def _healthy(future: Future[Server]) -> bool:
    try:
        return future.result().alive()
    except Exception:
        return False


def _retire_quietly(future: Future[Server]) -> None:
    try:
        future.result().retire()
    except Exception:
        pass


_POOL = PerProcess(Pool)


def pool() -> Pool:
    """This process's fork servers (made on first use)."""
    return _POOL.get()
