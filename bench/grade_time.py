"""Wall time of a full grade against the pure compute of the same fine-tuning.

Full-size synthetic CIFAR-format data (random uint8), the reference solution and a seeded
checkpoint. Prints: one grade (sandbox start, structure checks, 500 steps, evaluation,
report) cold and warm (a second file in the same process, as a worker grades), the same
training + evaluation run directly in one process, and the ratios.

    .venv/bin/python -m bench.grade_time            # 50 000 / 10 000 (minutes on a CPU)
    .venv/bin/python -m bench.grade_time --smoke    # 500 / 200, seconds
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from bench._common import child_train_module, emit
from grader.data import load_cifar10, make_synthetic, save_cifar10_format
from grader.engine import GradeConfig, grade_file
from grader.expected import load_reference
from grader.rubric import SOLUTION
from grader.sandbox import Limits
from grader.training import TrainSettings, resolve_device, train_config


def pure_compute(data_dir: Path, checkpoint: Path, settings: TrainSettings, threads: int) -> float:
    train = child_train_module()
    data = load_cifar10(data_dir, cache=False)
    device = resolve_device(settings.device)
    cfg = train.TrainConfig(**train_config(settings, device))
    torch.set_num_threads(threads)
    train.set_determinism(cfg.seed, device)
    model = load_reference().ResNet50_layer4()
    model.load_state_dict(torch.load(checkpoint, weights_only=True))
    started = time.perf_counter()
    train.fine_tune(model, data.train_images, data.train_labels, cfg)
    train.predict(model, data.test_images, cfg)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true", help="500 / 200 images")
    parser.add_argument("--fp32", action="store_true", help="fp32 instead of the default bf16 + channels-last")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    n_train, n_test = (500, 200) if args.smoke else (args.train, args.test)
    threads = os.cpu_count() or 1
    settings = TrainSettings(device=args.device, bf16=not args.fp32, channels_last=not args.fp32,
                             limits=Limits(wall_seconds=7200, memory_bytes=16 << 30))
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        root = Path(tmp)
        save_cifar10_format(root / "data", *make_synthetic(n_train, n_test, seed=0, learnable=False))
        checkpoint = root / "reference.ckpt"
        torch.manual_seed(0)
        torch.save(load_reference().ResNet50_layer4().state_dict(), checkpoint)
        config = GradeConfig(checkpoint=checkpoint, data_dir=root / "data", skip_training=False,
                             threads=threads, train=settings, cache_dir=root / "cache")
        rows = {}
        for label in ("cold", "warm"):
            started = time.perf_counter()
            report = grade_file(SOLUTION, config=config)
            rows[label] = time.perf_counter() - started
            assert report.error is None, report.error
            timings = report.timings
            print(f"grade ({label}): {rows[label]:.1f} s — " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()),
                  flush=True)
        compute = pure_compute(root / "data", checkpoint, settings, threads)
    steps = -(-n_train // 100)
    child_peak = (report.sandbox.get("training") or {}).get("peak_memory_bytes")
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(f"peak memory: sandboxed child (cgroup) {child_peak / 2**30 if child_peak else float('nan'):.2f} GiB, "
          f"grader process (RSS, incl. the pure-compute run) {parent_peak / 2**30:.2f} GiB")
    print(f"\n{'what':34s} {'seconds':>8s} {'× compute':>9s}")
    print(f"{'pure compute (' + str(steps) + ' steps + eval)':34s} {compute:8.1f} {1:9.2f}")
    for label, secs in rows.items():
        print(f"{'grade, ' + label:34s} {secs:8.1f} {secs / compute:9.2f}")
    print(f"{'training sandbox only (warm)':34s} {timings['training']:8.1f} {timings['training'] / compute:9.2f}")
    emit("grade_time", {"n_train": n_train, "n_test": n_test, "bf16": settings.bf16,
                        "channels_last": settings.channels_last, "pure_compute_s": compute,
                        "grade_cold_s": rows["cold"], "grade_warm_s": rows["warm"],
                        "ratio_warm": rows["warm"] / compute, "timings_warm": timings,
                        "child_peak_bytes": child_peak, "parent_peak_rss_bytes": parent_peak})


if __name__ == "__main__":
    main()
