"""How a course fine-tunes: the settings, and the precision a device decides.

Apart from grader/training.py so that a structure-only grade (the CLI's --skip-training) builds
its config without importing torch (~1 s before its sandbox could start); torch is imported
only where a device is asked about.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from grader.sandbox import Limits


@dataclass(frozen=True)
class TrainSettings:
    """How every submission of a course is fine-tuned: equal files get equal accuracy."""

    seed: int = 0
    device: str = "auto"  # "auto": CUDA when available, else CPU
    # bf16 None: decided by the device (native_bf16). Where the hardware has bf16 (AMX on a
    # Xeon, any recent GPU) bf16 autocast + channels-last was 1.31× faster per CPU step, with
    # mean accuracy within 0.24 points of fp32 over 5 seeds; where it does not (an AVX2-only
    # CPU) autocast emulates bf16, 7-25× slower than fp32. Channels-last alone is a layout:
    # 1.39× faster in fp32 on AVX2 (bench/RESULTS.md: bench.step_time, bench.precision).
    bf16: bool | None = None
    channels_last: bool = True
    batch_size: int = 100
    lr: float = 1e-3
    progress_every: int = 10
    limits: Limits = Limits(wall_seconds=3600)


# Named choices for the benchmarks' --precision; None leaves it to native_bf16.
PRECISIONS: dict[str, dict[str, bool | None]] = {
    "auto": {"bf16": None, "channels_last": True},
    "fp32": {"bf16": False, "channels_last": False},
    "fp32+channels_last": {"bf16": False, "channels_last": True},
    "bf16": {"bf16": True, "channels_last": False},
    "bf16+channels_last": {"bf16": True, "channels_last": True},
}


def precision_name(settings: TrainSettings) -> str:
    """The PRECISIONS key of resolved settings: how benchmarks and their saved checks name them."""
    return ("bf16" if settings.bf16 else "fp32") + ("+channels_last" if settings.channels_last else "")


def with_precision(settings: TrainSettings, device: str) -> TrainSettings:
    """Unset bf16 decided by the device, so that a config names what will run."""
    return settings if settings.bf16 is not None else replace(settings, bf16=native_bf16(device))


def native_bf16(device: str) -> bool:
    """Whether this device computes bf16 in hardware, so that autocast to it is a speed-up."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def resolve_device(device: str) -> str:
    """The device "auto" stands for on this host: CUDA where there is one, else the CPU."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
