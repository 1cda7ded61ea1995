"""The rubric file a TA edits, and the table as data against the reference solution."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from grader.engine import GradeConfig, grade_bytes
from grader.expected import load_reference
from grader.rubric import DEFAULT_RUBRIC, RubricError, load_rubric, load_table
from tests.grader.mutations import MUTATIONS


def test_default_rubric_points() -> None:
    r = load_rubric()
    assert (r.q1_downsample.points, r.q1_no_downsample.points, r.q2_blanks.points,
            r.q2_layer3.points, r.q2_layer4.points) == (20, 20, 25, 20, 20)
    assert len(r.q2_blanks.blanks) == 25 and r.accuracy.target == 0.80


def test_table_matches_reference_solution() -> None:
    table = load_table()
    model = load_reference().ResNet50_layer4()
    ref = load_reference()
    for layer, blocks in table.layers.items():
        children = list(getattr(model, layer).children())
        assert len(children) == len(blocks)
        for child, (cin, mid, cout, ds) in zip(children, blocks):
            assert child.downsample == ds
            assert child.layer[0][0].in_channels == cin and child.layer[0][0].out_channels == mid
            assert child.layer[2][0].out_channels == cout
    assert len(model.state_dict()) == 373
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 14.75
    assert isinstance(ref.ResidualBlock(24, 8, 40, True), ref.ResidualBlock)


def test_ta_edit_changes_the_grade(tmp_path: Path, warm: GradeConfig) -> None:
    text = DEFAULT_RUBRIC.read_text().replace("accepted = [1] }", "accepted = [] }")
    text = text.replace("wrong_unit = 5", "wrong_unit = 8")
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    edited = replace(warm, rubric=load_rubric(path))
    avg = grade_bytes(MUTATIONS["avgpool_stride_1"].apply().encode(), filename="a.py", config=edited)
    assert avg.score == 104  # the alternative is no longer accepted
    stride = grade_bytes(MUTATIONS["stride_on_3x3"].apply().encode(), filename="b.py", config=edited)
    assert stride.score == 105 - 16


def test_bad_rubric_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "rubric.toml"
    path.write_text(DEFAULT_RUBRIC.read_text().replace("points = 20", "points = -3", 1))
    with pytest.raises(RubricError, match=r"rubric.toml: q1_downsample.points"):
        load_rubric(path)
