"""GPU figures (issue 16): a full grade's time, throughput with K grades on one card, the memory cap.

Run on a host with a CUDA GPU (the `device` tool's machine, or a course's GPU box):

    python -m bench.gpu                      # 50k/10k synthetic CIFAR-shaped images, K = 1,2,4,8
    python -m bench.gpu --data DIR           # the real CIFAR-10 (or the subset in shared/)
    python -m bench.gpu --smoke              # 2000/500 images, K = 1,2: the path works

Each grade is the real one (engine, sandbox, fine-tuning on the GPU) in its own process, as
K Celery pool processes would run them. Identical programs share one fine-tune
(grader/shared_finetune.py), which would make K copies of one file cost one training: so
grade i uses seed i and each process its own cache folder, and every process first grades
once untimed with another seed (imports, CUDA context, data preparation). K = 1 grades seeds
0..max(K)-1 one after the other; at K = k, k processes grade seeds 0..k-1 at once, each
accuracy compared with the same seed's K = 1 value.

Memory cap: a sandboxed child on the GPU that allocates 1 GiB after 1 GiB without end, under
the per-grade cap, while a normal grade runs beside it: the child must end as `memory_limit`
and the neighbour's accuracy must equal its K = 1 value. (A student's own forward code does
not run in the trusted fine-tune, which trains the model as data; this measures the cap
itself, which holds for any code in a GPU child.)

Prints a table and one JSON line; judges no figure (goals: < 10 s per grade on an H100,
>= 2x throughput at the best K).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

HOG = """import torch, gpu_limit
gpu_limit.apply("cuda")  # what the training child does before its first allocation
hog = []
while True:
    hog.append(torch.empty(1 << 28, device="cuda"))  # 1 GiB more, kept
"""


def _config(data_dir: str, cap_mb: int, device: str, seed: int, cache_dir: str) -> Any:
    from grader.settings import Settings

    return Settings(device=device, data_dir=Path(data_dir), gpu_memory_mb=cap_mb, seed=seed,
                    cache_dir=Path(cache_dir)).grade_config(skip_training=False)


def _grade(config: Any) -> dict[str, Any]:
    from grader.engine import grade_bytes
    from grader.rubric import SOLUTION

    started = time.perf_counter()
    report = grade_bytes(SOLUTION.read_bytes(), filename="resnet50_skeleton.py", config=config)
    ended = time.perf_counter()
    return {"seed": config.seed, "status": report.status, "accuracy": report.accuracy,
            "seconds": ended - started, "start": started, "end": ended, "timings": report.timings,
            "error": report.error.kind if report.error else None}


def _hog(cap_mb: int, out: Any) -> None:
    from grader.sandbox import Limits, run_sandboxed

    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp) / "resnet50_skeleton.py"
        sub.write_text(HOG)
        started = time.perf_counter()
        outcome = run_sandboxed(submission=sub, job={}, inputs={}, gpu=True,
                                limits=Limits(wall_seconds=300, gpu_memory_bytes=cap_mb << 20))
    out.put({"which": "hog", "status": outcome.status, "reason": outcome.reason,
             "seconds": time.perf_counter() - started})


def _worker(seeds: list[int], data_dir: str, cap_mb: int, device: str, cache_dir: str,
            barrier: Any, out: Any) -> None:
    """One pool process: an untimed warm-up grade, then its timed grades once all are ready."""
    _grade(_config(data_dir, cap_mb, device, 10_000 + seeds[0], cache_dir))
    barrier.wait()
    for seed in seeds:
        out.put({"which": "grade", **_grade(_config(data_dir, cap_mb, device, seed, cache_dir))})


def run_round(groups: list[list[int]], data_dir: str, cap_mb: int, device: str, tmp: str,
              with_hog: bool = False) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    barrier, out = ctx.Barrier(len(groups)), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(seeds, data_dir, cap_mb, device,
                                               tempfile.mkdtemp(dir=tmp, prefix="cache-"), barrier, out))
             for seeds in groups]
    if with_hog:
        procs.append(ctx.Process(target=_hog, args=(cap_mb, out)))
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in range(sum(map(len, groups)) + with_hog)]
    for p in procs:
        p.join(timeout=60)
    return results


class GpuUsage:
    """Peak memory in use on the card (all processes) while a round runs, polled from here:
    the child's own max_memory_allocated never leaves the sandbox. Sizes the default cap."""

    def __init__(self, device: str) -> None:
        import threading

        self.device, self.peak, self._stop = device, 0, threading.Event()
        self.baseline = self._used() if device.startswith("cuda") else 0
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _used(self) -> int:
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(self.device))
        return total - free

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self._used())

    def __enter__(self) -> "GpuUsage":
        if self.device.startswith("cuda"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def _wall(results: list[dict[str, Any]]) -> float:
    return max(r["end"] for r in results) - min(r["start"] for r in results)


def main() -> None:
    import torch

    from bench._common import emit
    from grader.data import make_synthetic, save_cifar10_format

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="CIFAR-10 folder (default: synthetic images of the sizes below)")
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--ks", default="1,2,4,8", help="grades at once on the card")
    parser.add_argument("--cap-mb", type=int, default=8192, help="GPU memory per grade")
    parser.add_argument("--smoke", action="store_true", help="2000/500 images, K = 1,2")
    parser.add_argument("--device", default="cuda", help="cpu only to check this script's flow")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    if gpu and not torch.cuda.is_available():
        raise SystemExit("bench.gpu needs a CUDA GPU (torch.cuda.is_available() is False here)")
    if args.smoke:
        args.train, args.test, args.ks = 2000, 500, "1,2"
    ks = sorted(int(k) for k in args.ks.split(","))

    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        data_dir = args.data or str(save_cifar10_format(Path(tmp) / "data", *make_synthetic(args.train, args.test, seed=0)).parent)
        with GpuUsage(args.device) as usage:
            serial = run_round([list(range(ks[-1]))], data_dir, args.cap_mb, args.device, tmp)
        rounds = {k: run_round([[i] for i in range(k)], data_dir, args.cap_mb, args.device, tmp) for k in ks if k > 1}
        cap_round = run_round([[0]], data_dir, args.cap_mb, args.device, tmp, with_hog=gpu)

    by_seed = {r["seed"]: r for r in serial}
    per_grade = sum(r["seconds"] for r in serial) / len(serial)
    figures: dict[str, Any] = {"device": args.device, "n_train": args.train, "n_test": args.test,
                               "cap_mb": args.cap_mb, "full_grade_s": per_grade,
                               "full_grade_timings": serial[0]["timings"],
                               "one_grade_peak_gpu_gib": (usage.peak - usage.baseline) / 2**30,
                               "k": {1: {"grades_per_s": 1 / per_grade, "speedup": 1.0,
                                         "accuracies": [r["accuracy"] for r in serial], "equal_to_k1": True}}}
    print(f"{'K':>3} {'wall s':>8} {'grades/s':>9} {'speed-up':>9}  accuracies (equal to the same seed at K=1)")
    print(f"{1:>3} {per_grade:>8.2f} {1 / per_grade:>9.3f} {1.0:>8.2f}x  {figures['k'][1]['accuracies']}")
    for k, results in rounds.items():
        rate = k / _wall(results)
        accs = [r["accuracy"] for r in sorted(results, key=lambda r: r["seed"])]
        equal = all(r["accuracy"] == by_seed[r["seed"]]["accuracy"] for r in results)
        figures["k"][k] = {"wall_s": _wall(results), "grades_per_s": rate, "speedup": rate * per_grade,
                           "accuracies": accs, "equal_to_k1": equal}
        print(f"{k:>3} {_wall(results):>8.2f} {rate:>9.3f} {rate * per_grade:>8.2f}x  {accs} {'equal' if equal else 'DIFFER'}")
    figures["best_speedup"] = max(v["speedup"] for v in figures["k"].values())
    neighbour = next(r for r in cap_round if r["which"] == "grade")
    hog = next((r for r in cap_round if r["which"] == "hog"), None)
    figures["memory_cap"] = {"hog": hog, "neighbour_accuracy": neighbour["accuracy"],
                             "neighbour_equal_to_k1": neighbour["accuracy"] == by_seed[0]["accuracy"]}
    print(f"one grade's peak on the card: {figures['one_grade_peak_gpu_gib']:.2f} GiB (its CUDA context included)")
    print(f"full grade {per_grade:.2f} s; memory cap: hog -> {hog and (hog['status'], hog['reason'])}; "
          f"neighbour accuracy {neighbour['accuracy']} (K=1: {by_seed[0]['accuracy']})")
    emit("gpu", figures)


if __name__ == "__main__":
    main()
