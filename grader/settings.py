"""The engine's settings read from the environment (prefix AUTOGRADER_); the service extends them
in service/settings.py.

The engine itself takes an explicit GradeConfig; `grade_config()` builds it from here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from grader.sandbox import PROJECT_ROOT

if TYPE_CHECKING:
    from grader.engine import GradeConfig
    from grader.sandbox import Limits
    from grader.train_settings import TrainSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOGRADER_", extra="ignore")

    # grading
    checkpoint: Path | None = None  # default: checkpoints/resnet50_epoch285.ckpt when present
    data_dir: Path | None = None
    rubric: Path | None = None
    threads: int = max(1, os.cpu_count() or 1)
    seed: int = 0
    check_timeout_s: float = 60.0  # import, structure probes and the export of the model as data
    import_timeout_s: float | None = None  # the file's own import within the above; unset: no separate limit
    train_timeout_s: float = 3600.0
    memory_limit_mb: int = 6144
    gpu_memory_mb: int = 8192  # GPU memory per grade (a grade on a GPU); the memory cgroup cannot see it
    max_processes: int = 512
    unsafe_no_sandbox: bool = False
    device: str = "auto"  # fine-tuning device: auto, cpu, cuda, cuda:1
    # bf16 autocast for fine-tuning; unset: on where the device has bf16 in hardware (AMX
    # CPU, GPU), off on an AVX2-only CPU; channels-last on everywhere (bench/RESULTS.md).
    bf16: bool | None = None
    channels_last: bool = True
    # The parsed data set, shared fine-tunes and the reference's expectations (grader/expected.py):
    # AUTOGRADER_CACHE_DIR, else $XDG_CACHE_HOME/autograder, else ~/.cache/autograder. It is
    # never bound into a sandbox (expected.usable_cache_dir refuses one that would be).
    xdg_cache_home: Path | None = Field(default=None, validation_alias="XDG_CACHE_HOME")
    cache_dir: Path = Field(default=None, validate_default=True)  # type: ignore[assignment]

    skip_training: bool = False  # structure only (e.g. no data on this host)
    # Keep the next grade's sandboxes started (grader/prestart.py): ~2.5 s less per structure
    # verdict, for ~0.7 GB of waiting processes per worker process.
    prestart: bool = True
    verify_timeout_s: float = 30.0  # the trusted checks of one grade's programs (grader/trusted.py)
    # The service's settings (database, broker, sign-in, limits) are service/settings.py's.

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _default_cache_dir(cls, value: object, info: ValidationInfo) -> object:
        """The XDG base-directory rule: a relative XDG_CACHE_HOME is invalid and ignored."""
        if value is not None and value != "":
            return value
        xdg = info.data.get("xdg_cache_home")
        return (xdg if xdg is not None and xdg.is_absolute() else Path.home() / ".cache") / "autograder"

    def default_checkpoint(self) -> Path | None:
        if self.checkpoint is not None:
            return self.checkpoint
        course = PROJECT_ROOT / "checkpoints" / "resnet50_epoch285.ckpt"
        return course if course.is_file() else None

    def grade_config(self, *, skip_training: bool | None = None, rubric: Path | None = None,
                     checkpoint: Path | None = None, data_dir: Path | None = None,
                     check_timeout_s: float | None = None, unsafe: bool = False,
                     prestart: bool | None = None) -> "GradeConfig":
        """The engine's config from these settings; arguments override single fields."""
        from grader.engine import GradeConfig
        from grader.rubric import load_rubric
        from grader.sandbox import Limits

        limits = dict(memory_bytes=self.memory_limit_mb << 20, max_processes=self.max_processes)
        skip = (self.skip_training or (data_dir or self.data_dir) is None) if skip_training is None else skip_training
        return GradeConfig(
            rubric=load_rubric(rubric or self.rubric),
            checkpoint=checkpoint or self.default_checkpoint(),
            data_dir=data_dir or self.data_dir,
            skip_training=skip,  # without a data set there is nothing to fine-tune on: structure only
            check_limits=Limits(wall_seconds=check_timeout_s or self.check_timeout_s,
                                import_seconds=self.import_timeout_s, **limits),
            allow_unsafe=unsafe or self.unsafe_no_sandbox,
            threads=self.threads, seed=self.seed, cache_dir=self.cache_dir,
            verify_limits=Limits(wall_seconds=self.verify_timeout_s, memory_bytes=min(3 << 30, limits["memory_bytes"]),
                                 max_processes=self.max_processes),
            prestart=self.prestart if prestart is None else prestart,
            train=self._train_settings(Limits(wall_seconds=self.train_timeout_s,
                                              gpu_memory_bytes=self.gpu_memory_mb << 20, **limits),
                                       resolve=not skip),
        )

    def _train_settings(self, limits: "Limits", resolve: bool) -> "TrainSettings":
        """Precision decided here, on this host, so that the config key names what was run; not
        for a structure-only grade, which trains nothing (and so needs no torch to start)."""
        from grader.train_settings import TrainSettings, resolve_device, with_precision

        settings = TrainSettings(seed=self.seed, device=self.device, bf16=self.bf16,
                                 channels_last=self.channels_last, limits=limits)
        return with_precision(settings, resolve_device(self.device)) if resolve else settings
