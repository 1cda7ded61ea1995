"""The loss-curve SVG embedded in reports and on the result page."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from grader.plot import HEIGHT, PAD, WIDTH, loss_curve_svg


def test_points_fall_inside_the_axes_and_follow_the_loss() -> None:
    svg = loss_curve_svg([[10, 2.3], [20, 1.9], [30, 1.2]])
    ET.fromstring(svg)  # well-formed
    pts = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert [x for x, _ in pts] == sorted(x for x, _ in pts)
    assert all(PAD <= x <= WIDTH - PAD and PAD <= y <= HEIGHT - PAD for x, y in pts)
    assert pts[0][1] < pts[-1][1]  # a falling loss goes down the page (SVG y grows downward)


def test_single_point_is_visible_and_empty_is_empty() -> None:
    assert svg_circles(loss_curve_svg([[6, 2.89]])) == 1
    assert loss_curve_svg([]) == ""
    assert "<script" not in loss_curve_svg([[1, 1.0], [2, 0.5]])


def svg_circles(svg: str) -> int:
    return svg.count("<circle")


def test_axes_are_named_with_units_and_ticked_at_page_width() -> None:
    svg = loss_curve_svg([[10, 2.44], [20, 1.9], [30, 1.2], [40, 0.9]])
    root = ET.fromstring(svg)
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("training step" in t and "100 images" in t for t in texts)  # x: what a step is
    assert any(t.startswith("loss") and "cross-entropy" in t for t in texts)  # y: which loss
    assert {"10", "40"} <= set(texts) and {"2.44", "0.90"} <= set(texts)  # the ends of both axes
    assert int(root.get("width")) >= 600 and int(root.get("font-size")) >= 13
