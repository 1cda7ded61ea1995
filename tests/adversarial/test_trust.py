"""Attacks on what the grade believes (issue 12): nothing the student's process says counts
unless our code derived it from the model as data.

Each test fails with its defence switched off (tests/adversarial/switch_off.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from grader.data import load_cifar10
from grader.engine import GradeConfig
from grader.report import Report
from grader.sandbox import Limits
from grader.rubric import SOLUTION
from tests.adversarial.conftest import attack, grade
from tests.conftest import service_cache_dir
from tests.grader.mutations import MUTATIONS

ROOT = Path(__file__).resolve().parents[2]
WRONG = ["stride_on_3x3", "relu_after_addition", "missing_block_layer3", "wrong_num_classes"]


def honest_twin() -> str:
    """A wrong model, written honestly: the stride on the 3×3 conv, a ReLU after the addition,
    three blocks in layer3, 100 classes."""
    source = SOLUTION.read_text()
    for name in WRONG:
        for old, new, count in MUTATIONS[name].edits:
            source = source.replace(old, new, count)
    return source


def forger(export: str) -> str:
    """The reference file, whose every report is honest, but whose programs are the twin's wrong
    model (`export="wrong"`) or whose export is made to fail on purpose (`export="fail"`)."""
    twin = honest_twin()
    wrong = twin[twin.index("class ResidualBlock"):]
    wrong = wrong.replace("ResidualBlock", "_WrongResidualBlock").replace("ResNet50_layer4", "_WrongResNet50_layer4")
    patch = f'''
import sys as _sys

_main = _sys.modules.get("__main__")
if _main is not None and hasattr(_main, "send_program"):
    _send_program = _main.send_program
    _ARGS = {{"downsample": (24, 8, 40, True), "no_downsample": (24, 8, 40, False)}}

    def _forged(channel, name, module, example):
        if {export!r} == "fail":
            channel.send("program", name=name, data=None, error="RuntimeError: made to fail")
            return
        module = _WrongResNet50_layer4() if name == "model" else _WrongResidualBlock(*_ARGS[name])
        _send_program(channel, name, module, example)

    _main.send_program = _forged
'''
    return SOLUTION.read_text() + "\n\n" + wrong + patch


def points(report: Report) -> dict[str, float]:
    return {i.id: i.points for i in report.items if not i.skipped}


@pytest.fixture(scope="module")
def twin(warm: GradeConfig) -> Report:
    report = grade(honest_twin().encode(), warm)
    assert report.status == "graded" and report.score <= 85 and report.provisional_score == 0  # room to forge
    return report


def test_forged_reports_score_what_the_honest_twin_scores(warm: GradeConfig, twin: Report) -> None:
    report = grade(forger("wrong").encode(), warm)
    assert points(report) == points(twin)
    assert report.score == twin.score and report.provisional_score == 0
    assert all(i.verified for i in report.items)


def test_export_failed_on_purpose_counts_nothing_before_review(warm: GradeConfig, twin: Report) -> None:
    report = grade(forger("fail").encode(), warm)
    scored = [i for i in report.items if not i.skipped]
    assert scored and not any(i.verified for i in scored)
    assert report.score == 0 <= twin.score
    assert report.provisional_score > twin.score  # what the forged reports claim: apart, for review
    assert all("Self-reported" in (i.review or "") for i in scored)


def test_claimed_crash_with_a_tree_that_runs_stays_self_reported(warm: GradeConfig) -> None:
    """Export made to fail and the blocks reported as crashing, over a tree that runs: the
    grader's rebuild does not crash, so the claim is not believed."""
    claim = forger("fail") + '''
if _main is not None and hasattr(_main, "run_block"):
    _run_block = _main.run_block

    def _claims_crash(*args, **kwargs):
        result = _run_block(*args, **kwargs)
        result["shape_error"] = {"type": "RuntimeError", "message": "RuntimeError: claimed", "line": None,
                                 "traceback": []}
        return result

    _main.run_block = _claims_crash
'''
    report = grade(claim.encode(), warm)
    blocks = [i for i in report.items if i.id.startswith("q1_")]
    assert blocks and not any(i.verified for i in blocks) and report.score == 0


def empty_layers() -> str:
    """An honest file with layer3 and layer4 left empty (it runs: 256×2×2 is fc's 1024)."""
    source = SOLUTION.read_text()
    for layer in ("layer3", "layer4"):
        start = source.index(f"        self.{layer} = nn.Sequential(\n")
        end = source.index("        )\n", start) + len("        )\n")
        source = source[:start] + f"        self.{layer} = nn.Sequential()\n" + source[end:]
    return source


def forged_tree(source: str) -> str:
    """`source`, plus what a reader of our code would add: at import it makes the model's export
    fail, reports the reference's module tree (with fc taking 1023 features, a defect the old
    rebuild from the tree crashed on) and claims the forward crashed in fc."""
    reference = SOLUTION.read_text()
    ref = reference[reference.index("class ResidualBlock"):]
    ref = ref.replace("ResidualBlock", "_RefResidualBlock").replace("ResNet50_layer4", "_RefResNet50_layer4")
    return source + "\n\n" + ref + '''
import sys as _sys

_main = _sys.modules.get("__main__")
_probe = _sys.modules.get("probe")
if _main is not None and hasattr(_main, "send_program") and _probe is not None:
    _send_program, _describe, _stage_shapes = _main.send_program, _probe.describe_modules, _probe.stage_shapes

    def _no_export(channel, name, module, example):
        if name != "model":
            return _send_program(channel, name, module, example)
        channel.send("program", name=name, data=None, error="RuntimeError: mat1 and mat2 shapes cannot be multiplied")
        return False

    def _forged(root, block_cls=None, recorder=None):
        if not isinstance(root, ResNet50_layer4):
            return _describe(root, block_cls, recorder)
        rows = _describe(_RefResNet50_layer4(), _RefResidualBlock, None)
        for row in rows:
            if row["path"] == "fc":
                row["args"]["in_features"] = 1023
        return rows

    def _crashed(model, x, on_error):
        result = _stage_shapes(model, x, on_error)
        result.update(error={"type": "RuntimeError", "message": "RuntimeError: mat1 and mat2 shapes cannot be "
                             "multiplied (1x1024 and 1023x10)", "line": None, "traceback": []}, failed_stage="fc")
        return result

    _main.send_program, _probe.describe_modules, _probe.stage_shapes = _no_export, _forged, _crashed
'''


def stub() -> str:
    """Nothing of Q1 or Q2 written, as handed out: blocks that return their input, layers 2–4
    empty (it runs: 64×4×4 is fc's 1024)."""
    source = empty_layers()
    start = source.index("class ResidualBlock(nn.Module):")
    end = source.index("#####\n# Question 2")
    source = source[:start] + """class ResidualBlock(nn.Module):
    def __init__(self, in_channels, middle_channels, out_channels, downsample=False):
        super(ResidualBlock, self).__init__()

    def forward(self, x):
        return x


""" + source[end:]
    begin = source.index("        self.layer2 = nn.Sequential(\n")
    close = source.index("        )\n", begin) + len("        )\n")
    return source[:begin] + "        self.layer2 = nn.Sequential()\n" + source[close:]


def test_a_stub_with_a_forged_tree_scores_what_its_twin_scores(warm: GradeConfig) -> None:
    """Through the fork servers, as a worker grades; the next test, on the same defence, grades
    in fresh sandboxes."""
    twin = grade(stub().encode(), warm)
    assert twin.status == "graded" and twin.provisional_score == 0 and twin.score <= 30, points(twin)
    report = grade(forged_tree(stub()).encode(), warm)
    assert report.status == "graded" and report.score <= twin.score, (points(report), points(twin))
    assert report.trust.rebuilt == []


def test_forged_tree_with_a_failed_export_scores_what_its_twin_scores(config: GradeConfig) -> None:
    """Layer3 and layer4 left empty (the twin: 65) with a forged tree and a claimed crash: what the
    child reports is never verified, so the verified score is no higher than the twin's. In fresh
    sandboxes (`config`): the stub's test holds the same defence through the fork servers."""
    twin = grade(empty_layers().encode(), config)
    assert twin.status == "graded" and twin.provisional_score == 0 and twin.score <= 70, points(twin)
    report = grade(forged_tree(empty_layers()).encode(), config)
    assert report.status == "graded" and report.score <= twin.score, (points(report), points(twin))
    model_items = [i for i in report.items if i.id.startswith("q2_")]
    assert model_items and not any(i.verified for i in model_items)
    assert report.trust.rebuilt == [] and "load strictly" not in (report.checks.checkpoint_load.message or "")


LAST_LAYER4 = "            ResidualBlock(1024, 256, 1024, False),  # (B, 1024, 2, 2)\n"
DOWNSAMPLE_LAYER = ("conv1x1(in_channels, middle_channels, 2, 0),\n"
                    "                conv3x3(middle_channels, middle_channels, 1, 1)")


def _dead_block() -> str:
    return SOLUTION.read_text().replace(LAST_LAYER4, "            _DeadBlock(1024, 256, 1024, False),\n", 1) + """

class _DeadBlock(ResidualBlock):
    def forward(self, x):
        return torch.add(x, super().forward(x), alpha=0)
"""


def test_a_dead_block_scores_no_more_than_its_twin(warm: GradeConfig) -> None:
    """Layer4 with five blocks (the twin: count and checkpoint lost), and the same file with a
    sixth block whose output is added times 0: the tree and the checkpoint say six blocks, the
    function is the five-block one; the equivalence guard holds the items for review."""
    twin = grade(SOLUTION.read_text().replace(LAST_LAYER4, "", 1).encode(), warm)
    report = grade(_dead_block().encode(), warm)
    assert report.checks.equivalence.checked and not report.checks.equivalence.ok
    assert report.checks.equivalence.differs_at == "layer4.5"
    assert report.score <= twin.score, (points(report), points(twin))
    assert all(not i.verified and "equivalence" in (i.review or "") for i in report.items if i.id.startswith("q"))


def test_a_probe_aware_block_scores_no_more_than_its_twin(warm: GradeConfig, structure_report) -> None:
    """The stride placed right only in blocks of the probes' size (40 output channels): the probe
    looks perfect, every downsampling block of the real model is wrong, and Q1 is read off those."""
    source = SOLUTION.read_text()
    twin = structure_report(MUTATIONS["stride_on_3x3"].apply())
    aware = source.replace(DOWNSAMPLE_LAYER, "conv1x1(in_channels, middle_channels, 2 if out_channels == 40 else 1, 0),\n"
                           "                conv3x3(middle_channels, middle_channels, 1 if out_channels == 40 else 2, 1)", 1)
    report = grade(aware.encode(), warm)
    q1 = next(i for i in report.items if i.id == "q1_downsample")
    assert not any(d.where.startswith("layer[") for d in q1.deductions)  # the probe is fooled...
    assert {d.where for d in q1.deductions} == {"model.layer[0]", "model.layer[1]"}  # ...the model's blocks are not
    assert report.score <= twin.score and q1.verified, (points(report), points(twin))
    assert report.checks.equivalence.differs_at == "layer2.2"


def test_the_rubric_may_deduct_instead(warm: GradeConfig) -> None:
    from dataclasses import replace

    from grader.rubric import EquivalenceRule

    rubric = warm.rubric.model_copy(update={"equivalence": EquivalenceRule(on_differs="deduct", points=5)})
    report = grade(_dead_block().encode(), replace(warm, rubric=rubric))
    blanks = next(i for i in report.items if i.id == "q2_blanks")
    assert blanks.points == 20 and blanks.deductions[-1].where == "forward" and report.score == 100, (
        blanks.review, report.sandbox.get("export"), report.sandbox.get("verify"))
    assert all(i.verified for i in report.items)


def _lookup(config: GradeConfig) -> dict[tuple[float, float], int]:
    """What an attacker builds from the public test labels: image fingerprint → label,
    for the images as the course's test transform hands them to forward."""
    from grader.augment import normalize

    data = load_cifar10(config.data_dir, cache=False)
    images = normalize(data.test_images)
    return {(round(float(i.double().sum()), 2), round(float(i.flatten()[0]), 3)): int(y)
            for i, y in zip(images, data.test_labels)}


def test_label_lookup_forward_gets_no_more_than_the_honest_model(train_warm: GradeConfig, honest: Report) -> None:
    report = grade(attack("label_lookup", LOOKUP=_lookup(train_warm)), train_warm)  # as a training worker grades
    item = next(i for i in report.items if i.id == "accuracy")
    assert report.accuracy is None or report.accuracy <= honest.accuracy
    assert not item.verified and report.trust.programs["model"] is not None
    assert report.score <= honest.score


def test_extra_epochs_change_nothing(train_warm: GradeConfig, honest: Report) -> None:
    report = grade(attack("extra_epochs"), train_warm)  # as a training worker grades
    assert report.accuracy == honest.accuracy
    assert report.training.loss_curve == honest.training.loss_curve
    assert report.trust.fine_tune in ("ran", "shared")


def test_message_flood_keeps_the_grader_small(config: GradeConfig) -> None:
    me = psutil.Process()
    before = me.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], me.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        report = grade(attack("message_flood"), config)
    finally:
        done.set()
        sampler.join()
    assert report.status == "rejected" and "did not ask for" in report.error.message
    assert peak[0] - before < 300 << 20, f"the grader grew by {(peak[0] - before) >> 20} MiB"


ODD_CTOR = [("ResidualBlock(256, 128, 512, False),", "ResidualBlock([256, 0], 128, 512, False),", 1),
            ("        super(ResidualBlock, self).__init__()\n",
             "        super(ResidualBlock, self).__init__()\n"
             "        in_channels = in_channels[0] if isinstance(in_channels, list) else in_channels\n", 1)]


def _odd(off_list: bool) -> str:
    source = SOLUTION.read_text()
    for old, new, count in ODD_CTOR:
        source = source.replace(old, new, count)
    if off_list:  # an operator no ResNet needs: graded from the child's own report
        source = source.replace("        out = self.fc(out)\n", "        out = self.fc(out)\n        out = out * 1.0\n")
    return source


def test_odd_constructor_argument_gets_a_graded_report(warm: GradeConfig) -> None:
    """Through the fork servers; test_cli_goes_on_to_the_next_file grades the same file cold."""
    report = grade(_odd(off_list=True).encode(), warm)
    assert report.status == "graded" and len(report.items) == 6
    layer3 = next(i for i in report.items if i.id == "q2_layer3")
    assert any("could not be graded" in f for f in layer3.feedback)
    assert next(i for i in report.items if i.id == "q1_downsample").points == 20
    # On the trusted path the same file is read off its operators: plain integers, full marks.
    trusted = grade(_odd(off_list=False).encode(), warm)
    assert trusted.score == 105


def test_cli_goes_on_to_the_next_file(tmp_path: Path, test_checkpoint: Path) -> None:
    odd = tmp_path / "a" / "resnet50_skeleton.py"
    odd.parent.mkdir()
    odd.write_text(_odd(off_list=True))
    out = tmp_path / "reports.json"
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "grade", str(odd), str(SOLUTION), "--skip-training",
                           "--checkpoint", str(test_checkpoint), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "AUTOGRADER_CACHE_DIR": str(service_cache_dir())})
    assert proc.returncode == 0, proc.stderr[-2000:]
    reports = json.loads(out.read_text())
    assert [r["status"] for r in reports] == ["graded", "graded"]
    assert reports[1]["score"] == 105


def test_a_program_slow_to_check_stalls_only_its_own_check(config: GradeConfig) -> None:
    """The model sent as the reference's function plus dead convolutions as costly as the size
    caps allow (~1.3 s of checking here, against ~0.5 s for an honest grade): the trusted check
    runs in a sandbox of its own under its own time limit (here 0.75 s), so the grade ends on
    time, and nothing it could not check counts before review."""
    from dataclasses import replace

    from grader import prestart

    quick = replace(config, prestart=True, verify_limits=Limits(wall_seconds=0.75))
    try:
        grade(SOLUTION.read_bytes(), quick)  # starts the sandboxes the next grade takes, warm
        time.sleep(8)
        started = time.perf_counter()
        report = grade(attack("slow_to_check"), quick)
        took = time.perf_counter() - started
    finally:
        prestart.pool().close()
    assert "did not finish" in (report.trust.programs["model"] or ""), report.trust.programs
    assert report.sandbox["verify"]["status"] == "timeout"
    model_items = [i for i in report.items if i.id.startswith("q2_")]
    assert model_items and not any(i.verified for i in model_items) and report.provisional_score > 0
    assert took < 20, f"the grade took {took:.1f} s"
