"""Hostile report PDFs: a parse made to run forever or to take all memory costs its own
verdict, never the caller. Each PDF is real (tests/papers/pdfs.py): PDFium really hangs on
the first and really allocates past 1 GiB on the second.

check_pdf runs in a child process here, watched by the test: if the parse ever ran in the
caller (the "report parser runs in the sandbox" row of switch_off.py), the test stops it at a
deadline or at 1.5 GiB of the caller's own memory and fails, instead of taking the machine.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.papers import pdfs

REPO = Path(__file__).resolve().parents[2]
CALLER = """
import json, sys
from papers.check import PaperLimits, check_pdf
verdict = check_pdf(open(sys.argv[1], "rb").read(), limits=PaperLimits(wall_seconds=float(sys.argv[2])))
print(json.dumps({"ok": verdict.ok, "problem": verdict.problem, "parse": verdict.parse}))
"""
CALLER_RSS = 3 << 29  # 1.5 GiB: the caller's own memory (the sandbox is its own process)


def check_in_a_caller(data: bytes, tmp_path: Path, *, wall_seconds: float, deadline: float) -> tuple[dict[str, Any] | None, str]:
    """Run check_pdf in a fresh process; (its verdict, "") or (None, why it was stopped)."""
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    proc = subprocess.Popen([sys.executable, "-c", CALLER, str(pdf), str(wall_seconds)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    started, peak = time.perf_counter(), 0
    try:
        while proc.poll() is None:
            try:
                peak = max(peak, psutil.Process(proc.pid).memory_info().rss)  # the caller alone
            except psutil.Error:
                pass
            if peak > CALLER_RSS:
                return None, f"the caller itself grew to {peak >> 20} MiB"
            if time.perf_counter() - started > deadline:
                return None, f"check_pdf had not returned after {deadline:g} s"
            time.sleep(0.05)
        out, err = proc.communicate()
        if proc.returncode != 0:
            return None, f"the caller exited with {proc.returncode}: {err.decode()[-500:]}"
        return json.loads(out.decode().strip().splitlines()[-1]), ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(120)
def test_a_pdf_that_never_finishes_rendering_is_stopped_at_the_wall_limit(tmp_path: Path) -> None:
    data = pdfs.shading_bomb_pdf()
    assert len(data) < 10_000
    wall = 3.0
    # the sandbox may extend its deadline by the time a busy machine kept it waiting, up to 3×
    verdict, why = check_in_a_caller(data, tmp_path, wall_seconds=wall, deadline=3 * wall + 20)
    assert verdict is not None, why
    assert not verdict["ok"] and verdict["parse"]["status"] == "timeout"
    assert verdict["problem"].startswith(f"Reading this PDF took longer than {wall:g} s, so it was stopped")


@pytest.mark.timeout(120)
def test_a_pdf_that_expands_past_the_memory_limit_is_stopped(tmp_path: Path) -> None:
    data = pdfs.content_bomb_pdf(8_000_000)  # about 0.6 MB; its page's content is 250 MB of text operators
    assert len(data) < 1 << 20
    verdict, why = check_in_a_caller(data, tmp_path, wall_seconds=20, deadline=80)
    assert verdict is not None, why
    assert not verdict["ok"] and verdict["parse"]["status"] == "memory_limit"
    assert verdict["problem"].startswith("Reading this PDF needed more than 1 GiB of memory, so it was stopped")


def test_page_tree_bombs_get_a_verdict_in_time() -> None:
    """PDFium answers these itself (it counts real pages, bounds its recursion): each is a verdict
    in words within a second or two, and only the first 20 pages are ever read."""
    from papers.check import check_pdf

    lying = check_pdf(pdfs.lying_count_pdf())
    assert lying.ok and lying.pages == 1 and "One real page." in lying.text
    wide = check_pdf(pdfs.wide_tree_pdf(300_000))
    assert wide.ok and wide.pages == 300_000 and len(wide.preview_png) == 2
    assert next(c.message for c in wide.checks if c.name == "pages").startswith("The report has no page of content")
    deep = check_pdf(pdfs.deep_tree_pdf(50_000))
    assert not deep.ok and deep.problem is not None and deep.problem.startswith("None of the PDF's pages could be read")
    nested = check_pdf(pdfs.nested_arrays_pdf(200_000))
    assert nested.ok and nested.pages == 1
    assert max(v.seconds for v in (lying, wide, deep, nested)) < 10
