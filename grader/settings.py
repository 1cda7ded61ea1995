"""Settings read from the environment (prefix AUTOGRADER_), in one place.

The engine itself takes an explicit GradeConfig; the CLI, API and worker build it from here.
"""
from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from grader.sandbox import PROJECT_ROOT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOGRADER_", extra="ignore")

    checkpoint: Path | None = None  # default: checkpoints/resnet50_epoch285.ckpt when present
    data_dir: Path | None = None
    rubric: Path | None = None
    threads: int = max(1, os.cpu_count() or 1)
    seed: int = 0
    check_timeout_s: float = 60.0
    train_timeout_s: float = 3600.0
    memory_limit_mb: int = 6144
    max_processes: int = 512
    unsafe_no_sandbox: bool = False
    device: str = "auto"  # fine-tuning device: auto, cpu, cuda, cuda:1
    bf16: bool = False  # bf16 autocast for fine-tuning (see bench/RESULTS.md before enabling)
    channels_last: bool = False
    cache_dir: Path = Path.home() / ".cache" / "autograder"

    def default_checkpoint(self) -> Path | None:
        if self.checkpoint is not None:
            return self.checkpoint
        course = PROJECT_ROOT / "checkpoints" / "resnet50_epoch285.ckpt"
        return course if course.is_file() else None
