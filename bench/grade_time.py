"""Wall time of a full grade against the pure compute of the same fine-tuning.

Full-size synthetic CIFAR-format data (random uint8), the reference solution and a seeded
checkpoint. Prints: one grade (sandbox start, structure checks, 500 steps, evaluation,
report) cold and warm (a second file in the same process, as a worker grades), the same
training + evaluation run directly in one process, the course's per-image fp32 pipeline
(PIL transforms + DataLoader, bench/per_image.py) for the same steps, the ratios, and the
accuracy check of the settings used (the latest bench.precision run, bench/precision.json).

    .venv/bin/python -m bench.grade_time            # 50 000 / 10 000 (minutes on a CPU)
    .venv/bin/python -m bench.grade_time --smoke    # 200 / 100, seconds
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from bench import per_image
from bench._common import REPO, child_train_module, emit, grade_threads, machine_label
from grader.data import Cifar10, load_cifar10, make_synthetic, save_cifar10_format
from grader.engine import GradeConfig, grade_file
from grader.expected import load_reference
from grader.rubric import SOLUTION
from grader.sandbox import Limits
from grader.training import (PRECISIONS, TrainSettings, precision_name, resolve_device, train_config,
                             with_precision)


def pure_compute(data: Cifar10, checkpoint: Path, settings: TrainSettings, threads: int) -> float:
    train = child_train_module()
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


PRECISION = REPO / "bench" / "precision.json"


def settings_check(settings: TrainSettings, device: str) -> tuple[str, dict | None]:
    """The accuracy check of these settings against fp32, from bench.precision's saved runs:
    this machine's when it has one, else another machine's, named."""
    name = precision_name(settings)
    if name == "fp32":
        return "fp32: the reference setting, no check needed", None
    runs = json.loads(PRECISION.read_text()) if PRECISION.is_file() else {}
    here = machine_label(device)
    found = [(m, r) for m, r in sorted(runs.items(), key=lambda mr: mr[0] != here) if name in r["results"]]
    if not found:
        return f"{name} NOT CHECKED: run `python -m bench.precision --checkpoint ...` first", None
    where, saved = found[0]
    fp32, fast = saved["results"]["fp32"], saved["results"][name]
    delta = (fast["mean_accuracy"] - fp32["mean_accuracy"]) * 100
    line = (f"{name} {fast['mean_accuracy']:.2%} vs fp32 {fp32['mean_accuracy']:.2%} mean over "
            f"{saved['seeds']} seeds on the real subset: {delta:+.2f} points, "
            f"{'within' if abs(delta) < 1 else 'NOT within'} 1 point ({where}, {saved.get('date', '?')})")
    return line, {"setting": name, "machine": where, "delta_points": delta, "seeds": saved["seeds"],
                  "within_1_point": abs(delta) < 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--smoke", action="store_true", help="200 / 100 images (2 steps)")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="auto",
                        help="auto: bf16 + channels-last where the hardware has bf16, else fp32")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-baseline", action="store_true", help="skip the per-image fp32 pipeline")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the per-image baseline")
    args = parser.parse_args()
    n_train, n_test = (200, 100) if args.smoke else (args.train, args.test)
    threads = grade_threads()
    settings = with_precision(TrainSettings(device=args.device, **PRECISIONS[args.precision],
                                            limits=Limits(wall_seconds=7200, memory_bytes=16 << 30)),
                              resolve_device(args.device))
    print(f"precision: bf16 {settings.bf16}, channels-last {settings.channels_last} "
          f"({machine_label(resolve_device(args.device))}, torch {torch.__version__})", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        root = Path(tmp)
        save_cifar10_format(root / "data", *make_synthetic(n_train, n_test, seed=0, learnable=False))
        checkpoint = root / "reference.ckpt"
        torch.manual_seed(0)
        torch.save(load_reference().ResNet50_layer4().state_dict(), checkpoint)
        config = GradeConfig(checkpoint=checkpoint, data_dir=root / "data", skip_training=False,
                             threads=threads, train=settings, cache_dir=root / "cache",
                             share_fine_tunes=False,  # time a real grade: the file's own fine-tune each time
                             prestart=True)  # as a worker grades: the next sandboxes start ahead
        rows = {}
        for label in ("cold", "warm"):
            started = time.perf_counter()
            report = grade_file(SOLUTION, config=config)
            rows[label] = time.perf_counter() - started
            assert report.error is None, report.error
            timings = report.timings
            print(f"grade ({label}): {rows[label]:.1f} s — " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()),
                  flush=True)
        # The grader process as a worker runs it: before this process trains anything itself.
        parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        data = load_cifar10(root / "data", cache=False)  # once, for both runs below
        compute = pure_compute(data, checkpoint, settings, threads)
        steps = -(-n_train // 100)
        baseline = None
        if not args.no_baseline:
            baseline = per_image.run(data, torch.load(checkpoint, weights_only=True),
                                     steps=steps, workers=args.workers, threads=threads)
            print(f"per-image fp32 baseline: train {baseline['train_s']:.1f} s, eval {baseline['eval_s']:.1f} s",
                  flush=True)
    check, check_figures = settings_check(settings, resolve_device(args.device))
    child_peak = (report.sandbox.get("training") or {}).get("peak_memory_bytes")
    print(f"peak memory: sandboxed child (cgroup) {child_peak / 2**30 if child_peak else float('nan'):.2f} GiB, "
          f"grader process (RSS, two grades) {parent_peak / 2**30:.2f} GiB")
    print(f"\n{'what':34s} {'seconds':>8s} {'× compute':>9s}")
    print(f"{'pure compute (' + str(steps) + ' steps + eval)':34s} {compute:8.1f} {1:9.2f}")
    for label, secs in rows.items():
        print(f"{'grade, ' + label:34s} {secs:8.1f} {secs / compute:9.2f}")
    print(f"{'training sandbox only (warm)':34s} {timings['training']:8.1f} {timings['training'] / compute:9.2f}")
    if baseline is not None:
        print(f"{'per-image fp32 baseline':34s} {baseline['total_s']:8.1f} {baseline['total_s'] / compute:9.2f}")
        print(f"grade (warm) / per-image baseline: {rows['warm'] / baseline['total_s']:.2f} (goal ≤ 0.75)")
    print(f"grade (warm) / pure compute: {rows['warm'] / compute:.2f} (goal ≤ 1.10)")
    print(f"settings check: {check}")
    emit("grade_time", {"n_train": n_train, "n_test": n_test, "bf16": settings.bf16,
                        "channels_last": settings.channels_last, "pure_compute_s": compute,
                        "grade_cold_s": rows["cold"], "grade_warm_s": rows["warm"],
                        "ratio_warm": rows["warm"] / compute, "timings_warm": timings,
                        "child_peak_bytes": child_peak, "parent_peak_rss_bytes": parent_peak,
                        "per_image_baseline": baseline, "ratio_warm_to_baseline":
                        rows["warm"] / baseline["total_s"] if baseline else None, "settings_check": check_figures})


if __name__ == "__main__":
    main()
