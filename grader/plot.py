"""A small SVG of the loss curve for the report.

Hand-written: one polyline and two axes do not justify matplotlib's 40 MB and import time.
"""
from __future__ import annotations

from typing import Sequence

WIDTH, HEIGHT, PAD = 360, 180, 32


def loss_curve_svg(points: Sequence[Sequence[float]]) -> str:
    """[[step, loss], ...] → a self-contained SVG document (no scripts, no external refs)."""
    pts = [(float(s), float(v)) for s, v in points]
    if not pts:
        return ""
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    xspan, yspan = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def xy(step: float, loss: float) -> tuple[float, float]:
        return (PAD + (step - x0) / xspan * (WIDTH - 2 * PAD),
                HEIGHT - PAD - (loss - y0) / yspan * (HEIGHT - 2 * PAD))

    coords = [xy(s, v) for s, v in pts]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    # Dots show each point where there are few (a short epoch has one or two).
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#1f6feb"/>'
                   for x, y in coords) if len(coords) <= 60 else ""
    bottom, right = HEIGHT - PAD, WIDTH - PAD
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="10">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<line x1="{PAD}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{bottom}" stroke="#444"/>'
        f'<polyline points="{line}" fill="none" stroke="#1f6feb" stroke-width="2"/>{dots}'
        f'<text x="{PAD}" y="{PAD - 8}">loss (running mean) {y1:.3g}</text>'
        f'<text x="{PAD}" y="{bottom + 12}">{y0:.3g} · step {x0:g}</text>'
        f'<text x="{right}" y="{bottom + 24}" text-anchor="end">step {x1:g}</text>'
        f"</svg>"
    )
