"""Fine-tuning through the real sandbox on small data; accuracy computed outside it.

What a file's fine-tune scores (a checkpoint that does not load, NaN, limits, a model that does
not build or crashes) is graded as a training worker grades it (`train_warm`: the structure
checks from warm fork servers); the match with a trusted run and the pre-started comparison
keep `train_config` (everything started on demand)."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from grader.data import load_cifar10
from grader.engine import GradeConfig, grade_bytes
from grader.rubric import SOLUTION
from grader.sandbox import Limits
from grader.training import TrainSettings
from grader.training import train_config as child_config
from tests.conftest import SHARED_DATA, THREADS, held_open

CHILD_DIR = Path(__file__).resolve().parents[2] / "grader" / "child"


def grade(source: str, config: GradeConfig, events: list | None = None):
    return grade_bytes(source.encode(), filename="resnet50_skeleton.py", config=config,
                       on_event=events.append if events is not None else None)


def trusted_accuracy(config: GradeConfig) -> float:
    """The same fine-tuning run directly in this process, without the grader."""
    sys.path.insert(0, str(CHILD_DIR))
    try:
        import train
        from grader.expected import load_reference

        data = load_cifar10(config.data_dir, cache=False)
        cfg = train.TrainConfig(**child_config(config.train, "cpu"))
        train.set_determinism(cfg.seed, "cpu")
        model = load_reference().ResNet50_layer4()
        model.load_state_dict(torch.load(config.checkpoint, weights_only=True))
        train.fine_tune(model, data.train_images, data.train_labels, cfg)
        predictions = torch.tensor(train.predict(model, data.test_images, cfg))
        return (predictions == data.test_labels).float().mean().item()
    finally:
        sys.path.remove(str(CHILD_DIR))
        torch.use_deterministic_algorithms(False)


def test_grade_trains_and_matches_trusted_run(train_config: GradeConfig, tmp_path: Path) -> None:
    # A cache of its own: an earlier test may have fine-tuned this very program already,
    # and a shared fine-tune sends no progress events.
    train_config = replace(train_config, cache_dir=tmp_path)
    events: list = []
    first = grade(SOLUTION.read_text(), train_config, events)
    second = grade(SOLUTION.read_text(), train_config)
    assert first.status == "graded" and first.error is None
    assert first.accuracy is not None and first.accuracy > 0.2  # chance is 0.1
    assert first.accuracy == second.accuracy  # deterministic
    assert first.training.loss_curve == second.training.loss_curve
    assert first.training.used_checkpoint and first.training.steps == 4
    assert first.max_score == 115
    assert abs(first.accuracy - trusted_accuracy(train_config)) <= 0.005
    steps = [e["step"] for e in events if e["event"] == "progress"]
    assert steps == [1, 2, 3, 4]
    assert first.training.plot_svg.startswith("<svg") and "polyline" in first.training.plot_svg
    # The reference's own fine-tune is the yardstick: the reference file matches it exactly.
    assert first.reference_accuracy == first.accuracy
    item = next(i for i in first.items if i.id == "accuracy")
    assert item.points == 10 and item.verified
    # The second grade of the identical program reuses the first one's fine-tune.
    # ... and says only that: no count of the other grades that had the same program (issue 25).
    assert second.trust.fine_tune == "shared" and "shared_with" not in second.model_dump_json()
    assert any("Reused the fine-tune of an identical model" in f
               for f in next(i for i in second.items if i.id == "accuracy").feedback)


def test_a_fine_tune_in_a_prestarted_sandbox_equals_one_started_on_demand(train_config: GradeConfig,
                                                                          tmp_path: Path, honest) -> None:
    """A worker's next fine-tune runs in a sandbox started (and warmed up: one optimizer step of
    our own tiny model) while it waited at idle priority: the same accuracy and losses."""
    from grader import prestart

    cold = honest  # the run's on-demand fine-tune of the reference (tests/conftest.py)
    ahead = replace(train_config, cache_dir=tmp_path / "b", share_fine_tunes=False, prestart=True)
    try:
        first = grade(SOLUTION.read_text(), ahead)
        waiting = [k for k in prestart.pool()._waiting if k[0] == "train"]
        assert waiting  # the next fine-tune's sandbox is already started
        second = grade(SOLUTION.read_text(), ahead)  # ... and this grade's fine-tune ran in it
    finally:
        prestart.pool().close()
    assert cold.accuracy is not None
    for report in (first, second):
        assert report.trust.fine_tune == "ran"
        assert report.accuracy == cold.accuracy
        assert report.training.loss_curve == cold.training.loss_curve


def test_checkpoint_that_does_not_load_trains_from_own_init(train_warm: GradeConfig) -> None:
    source = SOLUTION.read_text().replace("num_classes=10", "num_classes=12")
    report = grade(source, train_warm)
    assert report.accuracy is not None and not report.training.used_checkpoint
    item = next(i for i in report.items if i.id == "accuracy")
    assert any("without the course checkpoint" in f for f in item.feedback)


# `out * 1.0` is an operator no ResNet of this assignment needs: such a model is not checked
# as a program, so its own code is fine-tuned (self-reported path) and these limits apply.
OFF_LIST = "        out = self.fc(out)\n        out = out * 1.0\n"


def test_nan_loss_stops_early(train_warm: GradeConfig) -> None:
    source = SOLUTION.read_text().replace(
        "        out = self.fc(out)\n", OFF_LIST + "        if self.training:\n            out = out * float('nan')\n")
    report = grade(source, train_warm)
    assert report.accuracy is None and "NaN" in report.training.stopped_early
    item = next(i for i in report.items if i.id == "accuracy")
    assert item.points == 0 and any("NaN" in f for f in item.feedback) and not item.verified


def test_forward_that_sleeps_while_training_times_out(train_warm: GradeConfig) -> None:
    source = SOLUTION.read_text().replace(
        "        out = self.fc(out)\n", OFF_LIST + "        if self.training:\n            import time; time.sleep(3600)\n")
    config = replace(train_warm, train=replace(train_warm.train, limits=Limits(wall_seconds=15)))
    report = grade(source, config)
    assert report.error.kind == "timeout" and "fine-tuning" in report.error.message
    # Structure kept: the blocks are checked programs (40), the model's 65 points self-reported.
    assert report.accuracy is None and (report.score, report.provisional_score) == (40, 65)


def test_training_mode_code_of_the_student_never_runs(train_warm: GradeConfig) -> None:
    """On the trusted path our code trains the checked program: a forward that misbehaves
    only in training mode changes nothing (here it would sleep past the limit)."""
    source = SOLUTION.read_text().replace(
        "        out = self.fc(out)\n", "        out = self.fc(out)\n        if self.training:\n            import time; time.sleep(3600)\n")
    config = replace(train_warm, train=replace(train_warm.train, limits=Limits(wall_seconds=60)))
    report = grade(source, config)
    assert report.error is None and report.accuracy is not None and report.score == 115


def test_model_that_does_not_build_is_not_trained(train_warm: GradeConfig) -> None:
    source = SOLUTION.read_text().replace("class ResNet50_layer4(", "class Other(")
    report = grade(source, train_warm)
    assert report.training is None and report.accuracy is None
    item = next(i for i in report.items if i.id == "accuracy")
    assert item.points == 0 and "Not trained" in item.feedback[0]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the real CIFAR-10 subset (../shared) is absent")
def test_real_subset_one_epoch(test_checkpoint: Path, tmp_path: Path) -> None:
    config = GradeConfig(checkpoint=test_checkpoint, data_dir=SHARED_DATA, skip_training=False, threads=THREADS,
                         cache_dir=tmp_path, train=TrainSettings(limits=Limits(wall_seconds=900)))
    report = grade(SOLUTION.read_text(), config)
    assert report.error is None and report.training.steps == 52  # 5 170 images, batch 100
    # Verified (the checked program fine-tuned); if not, why the model was not checked.
    assert report.accuracy is not None, (report.trust, [i.review for i in report.items if i.id == "accuracy"],
                                         report.sandbox.get("verify"))
    # About 50 curve points at most: every 2nd of 52 steps.
    assert 0.0 <= report.accuracy <= 1.0 and len(report.training.loss_curve) == 26
    assert "Epoch [1/1], Step [" not in report.log or "Loss:" in report.log


def _cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_data_prepared_again_leaves_the_files_a_sandbox_has_open_whole(synthetic: Path, tmp_path: Path) -> None:
    """A worker prepares a data set's files again when its memo dropped them (a third data set):
    a pre-started training sandbox may have the old ones open; they are replaced, not rewritten."""
    from grader import training

    first = training.prepare_data(synthetic, tmp_path)
    with held_open([first.train, first.test_images]) as changed:
        training._prepare.cache_clear()  # as an eviction from the memo does
        again = training.prepare_data(synthetic, tmp_path)
        assert (again.train, again.test_images) == (first.train, first.test_images)
        assert changed() == [], "written in place"
    assert torch.equal(torch.load(again.train, weights_only=True)["labels"],  # and the new file is whole
                       load_cifar10(synthetic, cache=False).train_labels)


def test_precision_follows_the_hardware_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.settings import Settings
    from grader.training import native_bf16, with_precision

    # The kernel's own reading of the CPU, independent of torch's.
    assert native_bf16("cpu") == bool({"amx_bf16", "avx512_bf16"} & _cpu_flags())
    auto = with_precision(TrainSettings(), "cpu")
    assert auto.bf16 == native_bf16("cpu") and auto.channels_last is True
    forced = with_precision(TrainSettings(bf16=True, channels_last=False), "cpu")
    assert (forced.bf16, forced.channels_last) == (True, False)
    monkeypatch.setenv("AUTOGRADER_DEVICE", "cpu")
    monkeypatch.setenv("AUTOGRADER_BF16", "false")
    train = Settings().grade_config().train
    assert train.bf16 is False and train.channels_last is True


def test_verified_crash_is_not_trained_and_not_self_reported(train_warm: GradeConfig) -> None:
    from tests.grader.mutations import MUTATIONS

    report = grade(MUTATIONS["padding0_on_3x3"].apply(), train_warm)
    item = next(i for i in report.items if i.id == "accuracy")
    assert report.trust.rebuilt == ["downsample", "no_downsample", "model"]
    assert item.verified and item.points == 0 and item.feedback[0].startswith("Not trained: the forward fails")
    assert report.training is None and report.provisional_score == 0 and report.score == 95
