"""A memory + process-count cgroup per sandboxed run (cgroup v2, or v1 where that is mounted),
and where the cpu controller is there, a CPU group that lets a waiting sandbox use idle CPU only.

Written by hand: the few files involved do not justify a dependency, and the kill reason
(`oom_kill` counters) is exactly what the grader needs to tell `memory_limit` from `crashed`.

Why a CPU group and not only `nice`: each sandbox is a session of its own (bwrap
--new-session), and with the kernel's autogroup scheduling (on by default) niceness then only
ranks processes within their own session: a pre-started sandbox at nice 19 took as much CPU
as the fine-tune it was meant to yield to (bench.grade_time: training 14.9 s with autogroup
on, 7.8 s with it off). A cgroup's `cpu.idle` is honoured across sessions.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "autograder"


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read_key(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _own_cpu_group() -> Path:
    """The v1 cpu cgroup directory the calling process is in (the hierarchy's top if unknown)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "cpu" in controllers.split(","):
                where = ROOT / "cpu" / path.lstrip("/")
                return where if where.is_dir() else ROOT / "cpu"
    except (OSError, ValueError):
        pass
    return ROOT / "cpu"


class Cgroup:
    """One run's group. `attach()` is called in the child between fork and exec."""

    def __init__(self, version: int, dirs: dict[str, Path], cpu: Path | None = None) -> None:
        self.version = version
        self.dirs = dirs  # controller -> directory ("unified" for v2)
        self.cpu = cpu  # the directory holding cpu.idle, where the cpu controller is usable
        self._procs_files = [str(d / "cgroup.procs") for d in {*dirs.values(), *([cpu] if cpu else [])}]

    @classmethod
    def create(cls, *, memory_bytes: int, max_pids: int, idle: bool = False,
               parent: "Cgroup | None" = None) -> "Cgroup | None":
        """A fresh group with the limits set, or None where no cgroup is writable here.

        `idle`: its processes get CPU only when nothing else wants it, until set_idle(False)
        (where no cpu controller is usable, the group has none and the caller's nice is all).
        `parent`: made inside that group, whose limits then hold for all its groups together
        (a grade run as two processes at once keeps one grade's memory and process budget)."""
        name = f"run-{uuid.uuid4().hex[:12]}"
        try:
            if (ROOT / "cgroup.controllers").exists():
                group = cls._create_v2(name, memory_bytes, max_pids, parent)
            elif (ROOT / "memory").is_dir() and (ROOT / "pids").is_dir():
                group = cls._create_v1(name, memory_bytes, max_pids, parent)
            else:
                return None
        except OSError:
            return None
        if idle:
            group.set_idle(True)
        return group

    def set_idle(self, idle: bool) -> bool:
        """Whether the group now has that CPU priority (False where no cpu controller is usable)."""
        if self.cpu is None:
            return False
        try:
            _write(self.cpu / "cpu.idle", "1" if idle else "0")
            return True
        except OSError:
            return False

    def is_idle(self) -> bool | None:
        """cpu.idle as the kernel has it; None without a cpu group."""
        return None if self.cpu is None else _read_int(self.cpu / "cpu.idle") == 1

    @classmethod
    def _create_v2(cls, name: str, memory_bytes: int, max_pids: int, within: "Cgroup | None") -> "Cgroup":
        parent = ROOT / GROUP
        parent.mkdir(exist_ok=True)
        controllers = (ROOT / "cgroup.subtree_control").read_text().split()
        for c in ("memory", "pids"):
            if c not in controllers:
                _write(ROOT / "cgroup.subtree_control", f"+{c}")
        if within is not None:
            parent = within.dirs["unified"]
        if not {"memory", "pids"} <= set((parent / "cgroup.subtree_control").read_text().split()):
            _write(parent / "cgroup.subtree_control", "+memory +pids")
        group = parent / name
        group.mkdir()
        _write(group / "memory.max", str(memory_bytes))
        if (group / "memory.swap.max").exists():
            _write(group / "memory.swap.max", "0")
        _write(group / "pids.max", str(max_pids))
        cpu = None
        try:  # optional: the cpu controller, for cpu.idle (a waiting sandbox)
            if "cpu" in (ROOT / "cgroup.controllers").read_text().split():
                for where in (ROOT, parent):
                    if "cpu" not in (where / "cgroup.subtree_control").read_text().split():
                        _write(where / "cgroup.subtree_control", "+cpu")
                cpu = group if (group / "cpu.idle").exists() else None
        except OSError:
            cpu = None
        return cls(2, {"unified": group}, cpu)

    @classmethod
    def _create_v1(cls, name: str, memory_bytes: int, max_pids: int, within: "Cgroup | None") -> "Cgroup":
        dirs = {}
        for controller in ("memory", "pids"):
            d = (ROOT / controller / GROUP if within is None else within.dirs[controller]) / name
            d.mkdir(parents=True)
            dirs[controller] = d
        _write(dirs["memory"] / "memory.limit_in_bytes", str(memory_bytes))
        memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            try:
                _write(memsw, str(memory_bytes))
            except OSError:
                pass
        _write(dirs["pids"] / "pids.max", str(max_pids))
        # The CPU group sits where the caller's is: at the top of the cpu hierarchy, beside the
        # sessions' autogroups, so that cpu.idle means "idle CPU of the machine"; or inside the
        # group `autograder serve` gave its worker (a lower weight than the API's), so a sandbox
        # keeps its worker's weight and cpu.idle means idle CPU of the worker's share.
        cpu = _own_cpu_group() / f"{GROUP}-{name}"
        try:
            cpu.mkdir()
            if not (cpu / "cpu.idle").exists():
                cpu.rmdir()
                cpu = None
        except OSError:
            cpu = None
        return cls(1, dirs, cpu)

    def attach(self, pid: int | None = None) -> None:
        """Move `pid` (default: the calling process) in: only plain file writes, safe between
        fork and exec."""
        text = str(os.getpid() if pid is None else pid)
        for path in self._procs_files:
            with open(path, "w") as f:
                f.write(text)

    def oom_kills(self) -> int:
        if self.version == 2:
            return _read_key(self.dirs["unified"] / "memory.events", "oom_kill")
        return _read_key(self.dirs["memory"] / "memory.oom_control", "oom_kill")

    def pids_limit_hit(self) -> bool:
        d = self.dirs.get("unified") or self.dirs["pids"]
        return _read_key(d / "pids.events", "max") > 0

    def peak_memory(self) -> int | None:
        if self.version == 2:
            return _read_int(self.dirs["unified"] / "memory.peak")
        return _read_int(self.dirs["memory"] / "memory.max_usage_in_bytes")

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            try:
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(found)

    def kill_all(self) -> None:
        if self.version == 2 and (self.dirs["unified"] / "cgroup.kill").exists():
            _write(self.dirs["unified"] / "cgroup.kill", "1")
            return
        for _ in range(50):  # a fork bomb may add processes while we kill
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill_all()
        for d in [*self.dirs.values(), *([self.cpu] if self.cpu and self.cpu not in self.dirs.values() else [])]:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until the last killed process is reaped
                    time.sleep(0.02)
