"""The judge on findings built here, without a sandbox: points, words and trust per finding.

Each mutation of tests/grader/mutations.py is exported in this process (our own test text),
checked by the verifier's code and judged by judge_report; the points it loses must be the
ones the mutation lists. Findings of source "reported" stand for what a child says of itself.
"""
from __future__ import annotations

from functools import lru_cache
from types import ModuleType

import pytest
import torch

from grader import verify
from grader.child import program as P
from grader.expected import Expected, build_expected
from grader.findings import BlockFacts, BlockFinding, Failure, Findings, ModelFinding
from grader.judge import judge_report
from grader.rubric import SOLUTION, load_rubric, load_table
from tests.grader.mutations import MUTATIONS

TABLE, RUBRIC = load_table(), load_rubric()
SEED = 7


@pytest.fixture(scope="module")
def ref() -> verify.Reference:
    return verify.reference(TABLE)


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Expected:
    return build_expected(TABLE, None, tmp_path_factory.mktemp("expected"))


def _module(source: str) -> ModuleType:
    module = ModuleType("judged_reference")
    exec(compile(source, "judged_reference.py", "exec"), module.__dict__)  # our own test text
    return module


@lru_cache(maxsize=None)
def _verdicts(source: str) -> dict[str, verify.Verdict]:
    """The verifier's verdicts of `source` (exported once per source: the exports take seconds)."""
    return verify.verdicts(_programs(source), verify.reference(TABLE), TABLE, SEED)


def _programs(source: str) -> dict[str, dict]:
    module = _module(source)
    out: dict[str, dict] = {}
    for name, spec in TABLE.probe_blocks.items():
        torch.manual_seed(0)
        out[name] = {"data": P.to_data(module.ResidualBlock(*spec.args), torch.randn(*spec.input))}
    torch.manual_seed(0)
    out[verify.MODEL] = {"data": P.to_data(module.ResNet50_layer4(), torch.randn(2, *TABLE.input))}
    return out


def _findings(verdicts: dict[str, verify.Verdict], expected: Expected) -> Findings:
    """As the engine builds them from verdicts that all have a program."""
    blocks = {name: BlockFinding("program", *verdicts[name].block) for name in TABLE.probe_blocks}  # type: ignore[misc]
    model = verdicts[verify.MODEL]
    assert model.model is not None
    facts, shapes = model.model
    fits = dict(facts.state_dict or []) == expected.checkpoint_shapes
    return Findings(expected=expected, import_failure=None, import_kind=None, import_module=None, imported=True,
                    missing_classes=[], run_error=None, blocks=blocks,
                    model=ModelFinding("program", facts, shapes, checkpoint_loaded=fits,
                                       equivalence=model.equivalence),
                    program_problems={n: v.problem for n, v in verdicts.items()}, seed=SEED)


def _judged(source: str, ref: verify.Reference, expected: Expected) -> dict[str, tuple[float, bool]]:
    verdicts = _verdicts(source)
    judged = judge_report(_findings(verdicts, expected), RUBRIC, TABLE, skip_training=True)
    assert judged.status == "graded" and judged.error is None
    return {i.id: (i.points, i.verified) for i in judged.items if not i.skipped}


EXPORTABLE = [name for name in MUTATIONS if name != "padding0_on_3x3"]  # that one's forward fails: parts


@pytest.mark.parametrize("name", EXPORTABLE)
def test_each_mutation_loses_its_listed_points(name: str, ref: verify.Reference, expected: Expected) -> None:
    mutation = MUTATIONS[name]
    items = _judged(mutation.apply(), ref, expected)
    lost = {item_id: item.points - items[item_id][0] for item_id, item in
            (("q1_downsample", RUBRIC.q1_downsample), ("q1_no_downsample", RUBRIC.q1_no_downsample),
             ("q2_blanks", RUBRIC.q2_blanks), ("q2_layer3", RUBRIC.q2_layer3), ("q2_layer4", RUBRIC.q2_layer4))}
    assert {k: v for k, v in lost.items() if v} == mutation.lost
    assert all(verified for _, verified in items.values())


def test_the_reference_scores_full_marks_verified(ref: verify.Reference, expected: Expected) -> None:
    items = _judged(SOLUTION.read_text(), ref, expected)
    assert sum(p for p, _ in items.values()) == RUBRIC.max_score(with_accuracy=False)
    assert all(v for _, v in items.values())


def test_the_effect_of_a_deduction_is_data(ref: verify.Reference, expected: Expected) -> None:
    """A ReLU after the addition: the block computes the same function on the probe (effect
    "none", said by the check that found it) yet loses the forward's points."""
    verdicts = _verdicts(MUTATIONS["relu_after_addition"].apply())
    judged = judge_report(_findings(verdicts, expected), RUBRIC, TABLE, skip_training=True)
    q1 = next(i for i in judged.items if i.id == "q1_downsample")
    assert [(d.where, d.effect) for d in q1.deductions] == [("forward", "none")]


def test_a_reported_finding_is_never_verified(ref: verify.Reference, expected: Expected) -> None:
    """Rule one: the reference's own facts, said by the child (source "reported"), give points
    that wait for a TA; a program's finding of the same facts is verified."""
    verdicts = _verdicts(SOLUTION.read_text())
    trusted = _findings(verdicts, expected)
    name = RUBRIC.q1_downsample.block
    claimed = dict(trusted.blocks)
    claimed[name] = BlockFinding("reported", trusted.blocks[name].facts, trusted.blocks[name].expected,
                                 problem="the block could not be exported as a program")
    judged = judge_report(Findings(**{**trusted.__dict__, "blocks": claimed}), RUBRIC, TABLE, skip_training=True)
    q1 = {i.id: i for i in judged.items}
    assert q1["q1_downsample"].points == RUBRIC.q1_downsample.points and not q1["q1_downsample"].verified
    assert "could not be exported" in (q1["q1_downsample"].review or "")
    assert q1["q1_no_downsample"].verified and q1["q2_blanks"].verified
    model = trusted.model
    assert model is not None
    reported = ModelFinding("reported", model.facts, model.shapes, checkpoint_loaded=True, problem="refused")
    judged = judge_report(Findings(**{**trusted.__dict__, "model": reported}), RUBRIC, TABLE, skip_training=True)
    assert not any(i.verified for i in judged.items if i.id.startswith("q2_"))


def test_a_block_whose_forward_fails_loses_points_from_our_crash(expected: Expected) -> None:
    """A crash found by composing parts (source "parts"): judged as ours, marked rebuilt."""
    name = RUBRIC.q1_downsample.block
    crash = BlockFacts(modules=[], shape_error=Failure(type="RuntimeError", message="cannot be added"))
    blocks = {n: BlockFinding("program" if n != name else "parts",
                              crash if n == name else BlockFacts(), expected.blocks[n]) for n in TABLE.probe_blocks}
    findings = Findings(expected=expected, import_failure=None, import_kind=None, import_module=None, imported=True,
                        missing_classes=[], run_error=None, blocks=blocks,
                        model=ModelFinding("reported", None, None))
    judged = judge_report(findings, RUBRIC, TABLE, skip_training=True)
    q1 = next(i for i in judged.items if i.id == "q1_downsample")
    assert q1.verified and q1.points < RUBRIC.q1_downsample.points
    assert {d.effect for d in q1.deductions} == {"crash"} and judged.rebuilt == [name]


def test_an_import_failure_rejects_with_the_students_line(expected: Expected) -> None:
    findings = Findings(expected=expected, import_failure=Failure(type="SyntaxError", message="invalid syntax", line=12),
                        import_kind="syntax_error", import_module=None, imported=True, missing_classes=[],
                        run_error=None)
    judged = judge_report(findings, RUBRIC, TABLE, skip_training=True)
    assert judged.status == "rejected" and judged.items == []
    assert judged.error is not None and judged.error.message == "Syntax error on line 12: invalid syntax"


def test_missing_classes_are_named(ref: verify.Reference, expected: Expected) -> None:
    verdicts = _verdicts(SOLUTION.read_text())
    findings = _findings(verdicts, expected)
    judged = judge_report(Findings(**{**findings.__dict__, "missing_classes": ["ResidualBlock"]}), RUBRIC, TABLE,
                          skip_training=True)
    assert judged.error is not None and judged.error.kind == "missing_definition"
    assert "ResidualBlock" in judged.error.message


def test_an_output_unlike_the_references_costs_only_its_block(ref: verify.Reference, expected: Expected) -> None:
    """Our run of one block gave NaN of another size: that block loses its forward's points, the
    other block keeps all of its own."""
    verdicts = _verdicts(SOLUTION.read_text())
    findings = _findings(verdicts, expected)
    name = RUBRIC.q1_downsample.block
    good = findings.blocks[name]
    assert good.facts is not None
    broken = BlockFinding("program", good.facts.model_copy(update={"output": [float("nan")]}), good.expected)
    judged = judge_report(Findings(**{**findings.__dict__, "blocks": {**findings.blocks, name: broken}}),
                          RUBRIC, TABLE, skip_training=True)
    items = {i.id: i for i in judged.items}
    assert judged.status == "graded" and items["q1_downsample"].points < RUBRIC.q1_downsample.points
    assert items["q1_no_downsample"].points == RUBRIC.q1_no_downsample.points


def test_max_score() -> None:
    assert RUBRIC.max_score(with_accuracy=False) == 105
    assert RUBRIC.max_score(with_accuracy=True) == 105 + RUBRIC.accuracy.points
