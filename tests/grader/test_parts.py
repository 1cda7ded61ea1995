"""A forward that crashes, judged from programs of its parts (grader/child/main.py send_parts,
grader/verify.py composed): our code finds the crash, the facts come from programs."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from grader import verify
from grader.child.program import ProgramError
from grader.protocol import MAX_PARTS, Collector
from grader.rubric import SOLUTION, load_table, part_inputs
from grader.sandbox import ProtocolError
from tests.grader.mutations import MUTATIONS

CHILD = Path(__file__).resolve().parents[2] / "grader" / "child"


@pytest.fixture(scope="module")
def child() -> Any:
    """The sandbox's entry module, imported here to run send_parts on files we trust."""
    sys.path.insert(0, str(CHILD))
    try:
        spec = importlib.util.spec_from_file_location("child_main_for_tests", CHILD / "main.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module
    finally:
        sys.path.remove(str(CHILD))


class Sent:
    def __init__(self) -> None:
        self.parts: dict[str, Any] = {}

    def send(self, kind: str, **msg: Any) -> None:
        assert kind == "program" and msg["data"] is not None
        self.parts[msg["name"].partition("/")[2]] = json.loads(json.dumps(msg["data"]))


def parts_of(child: Any, source: str, tmp_path: Path, block: tuple[int, int, int, bool] | None = None) -> dict[str, Any]:
    path = tmp_path / "resnet50_skeleton.py"
    path.write_text(source)
    module, error = child.import_submission(str(path), f"student_{tmp_path.name}")
    assert error is None
    sent = Sent()
    torch.manual_seed(0)
    if block is None:
        child.send_parts(sent, "model", module.ResNet50_layer4(), torch.randn(2, 3, 32, 32),
                         part_inputs(load_table()), [0])
    else:
        child.send_parts(sent, "downsample", module.ResidualBlock(*block), torch.randn(2, 24, 8, 8), {}, [0])
    return sent.parts


def verdict(name: str, parts: dict[str, Any]) -> verify.Verdict:
    table = load_table()
    found = verify.composed(name, parts, verify.reference(table), table, "export failed", seed=1)
    # and as it travels from the verifier's sandbox
    return verify.verdict_from_message(json.loads(json.dumps(verify.verdict_message(name, found))))


def test_padding_0_crashes_in_the_first_block_with_every_fact_from_programs(child: Any, tmp_path: Path) -> None:
    parts = parts_of(child, MUTATIONS["padding0_on_3x3"].apply(), tmp_path)
    assert {"layer1", "layer2.0.layer", "layer4.5.make_equal_channel", "avgpool", "fc"} <= parts.keys()
    found = verdict("model", parts)
    assert found.problem is None and found.crashed and found.data is None
    model, shapes = found.model
    assert shapes.failed_stage == "layer2" and [r.stage for r in shapes.rows] == ["layer1"]
    assert "layer2.0" in shapes.error.message and "cannot be added" in shapes.error.message
    reference = verify.reference(load_table()).model_facts
    assert dict(model.state_dict) == reference.state  # all 373 tensors, named as the checkpoint's
    blocks = {m.path: m.block.ctor for m in model.modules if m.block is not None}
    assert blocks["layer3.3"] == [512, 128, 512, True] and len(blocks) == 13


def test_a_block_whose_addition_fails(child: Any, tmp_path: Path) -> None:
    parts = parts_of(child, MUTATIONS["padding0_on_3x3"].apply(), tmp_path, block=(24, 8, 40, True))
    assert set(parts) == {"layer", "downsize"}
    block, expected = verdict("downsample", parts).block
    assert block.shape_error is not None and "40×2×2" in block.shape_error.message
    assert [m.type for m in block.modules if m.path.startswith("layer.")].count("Conv2d") == 3


def test_parts_that_run_together_explain_nothing(child: Any, tmp_path: Path) -> None:
    """The reference's parts compose into a forward that runs: a failed export is not a crash."""
    found = verdict("model", parts_of(child, SOLUTION.read_text(), tmp_path))
    assert found.model is None and "run" in found.problem


def test_a_missing_part_leaves_the_verdict_refused(child: Any, tmp_path: Path) -> None:
    parts = parts_of(child, MUTATIONS["padding0_on_3x3"].apply(), tmp_path)
    del parts["layer1"]
    found = verdict("model", parts)
    assert found.model is None and "layer1" in found.problem


def test_the_crash_names_the_programs_own_failure(child: Any, tmp_path: Path) -> None:
    """A first conv that takes 10 channels: the program of layer1 fails on our 3-channel input."""
    source = SOLUTION.read_text().replace("nn.Conv2d(3, 64, 7, 2, 3)", "nn.Conv2d(10, 64, 7, 2, 3)")
    found = verdict("model", parts_of(child, source, tmp_path))
    _, shapes = found.model
    assert shapes.failed_stage == "layer1" and shapes.rows == []
    assert shapes.error.message == ("RuntimeError: a conv that takes 10 input channels gets a 3×32×32 input "
                                    "(3 channels)")


def test_malformed_parts_are_refused_not_raised() -> None:
    assert verdict("model", {"layer1": {"format": 99}}).problem is not None
    assert verdict("model", {str(i): {} for i in range(MAX_PARTS + 1)}).problem == "export failed"


def test_collector_takes_parts_of_asked_programs_only() -> None:
    found = Collector(names=frozenset({"model"}))
    found({"type": "program", "name": "model/layer1", "data": {"x": 1}, "error": None})
    assert found.parts("model") == {"layer1": {"x": 1}}
    with pytest.raises(ProtocolError):
        found({"type": "program", "name": "other/layer1", "data": {"x": 1}, "error": None})
    with pytest.raises(ProtocolError):
        for i in range(MAX_PARTS + 1):
            found({"type": "program", "name": f"model/p{i}", "data": {"x": 1}, "error": None})


def test_part_inputs_follow_the_table() -> None:
    inputs = part_inputs(load_table())
    assert inputs["layer1"] == [3, 32, 32] and inputs["layer2"] == [64, 8, 8] and inputs["fc"] == [1024]
    assert inputs["layer2.2"] == [256, 8, 8] and inputs["layer3"] == [256, 4, 4] and inputs["layer3.1"] == [512, 4, 4]
    assert inputs["layer4.0"] == [512, 2, 2]


def test_program_error_is_a_value_error() -> None:
    assert issubclass(ProgramError, ValueError)  # composed() refuses it with the rest of bad data
