"""Helpers shared by the benchmarks: the child's training code, timing, output format."""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
CHILD_DIR = REPO / "grader" / "child"
SUBSET = REPO.parent / "shared" / "data" / "cifar10-subset"


def child_train_module() -> Any:
    """grader/child/train.py as the sandbox imports it (a top-level module)."""
    if str(CHILD_DIR) not in sys.path:
        sys.path.insert(0, str(CHILD_DIR))
    import train

    return train


def grade_threads() -> int:
    """Threads a grade uses: AUTOGRADER_THREADS, as the service reads it, else every core. A test
    run sets it to its share of the cores (tests/conftest.py), so a bench's smoke run beside the
    other test worker does not spin twice the threads the machine has."""
    return int(os.environ.get("AUTOGRADER_THREADS") or 0) or os.cpu_count() or 1


def machine() -> dict[str, Any]:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    return {"torch": torch.__version__, "device": device, "threads": torch.get_num_threads()}


def machine_label(device: str) -> str:
    """Names the hardware a saved accuracy check was made on (bench/precision.json's keys)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    amx = " AMX-BF16" if torch.cpu._is_amx_tile_supported() else ""
    return f"cpu {torch.backends.cpu.get_cpu_capability()}{amx}"


def emit(name: str, figures: dict[str, Any]) -> None:
    """One JSON line per benchmark, after its table: easy to collect in RESULTS.md."""
    print(json.dumps({"bench": name, **machine(), **figures}, default=float))
