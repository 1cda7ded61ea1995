"""The module tree rebuilt by our code: a crash follows from the tree, or there is none."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from grader import rebuild
from grader.child import probe
from grader.rubric import SOLUTION
from tests.grader.mutations import MUTATIONS


def tree(source: str, tmp_path: Path, block: tuple | None = None) -> list[dict]:
    path = tmp_path / "m.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("rebuild_probe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.ResidualBlock(*block) if block else module.ResNet50_layer4()
    return probe.describe_modules(built)


def test_reference_tree_runs(tmp_path: Path) -> None:
    model = rebuild.build(tree(SOLUTION.read_text(), tmp_path), "model")
    assert rebuild.find_crash(model, [1, 3, 32, 32]) is None
    assert len(model.state_dict()) == 373  # the same keys as the course checkpoint
    block = rebuild.build(tree(SOLUTION.read_text(), tmp_path, (24, 8, 40, True)), "block")
    assert rebuild.find_crash(block, [2, 24, 8, 8]) is None


def test_padding_0_tree_crashes_where_the_file_does(tmp_path: Path) -> None:
    source = MUTATIONS["padding0_on_3x3"].apply()
    crash = rebuild.find_crash(rebuild.build(tree(source, tmp_path), "model"), [1, 3, 32, 32])
    assert crash.stage == "layer2" and "cannot be added" in crash.message
    assert [r["stage"] for r in crash.rows] == ["layer1"]


def test_unknown_leaf_is_not_rebuilt(tmp_path: Path) -> None:
    rows = tree(SOLUTION.read_text(), tmp_path)
    rows[2] = {**rows[2], "type": "GELU", "args": {}}
    with pytest.raises(rebuild.RebuildError):
        rebuild.build(rows, "model")
    rows = tree(SOLUTION.read_text(), tmp_path)
    conv = next(r for r in rows if r["type"] == "Conv2d")
    conv["args"]["out_channels"] = 10 ** 9
    with pytest.raises(rebuild.RebuildError):
        rebuild.build(rows, "model")
