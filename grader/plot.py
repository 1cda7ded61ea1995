"""The loss-curve SVG for the report: named axes with units, tick labels, readable at page width.

Hand-written: one polyline and two axes do not justify matplotlib's 40 MB and import time.
"""
from __future__ import annotations

import math
from html import escape
from typing import Sequence

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 20, 20, 56  # room for tick labels and the axis titles
PAD = min(LEFT, RIGHT, TOP, BOTTOM)  # no point is drawn closer to the edge than this
FONT = 14
X_TITLE = "training step (one step = a batch of 100 images)"
Y_TITLE = "loss (cross-entropy, running mean)"


def _ticks(lo: float, hi: float, n: int) -> list[float]:
    """About n round values (1, 2 or 5 times a power of ten apart) from lo to hi, both ends included."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    inner = [k * step for k in range(math.floor(lo / step) + 1, math.ceil(hi / step))]
    return [lo, *(v for v in inner if (v - lo) > step / 3 and (hi - v) > step / 3), hi]


def loss_curve_svg(points: Sequence[Sequence[float]]) -> str:
    """[[step, loss], ...] → a self-contained SVG document (no scripts, no external refs)."""
    pts = [(float(s), float(v)) for s, v in points]
    if not pts:
        return ""
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    xspan, yspan = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT

    def xy(step: float, loss: float) -> tuple[float, float]:
        return (LEFT + (step - x0) / xspan * (right - LEFT), bottom - (loss - y0) / yspan * (bottom - TOP))

    coords = [xy(s, v) for s, v in pts]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    # Dots show each point where there are few (a short epoch has one or two).
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#1f6feb"/>'
                   for x, y in coords) if len(coords) <= 60 else ""
    grid = []
    decimals = min(4, max(0, 2 - math.floor(math.log10(yspan))))  # 2.44 and 0.90 over a span of 1.5
    for v in _ticks(y0, y1, 4):
        _, y = xy(x0, v)
        grid.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#d0d7de"/>'
                    f'<text x="{LEFT - 8}" y="{y + FONT / 3:.1f}" text-anchor="end">{v:.{decimals}f}</text>')
    for s in sorted({round(s) for s in _ticks(x0, x1, 6)}):
        x, _ = xy(s, y0)
        grid.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="#444"/>'
                    f'<text x="{x:.1f}" y="{bottom + FONT + 6}" text-anchor="middle">{s:g}</text>')
    title = f"Fine-tuning loss: {pts[0][1]:.3g} at step {pts[0][0]:g}, {pts[-1][1]:.3g} at step {pts[-1][0]:g}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="{FONT}" fill="#1b1f24">'
        f"<title>{escape(title)}</title>"
        f'<rect width="100%" height="100%" fill="white"/>{"".join(grid)}'
        f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#444"/>'
        f'<polyline points="{line}" fill="none" stroke="#1f6feb" stroke-width="2.5"/>{dots}'
        f'<text x="{(LEFT + right) / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">{X_TITLE}</text>'
        f'<text transform="translate({FONT + 2},{(TOP + bottom) / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{Y_TITLE}</text>'
        f"</svg>"
    )
