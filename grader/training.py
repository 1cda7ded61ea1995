"""The accuracy part of a grade: fine-tune in the sandbox, score the predictions here.

The sandbox gets the training images and labels and the test images; the test labels stay
in this process, which alone turns predictions into accuracy.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch

from grader.data import find_batches_dir, load_cifar10
from grader.plot import loss_curve_svg
from grader.protocol import PROGRESS, Collector, TrainMsg
from grader.report import Error, Item, Training
from grader.rubric import AccuracyItem
from grader.sandbox import Limits, Outcome, Started, start_sandbox
from grader.train_settings import (PRECISIONS, TrainSettings, native_bf16, precision_name,  # noqa: F401
                                   resolve_device, with_precision)
from grader.whole_files import save_whole


@dataclass(frozen=True)
class PreparedData:
    train: Path  # {"images": uint8 N×3×32×32, "labels": int64 N}
    test_images: Path  # {"images": uint8 M×3×32×32}; no labels
    test_labels: torch.Tensor
    n_train: int


@dataclass
class TrainingResult:
    accuracy: float | None
    training: Training | None
    error: Error | None
    outcome: Outcome
    note: str | None = None


def train_config(settings: TrainSettings, device: str) -> dict[str, Any]:
    """The child's TrainConfig fields: the same dict drives the sandbox and trusted re-runs."""
    settings = with_precision(settings, device)
    return {"seed": settings.seed, "batch_size": settings.batch_size, "lr": settings.lr, "epochs": 1,
            "device": device, "bf16": settings.bf16, "channels_last": settings.channels_last,
            "progress_every": settings.progress_every}


def prepare_data(data_dir: Path, work_root: Path, cache_dir: Path | None = None) -> PreparedData:
    """Split the data set into what the sandbox may read and the labels it may not.

    Done once per data-set version in a process: a worker's next grade reuses the files.
    """
    batches = find_batches_dir(data_dir)
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(batches.iterdir())
                  if p.name.startswith(("data_batch_", "test_batch")))
    return _prepare(str(batches), stamp, str(work_root), str(cache_dir) if cache_dir else None)


@lru_cache(maxsize=2)
def _prepare(batches: str, stamp: tuple, work_root: str, cache_dir: str | None) -> PreparedData:
    data = load_cifar10(Path(batches), cache_dir=Path(cache_dir) if cache_dir else None)
    key = hashlib.sha256(repr((batches, stamp)).encode()).hexdigest()[:16]
    folder = Path(work_root) / f"data-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    train, test = folder / "train.pt", folder / "test_images.pt"
    # Written whole (grader/whole_files.py): a pre-started training sandbox may have them open.
    save_whole({"images": data.train_images.contiguous(), "labels": data.train_labels.contiguous()}, train)
    save_whole({"images": data.test_images.contiguous()}, test)
    return PreparedData(train=train, test_images=test, test_labels=data.test_labels.clone(),
                        n_train=int(data.train_images.shape[0]))


def training_inputs(data: PreparedData, checkpoint: Path | None) -> dict[str, Path]:
    """The files a training sandbox reads (bound when it starts, so known before its job)."""
    inputs = {"train": data.train, "test_images": data.test_images}
    if checkpoint is not None:
        inputs["checkpoint"] = checkpoint
    return inputs


def run_training(*, source: Path | None, data: PreparedData, checkpoint: Path | None, settings: TrainSettings,
                 threads: int, allow_unsafe: bool, program: dict[str, Any] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 take: Callable[[], Started] | None = None) -> TrainingResult:
    """Fine-tune in the sandbox: a checked `program` (its data; trusted: our code runs it, no
    student file in the sandbox) or, on the self-reported path, the student's `source`.
    `take`: a started sandbox for training_inputs() (a pre-started one); default: start one."""
    device = resolve_device(settings.device)
    steps_total = -(-data.n_train // settings.batch_size)
    # About 50 curve points however long the epoch; never fewer steps apart than configured.
    train_cfg = {**train_config(settings, device),
                 "progress_every": max(1, min(settings.progress_every, -(-steps_total // 50)))}
    inputs = training_inputs(data, checkpoint)
    collector = Collector(extra={"progress": PROGRESS})

    def on_message(raw: dict[str, Any]) -> None:
        collector(raw)
        if raw.get("type") == "progress" and on_event is not None:
            p = collector.events[-1]
            on_event({"event": "progress", "step": p.step, "steps": p.steps, "loss": p.loss})

    if on_event is not None:
        on_event({"event": "training", "steps": steps_total})
    job = ({"program_train": train_cfg, "program": program} if program is not None
           else {"train": train_cfg, "module_name": "resnet50_skeleton"})
    started = take() if take is not None else start_sandbox(
        inputs=inputs, limits=settings.limits, threads=threads, allow_unsafe=allow_unsafe,
        gpu=device.startswith("cuda"))
    outcome = started.run(submission=None if program is not None else source, job=job, on_message=on_message)
    msg: TrainMsg | None = collector.get("train")
    record = None
    if msg is not None and msg.error is None:
        record = Training(seed=settings.seed, steps=msg.steps, loss_curve=[list(p) for p in msg.loss_curve],
                          used_checkpoint=msg.used_checkpoint, device=device, stopped_early=msg.stopped_early,
                          settings={k: v for k, v in train_cfg.items() if k != "device"},
                          plot_svg=loss_curve_svg(msg.loss_curve) if msg.loss_curve else None)
    if outcome.status != "ok":
        return TrainingResult(None, record, Error(kind=outcome.status, message=f"During fine-tuning your code {outcome.reason}."
                                                  if outcome.status != "crashed" else f"During fine-tuning: {outcome.reason}"),
                              outcome)
    if msg is None:
        return TrainingResult(None, None, Error(kind="crashed", message="Fine-tuning ended without a result."), outcome)
    if msg.error is not None:
        return TrainingResult(None, record, Error(kind="runtime_error", message=f"During fine-tuning: {msg.error.message}",
                                                  line=msg.error.line, traceback=msg.error.traceback), outcome)
    note = None if msg.used_checkpoint else (
        f"Accuracy was measured without the course checkpoint ({(msg.checkpoint_error or '')[:300]}): "
        "training started from the model's own initialisation.")
    if msg.stopped_early:
        return TrainingResult(None, record, None, outcome, note=f"Training stopped: {msg.stopped_early}.")
    n_test = int(data.test_labels.shape[0])
    if len(msg.predictions) != n_test:
        return TrainingResult(None, record, Error(
            kind="crashed", message=f"The model returned {len(msg.predictions)} predictions for {n_test} test images."), outcome)
    predictions = torch.tensor(msg.predictions, dtype=torch.long)
    accuracy = (predictions == data.test_labels).float().mean().item()
    return TrainingResult(accuracy, record, None, outcome, note=note)


# Accuracies are counts over at most ~10^5 test images, computed in float32 (70 % reads 0.69999999),
# and `reference - tolerance` is rounded too: an accuracy this close to a bound is on it.
_SAME = 1e-6


def accuracy_item(rubric: AccuracyItem, result: TrainingResult | None, why_not: str | None = None,
                  reference: float | None = None) -> Item:
    """Points for the accuracy: against the reference's fine-tune by default, or a fixed target.

    Without the course's checkpoint a fixed "80 %" means nothing (the correct file reached
    19.7 % here), so by default full points go to an accuracy within `tolerance` of the
    reference solution's under the same checkpoint, data and settings, linear below.
    """
    feedback: list[str] = []
    points = 0.0
    acc = result.accuracy if result else None
    if acc is not None:
        if rubric.compare == "reference" and reference is not None:
            floor = max(reference - rubric.tolerance, 1e-9)
            points = rubric.points if acc >= floor - _SAME else rubric.points * max(0.0, acc) / floor
            feedback.append(f"Test accuracy {acc:.2%} after one epoch; the reference solution reached "
                            f"{reference:.2%} under the same checkpoint, data and settings (full points "
                            f"within {rubric.tolerance * 100:g} points of it).")
        elif acc >= rubric.target - _SAME:
            points = rubric.points
        elif rubric.scale == "linear":
            points = rubric.points * max(0.0, acc) / rubric.target
        if not feedback:
            feedback.append(f"Test accuracy {acc:.2%} after one epoch; the target is {rubric.target:.0%}.")
    else:
        feedback.append(why_not or (result.error.message if result and result.error else "Not measured."))
    if result and result.note:
        feedback.append(result.note)
    return Item(id="accuracy", title=rubric.title, points=round(points, 4), max_points=rubric.points,
                passed=points >= rubric.points, feedback=feedback)
