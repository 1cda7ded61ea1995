"""The course's fine-tuning epoch and test pass, run inside the sandbox on the student's model.

Runs as a top-level module with only grader/child on sys.path, so it imports only the
standard library, torch and its sibling modules. It follows the course's protocol: Adam
(lr 1e-3), CrossEntropyLoss, shuffled batches of 100 with RandomCrop(32, 4) + flip, one
epoch, the `Epoch [1/1], Step [k/500] Loss: x` log line; then eval + no_grad for testing.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
from torch import Tensor

import batches
import gpu_limit


@dataclass(frozen=True)
class TrainConfig:
    """How to fine-tune; the defaults are the course's protocol."""

    seed: int = 0
    batch_size: int = 100
    lr: float = 1e-3
    epochs: int = 1
    device: str = "cpu"
    bf16: bool = False  # autocast bf16 for forward + loss (CPU or GPU)
    channels_last: bool = False
    eval_batch_size: int = 100
    progress_every: int = 10  # steps between progress callbacks and loss-curve points
    log_every: int = 100  # the course's "Epoch [1/1], Step [k/500] Loss: x" cadence

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs", "eval_batch_size", "progress_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be at least 1, got {getattr(self, name)}")


def set_determinism(seed: int, device: str) -> None:
    """Same seed, same machine -> same run: seed torch and pick deterministic kernels."""
    if torch.device(device).type == "cuda":
        # cuBLAS is only deterministic with a fixed workspace; read when its handle is made.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _prepare_model(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    model.to(cfg.device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _autocast(cfg: TrainConfig) -> torch.autocast:
    return torch.autocast(device_type=torch.device(cfg.device).type, dtype=torch.bfloat16, enabled=cfg.bf16)


def _logits(out: Any, n: int) -> Tensor:
    """The model's output, checked, so a wrong forward fails with a message a student can read."""
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != n:
        desc = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
        raise TypeError(f"the model must return a (batch, classes) tensor of logits, got {desc}")
    return out


class _LossLog:
    """Per-step losses kept on the device, read back only at report points.

    Reading a loss forces a device sync, so it happens once per report, not per step; the
    first non-finite step is still found exactly from the stored values.
    """

    def __init__(self, total: int, device: torch.device) -> None:
        self.losses = torch.zeros(total, dtype=torch.float32, device=device)
        self.read = 0  # steps already read back
        self.epoch_sum = 0.0
        self.epoch_count = 0
        self.curve: list[list[int | float]] = []

    def record(self, step: int, loss: Tensor) -> None:
        self.losses[step - 1] = loss.detach().float()

    def new_epoch(self) -> None:
        self.epoch_sum, self.epoch_count = 0.0, 0

    def read_up_to(self, step: int) -> str | None:
        """Fold steps read+1..step into the running mean; the reason to stop, if any."""
        values = self.losses[self.read:step].tolist()
        for i, value in enumerate(values, start=self.read + 1):
            if not math.isfinite(value):
                return f"loss became {'NaN' if math.isnan(value) else 'inf'} at step {i}"
        self.epoch_sum += math.fsum(values)
        self.epoch_count += len(values)
        self.read = step
        return None

    @property
    def running_mean(self) -> float:
        return self.epoch_sum / max(self.epoch_count, 1)


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module,
                x: Tensor, y: Tensor, cfg: TrainConfig) -> Tensor:
    with _autocast(cfg):
        loss = criterion(_logits(model(x), x.shape[0]), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def fine_tune(model: nn.Module, train_images: Tensor, train_labels: Tensor, cfg: TrainConfig,
              on_progress: Callable[[dict], None] | None = None) -> dict:
    """Train `model` in place for cfg.epochs over shuffled, augmented batches (the course's epoch).

    `on_progress` gets {"step", "steps", "loss", "epoch"} every cfg.progress_every global
    steps and at the last one; "loss" is the running mean over the current epoch. Stops at
    the first report point after a non-finite loss. Returns {"steps" (steps run),
    "loss_curve" ([[step, running mean]] at the same points), "stopped_early", "seconds"}.
    """
    batches.check_images(train_images, train_labels)
    n = train_images.shape[0]
    if n == 0:
        raise ValueError("no training images")
    device = torch.device(cfg.device)
    images = train_images.to(device)
    labels = train_labels.to(device, torch.long)
    _prepare_model(model, cfg)
    set_determinism(cfg.seed, cfg.device)
    gpu_limit.apply(cfg.device)  # the grade's GPU memory cap, before the first allocation on the card
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    criterion = nn.CrossEntropyLoss()
    model.train()

    per_epoch = math.ceil(n / cfg.batch_size)
    total = per_epoch * cfg.epochs
    log = _LossLog(total, device)
    started = time.perf_counter()
    step, stopped = 0, None
    for epoch in range(1, cfg.epochs + 1):
        log.new_epoch()
        epoch_batches = batches.iterate(images, labels, batch_size=cfg.batch_size, seed=cfg.seed,
                                        epoch=epoch - 1, shuffle=True, augment=True,
                                        channels_last=cfg.channels_last)
        for i, (x, y) in enumerate(epoch_batches, start=1):
            step += 1
            log.record(step, _train_step(model, optimizer, criterion, x, y, cfg))
            stopped = _report(log, cfg, on_progress, step=step, total=total, epoch=epoch,
                              i=i, per_epoch=per_epoch)
            if stopped:
                break
        if stopped:
            break
    gpu_limit.check_peak(cfg.device)
    return {"steps": step, "loss_curve": log.curve, "stopped_early": stopped,
            "seconds": time.perf_counter() - started}


def _report(log: _LossLog, cfg: TrainConfig, on_progress: Callable[[dict], None] | None, *,
            step: int, total: int, epoch: int, i: int, per_epoch: int) -> str | None:
    """At report points: check the losses, add a curve point, call back, print the course's line."""
    progress = step % cfg.progress_every == 0 or step == total
    course_log = i % cfg.log_every == 0
    if not (progress or course_log or i == per_epoch):
        return None
    stopped = log.read_up_to(step)
    if stopped:
        return stopped
    mean = log.running_mean
    if progress:
        log.curve.append([step, mean])
        if on_progress is not None:
            on_progress({"step": step, "steps": total, "loss": mean, "epoch": epoch})
    if course_log:
        print(f"Epoch [{epoch}/{cfg.epochs}], Step [{i}/{per_epoch}] Loss: {mean:.4f}", flush=True)
    return None


def predict(model: nn.Module, test_images: Tensor, cfg: TrainConfig) -> list[int]:
    """The predicted class of each test image: eval mode, no_grad, normalise only (the course's test)."""
    batches.check_images(test_images, None)
    images = test_images.to(cfg.device)
    _prepare_model(model, cfg)
    model.eval()
    preds: list[Tensor] = []
    test_batches = batches.iterate(images, None, batch_size=cfg.eval_batch_size, seed=cfg.seed,
                                   shuffle=False, augment=False, channels_last=cfg.channels_last)
    with torch.no_grad(), _autocast(cfg):
        for x, _ in test_batches:
            preds.append(_logits(model(x), x.shape[0]).argmax(dim=1))
    return torch.cat(preds).tolist() if preds else []
