"""Histograms as inline SVG, drawn on the server: no chart library, no CDN, no JavaScript.

A bar chart of a dozen bins is a few rectangles; a library would add assets to serve and
pin for no gain. Every label is escaped, though today they are all numbers of ours.
"""
from __future__ import annotations

from html import escape
from typing import Callable

from api.class_stats import Bin


def histogram_svg(bins: list[Bin], *, title: str, x_label: str, y_label: str = "students",
                  tick: Callable[[float], str] = lambda v: f"{v:g}", element_id: str = "",
                  width: int = 560, height: int = 260) -> str:
    """Bars with a count above each, bin edges on the x axis, a named axis each way."""
    left, right, top, bottom = 48, 12, 30, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((b.count for b in bins), default=0) or 1
    bar_w = plot_w / max(len(bins), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="{escape(title)}"'
             + (f' id="{escape(element_id)}"' if element_id else "") + ' font-family="system-ui, sans-serif" font-size="13">',
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="18" font-weight="600">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#57606a"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#57606a"/>']
    for i, b in enumerate(bins):
        h = plot_h * b.count / peak
        x = left + i * bar_w
        parts.append(f'<rect class="bar" x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 4, 1):.1f}" '
                     f'height="{h:.1f}" fill="#0969da" data-count="{b.count}"><title>{escape(tick(b.low))}–'
                     f'{escape(tick(b.high))}: {b.count}</title></rect>')
        if b.count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 4:.1f}" text-anchor="middle">{b.count}</text>')
        if i == 0 or tick(b.low) != tick(bins[i - 1].low):  # a label the previous tick already reads is left out
            parts.append(f'<text class="tick" x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                         f'fill="#57606a">{escape(tick(b.low))}</text>')
    if bins and tick(bins[-1].high) != tick(bins[-1].low):
        parts.append(f'<text class="tick" x="{left + plot_w:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                     f'fill="#57606a">{escape(tick(bins[-1].high))}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
                 f'{escape(y_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
