"""The sandbox side of a fork server: one warmed process that forks a fresh, isolated process per job.

Why: a sandbox started per grade spends ~3.7 CPU-s on `import torch`, torch.export's imports and
its first export before the student's first line runs; with uploads back to back on two cores
that start, not the checks, decided the wait. This process (started in bubblewrap like any
sandbox, see grader/forkserver.py) pays it once, then forks; a fork is ready in ~30 ms.

What keeps the forks apart (the student's code runs in the fork, never here):
- this process never reads a job: it receives three file descriptors per fork and nothing else,
  so no student's file or data is ever in the memory the next fork inherits;
- each fork gets new user, mount, PID, network, IPC, UTS and cgroup namespaces, a private empty
  tmpfs on /tmp, /scratch, /submission and /dev/shm, its own devpts, a read-only /dev, an
  empty read-only /proc (a new procfs can't be mounted under bubblewrap's), and then drops
  every capability with no_new_privs: it can't see, signal or ptrace this process or another
  fork, nor unmount what hides them;
- the grader moves each fork into a cgroup of its own (memory, pids) before it gets its job.

Protocol on the control socket (this process <-> the grader): this side sends b"W" once warm;
the grader sends one byte with three fds (a job socket, the message pipe, the log pipe); the
fork ("A", our code) says hello on the job socket, where the kernel adds its PID for the grader,
reads its job until EOF and forks "B", PID 1 of the new PID namespace, which sets up the view,
drops its capabilities, runs the job in "C" (PID 2) and reports C's exit status on the job
socket. Imports only the standard library; unshare, mount and capset by ctypes, by hand:
Python 3.11 has no os.unshare, and a capabilities package would be one more thing to bind
into every sandbox for four system calls.
"""
from __future__ import annotations

import base64
import ctypes
import gc
import json
import os
import re
import resource
import signal
import socket
import sys
import traceback
from typing import Any, Callable

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x10000000, 0x20000000, 0x40000000
NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_NOATIME, MS_NODIRATIME = 1, 2, 4, 8, 32, 1024, 2048
MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 4096, 0x4000, 1 << 18, 1 << 21
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 4, 24, 38, 47
# Each fork's own writable places, empty at the start of every job.
PRIVATE_TMPFS = ("/tmp", "/scratch", "/submission", "/dev/shm")
SUBMISSION = "/submission/resnet50_skeleton.py"

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(option: int, arg: int = 0) -> int:
    return _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def _enter_namespaces() -> None:
    """New namespaces for this fork, its own uid and gid mapped to themselves."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(ctypes.c_int(NAMESPACES)), "unshare")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _remount_readonly(path: str) -> None:
    """Make this namespace's copy of the mount at `path` read-only, keeping its other flags
    (a mount inherited from a more privileged namespace can't lose nosuid, nodev, ...)."""
    kept = os.statvfs(path).f_flag
    flags = kept & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    if kept & os.ST_RELATIME:
        flags |= MS_RELATIME
    _mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)


def _mounts_below(folders: tuple[str, ...]) -> list[str]:
    """Mount points strictly inside `folders` (e.g. a venv bound read-only under /tmp when the
    project is installed there), outermost first."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])  # the kernel's octal escapes
            if any(point.startswith(folder + "/") for folder in folders):
                points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"))


def _keep_mounts(points: list[str]) -> list[tuple[str, int]]:
    """A handle on each mount point, taken before a tmpfs covers it."""
    return [(point, os.open(point, os.O_PATH | os.O_CLOEXEC)) for point in points]


def _restore_mounts(kept: list[tuple[str, int]]) -> None:
    """Bind each kept mount back at its place on top of the new tmpfs, read-only, as it was."""
    for point, fd in kept:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(point, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(point), exist_ok=True)
            open(point, "a").close()
        _mount(f"/proc/self/fd/{fd}", point, None, MS_BIND | MS_REC)
        _remount_readonly(point)
        os.close(fd)


def _private_view(source: bytes | None, tmpfs_bytes: dict[str, int]) -> None:
    """Fresh tmpfs where the job may write, the student's file in /submission, /proc hidden,
    the server's /dev read-only (bubblewrap's /dev is a tmpfs every fork would share).

    What the server's sandbox has bound inside those folders (Python and torch, when the project
    is installed under /tmp) is bound again on top of the fresh tmpfs: hidden, every job of the
    fork failed in our own imports (exit 71), graded as the student's crash (issue 25)."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here propagates anywhere
    _remount_readonly("/dev")
    kept = _keep_mounts(_mounts_below(PRIVATE_TMPFS))
    for where in PRIVATE_TMPFS:
        _mount("tmpfs", where, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(tmpfs_bytes[where])},mode=1777")  # sized by the grader: together the disk cap
    _restore_mounts(kept)
    _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    if source is not None:
        with open(SUBMISSION, "wb") as f:
            f.write(source)
    _mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=555")
    os.chdir("/scratch")


def drop_capabilities() -> None:
    """No capability left (bounding, ambient, effective, permitted) and no way to regain one."""
    cap = 0
    while _prctl(PR_CAPBSET_DROP, cap) == 0:
        cap += 1
    if ctypes.get_errno() != 22 or cap == 0:  # EINVAL past the last capability is the loop's end
        raise OSError(ctypes.get_errno(), "could not drop the capability bounding set")
    _check(_prctl(PR_CAP_AMBIENT, 4), "clear ambient capabilities")  # PR_CAP_AMBIENT_CLEAR_ALL
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    check = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), check), "capget")
    if any(d.effective or d.permitted or d.inheritable for d in check):
        raise OSError("capabilities are still held after dropping them")


def _read_all(sock: socket.socket, limit: int) -> bytes:
    chunks, total = [], 0
    while chunk := sock.recv(1 << 20):
        total += len(chunk)
        if total > limit:
            raise ValueError("job larger than the limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _job_process(job: dict[str, Any], messages: int, log: int, run_job: Callable[[dict[str, Any], int], int]) -> None:
    """C: the job's own process (PID 2, as in any sandbox). Never returns."""
    code, err = 70, log
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        err = 2
        os.closerange(3, messages)  # nothing of the server's stays open (its log, its control socket)
        os.closerange(messages + 1, 1 << 16)
        cpu = int(job["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # this process's CPU counts from 0
    except BaseException as exc:  # our setup failed: say so on the log, run nothing
        os.write(err, f"fork server: the job's process could not be set up: {exc!r}\n".encode())
        os._exit(code)
    try:
        code = run_job(job["job"], messages)
    except BaseException:  # the job's own failure (it ran the student's code): its exit, not a fork's
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)  # skip interpreter teardown: student atexit hooks must not alter the outcome


def _our_fault(job_sock: socket.socket, log: int, what: str, code: int) -> None:
    """Our own code failed before the job ran: say so on the log and, as "E" and the reason, on
    the job socket (which the job never holds), so the grader takes it for its own failure and
    not the student's crash. Never returns."""
    for send in (lambda: os.write(log, f"fork server: {what}\n".encode()),
                 lambda: job_sock.sendall(b"E" + what.encode("utf-8", "replace")[:1000])):
        try:
            send()
        except OSError:
            pass
    os._exit(code)


def _namespace_init(job: dict[str, Any], job_sock: socket.socket, messages: int, log: int,
                    run_job: Callable[[dict[str, Any], int], int], needed: list[str]) -> None:
    """B: PID 1 of the fork's PID namespace, our code. Sets up the view, drops every capability,
    runs the job in C and reports C's exit status to the grader. Never returns. `needed`: the
    folders of the server's Python path, which the fork's view must still show.

    As the namespace's init it ignores signals from the job (the kernel shields an init from
    its own namespace), and its session is the job's: kill(0) or killpg from the job reaches
    B and the job only, never A or the server."""
    try:
        os.setsid()
        source = base64.b64decode(job["source"]) if job.get("source") is not None else None
        _private_view(source, job["tmpfs_bytes"])
        missing = [p for p in needed if not os.path.isdir(p)]
        if missing:  # our installation is not all there: no job could run; not the student's doing
            raise OSError(f"the fork does not see {', '.join(missing[:3])}")
        drop_capabilities()
        _check(_prctl(PR_SET_DUMPABLE, 0), "not dumpable")  # the job can't ptrace B (and forge its report)
        pid = os.fork()
    except BaseException as exc:
        _our_fault(job_sock, log, f"the job's process could not be set up: {exc!r}", 70)
    if pid == 0:
        job_sock.close()
        _job_process(job, messages, log, run_job)
    os.close(messages)
    os.close(log)
    status = -signal.SIGKILL
    while True:  # reap, as an init does, until the job itself has ended
        try:
            ended, waited = os.wait()
        except ChildProcessError:
            break
        if ended == pid:
            status = os.waitstatus_to_exitcode(waited)
            break
    try:
        job_sock.sendall(str(status).encode())
    finally:
        os._exit(0)  # the namespace ends with its init: whatever the job left behind is killed


def _fork_process(job_sock: socket.socket, messages: int, log: int,
                  run_job: Callable[[dict[str, Any], int], int], max_job_bytes: int, needed: list[str]) -> None:
    """A: our code between the server and the fork's namespaces. Never returns."""
    try:
        _enter_namespaces()
        job_sock.sendall(b"A")  # the grader reads A's PID off this message, then moves A to a cgroup
        job = json.loads(_read_all(job_sock, max_job_bytes))
        pid = os.fork()  # B: PID 1 of the new PID namespace
    except BaseException as exc:
        _our_fault(job_sock, log, f"the fork failed: {exc!r}", 71)
    if pid == 0:
        _namespace_init(job, job_sock, messages, log, run_job, needed)
    for fd in (messages, log, job_sock.detach()):
        os.close(fd)
    try:
        os.waitpid(pid, 0)  # A's PID stays taken while the fork runs
    finally:
        os._exit(0)


def serve(control: int, run_job: Callable[[dict[str, Any], int], int], max_job_bytes: int = 64 << 20) -> None:
    """Fork one isolated process per request on `control` until the grader closes it."""
    needed = [p for p in sys.path if p and os.path.isdir(p)]  # a fork must see these to run any job
    gc.freeze()  # what is here now is never collected in a fork: its collector then writes (copies) none of it
    sock = socket.socket(fileno=control)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps each fork as it ends: no zombies
    sock.sendall(b"W")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 1, 3)
        except OSError:
            break
        if not msg:
            break  # the grader is gone
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            sock.close()  # a fork can't ask for more forks
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _fork_process(socket.socket(fileno=fds[0]), fds[1], fds[2], run_job, max_job_bytes, needed)
        for fd in fds:
            os.close(fd)
    os._exit(0)
