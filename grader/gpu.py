"""The GPU side of grading, on the trusted side: what the sandbox binds, whether CUDA works,
how many grades fit on a card.

Nothing here runs student code. The per-grade memory cap itself is set inside the training
child (grader/child/gpu_limit.py); the verdict for a child that hits it is read here.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# The child exits with this code when its allocation went past the per-grade GPU memory cap
# (grader/child/gpu_limit.py); the supervisor turns it into the `memory_limit` verdict.
GPU_MEMORY_EXIT = 75
# The cap, in bytes, as the sandbox hands it to the child (set by us with --setenv, like the rest
# of the child's fixed environment); grader/child/gpu_limit.py reads it.
LIMIT_ENV = "AUTOGRADER_GPU_MEMORY_BYTES"

# Device nodes CUDA opens: one per GPU, the control node, unified memory, and (MIG) the caps.
_GPU_NODE = re.compile(r"nvidia\d+")
_CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
_CAPS_DIR = "nvidia-caps"  # MIG instances are reached through capability nodes in here
# Where the NVIDIA container toolkit and driver installers put libcuda.so.1 and friends.
DEFAULT_LIBRARY_DIRS = ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu",
                        "/usr/lib64", "/usr/lib/aarch64-linux-gnu", "/usr/lib/wsl/lib")
# Read-only driver state the CUDA runtime and NVML read (device list, PCI topology).
DRIVER_STATE = ("/proc/driver/nvidia", "/sys/module/nvidia", "/sys/dev/char", "/sys/devices")
# Already visible inside the sandbox (grader/sandbox.py binds them), so not bound twice.
SYSTEM_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32")


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def device_nodes(dev_root: Path = Path("/dev")) -> list[Path]:
    """The NVIDIA device nodes under dev_root: every GPU, the control and UVM nodes, MIG caps."""
    if not dev_root.is_dir():
        return []
    found = [p for p in sorted(dev_root.iterdir())
             if _GPU_NODE.fullmatch(p.name) or p.name in _CONTROL_NODES]
    caps = dev_root / _CAPS_DIR
    if caps.is_dir():
        found.append(caps)
    return found


def driver_library_dirs(search: tuple[str, ...] = DEFAULT_LIBRARY_DIRS) -> list[Path]:
    """Folders holding the driver's libcuda.so.1 (injected by the host, not part of torch)."""
    return [Path(d) for d in search if (Path(d) / "libcuda.so.1").exists()]


@dataclass(frozen=True)
class GpuBinds:
    """What the sandbox adds when, and only when, the grade runs on a GPU."""

    args: list[str]  # bubblewrap arguments, placed after `--dev /dev`
    env: dict[str, str]  # added to the child's fixed environment


def sandbox_binds(*, memory_limit_bytes: int | None = None, dev_root: Path = Path("/dev"),
                  library_dirs: list[Path] | None = None, driver_state: tuple[str, ...] = DRIVER_STATE) -> GpuBinds:
    """Device nodes bound as devices (CUDA opens them read-write for its ioctls; bubblewrap's
    read-only binds are `nodev`, which would make them unusable); the driver's libraries and
    state bound read-only. The sandbox has no /etc (no ld.so.cache), so library folders
    outside the system roots are put on LD_LIBRARY_PATH."""
    args: list[str] = []
    for node in device_nodes(dev_root):
        args += ["--dev-bind", str(node), f"/dev/{node.name}"]
    extra_libs: list[str] = []
    for lib in driver_library_dirs() if library_dirs is None else library_dirs:
        if any(str(lib) == r or str(lib).startswith(r + "/") for r in SYSTEM_ROOTS):
            continue  # the system bind already shows it, at a default search path
        args += ["--ro-bind", str(lib), str(lib)]
        extra_libs.append(str(lib))
    for path in driver_state:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    env = {"LD_LIBRARY_PATH": ":".join(extra_libs)} if extra_libs else {}
    if memory_limit_bytes:
        env[LIMIT_ENV] = str(memory_limit_bytes)
    return GpuBinds(args=args, env=env)


# ----------------------------------------------------------------------------- the host


def cuda_problem(device: str) -> str | None:
    """Why this host cannot grade on `device`, in words an operator can act on; None if it can."""
    if not is_cuda(device):
        return None
    import torch

    if not torch.backends.cuda.is_built():
        return (f"AUTOGRADER_DEVICE={device}, but this torch ({torch.__version__}) is the CPU build: "
                "build the image's `cuda` target (docker compose --profile gpu builds it), or install "
                "the CUDA build of torch, or set AUTOGRADER_DEVICE=cpu")
    if not torch.cuda.is_available():
        nodes = "no /dev/nvidia* device nodes" if not device_nodes() else "device nodes present"
        return (f"AUTOGRADER_DEVICE={device}, but CUDA sees no GPU ({nodes}; torch built for CUDA "
                f"{torch.version.cuda}): check the NVIDIA driver (nvidia-smi) and, in Docker, the NVIDIA "
                "container toolkit and the service's GPU reservation; or set AUTOGRADER_DEVICE=cpu")
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return f"AUTOGRADER_DEVICE={device}, but only {torch.cuda.device_count()} GPU(s) are visible"
    return None


def free_memory(device: str) -> tuple[int, int] | None:
    """(free, total) bytes on the GPU, or None where there is none."""
    import torch

    if not is_cuda(device) or not torch.cuda.is_available():
        return None
    return torch.cuda.mem_get_info(torch.device(device))


def concurrency_for(free_bytes: int, per_grade_bytes: int, *, reserve_bytes: int = 1 << 30,
                    most: int = 8) -> int:
    """How many grades share one GPU: as many caps as fit in its free memory after a reserve
    (CUDA contexts take ~0.5 GiB each outside the cap), at least 1, at most `most`."""
    if per_grade_bytes <= 0:
        raise ValueError("the per-grade GPU memory cap must be positive")
    return max(1, min(most, (free_bytes - reserve_bytes) // per_grade_bytes))
