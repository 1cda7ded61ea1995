"""Does `autograder grade` report the accuracy the same weights give in trusted code?

Grades the reference solution through the engine (sandbox, fine-tuning, predictions out,
accuracy computed outside), then runs the same fine-tuning and evaluation directly in this
process with the same seed and settings, and prints both.

    .venv/bin/python -m bench.accuracy_match --checkpoint checkpoints/subset_reference_e15.ckpt
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from bench._common import SUBSET, child_train_module, emit
from grader.data import load_cifar10
from grader.engine import GradeConfig, grade_file
from grader.expected import load_reference
from grader.rubric import SOLUTION
from grader.sandbox import Limits
from grader.training import PRECISIONS, TrainSettings, train_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SUBSET)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="auto",
                        help="auto: bf16 + channels-last where the hardware has bf16, else fp32")
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    settings = TrainSettings(seed=args.seed, **PRECISIONS[args.precision],
                             limits=Limits(wall_seconds=3600))
    with tempfile.TemporaryDirectory() as cache:
        config = GradeConfig(checkpoint=args.checkpoint, data_dir=args.data, skip_training=False,
                             threads=threads, train=settings, cache_dir=Path(cache))
        started = time.perf_counter()
        report = grade_file(SOLUTION, config=config)
        graded_s = time.perf_counter() - started
    assert report.error is None, report.error

    train = child_train_module()
    data = load_cifar10(args.data, cache=False)
    torch.set_num_threads(threads)
    cfg = train.TrainConfig(**train_config(settings, "cpu"))
    model = load_reference().ResNet50_layer4()
    model.load_state_dict(torch.load(args.checkpoint, weights_only=True))
    before = (torch.tensor(train.predict(model, data.test_images, cfg)) == data.test_labels).float().mean().item()
    train.set_determinism(cfg.seed, "cpu")
    started = time.perf_counter()
    train.fine_tune(model, data.train_images, data.train_labels, cfg)
    trusted = (torch.tensor(train.predict(model, data.test_images, cfg)) == data.test_labels).float().mean().item()
    trusted_s = time.perf_counter() - started

    print(f"checkpoint before fine-tuning (trusted): {before:.2%}")
    print(f"grade (sandbox, accuracy outside):      {report.accuracy:.2%}  ({graded_s:.1f} s)")
    print(f"same run in trusted code:               {trusted:.2%}  ({trusted_s:.1f} s)")
    print(f"difference: {abs(report.accuracy - trusted) * 100:.2f} points")
    emit("accuracy_match", {"checkpoint": args.checkpoint.name, "before": before, "graded": report.accuracy,
                            "trusted": trusted, "diff_points": abs(report.accuracy - trusted) * 100})


if __name__ == "__main__":
    main()
