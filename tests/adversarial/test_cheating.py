"""Cheats aimed at the accuracy: labels never enter the sandbox and accuracy is computed
outside it, so a patched torch or a disk search gets exactly the honest model's accuracy.
Each is graded as a training worker grades it (`train_warm`: structure checks from warm fork
servers), and held to the reference graded on demand (`honest`)."""
from __future__ import annotations

from grader.engine import GradeConfig
from grader.report import Report
from tests.adversarial.conftest import attack, grade


def test_monkeypatched_torch_gets_the_honest_accuracy(train_warm: GradeConfig, honest: Report) -> None:
    report = grade(attack("monkeypatch_torch"), train_warm)
    assert report.accuracy == honest.accuracy  # were it counted beside the patch: 100 %
    assert report.training.loss_curve == honest.training.loss_curve


def test_searching_the_disk_for_labels_finds_none(train_warm: GradeConfig, honest: Report) -> None:
    report = grade(attack("label_search"), train_warm)
    assert "NO LABELS" in report.log and "LABELS FOUND" not in report.log
    # The student's process never sees the test set at all: the checked program is
    # fine-tuned and evaluated by our code in a sandbox that holds no student file.
    assert "TEST KEYS" not in report.log and report.trust.fine_tune in ("ran", "shared")
    assert report.accuracy == honest.accuracy


def test_self_reported_fine_tune_gets_no_labels_either(train_warm: GradeConfig, honest: Report) -> None:
    """Off the trusted path the student's own code is fine-tuned: the test images come in,
    their labels never do, so even the accuracy shown for review is the honest one."""
    source = attack("label_search").decode().replace(
        "        out = self.fc(out)\n", "        out = self.fc(out)\n        out = out * 1.0\n")
    report = grade(source.encode(), train_warm)
    assert "NO LABELS" in report.log and "LABELS FOUND" not in report.log
    assert "TEST KEYS ['images']" in report.log  # test images come without labels
    assert "INPUTS ['checkpoint', 'test_images', 'train']" in report.log
    assert report.accuracy is None and abs(report.provisional_accuracy - honest.accuracy) <= 0.01
