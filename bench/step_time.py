"""Seconds per training step for each precision / memory-format setting on this device.

The choice of the default precision rests on this: bf16 autocast pays only where the
device has bf16 in hardware (bench/RESULTS.md). Runs the child's own training step on
synthetic images, after one warm-up epoch per setting; the median of --repeats epochs.

    .venv/bin/python -m bench.step_time [--steps 10] [--repeats 3] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics


from bench._common import child_train_module, emit, machine_label
from grader.data import make_synthetic
from grader.expected import load_reference
from grader.training import PRECISIONS, native_bf16

SETTINGS = {name: extra for name, extra in PRECISIONS.items() if name != "auto"}  # each one fixed


def time_setting(steps: int, repeats: int, device: str, **extra: bool) -> float:
    train = child_train_module()
    images, labels, _, _ = make_synthetic(steps * 100, 10, seed=0)
    cfg = train.TrainConfig(device=device, progress_every=steps, **extra)
    model = load_reference().ResNet50_layer4()
    train.fine_tune(model, images[:200], labels[:200], cfg)  # warm-up: allocator, kernels picked
    return statistics.median(train.fine_tune(model, images, labels, cfg)["seconds"] / steps
                             for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    capability = machine_label(args.device)
    print(f"device {capability}, native bf16: {native_bf16(args.device)}")
    results = {}
    for name, extra in SETTINGS.items():
        results[name] = time_setting(args.steps, args.repeats, args.device, **extra)
        print(f"{name:20s} {results[name]:7.3f} s/step  {results['fp32'] / results[name]:5.2f}× fp32", flush=True)
    emit("step_time", {"capability": capability, "native_bf16": native_bf16(args.device),
                       "steps": args.steps, "repeats": args.repeats, "s_per_step": results})


if __name__ == "__main__":
    main()
