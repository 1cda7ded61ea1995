"""Where the test suite's CPU goes: CPU seconds per test, per module and per kind of process.

The full suite is bound by CPU work on the 2-core machines (the cores ~90 % busy, tests/README.md),
so a test's wall time says little (a wait hands its core to the other worker); what it costs is
the CPU of everything it starts. This runs pytest with a plugin that logs each test's start and
end per xdist worker, samples every process's utime + stime from /proc twice a second, and gives
each sample's CPU to the test running on the worker the process descends from (services, CLIs,
sandboxes and their forks all descend from the worker that started them).

    .venv/bin/python -m bench.suite_cpu [--top 40] [-- PYTEST ARGS]   (default: the whole suite, -n 3)

Processes that live under 0.5 s between two samples are missed (forks of a fork server: the
bench's "attributed" total is ~90 % of the busy CPU /proc/stat reports). Prints the tables (by
kind, role, module, module and role, test), the machine's idle CPU per minute (where the cores
waited: both workers in a wait at once, a worker left without work at the end), then one JSON line.
"""
from __future__ import annotations

import argparse
import bisect
import functools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import psutil

from bench._common import REPO, emit

TIMELINE_ENV = "AUTOGRADER_SUITE_CPU_TIMELINE"
HZ = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- pytest plugin (-p bench.suite_cpu)

def _log(what: str, nodeid: str) -> None:
    path = os.environ.get(TIMELINE_ENV)
    if path:  # a plain run that loads the plugin logs nothing
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{time.time():.3f} {os.getpid()} {what} {nodeid}\n")


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    _log("start", nodeid)


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    _log("end", nodeid)


# --------------------------------------------------------------------------- sampling

@dataclass(frozen=True)
class Sample:
    """One process seen at one time: its CPU so far (clock ticks)."""
    t: float
    pid: int
    ppid: int
    ticks: int
    started: int  # start time in ticks: a reused pid is another process
    name: str


def read_proc() -> list[Sample]:
    """Every process now: its CPU so far, parent and name (psutil; one that ends meanwhile is skipped)."""
    now = time.time()
    out = []
    for p in psutil.process_iter(["ppid", "cpu_times", "create_time", "name"]):
        info = p.info
        if info["cpu_times"] is None or info["create_time"] is None:
            continue  # ended, or not ours to read
        ticks = round((info["cpu_times"].user + info["cpu_times"].system) * HZ)
        out.append(Sample(now, p.pid, info["ppid"] or 0, ticks, round(info["create_time"] * HZ), info["name"] or ""))
    return out


def _command(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


# What a process is, from its command line (first match); a fork of a fork server has its
# server's command line and a parent with the same one.
ROLES = [
    ("--warm-up=train", "training sandbox"),
    ("verify_main.py", "verifier"),
    ("child/main.py", "structure sandbox"),
    ("papers/sandbox_main.py", "report sandbox"),
    (" celery ", "Celery"),
    ("uvicorn", "uvicorn"),
    ("grader.cli", "grader CLI"),
    ("grader/cli.py", "grader CLI"),
    ("service.cli", "service CLI"),
    ("bench.", "bench"),
    ("chrom", "Chromium"),
    ("redis-server", "Redis"),
    ("pip", "pip"),
]


def role_of(command: str, parent_command: str | None) -> str:
    if command.split(" ", 1)[0].endswith("bwrap"):  # its arguments name the sandbox's command
        return "bubblewrap"
    for needle, role in ROLES:
        if needle in command:
            if "--fork-server" in command:
                return role + (" fork" if parent_command == command else " fork server")
            return role
    return "other"


class Sampler:
    """A thread reading /proc every `every` seconds until stopped."""

    def __init__(self, every: float = 0.5) -> None:
        self.samples: list[Sample] = []
        self.commands: dict[tuple[int, int], str] = {}  # (pid, started) -> its command line
        self.machine: list[tuple[float, list[int]]] = []  # (time, _stat()) at each sample: where the cores idled
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last: dict[tuple[int, int], int] = {}
        while not self._stop.is_set():
            self.machine.append((time.time(), _stat()))
            for s in read_proc():
                if last.get((s.pid, s.started)) != s.ticks:  # only what changed: the log stays small
                    if (s.pid, s.started) not in last:
                        self.commands[(s.pid, s.started)] = _command(s.pid)
                    last[(s.pid, s.started)] = s.ticks
                    self.samples.append(s)
            self._stop.wait(self._every)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- attribution

def read_timeline(lines: Iterable[str]) -> dict[int, list[tuple[float, float, str]]]:
    """Per pid that logged tests: (start, end, test id) of each test it ran, in order. Under
    xdist the controller logs every test too; it starts no test's processes, and those under
    a worker stop at the worker (see attribute)."""
    open_at: dict[int, tuple[float, str]] = {}
    runs: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    for line in lines:
        t, pid, what, nodeid = line.rstrip("\n").split(" ", 3)
        nodeid = nodeid.split("@", 1)[0]  # xdist's group suffix
        if what == "start":
            open_at[int(pid)] = (float(t), nodeid)
        elif int(pid) in open_at and open_at[int(pid)][1] == nodeid:
            begun = open_at.pop(int(pid))[0]
            runs[int(pid)].append((begun, float(t), nodeid))
    return {pid: sorted(r) for pid, r in runs.items()}


def attribute(samples: list[Sample], runs: dict[int, list[tuple[float, float, str]]],
              grace: float = 1.0, commands: dict[tuple[int, int], str] | None = None) -> dict[str, Counter]:
    """CPU seconds per test, per module and per kind of process ("pytest worker", "sandbox":
    under bubblewrap, "other": services, CLIs, benches, browsers), and "unattributed" for what
    does not descend from a worker that logged tests (the machine's own, the bootstrap); with
    `commands` ((pid, start) -> command line), also per role (ROLES: fork servers, their forks,
    cold sandboxes, verifiers, Celery, uvicorn, CLIs, ...).

    A process first seen after the first sample counts all its CPU; one there from the start,
    only what it used since. A sample up to `grace` s after a test's end is that test's (the
    sampling interval, and the teardown's last processes)."""
    parent: dict[int, int] = {}
    name: dict[int, str] = {}
    for s in samples:
        parent.setdefault(s.pid, s.ppid)
        name.setdefault(s.pid, s.name)
    first_t = samples[0].t if samples else 0.0
    starts = {pid: [r[0] for r in r_] for pid, r_ in runs.items()}

    @functools.cache  # the process tree is read whole above: one walk per pid, not per sample
    def lineage(pid: int) -> tuple[int | None, bool]:
        """(the worker it descends from, whether bubblewrap is on the way)."""
        sandboxed, seen = False, 0
        while pid not in runs and pid in parent and seen < 64:
            sandboxed = sandboxed or name.get(pid) == "bwrap"
            pid, seen = parent[pid], seen + 1
        return (pid if pid in runs else None), sandboxed

    per_test: Counter = Counter()
    per_module: Counter = Counter()
    per_kind: Counter = Counter()
    per_role: Counter = Counter()
    per_module_role: Counter = Counter()
    command_of_pid = {pid: cmd for (pid, _), cmd in (commands or {}).items()}
    last: dict[tuple[int, int], int] = {}
    for s in samples:
        before = last.get((s.pid, s.started))
        if before is None:
            before = s.ticks if s.t <= first_t else 0
        last[(s.pid, s.started)] = s.ticks
        used = (s.ticks - before) / HZ
        if used <= 0:
            continue
        worker, sandboxed = lineage(s.pid)
        if worker is None:
            per_kind["unattributed"] += used
            continue
        per_kind["pytest worker" if s.pid == worker else "sandbox" if sandboxed else "other"] += used
        if commands is not None:
            role = "pytest worker" if s.pid == worker else role_of(
                commands.get((s.pid, s.started), ""), command_of_pid.get(parent.get(s.pid, -1)))
            per_role[role] += used
        i = bisect.bisect_right(starts[worker], s.t) - 1
        begun, ended, test = runs[worker][i] if i >= 0 else (0.0, 0.0, "")
        test = test if i >= 0 and s.t <= ended + grace else "(between tests)"
        per_test[test] += used
        per_module[test.split("::", 1)[0]] += used
        if commands is not None:
            per_module_role[f"{test.split('::', 1)[0]}  [{role}]"] += used
    return {"test": per_test, "module": per_module, "kind": per_kind, "role": per_role,
            "module and role": per_module_role}


def idle_windows(machine: list[tuple[float, list[int]]], window: float = 60.0) -> list[tuple[float, float]]:
    """(seconds from the first read, idle CPU seconds) per `window` of the run: where the cores
    waited (the start, sleeps, a worker left without work at the end)."""
    out: list[tuple[float, float]] = []
    if not machine:
        return out
    t0, first = machine[0]
    begin, before = t0, first
    for i, (t, stat) in enumerate(machine[1:], start=1):
        if t - begin >= window or i == len(machine) - 1:
            out.append((round(begin - t0, 1), round(idle_seconds(before, stat), 1)))
            begin, before = t, stat
    return out


def worker_tails(runs: dict[int, list[tuple[float, float, str]]]) -> dict[int, float]:
    """Per worker that ran tests: seconds from its last test's end to the last test's end of all
    (a worker left without work while the other finishes its queue)."""
    ends = {pid: r[-1][1] for pid, r in runs.items() if r}
    last = max(ends.values(), default=0.0)
    return {pid: round(last - end, 1) for pid, end in ends.items()}


def idle_seconds(before: list[int], after: list[int]) -> float:
    """CPU seconds the machine was idle (idle + iowait) between two reads of _stat (/proc/stat's first line)."""
    return ((after[3] + after[4]) - (before[3] + before[4])) / HZ


def busy_seconds(before: list[int], after: list[int]) -> float:
    """CPU seconds the machine was busy between two reads of _stat."""
    return (sum(after) - sum(before)) / HZ - idle_seconds(before, after)


def _stat() -> list[int]:
    """The machine's CPU times so far in ticks, in /proc/stat's order (user, nice, system, idle, iowait, ...)."""
    return [round(x * HZ) for x in psutil.cpu_times()[:8]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=40, help="tests and modules to list")
    parser.add_argument("pytest_args", nargs="*", help="after --: pytest's arguments (default: -n 3 --dist loadgroup)")
    args = parser.parse_args()
    pytest_args = args.pytest_args or ["-n", "3", "--dist", "loadgroup"]  # as scripts/test.sh
    with tempfile.TemporaryDirectory(prefix="suite-cpu-") as tmp:
        timeline = Path(tmp) / "timeline.log"
        env = {**os.environ, TIMELINE_ENV: str(timeline)}
        stat_before, started = _stat(), time.monotonic()
        with Sampler() as sampler:
            code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "bench.suite_cpu", *pytest_args],
                                   cwd=REPO, env=env)
        wall, busy = time.monotonic() - started, busy_seconds(stat_before, _stat())
        runs = read_timeline(timeline.read_text(encoding="utf-8").splitlines() if timeline.exists() else [])
    found = attribute(sampler.samples, runs, commands=sampler.commands)
    for what in ("kind", "role", "module", "module and role", "test"):
        print(f"\nCPU seconds by {what}:")
        for key, cpu in found[what].most_common(args.top):
            print(f"{cpu:8.1f}  {key}")
    windows = idle_windows(sampler.machine)
    print("\nIdle CPU seconds per minute of the run (from its start):")
    print("  " + "  ".join(f"{int(t) // 60}:{idle:.0f}" for t, idle in windows))
    tails = worker_tails(runs)
    print("Seconds each test process (xdist worker; the controller too) waited at the end: "
          + ", ".join(f"{pid}: {tail}" for pid, tail in tails.items()))
    emit("suite_cpu", {"pytest_exit": code, "wall_s": round(wall, 1), "busy_cpu_s": round(busy, 1),
          "busy_share": round(busy / wall / (os.cpu_count() or 1), 3),
          "attributed_cpu_s": round(sum(found["test"].values()), 1),
          "by_kind": {k: round(v, 1) for k, v in found["kind"].items()},
          "by_role": {k: round(v, 1) for k, v in found["role"].most_common()},
          "top_modules": {k: round(v, 1) for k, v in found["module"].most_common(10)},
          "idle_per_minute": [idle for _, idle in windows], "tails_s": sorted(tails.values())})


if __name__ == "__main__":
    main()
