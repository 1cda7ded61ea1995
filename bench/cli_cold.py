"""Wall and CPU time of a cold `autograder grade --skip-training` (one file, a new process each
run), as a TA runs it, with the reference's expectations computed or read from the disk cache.

Each run is `/usr/bin/time -v python -m grader.cli grade FILE --skip-training --json OUT`;
wall, user and system CPU are that process's and its waited children's (the sandboxes). The
engine's own timings (report.timings: reference = the expectations, total) come from the JSON.

    .venv/bin/python -m bench.cli_cold                     # this checkout, cache miss then hit
    .venv/bin/python -m bench.cli_cold --root ../other     # another checkout (e.g. main), same files
    .venv/bin/python -m bench.cli_cold --runs 3 --cache hit

Cache modes: `miss`: an empty AUTOGRADER_CACHE_DIR for every run; `hit`: one folder filled by an
uncounted run first. A checkout without the cache behaves as `miss` in both.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._common import REPO, emit
from tests.grader.mutations import MUTATIONS

_TIME_FIELDS = {"wall": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)",
                "user": r"User time \(seconds\): (\S+)", "sys": r"System time \(seconds\): (\S+)",
                "max_rss_kb": r"Maximum resident set size \(kbytes\): (\S+)"}


def _seconds(clock: str) -> float:
    parts = [float(p) for p in clock.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def one_run(root: Path, file: Path, cache: Path) -> dict[str, Any]:
    """One cold CLI grade: /usr/bin/time -v's figures and the report's timings and score."""
    with tempfile.TemporaryDirectory(prefix="cli-cold-") as tmp:
        out = Path(tmp) / "report.json"
        env = {**os.environ, "PYTHONPATH": str(root), "AUTOGRADER_CACHE_DIR": str(cache)}
        proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "grader.cli", "grade", str(file),
                               "--skip-training", "--json", str(out)],
                              cwd=root, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"grade failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        figures: dict[str, Any] = {}
        for name, pattern in _TIME_FIELDS.items():
            match = re.search(pattern, proc.stderr)
            assert match, (name, proc.stderr[-2000:])
            figures[name] = _seconds(match.group(1)) if name == "wall" else float(match.group(1))
        report = json.loads(out.read_text())[0]
    figures["cpu"] = figures["user"] + figures["sys"]
    figures["reference"] = report["timings"].get("reference")
    figures["engine_total"] = report["timings"].get("total")
    figures["score"] = f"{report['score']:g}/{report['max_score']:g}"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="checkout whose grader runs (default: this one)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", choices=("miss", "hit", "both"), default="both")
    args = parser.parse_args()
    root = args.root.resolve()
    with tempfile.TemporaryDirectory(prefix="cli-cold-files-") as tmp:
        broken = Path(tmp) / "resnet50_skeleton.py"
        broken.write_text(MUTATIONS["stride_on_3x3"].apply())
        files = {"reference": root / "reference" / "resnet50_solution.py", "stride_on_3x3": broken}
        modes = ("miss", "hit") if args.cache == "both" else (args.cache,)
        print(f"checkout {root}")
        print(f"{'file':<15} {'cache':<5} {'run':>3} {'wall s':>7} {'cpu s':>6} {'user':>6} {'sys':>5} "
              f"{'ref s':>6} {'engine s':>8} {'rss MB':>7} score")
        summary: dict[str, Any] = {}
        for mode in modes:
            warm = Path(tempfile.mkdtemp(prefix="cli-cold-cache-"))
            if mode == "hit":
                one_run(root, files["reference"], warm)  # uncounted: fills the cache
            for label, file in files.items():
                rows = []
                for i in range(args.runs):
                    cache = warm if mode == "hit" else Path(tempfile.mkdtemp(prefix="cli-cold-cache-"))
                    r = one_run(root, file, cache)
                    rows.append(r)
                    ref = f"{r['reference']:.2f}" if r["reference"] is not None else "—"
                    print(f"{label:<15} {mode:<5} {i + 1:>3} {r['wall']:>7.2f} {r['cpu']:>6.2f} {r['user']:>6.2f} "
                          f"{r['sys']:>5.2f} {ref:>6} {r['engine_total']:>8.2f} {r['max_rss_kb'] / 1024:>7.0f} "
                          f"{r['score']}", flush=True)
                summary[f"{label}/{mode}"] = {k: round(statistics.median(r[k] for r in rows), 2)
                                              for k in ("wall", "cpu", "reference") if rows[0][k] is not None}
        emit("cli_cold", {"root": str(root), "runs": args.runs, "median": summary})


if __name__ == "__main__":
    main()
