"""The per-grade GPU memory cap, set by our training code inside the sandbox before training.

The memory cgroup does not see GPU memory, so several grades sharing a card would otherwise
let one take it all. `apply()` caps this process's CUDA caching allocator at the grade's
share (torch.cuda.set_per_process_memory_fraction) and makes an allocation past it end the
run with GPU_MEMORY_EXIT, which the grader reports as `memory_limit` (not as a crash in the
student's code). `check_peak()` re-checks the peak (torch.cuda.max_memory_allocated) after
training. Imports only torch and the standard library (runs as a sibling of main.py).
"""
from __future__ import annotations

import os
import sys

import torch

GPU_MEMORY_EXIT = 75  # the same number as grader.gpu.GPU_MEMORY_EXIT
LIMIT_ENV = "AUTOGRADER_GPU_MEMORY_BYTES"  # set by the sandbox for a GPU grade (grader.gpu.LIMIT_ENV)


def limit_bytes() -> int | None:
    """The grade's GPU memory cap, as the sandbox set it; None: no cap."""
    value = os.environ.get(LIMIT_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def fraction_for(limit_bytes: int, total_bytes: int) -> float:
    """The allocator fraction that gives `limit_bytes` on a card of `total_bytes`."""
    if limit_bytes <= 0 or total_bytes <= 0:
        raise ValueError("GPU memory limit and total must be positive")
    return min(1.0, limit_bytes / total_bytes)


def _stop(*_args: object) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(GPU_MEMORY_EXIT)  # nothing after this may turn it into another verdict


def apply(device: str) -> None:
    """Cap this process's GPU memory at the grade's limit (nothing on a CPU or without one)."""
    limit = limit_bytes()
    if limit is None or not device.startswith("cuda"):
        return
    dev = torch.device(device)
    total = torch.cuda.get_device_properties(dev).total_memory
    torch.cuda.set_per_process_memory_fraction(fraction_for(limit, total), dev)
    torch.cuda.reset_peak_memory_stats(dev)
    # Called by the caching allocator when an allocation fails (the cap included), before it
    # raises: the student's code cannot catch the error and carry on past the cap. A cuDNN
    # workspace request that would have been retried with a smaller algorithm also ends the
    # run here: a grade that close to its cap counts as over it. (A grade's real GPU peak is
    # not measured yet: no GPU was lent; see bench/RESULTS.md.)
    torch._C._cuda_attach_out_of_memory_observer(_stop)


def check_peak(device: str) -> None:
    """End the run as over the cap if the peak allocation went past it (after training)."""
    limit = limit_bytes()
    if limit is None or not device.startswith("cuda"):
        return
    if torch.cuda.max_memory_allocated(torch.device(device)) > limit:
        _stop()
