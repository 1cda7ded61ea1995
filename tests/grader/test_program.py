"""The model as data: parsing refuses what is not a ResNet program; facts and runs are ours."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

from grader import facts, shared_finetune, verify
from grader.child import program as P
from grader.expected import load_reference
from grader.report import Training
from grader.rubric import SOLUTION, load_table
from grader.sandbox import Outcome
from grader.training import TrainingResult
from tests.grader.mutations import MUTATIONS


@pytest.fixture(scope="module")
def ref() -> verify.Reference:
    return verify.reference(load_table())


@pytest.fixture(scope="module")
def data(ref: verify.Reference) -> dict:
    return ref.model.to_data()


def refused(data: dict) -> str:
    with pytest.raises(P.ProgramError) as info:
        P.parse(data)
    return str(info.value)


def test_round_trip_keeps_the_program(ref: verify.Reference, data: dict) -> None:
    again = P.parse(json.loads(json.dumps(data)))
    assert again.digest() == ref.model.digest()
    assert {c.op for c in again.calls} <= set(P.ALLOWED)


def test_operator_off_the_list_is_refused(data: dict) -> None:
    bad = copy.deepcopy(data)
    bad["nodes"][0]["op"] = "aten.index.Tensor"
    assert "aten.index.Tensor" in refused(bad)


def test_arguments_are_bound_to_the_schema(data: dict) -> None:
    bad = copy.deepcopy(data)
    conv = next(n for n in bad["nodes"] if n["op"] == "aten.conv2d.default")
    conv["args"][3] = "stride"  # a string where the schema has int[]
    assert "stride" in refused(bad)
    bad = copy.deepcopy(data)
    conv = next(n for n in bad["nodes"] if n["op"] == "aten.conv2d.default")
    conv["args"][1] = {"ref": "not_defined_yet"}
    assert "computed earlier" in refused(bad)
    bad = copy.deepcopy(data)
    add = next(n for n in bad["nodes"] if n["op"] == "aten.add.Tensor")
    add["args"].append(1)  # alpha is keyword-only
    assert "by position" in refused(bad)


def test_sizes_and_constants_are_capped(data: dict) -> None:
    bad = copy.deepcopy(data)
    bad["inputs"][0]["shape"] = [65536, 65536, 1, 1]
    assert "parameter values" in refused(bad)
    bad = copy.deepcopy(data)
    bad["inputs"].insert(0, {"name": "c_table", "kind": "constant_tensor"})
    assert "constant_tensor" in refused(bad)
    bad = copy.deepcopy(data)
    bad["inputs"][0]["dtype"] = "float64"
    assert "dtype" in refused(bad)


def test_huge_intermediate_tensor_is_refused_before_it_runs(data: dict) -> None:
    bad = copy.deepcopy(data)
    conv = next(n for n in bad["nodes"] if n["op"] == "aten.conv2d.default")
    conv["args"][3:5] = [[1, 1], [5000, 5000]]  # padding 5000: a 10 000 × 10 000 map
    checked = verify.check(bad, [1, 3, 32, 32])
    assert checked.program is None and "more than the grader runs" in checked.problem


def test_a_batchnorm_that_does_not_fit_its_input_is_where_the_program_fails(data: dict) -> None:
    """The shape pass's short cut for a standard BatchNorm takes nothing else: a BatchNorm
    whose statistics have another channel count fails there, as the operator would."""
    bad = copy.deepcopy(data)
    bn = next(n for n in bad["nodes"] if n["op"] == "aten.batch_norm.default")
    mean = next(i for i in bad["inputs"] if i["name"] == bn["args"][3]["ref"])
    mean["shape"] = [mean["shape"][0] - 1]
    checked = verify.check(bad, [1, 3, 32, 32])
    assert checked.program is None and "running_mean" in checked.problem, checked.problem


def test_program_computes_the_reference_function(ref: verify.Reference) -> None:
    torch.manual_seed(3)
    model = load_reference().ResNet50_layer4().eval()
    program = P.ProgramModule(ref.model).eval()
    program.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(program(x), model(x))
    program.train()  # batch statistics in training mode, as nn.BatchNorm2d
    model.train()
    assert torch.allclose(program(x), model(x), atol=1e-5)


def test_a_program_module_holds_a_given_state_as_it_is(ref: verify.Reference) -> None:
    """The verifier's runs use the drawn state itself: same function as loading it, no copy,
    and a state that is not the program's is refused."""
    torch.manual_seed(4)
    state = load_reference().ResNet50_layer4().state_dict()
    loaded = P.ProgramModule(ref.model).eval()
    loaded.load_state_dict(state, strict=True)
    held = P.ProgramModule(ref.model, state=state).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(held(x), loaded(x))
    assert held.state_dict()["fc.weight"].data_ptr() == state["fc.weight"].data_ptr()
    with pytest.raises(ValueError, match="keys"):
        P.ProgramModule(ref.model, state={k: v for k, v in state.items() if k != "fc.bias"})
    with pytest.raises(ValueError, match="shape"):
        P.ProgramModule(ref.model, state={**state, "fc.bias": torch.zeros(3)})


def test_facts_are_read_off_the_operators(ref: verify.Reference) -> None:
    rows = {r["path"]: r for r in ref.model_facts.rows}
    assert rows["layer1.0"]["args"] == {"in_channels": 3, "out_channels": 64, "kernel_size": 7, "stride": 2,
                                        "padding": 3, "dilation": 1, "groups": 1, "bias": True}
    assert rows["layer1.3"]["type"] == "MaxPool2d" and rows["layer1.3"]["args"]["padding"] == 1
    assert rows["layer3.3"]["block"] == {"downsample": True, "ctor": [512, 128, 512, True]}
    assert [s["stage"] for s in ref.model_facts.stages] == [
        "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]


def test_labels_do_not_move_parameterised_facts(data: dict) -> None:
    """A conv's path comes from the weight it reads, not from the module-stack label."""
    forged = copy.deepcopy(data)
    for node in forged["nodes"]:
        node["stack"] = [["layer9.9", "Conv2d"]]
    checked = verify.check(forged, [1, 3, 32, 32])
    convs = [r["path"] for r in checked.facts.rows if r["type"] == "Conv2d"]
    assert "layer1.0" in convs and not any(p.startswith("layer9") for p in convs)


def test_avgpool_stride_on_the_whole_map_shares_the_program(data: dict) -> None:
    other = copy.deepcopy(data)
    pool = next(n for n in other["nodes"] if n["op"] == "aten.avg_pool2d.default")
    pool["args"][2] = [1, 1]
    a, b = verify.check(data, [1, 3, 32, 32]), verify.check(other, [1, 3, 32, 32])
    assert a.program.digest() == b.program.digest()
    assert next(r for r in b.facts.rows if r["path"] == "avgpool")["args"]["stride"] == 1  # judged as written
    pool["args"][4:5] = [True]  # ceil_mode: not a case the rewrite knows, so it is left alone
    assert verify.check(other, [1, 3, 32, 32]).program.digest() != a.program.digest()


def test_equivalence_uses_fresh_weights(ref: verify.Reference) -> None:
    same = verify.check(ref.model.to_data(), [1, 3, 32, 32])
    assert verify.equivalence(same, ref, [3, 32, 32], seed=1).ok
    assert len({verify.fresh_seed() for _ in range(4)}) == 4  # per grade, not per file or process


def _mutated(source: str) -> ModuleType:
    """A mutation of the reference loaded in this process (our own test code, not a student's)."""
    module = ModuleType("mutated_reference")
    exec(compile(source, "mutated_reference.py", "exec"), module.__dict__)
    return module


def test_verdicts_do_not_depend_on_the_draw(ref: verify.Reference) -> None:
    """The draw is fresh per grade, the score is not: under every seed the reference's function
    (and an accepted alternative) matches far inside the tolerance, and a wrong function misses
    it by a wide margin (the narrowest here, layer1's padding, by 6.8x at least over 200 draws)."""
    from grader import judge
    from grader.rubric import load_rubric

    rubric, table = load_rubric(), load_table()
    sources = {name: MUTATIONS[name].apply() for name in
               ("stride_on_3x3", "layer1_padding_5_0", "relu_after_addition", "avgpool_stride_1")}
    sources["shortcut_added_twice"] = SOLUTION.read_text().replace("return out + x", "return out + x + x")
    sources["reference"] = SOLUTION.read_text()
    seeds = [1, 2**62 + 12345, 987654321987]  # fixed, so that this test itself does not flicker
    verdicts: dict[str, set] = {}
    for name, source in sources.items():
        module = _mutated(source)
        torch.manual_seed(0)
        checked = verify.check(P.to_data(module.ResNet50_layer4(), torch.randn(2, *table.input)), [1, *table.input])
        assert checked.program is not None, (name, checked.problem)
        for seed in seeds:
            eq = verify.equivalence(checked, ref, list(table.input), seed)
            margin = eq.max_abs_diff / eq.tolerance
            assert margin < 0.01 if eq.ok else margin > 3, (name, seed, margin)
            verdicts.setdefault(f"{name}/model", set()).add(eq.ok)
        if name in ("layer1_padding_5_0", "avgpool_stride_1"):
            continue  # the blocks are the reference's
        for item_id in ("q1_downsample", "q1_no_downsample"):
            item = getattr(rubric, item_id)
            spec = table.probe_blocks[item.block]
            torch.manual_seed(0)
            block = verify.check(P.to_data(module.ResidualBlock(*spec.args), torch.randn(*spec.input)), list(spec.input))
            for seed in seeds:
                graded = judge.judge_block(item, item_id, *verify.block_findings(item.block, block, ref,
                                                                                 list(spec.input), seed),
                                           spec.args, None)
                verdicts.setdefault(f"{name}/{item_id}", set()).add(
                    (graded.points, tuple((d.where, d.points, d.effect) for d in graded.deductions)))
    assert {k: v for k, v in verdicts.items() if len(v) != 1} == {}
    assert {k: v for k, v in verdicts.items() if k.endswith("/model")} == {
        "stride_on_3x3/model": {False}, "layer1_padding_5_0/model": {False}, "relu_after_addition/model": {True},
        "avgpool_stride_1/model": {True}, "shortcut_added_twice/model": {False}, "reference/model": {True}}
    assert verdicts["shortcut_added_twice/q1_downsample"] == {(15, (("forward", 5, "function_change"),))}
    assert verdicts["reference/q1_downsample"] == {(20, ())}


def test_shared_fine_tune_runs_once(tmp_path: Path) -> None:
    runs = []

    def compute() -> TrainingResult:
        runs.append(1)
        outcome = Outcome(status="ok", reason=None, exit_code=0, log="", wall_seconds=1.0,
                          peak_memory_bytes=None, isolation="bubblewrap")
        return TrainingResult(0.5, Training(seed=0, steps=2, used_checkpoint=True, device="cpu"), None, outcome)

    key = shared_finetune.key(program_digest="p", checkpoint_sha256="c", settings={"lr": 1e-3}, data="d")
    first, before = shared_finetune.shared(tmp_path, key, compute)
    second, again = shared_finetune.shared(tmp_path, key, compute)
    assert len(runs) == 1 and (before, again) == (0, 1)
    assert second.accuracy == first.accuracy == 0.5 and second.training.steps == 2
    other = shared_finetune.key(program_digest="p", checkpoint_sha256="c", settings={"lr": 2e-3}, data="d")
    shared_finetune.shared(tmp_path, other, compute)
    assert len(runs) == 2


def test_all_tensors_of_a_forward_are_capped_together(ref: verify.Reference) -> None:
    """Many tensors each under the per-tensor cap still add up: the sum is capped too."""
    assert P.meta_shapes(ref.model, [1, 3, 32, 32])  # the reference: 0.8 M values per image
    with pytest.raises(P.ProgramError, match="so far"):
        P.meta_shapes(ref.model, [1, 3, 32, 32], max_total=500_000)
