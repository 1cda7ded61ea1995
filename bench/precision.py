"""Is a faster fine-tuning setting (bf16 autocast, channels-last) as accurate as fp32?

Fine-tunes the reference from a checkpoint for one epoch on the real subset with each
setting over several seeds, and prints mean accuracy and step time. A setting is adopted
only where its mean is within 1 point of fp32's on the same seeds.

    .venv/bin/python -m bench.precision --checkpoint checkpoints/subset_reference_e15.ckpt [--seeds 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

import torch

from bench._common import SUBSET, child_train_module, emit, machine_label
from grader.data import load_cifar10
from grader.expected import load_reference
from grader.training import PRECISIONS, native_bf16

def default_settings(device: str) -> list[str]:
    """fp32, channels-last alone, and bf16 only where the hardware has it (emulated it takes hours)."""
    return ["fp32", "fp32+channels_last"] + (["bf16+channels_last"] if native_bf16(device) else [])


def run(checkpoint: Path, data_dir: Path, seeds: int, device: str,
        names: list[str]) -> dict[str, dict[str, float]]:
    train = child_train_module()
    data = load_cifar10(data_dir, cache=False)
    weights = torch.load(checkpoint, weights_only=True)
    results: dict[str, dict[str, float]] = {}
    for name in names:
        extra = PRECISIONS[name]
        accs, secs = [], []
        for seed in range(seeds):
            cfg = train.TrainConfig(seed=seed, device=device, **extra)
            train.set_determinism(seed, device)
            model = load_reference().ResNet50_layer4()
            model.load_state_dict(weights)
            started = time.perf_counter()
            out = train.fine_tune(model, data.train_images, data.train_labels, cfg)
            secs.append((time.perf_counter() - started) / out["steps"])
            pred = torch.tensor(train.predict(model, data.test_images, cfg))
            accs.append((pred == data.test_labels).float().mean().item())
            print(f"{name:20s} seed {seed}: accuracy {accs[-1]:.2%}, {secs[-1]:.3f} s/step", flush=True)
        results[name] = {"mean_accuracy": statistics.mean(accs), "stdev": statistics.pstdev(accs),
                         "s_per_step": statistics.mean(secs), "accuracies": accs}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=SUBSET)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", nargs="+", choices=[p for p in PRECISIONS if p not in ("auto", "fp32")],
                        help="compared with fp32 (default: channels-last, and bf16 where native)")
    parser.add_argument("--save", type=Path, default=Path(__file__).with_name("precision.json"))
    args = parser.parse_args()
    names = ["fp32", *args.settings] if args.settings else default_settings(args.device)
    results = run(args.checkpoint, args.data, args.seeds, args.device, names)
    base = results["fp32"]
    print(f"\n{'setting':20s} {'mean acc':>9s} {'stdev':>7s} {'s/step':>7s} {'speed-up':>8s} {'Δ mean':>7s}  adopt?")
    for name, r in results.items():
        delta = (r["mean_accuracy"] - base["mean_accuracy"]) * 100
        print(f"{name:20s} {r['mean_accuracy']:9.2%} {r['stdev']:7.2%} {r['s_per_step']:7.3f} "
              f"{base['s_per_step'] / r['s_per_step']:7.2f}× {delta:+6.2f}  {'yes' if abs(delta) < 1 else 'no'}")
    emit("precision", {"seeds": args.seeds, "results": results})
    if args.save:  # read by bench.grade_time, which prints this check beside its timing; one entry per machine
        saved = json.loads(args.save.read_text()) if args.save.is_file() else {}
        saved[machine_label(args.device)] = {"date": dt.date.today().isoformat(), "seeds": args.seeds,
                                             "checkpoint": str(args.checkpoint), "results": results}
        args.save.write_text(json.dumps(saved, indent=1))


if __name__ == "__main__":
    main()
