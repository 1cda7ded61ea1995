"""`autograder doctor`: can this host grade, and with what? One check per line an operator reads.

Each check runs the real thing (starts bubblewrap, makes a cgroup, hashes the checkpoint and
the data, asks CUDA for free memory) rather than looking for files, so that a pass means the
grader will work here.
"""
from __future__ import annotations

import hashlib
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from grader.settings import Settings

Level = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    level: Level  # fail: this host cannot grade as configured; warn: it can, with less
    detail: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_torch(device: str) -> list[Check]:
    import torch

    from grader.gpu import cuda_problem, is_cuda

    build = f"CUDA {torch.version.cuda}" if torch.backends.cuda.is_built() else "CPU only"
    checks = [Check("torch", "ok", f"{torch.__version__} ({build})")]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        checks.append(Check("cuda", "ok", f"{torch.cuda.device_count()} GPU(s) visible: {names}"))
    else:
        problem = cuda_problem(device) if is_cuda(device) else None
        checks.append(Check("cuda", "fail" if problem else "ok",
                            problem or f"no GPU visible; grading on the CPU (AUTOGRADER_DEVICE={device})"))
    return checks


def check_gpu_memory(device: str, per_grade_bytes: int) -> Check | None:
    from grader.gpu import concurrency_for, free_memory, is_cuda

    import torch

    if not (is_cuda(device) or device == "auto") or not torch.cuda.is_available():
        return None
    dev = device if is_cuda(device) else "cuda"
    free, total = free_memory(dev) or (0, 0)
    k = concurrency_for(free, per_grade_bytes)
    return Check("gpu memory", "ok" if free >= per_grade_bytes else "warn",
                 f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free on {dev}; {per_grade_bytes / 2**30:g} GiB "
                 f"per grade: `autograder worker` would run {k} grade(s) at a time")


def bwrap_works() -> str | None:
    """None when bubblewrap can start a sandbox here; else what went wrong (`autograder doctor`)."""
    from grader.sandbox import bubblewrap

    bwrap = bubblewrap()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    proc = subprocess.run([bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                           "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        return (f"bwrap cannot create its namespaces ({proc.stderr.strip()[:300]}): run the worker as root "
                "(in Docker: privileged) or allow unprivileged user namespaces")
    return None


def check_sandbox(allow_unsafe: bool) -> Check:
    problem = bwrap_works()
    if problem is None:
        return Check("bubblewrap", "ok", "starts a sandbox with new namespaces")
    return Check("bubblewrap", "warn" if allow_unsafe else "fail",
                 problem + (" (AUTOGRADER_UNSAFE_NO_SANDBOX is set: grading without isolation)" if allow_unsafe else ""))


def check_cgroups() -> Check:
    from grader.cgroups import Cgroup

    group = Cgroup.create(memory_bytes=64 << 20, max_pids=16)
    if group is None:
        return Check("cgroups", "warn", "no writable memory+pids cgroup: memory is enforced by polling the "
                                        "process tree's RSS and process counts are not capped")
    try:
        return Check("cgroups", "ok", f"cgroup v{group.version}: per-grade memory and process limits")
    finally:
        group.remove()


def check_checkpoint(path: Path | None) -> Check:
    if path is None:
        return Check("checkpoint", "warn", "none configured (AUTOGRADER_CHECKPOINT): seeded reference weights "
                                           "are used for the key and equivalence checks")
    if not path.is_file():
        return Check("checkpoint", "fail", f"{path} does not exist")
    return Check("checkpoint", "ok", f"{path} sha256 {_sha256(path)}")


def check_data(data_dir: Path | None) -> Check:
    from grader.data import DatasetError, data_sha256, find_batches_dir

    if data_dir is None:
        return Check("data", "warn", "no CIFAR-10 configured (AUTOGRADER_DATA_DIR): structure-only grades")
    try:
        batches = find_batches_dir(data_dir)
        return Check("data", "ok", f"{batches} sha256 {data_sha256(batches)}")
    except DatasetError as exc:
        return Check("data", "fail", str(exc))


def run_checks(settings: Settings) -> list[Check]:
    checks = check_torch(settings.device)
    gpu_memory = check_gpu_memory(settings.device, settings.gpu_memory_mb << 20)
    if gpu_memory is not None:
        checks.append(gpu_memory)
    checks += [check_sandbox(settings.unsafe_no_sandbox), check_cgroups(),
               check_checkpoint(settings.default_checkpoint()), check_data(settings.data_dir)]
    return checks


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
