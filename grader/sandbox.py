"""Run the child (grader/child/main.py) on a student's file inside bubblewrap, with limits.

The child sees a read-only system and Python, the submission, the named input files and
private, sized tmpfs to write in (never the host's disk); no network, no other processes, no project tree, no test labels.
What comes back is JSON lines on a pipe; the run always ends in a named status.
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import math
import os
import re
import resource
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal

import psutil

from grader.cgroups import Cgroup
from grader.gpu import GPU_MEMORY_EXIT, sandbox_binds
from grader.per_process import PerProcess

CHILD_DIR = Path(__file__).resolve().parent / "child"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUBMISSION_NAME = "resnet50_skeleton.py"
Status = Literal["ok", "timeout", "memory_limit", "crashed"]


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing and unsafe grading was not asked for."""


class ProtocolError(Exception):
    """The child sent something the grader does not accept (raised by message handlers)."""


class NonFiniteNumber(ValueError):
    """A protocol line holds NaN, Infinity or a number too large for a float."""


def _refuse_constant(token: str) -> Any:
    raise NonFiniteNumber(f"sent a non-finite number ({token}) on the grader's channel")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e999, which Python reads as inf
        raise NonFiniteNumber(f"sent a non-finite number ({text[:40]}) on the grader's channel")
    return value


# Our deepest message (a program's data) is 7 levels: 64 leaves room and no recursion anywhere near
# Python's limit (a program nested 985 deep parsed, then broke json.dumps in the grader; issue 25).
MAX_MESSAGE_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


class TooDeep(ValueError):
    """A protocol line nests lists and objects deeper than any message of ours."""


def nesting_depth(line: bytes) -> int:
    """How deep a JSON line nests, counted without recursion (strings' contents do not count)."""
    steps = _STRING.sub(b"", line).translate(_STEPS, _NOT_BRACKETS)
    return max(itertools.accumulate(memoryview(steps).cast("b")), default=0)  # a running sum, in C


def parse_line(line: bytes | str) -> Any:
    """One JSON line from the child. NaN, Infinity and -Infinity (which Python's json reads by
    default) and numbers past the float range raise NonFiniteNumber: no number that compares
    False both ways, or overflows a tolerance, gets as far as a message handler. A line nested
    deeper than MAX_MESSAGE_DEPTH raises TooDeep before the (recursive) parser sees it."""
    raw = line.encode() if isinstance(line, str) else line
    if nesting_depth(raw) > MAX_MESSAGE_DEPTH:
        raise TooDeep(f"sent a message nested deeper than the grader accepts ({MAX_MESSAGE_DEPTH} levels)")
    return json.loads(line, parse_constant=_refuse_constant, parse_float=_finite_float)


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 120.0
    cpu_seconds: int | None = None  # default: wall_seconds × cores + 10
    memory_bytes: int = 6 << 30
    max_processes: int = 512  # threads count too: torch starts one per core
    max_file_bytes: int = 256 << 20
    # All a sandbox may write, in sized tmpfs (tmpfs_sizes): memory charged to its cgroup, never
    # the host's disk (a bound host folder let a file fill the disk the database lives on; issue 25).
    disk_bytes: int = 512 << 20
    max_open_files: int = 256
    log_bytes: int = 64 << 10
    message_bytes: int = 8 << 20  # one JSON line
    total_message_bytes: int = 64 << 20
    gpu_memory_bytes: int | None = None  # per-grade GPU memory cap, set in the child (grader/child/gpu_limit.py)
    # The student's file must have finished importing (its "import" message) this soon after the
    # child has loaded torch ("ready"): a file that sleeps at import is cut here, while an honest
    # one keeps wall_seconds for its checks, and a slow host's torch start does not count.
    import_seconds: float | None = None


@dataclass
class Outcome:
    status: Status
    reason: str | None
    exit_code: int | None
    log: str
    wall_seconds: float
    peak_memory_bytes: int | None
    isolation: str
    limits: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """How a helper run ended, for the report (a verifier's, an export fork's)."""
        return {"status": self.status, "reason": self.reason, "wall_seconds": self.wall_seconds,
                "peak_memory_bytes": self.peak_memory_bytes, "exit_code": self.exit_code}


class HeadTail:
    """Keeps the first and last bytes of a stream: 100 MB of prints must not cost 100 MB."""

    def __init__(self, limit: int) -> None:
        self.half = limit // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.half:
            cut = len(self.tail) - self.half
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        middle = f"\n[... {self.dropped} bytes of output dropped ...]\n" if self.dropped else ""
        return (bytes(self.head).decode("utf-8", "replace") + middle
                + bytes(self.tail).decode("utf-8", "replace"))


def bubblewrap() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=1)
def python_roots() -> tuple[str, ...]:
    """Folders the child's Python needs (interpreter, stdlib, site-packages with torch)."""
    roots = {sys.prefix, sys.base_prefix, os.path.realpath(sys.executable).rsplit("/bin/", 1)[0]}
    roots.update(p for p in site.getsitepackages() if os.path.isdir(p))
    spec = importlib.util.find_spec("torch")
    if spec and spec.origin:
        roots.add(str(Path(spec.origin).resolve().parent.parent))
    if not (PROJECT_ROOT / "pyproject.toml").exists():
        return tuple(sorted(roots))  # installed as a package: no source tree to hide
    project = str(PROJECT_ROOT)
    # A venv inside the project is fine (only that folder is bound); the project itself is not.
    return tuple(sorted(r for r in roots if r != project and not project.startswith(r.rstrip("/") + "/")))


def tmpfs_sizes(limits: Limits) -> dict[str, int]:
    """Each place a sandbox may write, and its size in bytes: together limits.disk_bytes.

    /submission is a fork's own copy of the student's file (at most 256 KiB); a sandbox started
    by bubblewrap has it read-only and mounts the other three. No size is below a page: a tmpfs
    of size 0 has no limit at all."""
    submission = min(1 << 20, limits.disk_bytes // 8)
    quarter = (limits.disk_bytes - submission) // 4
    sizes = {"/scratch": limits.disk_bytes - submission - 2 * quarter, "/tmp": quarter, "/dev/shm": quarter,
             "/submission": submission}
    return {where: max(size, 4096) for where, size in sizes.items()}


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _child_env(threads: int) -> dict[str, str]:
    """The whole environment the child gets: a short allow-list, no secrets."""
    return {
        "HOME": "/scratch", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }


def _preexec(limits: Limits, cpu_seconds: int | None, cgroup: Cgroup | None, nice: int = 0) -> Callable[[], None]:
    def setup() -> None:
        if cgroup is not None:
            cgroup.attach()
        if nice:
            os.nice(nice)
        if cpu_seconds is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_bytes, limits.max_file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # Counts per user outside a user namespace only; the pids cgroup is the real cap.
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    return setup


def _signal_of(code: int | None) -> int | None:
    if code is None:
        return None
    if code < 0:
        return -code
    if code > 128:
        return code - 128
    return None


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


ENTRIES = {
    # The student's file: the structure checks and the self-reported fine-tune (grader/child/main.py).
    "child": "/opt/autograder/child/main.py",
    # Our code only, on data: the trusted checks of the programs (grader/verify_main.py).
    "verify": "/opt/autograder/grader/verify_main.py",
    # Our code only, on a report PDF (untrusted bytes for PDFium): papers/sandbox_main.py.
    "paper": "/opt/autograder/papers/sandbox_main.py",
}


def run_sandboxed(
    *,
    submission: Path | None,
    job: dict[str, Any],
    inputs: dict[str, Path],
    limits: Limits,
    threads: int = 1,
    allow_unsafe: bool = False,
    gpu: bool = False,
    on_message: Callable[[dict[str, Any]], None] | None = None,
    entry: str = "child",
) -> Outcome:
    """Run the child on `submission`; `inputs` are host files the child may read.

    `submission` None: a trusted run of our own code on data (no student file in the sandbox).

    `on_message` sees each JSON message as it arrives and may raise ProtocolError.
    """
    started = start_sandbox(inputs=inputs, limits=limits, threads=threads, allow_unsafe=allow_unsafe,
                            gpu=gpu, entry=entry)
    return started.run(submission=submission, job=job, on_message=on_message)


# bubblewrap's --die-with-parent is PR_SET_PDEATHSIG, which follows the *thread* that started
# bwrap, not the process: a sandbox started from a thread that then ended (a one-off grade's
# verifier, started ahead in a helper thread) was SIGKILLed with that thread, and its grade lost
# every verification (a reference file scored 0 in CI). So every sandbox is started from a thread
# that lives as long as the process: the main thread, or one spawner thread per process.
class _Spawner:
    """The thread that starts this process's sandboxes (made on first use, closed at exit)."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-popen")

    def popen(self, cmd: list[str], **kw: Any) -> subprocess.Popen:
        return self._thread.submit(subprocess.Popen, cmd, **kw).result()

    def close(self) -> None:
        self._thread.shutdown(wait=False)


_SPAWNER = PerProcess(_Spawner)


def _popen(cmd: list[str], **kw: Any) -> subprocess.Popen:
    """subprocess.Popen from a thread that ends only with the process (see _SPAWNER)."""
    if threading.current_thread() is threading.main_thread():
        return subprocess.Popen(cmd, **kw)
    try:
        return _SPAWNER.get().popen(cmd, **kw)
    except RuntimeError:  # the interpreter is shutting down: no thread outlives this one anyway
        return subprocess.Popen(cmd, **kw)


def start_sandbox(*, inputs: dict[str, Path], limits: Limits, threads: int = 1, allow_unsafe: bool = False,
                  gpu: bool = False, entry: str = "child", warm_up: bool | str = False,
                  nice: int = 0, serve_fd: int | None = None) -> "Started":
    """Start a sandbox that loads Python and torch, then waits for its one job (Started.run).

    The job and the submission are written into a private folder only when the job is given,
    so a sandbox can be started before the file it will grade exists (grader/prestart.py). Each
    sandbox runs one job and is gone: a pre-started one is as fresh as one started on demand.
    `warm_up`: before it waits, the structure child runs one export of our own tiny module (so
    torch.export's first-use imports are not in the job's time; "train": one optimizer step
    instead, for a fine-tune), the verifier every path of its checks on the reference programs.
    `nice`: start at this CPU niceness and, where the cpu controller is there, in an idle CPU
    group (a sandbox started ahead takes only idle CPU); run() sets both back before the job.
    `serve_fd`: start a fork server instead (grader/forkserver.py): the entry warms up, then
    forks one isolated process per job on this socket; it gets no CPU-time limit of its own
    (each fork sets its job's) and a read-only /scratch (each fork mounts its own).
    """
    bwrap = bubblewrap()
    if bwrap is None and not allow_unsafe:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so student code cannot be isolated. "
            "Install it (apt-get install bubblewrap) or pass --unsafe-no-sandbox to grade "
            "without isolation on a machine you do not mind a student's file taking over.")
    inputs = {name: Path(path).resolve() for name, path in inputs.items()}  # bwrap runs in scratch
    # The CPU limit counts from the start: a pre-started child's imports and warm-up get slack.
    cpu_seconds = limits.cpu_seconds or int(limits.wall_seconds * max(1, os.cpu_count() or 1) + 10)
    rlimit_cpu = cpu_seconds + 30 if serve_fd is None else None
    work = Path(tempfile.mkdtemp(prefix="autograder-"))
    cgroup = None
    try:
        private = work / "private"  # job + submission, bound read-only, written at run()
        scratch = work / "scratch"  # the child's only writable place
        private.mkdir()
        scratch.mkdir()
        if bwrap:
            view = {"private": "/submission", "submission": f"/submission/{SUBMISSION_NAME}",
                    "child": ENTRIES[entry], "scratch": "/scratch",
                    "inputs": {name: f"/in/{name}" for name in inputs}}
        else:
            view = {"private": str(private), "submission": str(private / SUBMISSION_NAME),
                    "child": str(_host_entry(entry)), "scratch": str(scratch),
                    "inputs": {name: str(path) for name, path in inputs.items()}}
        # What a child may need before its job (a warm-up reads its inputs): start.json.
        (private / "start.json").write_text(json.dumps({"inputs": view["inputs"], "threads": threads}))
        read_fd, write_fd = os.pipe()
        python = [sys.executable, "-s", "-B", view["child"], view["private"],
                  str(write_fd if serve_fd is None else serve_fd)]
        if serve_fd is not None:
            python.append("--fork-server")
        elif warm_up:
            python.append("--warm-up" if warm_up is True else f"--warm-up={warm_up}")
        if bwrap:
            cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                   "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
                   *_system_binds(), "--proc", "/proc", "--dev", "/dev"]
            sizes = tmpfs_sizes(limits)
            for where in ("/tmp", "/dev/shm"):  # sized: bubblewrap's own tmpfs have no limit
                cmd += ["--size", str(sizes[where]), "--tmpfs", where]
            for root in python_roots():  # after /tmp: a venv may live under it
                cmd += ["--ro-bind", root, root]
            cmd += ["--ro-bind", str(CHILD_DIR), "/opt/autograder/child"]
            if entry != "child":  # our trusted code: the grader package (no student file is here)
                for package, where in _trusted_packages():
                    cmd += ["--ro-bind", package, where]
            cmd += ["--ro-bind", str(private), view["private"]]
            for name, path in inputs.items():
                cmd += ["--ro-bind", str(path), view["inputs"][name]]
            child_env = _child_env(threads)
            if gpu:  # device nodes and driver libraries only when the grade runs on a GPU
                binds = sandbox_binds(memory_limit_bytes=limits.gpu_memory_bytes)
                cmd += binds.args
                child_env.update(binds.env)
            if serve_fd is None:  # a sized tmpfs, not a host folder: writes never reach the host's disk
                cmd += ["--size", str(sizes["/scratch"]), "--tmpfs", "/scratch"]
            else:  # a fork server writes nothing; each fork mounts its own /scratch
                cmd += ["--ro-bind", str(scratch), "/scratch"]
            cmd += ["--chdir", "/scratch", "--clearenv",
                    "--remount-ro", "/dev",  # bubblewrap's /dev is an unsized tmpfs the child could fill
                    "--remount-ro", "/"]  # the root tmpfs holding the mount points: only the sized tmpfs stay writable
            for key, value in child_env.items():
                cmd += ["--setenv", key, value]
            cmd += python
            env = None
        else:
            cmd = python
            env = {**_child_env(threads), "HOME": str(scratch)}

        # A sandbox started ahead (nice > 0) also waits in an idle CPU group: nice alone does not
        # rank it below other sessions' work (grader/cgroups.py says why).
        cgroup = Cgroup.create(memory_bytes=limits.memory_bytes, max_pids=limits.max_processes, idle=nice > 0)
        proc = _popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,) if serve_fd is None else (serve_fd,), cwd=str(scratch), env=env, start_new_session=True,
            preexec_fn=_preexec(limits, rlimit_cpu, cgroup, nice),
        )
        os.close(write_fd)
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Started(proc=proc, read_fd=read_fd, work=work, private=private, view=view, cgroup=cgroup,
                   limits=limits, threads=threads, cpu_seconds=cpu_seconds, gpu=gpu,
                   isolation="bubblewrap" if bwrap else "none (unsafe)", nice=nice)


def _host_entry(entry: str) -> Path:
    if entry == "paper":
        return PROJECT_ROOT / "papers" / "sandbox_main.py"
    return CHILD_DIR / "main.py" if entry == "child" else Path(__file__).resolve().parent / "verify_main.py"


def sandbox_host_paths() -> list[str]:
    """The host folders a sandbox sees, read-only, besides its grade's own inputs: the Python
    roots, our child code and packages (with a GPU also driver files, never a cache). Whatever
    must stay hidden from student code (the expectations cache) must lie outside all of them."""
    return [*python_roots(), str(CHILD_DIR), *(package for package, _ in _trusted_packages())]


def _trusted_packages() -> list[tuple[str, str]]:
    """Our own packages the trusted sandbox imports (the grader, the reference solution's table,
    the report parser)."""
    import papers
    import reference

    return [(str(Path(__file__).resolve().parent), "/opt/autograder/grader"),
            (str(Path(reference.__file__).resolve().parent), "/opt/autograder/reference"),
            (str(Path(papers.__file__).resolve().parent), "/opt/autograder/papers")]


@dataclass
class Started:
    """A started sandbox waiting for its job; run() hands it the job once, then it is gone."""

    proc: subprocess.Popen
    read_fd: int
    work: Path
    private: Path
    view: dict[str, Any]
    cgroup: Cgroup | None
    limits: Limits
    threads: int
    cpu_seconds: int
    gpu: bool
    isolation: str
    nice: int = 0
    used: bool = False
    _owns_fd: bool = True  # until _supervise's reader takes the message pipe (and closes it)

    def alive(self) -> bool:
        return not self.used and self.proc.poll() is None

    def run(self, *, submission: Path | None, job: dict[str, Any],
            on_message: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
        """Give the job (and the student's file, if any) and supervise the run to its end."""
        assert not self.used, "a sandbox runs one job"
        self.used = True
        try:
            if submission is not None:
                shutil.copyfile(submission, self.private / SUBMISSION_NAME)
            full_job = {**job, "submission": self.view["submission"], "inputs": self.view["inputs"],
                        "threads": self.threads}
            (self.private / "job.json").write_text(json.dumps(full_job))
            if self.nice:
                self._renice(0)  # its job runs at the grader's priority
            if self.nice and self.cgroup is not None:
                self.cgroup.set_idle(False)
            started = time.perf_counter()  # the limits count from the job, not from the start
            self._owns_fd = False
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(b"go\n")
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # it died while waiting: _supervise names how
            return _supervise(self.proc, self.read_fd, self.limits, self.cgroup, started, on_message,
                              isolation=self.isolation, cpu_seconds=self.cpu_seconds, gpu=self.gpu,
                              student_code=submission is not None)
        finally:
            self.close()

    def _renice(self, value: int) -> None:
        """Set every thread of the sandbox's processes to `value`, until a pass changes nothing.

        Niceness is per thread on Linux, and a process forked while we list the tree is missed
        by one pass (it inherits its parent's old value): so each thread is set by its id, and
        the tree is walked again until it holds no thread at another value."""
        for _ in range(10):
            try:
                root = psutil.Process(self.proc.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            changed = False
            for proc in procs:
                try:
                    threads = [thread.id for thread in proc.threads()]
                except psutil.Error:
                    continue  # gone
                for tid in threads:
                    try:
                        if os.getpriority(os.PRIO_PROCESS, tid) != value:
                            os.setpriority(os.PRIO_PROCESS, tid, value)
                            changed = True
                    except OSError:
                        pass  # gone, or not ours to change: it then runs niced, which only slows it
            if not changed:
                return

    def close(self) -> None:
        """Kill it (if still there) and remove its cgroup and folders."""
        self.used = True
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self.cgroup is not None:
                self.cgroup.kill_all()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if self._owns_fd:
            self._owns_fd = False
            os.close(self.read_fd)
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        shutil.rmtree(self.work, ignore_errors=True)


# On a busy host a job's wall time is stretched by the time it was ready to run but got no CPU
# (its tasks' run-queue delay, /proc/PID/task/TID/schedstat). That time does not count against
# the wall limit, up to this many times the limit in all: a deadline rush must not turn an
# honest file into a timeout, and a job that sleeps accrues no run-queue delay at all.
BUSY_HOST_FACTOR = 3.0


class RunDelay:
    """Seconds a sandbox's tasks waited for a CPU since supervision began (the most-delayed task)."""

    def __init__(self, proc: Any, cgroup: Cgroup | None) -> None:
        self._proc, self._cgroup = proc, cgroup
        self._base = self._read()
        self._most = 0.0

    def _pids(self) -> list[int]:
        pids = self._cgroup.pids() if self._cgroup is not None else []
        pid = getattr(self._proc, "pid", None)
        return pids or ([pid] if isinstance(pid, int) else [])

    def _read(self) -> dict[int, int]:
        delays: dict[int, int] = {}
        for pid in self._pids():
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                        delays[int(tid)] = int(f.read().split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        return delays

    def seconds(self) -> float:
        now = self._read()
        waited = max((d - self._base.get(t, 0) for t, d in now.items()), default=0)
        self._most = max(self._most, waited / 1e9)
        return self._most


def _supervise(proc: subprocess.Popen, read_fd: int, limits: Limits, cgroup: Cgroup | None,
               started: float, on_message: Callable[[dict[str, Any]], None] | None,
               *, isolation: str, cpu_seconds: int, gpu: bool = False, student_code: bool = True) -> Outcome:
    """Watch the run to its end and name how it ended. `student_code` False: only our code ran (a
    verifier, a parser), so an unexplained exit is ours and its words must not blame a student."""
    log = HeadTail(limits.log_bytes)
    done: list[bool] = []  # the messages themselves go to on_message only: nothing is kept here
    imported: list[bool] = []
    ready_at: list[float] = []
    violation: list[str] = []

    def kill() -> None:
        group = getattr(proc, "group_id", proc.pid)  # a fork's: None once it has exited (grader/forkserver.py)
        try:
            if group is not None:
                os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if cgroup is not None:
            cgroup.kill_all()

    def read_log() -> None:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):  # type: ignore[attr-defined]
            log.feed(chunk)

    def read_messages() -> None:
        total = 0
        with os.fdopen(read_fd, "rb") as stream:
            while line := stream.readline(limits.message_bytes + 1):
                total += len(line)
                if violation:
                    continue  # drain so the child never blocks on a full pipe
                problem = None
                if len(line) > limits.message_bytes or total > limits.total_message_bytes:
                    problem = "sent more result data than the grader accepts"
                else:
                    try:
                        msg = parse_line(line)
                    except (NonFiniteNumber, TooDeep) as exc:
                        msg, problem = None, str(exc)
                    except (ValueError, RecursionError):
                        msg = None
                    if problem:
                        pass
                    elif not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                        problem = "wrote something that is not a grader message on the grader's channel"
                    elif msg["type"] == "warm":
                        pass  # a pre-started child's own signal, sent before its job
                    else:
                        try:
                            if on_message is not None:
                                on_message(msg)
                            if msg["type"] == "done":
                                done.append(True)
                            elif msg["type"] == "import":
                                imported.append(True)
                            elif msg["type"] == "ready":
                                ready_at.append(time.perf_counter())
                        except ProtocolError as exc:
                            problem = str(exc)
                if problem:
                    violation.append(problem)
                    kill()

    readers = [threading.Thread(target=read_log, daemon=True),
               threading.Thread(target=read_messages, daemon=True)]
    for t in readers:
        t.start()

    killed_for: str | None = None
    deadline = started + limits.wall_seconds
    delay = RunDelay(proc, cgroup)
    while True:
        try:
            proc.wait(timeout=0.05 if cgroup is None else 0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        if deadline < time.perf_counter():
            # time spent waiting for a CPU is not the job's: the deadline moves by it, up to the cap
            deadline = started + min(limits.wall_seconds + delay.seconds(), limits.wall_seconds * BUSY_HOST_FACTOR)
        if time.perf_counter() > deadline:
            killed_for = "timeout"
            kill()
        elif (limits.import_seconds is not None and not imported and ready_at
              and time.perf_counter() > ready_at[0] + limits.import_seconds):
            killed_for = "import_timeout"
            kill()
        elif cgroup is None and _tree_rss(proc.pid) > limits.memory_bytes:
            killed_for = "memory_limit"
            kill()
    wall = time.perf_counter() - started
    kill()  # whatever the child left behind goes with it
    for t in readers:
        t.join(timeout=5)

    code = proc.returncode
    sig = _signal_of(code)
    oom = cgroup.oom_kills() if cgroup is not None else 0
    gib = limits.memory_bytes / (1 << 30)
    if killed_for == "import_timeout":
        status, reason = "timeout", f"took more than {limits.import_seconds:g} s to import"
    elif killed_for == "timeout":
        status, reason = "timeout", f"did not finish within the {limits.wall_seconds:g} s time limit"
        if delay.seconds() >= 1:
            reason += f" (not counting {delay.seconds():.0f} s it waited for a busy machine's CPU)"
    elif killed_for == "memory_limit" or oom > 0:
        status, reason = "memory_limit", f"used more than the {gib:g} GiB memory limit and was stopped"
    elif gpu and code == GPU_MEMORY_EXIT and not done:
        cap = f"the {limits.gpu_memory_bytes / (1 << 30):g} GiB" if limits.gpu_memory_bytes else "its"
        status, reason = "memory_limit", f"used more than {cap} GPU memory limit and was stopped"
    elif sig == signal.SIGXCPU:
        status, reason = "timeout", f"used more than the {cpu_seconds} CPU-seconds limit"
    elif violation:
        status, reason = "crashed", f"the submission {violation[0]}; its results were discarded"
    elif done:
        status, reason = "ok", None
    elif sig == signal.SIGXFSZ:
        status, reason = "crashed", f"wrote a file larger than the {limits.max_file_bytes >> 20} MiB limit"
    else:
        if sig is not None:
            what = f"was killed by signal {signal.Signals(sig).name}" if sig in signal.valid_signals() else f"was killed by signal {sig}"
        else:
            what = f"exited with code {code}"
        reason = (f"the grading process {what} before it finished; does your file call "
                  "os._exit, sys.exit or kill processes?" if student_code else
                  f"the grader's own checking process {what} before it finished (not your file's doing)")
        if cgroup is not None and cgroup.pids_limit_hit():
            reason += f" It also hit the limit of {limits.max_processes} processes/threads."
        status = "crashed"
    return Outcome(
        status=status, reason=reason, exit_code=code, log=log.text(),
        wall_seconds=wall, peak_memory_bytes=cgroup.peak_memory() if cgroup else None,
        isolation=isolation,
        limits={"wall_seconds": limits.wall_seconds, "cpu_seconds": cpu_seconds,
                "memory_bytes": limits.memory_bytes, "max_processes": limits.max_processes,
                "cgroup": f"v{cgroup.version}" if cgroup else "none"},
    )
