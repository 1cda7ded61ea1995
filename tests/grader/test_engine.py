"""The engine end to end: real sandbox, real subprocess, reference and mutations."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from grader.engine import GradeConfig, grade_bytes, grade_file
from grader.rubric import SOLUTION
from tests.conftest import THREADS
from tests.grader.mutations import MUTATIONS

FULL = {"q1_downsample": 20, "q1_no_downsample": 20, "q2_blanks": 25, "q2_layer3": 20, "q2_layer4": 20}


def grade_source(source: str, config: GradeConfig):
    return grade_bytes(source.encode(), filename="resnet50_skeleton.py", config=config)


def points(report) -> dict[str, float]:
    return {i.id: i.points for i in report.items if not i.skipped}


def test_reference_gets_full_marks(config: GradeConfig) -> None:
    report = grade_file(SOLUTION, config=config, student_id="2021320322")
    assert report.status == "graded" and report.error is None
    assert points(report) == FULL
    assert report.score == report.max_score == 105
    assert report.submission.student_id == "2021320322"
    assert report.checks.checkpoint_load.ok and report.checks.equivalence.ok
    assert report.checks.shapes.ok and [r.stage for r in report.checks.shapes.rows] == [
        "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]
    assert report.sandbox["isolation"] == "bubblewrap"


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_loses_exactly_its_points(name: str, structure_report) -> None:
    mutation = MUTATIONS[name]
    report = structure_report(mutation.apply())
    assert report.status == "graded"
    want = {k: v - mutation.lost.get(k, 0) for k, v in FULL.items()}
    assert points(report) == want
    for item in report.items:
        if item.id in mutation.lost:
            assert item.deductions, item
            for d in item.deductions:  # every deduction says what, expected what, and the effect
                assert d.message and d.effect in ("shape_change", "function_change", "crash", "none")
    n_alts = sum(len(i.accepted_alternatives) for i in report.items)
    assert n_alts == mutation.alternatives
    # Every real mistake lands on the trusted path: facts from the checked program, or, for a
    # forward that crashes, from the module tree rebuilt by the grader (which crashes too).
    assert all(i.verified for i in report.items) and report.provisional_score == 0, (
        report.sandbox, [(i.id, i.verified) for i in report.items])  # which, and the verifier's outcome


def test_stride_on_3x3_message_names_the_convs(structure_report) -> None:
    report = structure_report(MUTATIONS["stride_on_3x3"].apply())
    item = next(i for i in report.items if i.id == "q1_downsample")
    text = " ".join(item.feedback)
    assert "unit 1 (1×1 conv) stride is 1, the table says 2" in text
    assert "unit 2 (3×3 conv) stride is 2, the table says 1" in text
    assert all(d.effect == "function_change" for d in item.deductions)  # same shapes, other function
    assert not report.checks.equivalence.ok and report.checks.equivalence.max_abs_diff > 0


def test_relu_after_addition_caught_by_the_graph(structure_report) -> None:
    # Both branches end in a ReLU, so relu(out + x) == out + x: the logits stay equal and
    # only the forward's graph shows the extra step.
    report = structure_report(MUTATIONS["relu_after_addition"].apply())
    assert report.checks.checkpoint_load.ok and report.checks.equivalence.ok
    q1 = next(i for i in report.items if i.id == "q1_no_downsample")
    assert [d.where for d in q1.deductions] == ["forward"] and q1.deductions[0].effect == "none"
    assert "relu(add)" in q1.feedback[0]
    # The words agree with the deduction: points are taken off, the function (not the score) is unchanged.
    assert q1.points < q1.max_points and "are taken off" in q1.feedback[0]
    assert "effect on the score" not in q1.feedback[0] and "still computes the checkpoint's function" in q1.feedback[0]


def test_sigmoid_after_addition_changes_the_function(warm: GradeConfig) -> None:
    source = MUTATIONS["relu_after_addition"].apply().replace("torch.relu(out + x)", "torch.sigmoid(out + x)")
    report = grade_source(source, warm)  # what it scores, as a worker grades it
    eq = report.checks.equivalence
    assert eq.checked and not eq.ok and eq.max_abs_diff > eq.tolerance
    q1 = next(i for i in report.items if i.id == "q1_downsample")
    assert q1.points == 15 and q1.deductions[0].effect == "function_change"


def test_padding0_crash_still_grades_structure(structure_report) -> None:
    report = structure_report(MUTATIONS["padding0_on_3x3"].apply())
    shapes = report.checks.shapes
    assert shapes.failed_stage == "layer2" and shapes.first_mismatch == "layer2"
    # found by the grader composing the programs of the model's parts
    assert "in layer2.0, layer(x) is 256×6×6 and the shortcut (make_equal_channel) is 256×8×8" in shapes.error
    assert any("return out + x" in line for line in shapes.traceback)  # the student's line, for feedback
    assert not any("grader" in line for line in shapes.traceback)
    assert all(d.effect == "crash" for i in report.items if i.id.startswith("q1") for d in i.deductions)


def test_wrong_num_classes_checkpoint_and_shapes(structure_report) -> None:
    report = structure_report(MUTATIONS["wrong_num_classes"].apply())
    ck = report.checks.checkpoint_load
    assert not ck.ok and any(m.startswith("fc.weight") for m in ck.mismatched)
    assert report.checks.shapes.first_mismatch == "fc"
    blanks = next(i for i in report.items if i.id == "q2_blanks")
    assert [d.where for d in blanks.deductions] == ["num_classes"]
    assert blanks.deductions[0].found == 100 and blanks.deductions[0].effect == "shape_change"
    assert any("follows num_classes" in a for a in blanks.accepted_alternatives)


def test_missing_block_lists_missing_keys(structure_report) -> None:
    report = structure_report(MUTATIONS["missing_block_layer3"].apply())
    ck = report.checks.checkpoint_load
    assert not ck.ok and any(k.startswith("layer3.3.") for k in ck.missing)
    assert any(k.startswith("layer3.2.downsize.") for k in ck.unexpected)  # block 2 now downsamples


def test_avgpool_alternative_same_function(structure_report) -> None:
    report = structure_report(MUTATIONS["avgpool_stride_1"].apply())
    assert report.score == 105 and report.checks.equivalence.ok
    blanks = next(i for i in report.items if i.id == "q2_blanks")
    assert blanks.accepted_alternatives == ["avgpool.stride = 1 accepted in place of 2"]


def test_structure_only_is_deterministic(config: GradeConfig, structure_report) -> None:
    """A report's draw replayed (what a TA does with trust.draw_seed) gives the same report."""
    source = MUTATIONS["stride_on_3x3"].apply()
    a = structure_report(source)  # the run's one grade of this file, as a worker grades it ...
    b = grade_source(source, replace(config, draw_seed=a.trust.draw_seed))  # ... its draw replayed in fresh sandboxes
    assert a.model_dump(exclude={"timings", "sandbox", "log"}) == b.model_dump(exclude={"timings", "sandbox", "log"})


@pytest.mark.parametrize("name", ["reference", "stride_on_3x3"])
def test_each_grade_draws_fresh_weights_and_inputs_for_the_same_score(name: str, config: GradeConfig,
                                                                      structure_report) -> None:
    """One file graded twice in one process: a new draw each time (recorded), the same grade."""
    source = SOLUTION.read_text() if name == "reference" else MUTATIONS[name].apply()
    a, b = structure_report(source), grade_source(source, config)  # a worker's grade of it, and a cold one
    assert a.trust.draw_seed is not None and b.trust.draw_seed is not None
    assert a.trust.draw_seed != b.trust.draw_seed
    assert a.score == b.score and points(a) == points(b)
    assert [[(d.where, d.points, d.effect) for d in i.deductions] for i in a.items] == \
        [[(d.where, d.points, d.effect) for d in i.deductions] for i in b.items]
    eq_a, eq_b = a.checks.equivalence, b.checks.equivalence
    assert (eq_a.checked, eq_a.ok) == (eq_b.checked, eq_b.ok) == (True, name == "reference")


def test_stages_after_a_crash_are_not_reached(structure_report) -> None:
    report = structure_report(MUTATIONS["padding0_on_3x3"].apply())
    rows = {r.stage: r for r in report.checks.shapes.rows}
    assert report.checks.shapes.failed_stage == "layer2"
    assert rows["layer1"].ok and rows["layer2"].reached
    assert not rows["layer3"].reached and not rows["fc"].reached


def test_without_a_course_checkpoint_the_fit_is_not_the_students_fault(test_checkpoint) -> None:
    from grader.engine import GradeConfig as Config

    source = SOLUTION.read_text().replace("num_classes=10", "num_classes=12")
    report = grade_source(source, Config(checkpoint=None, threads=THREADS))
    ck = report.checks.checkpoint_load
    assert ck.source == "seeded reference weights: no course checkpoint is configured"
    assert not ck.ok and "course checkpoint does not load" not in ck.message and "skeleton" in ck.message


def _sandbox_pids() -> set[int]:
    """This process's sandboxes (bwrap and what it runs: our entries under /opt/autograder)."""
    import psutil

    pids = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            if any(part.startswith("/opt/autograder/") for part in proc.cmdline()):
                pids.add(proc.pid)
        except psutil.Error:
            pass  # gone meanwhile
    return pids


@pytest.mark.parametrize("source", ["import a_module_nobody_has\n", "SOLUTION"])
def test_a_one_off_grade_leaves_no_sandbox_running(source: str, config: GradeConfig) -> None:
    """A one-off grade (no prestart) starts its verifier while its checks run; that sandbox ends
    with the grade, used or not (a file that fails at import leaves nothing to verify)."""
    from grader import verify

    assert not config.prestart
    verify.reference(config.table, config.cache_dir)  # made already: the verifier starts at once
    before = _sandbox_pids()
    report = grade_source(SOLUTION.read_text() if source == "SOLUTION" else source, config)
    assert report.status == ("graded" if source == "SOLUTION" else "rejected")
    for _ in range(15):  # one started late, e.g. by a thread still running, shows within 3 s
        assert _sandbox_pids() - before == set()
        time.sleep(0.2)
