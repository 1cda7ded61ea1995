"""Report PDF check time: check_pdf end to end on a 1-page two-column report, sandbox start
included, median and p95 over N runs; and the language detector's load time and memory.

The PDF is made with reportlab (tests/papers/pdfs.py), laid out like the CVPR template. The
first check_pdf call also pays lingua's load; it is reported apart from the N timed runs.

    .venv/bin/python -m bench.report_parse [--n 10]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time

from bench._common import emit
from papers import language
from papers.check import check_pdf
from papers.parse import parse_pdf
from tests.papers.pdfs import report_pdf


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    data = report_pdf()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    language.detector()
    lingua_s = time.perf_counter() - started
    lingua_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    first = check_pdf(data)
    assert first.ok and first.accuracy is not None, first
    total, sandbox = [], []
    for _ in range(args.n):
        started = time.perf_counter()
        verdict = check_pdf(data)
        total.append(time.perf_counter() - started)
        started = time.perf_counter()
        parse_pdf(data)
        sandbox.append(time.perf_counter() - started)
    print(f"PDF: {len(data)} bytes, {verdict.pages} page, {len(verdict.text)} characters, "
          f"preview {len(verdict.preview_png[0]) * 3 // 4 >> 10} KiB; runs: {args.n}")
    print(f"lingua load (low accuracy, 11 languages): {lingua_s:.2f} s, +{lingua_mb:.0f} MB peak RSS")
    print("| measure | median | p95 | max |\n|---|---|---|---|")
    for name, values in (("check_pdf end to end", total), ("parse in the sandbox alone", sandbox)):
        print(f"| {name} | {statistics.median(values):.3f} s | {percentile(values, 0.95):.3f} s | {max(values):.3f} s |")
    emit("report_parse", {"n": args.n, "check_pdf_median_s": round(statistics.median(total), 3),
                          "check_pdf_p95_s": round(percentile(total, 0.95), 3),
                          "sandbox_median_s": round(statistics.median(sandbox), 3),
                          "lingua_load_s": round(lingua_s, 3), "lingua_rss_mb": round(lingua_mb)})


if __name__ == "__main__":
    main()
