"""Tests for the sandbox child's fine-tuning step (grader/child/train.py, batches.py).

The child modules are imported the way the sandbox imports them: grader/child at the front
of sys.path, as top-level modules. The test side may import grader.* to compare against.
"""
from __future__ import annotations

import math
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import torch
import torch.nn as nn

from grader.augment import BatchLoader, _crop_flip, normalize, random_crop_flip
from grader.data import CIFAR_MEAN, CIFAR_STD, make_synthetic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "grader" / "child"))
import batches  # noqa: E402  (the sandbox's import style)
import train  # noqa: E402

LOG_LINE = re.compile(r"^Epoch \[(\d+)/(\d+)\], Step \[(\d+)/(\d+)\] Loss: (\d+\.\d{4})$")
# A learning rate above the course's 1e-3: 12 steps on the synthetic set must clearly learn.
FAST_LR = 1e-2


@contextmanager
def _two_threads_then_restored() -> Iterator[None]:
    """Two threads while inside; fine_tune sets process-wide determinism flags: put them and the
    thread count back for the other tests."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det, warn_only=warn_only)


@pytest.fixture(autouse=True)
def _two_threads_and_restored_globals() -> Iterator[None]:
    with _two_threads_then_restored():
        yield


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return make_synthetic(n_train=600, n_test=200, seed=0, learnable=True)


def _images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)


def _small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, 10),
    )


def _accuracy(preds: list[int], labels: torch.Tensor) -> float:
    assert len(preds) == len(labels) and all(isinstance(p, int) for p in preds)
    return (torch.tensor(preds) == labels).float().mean().item()


def _train_and_score(data: tuple, model: nn.Module | None = None,
                     **cfg_kwargs: object) -> tuple[dict, list[int], float]:
    train_x, train_y, test_x, test_y = data
    model = _small_cnn() if model is None else model
    cfg = train.TrainConfig(batch_size=50, lr=FAST_LR, log_every=1000, **cfg_kwargs)
    result = train.fine_tune(model, train_x, train_y, cfg)
    preds = train.predict(model, test_x, cfg)
    return result, preds, _accuracy(preds, test_y)


# ----------------------------------------------------------------------------- batches


def test_normalize_and_crop_flip_equal_grader_augment() -> None:
    x = _images(18, seed=1)
    dx = torch.tensor([0, 8, 4, 1, 7, 3] * 3)
    dy = torch.tensor([8, 0, 4, 2, 6, 5] * 3)
    flip = torch.tensor([True, False] * 9)
    assert torch.equal(batches.crop_flip(x, dx, dy, flip, 4), _crop_flip(x, dx, dy, flip, 4))
    assert torch.equal(batches.normalize(x), normalize(x))
    assert batches.CIFAR_MEAN == CIFAR_MEAN and batches.CIFAR_STD == CIFAR_STD


def test_random_crop_flip_equals_grader_augment_for_the_same_generator_state() -> None:
    x = _images(40, seed=2)
    ours = batches.random_crop_flip(x, torch.Generator().manual_seed(3))
    theirs = random_crop_flip(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(ours, theirs)


def test_padding_is_zero_before_normalisation() -> None:
    x = torch.full((1, 3, 32, 32), 200, dtype=torch.uint8)
    out = batches.normalize(batches.crop_flip(x, torch.tensor([0]), torch.tensor([0]), torch.tensor([False])))
    mean, std = torch.tensor(CIFAR_MEAN).view(3, 1, 1), torch.tensor(CIFAR_STD).view(3, 1, 1)
    torch.testing.assert_close(out[0, :, :4, :], ((0 - mean) / std).expand(3, 4, 32))
    torch.testing.assert_close(out[0, :, 4:, 4:], ((200 / 255 - mean) / std).expand(3, 28, 28))


def test_random_crop_flip_is_per_sample_and_seeded() -> None:
    # one image repeated: any difference between samples comes from per-sample draws
    x = _images(1, seed=4).expand(64, -1, -1, -1).contiguous()
    a = batches.random_crop_flip(x, torch.Generator().manual_seed(5))
    b = batches.random_crop_flip(x, torch.Generator().manual_seed(5))
    c = batches.random_crop_flip(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    params = [_params_of(a[i], x[0]) for i in range(len(a))]
    assert {bool(f) for _, _, f in params} == {False, True}
    assert len({(int(dx), int(dy)) for dx, dy, _ in params}) > 10, "samples share their crop"


def _params_of(out: torch.Tensor, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (dx, dy, flip) that turns img into out (the first found); fails if there is none."""
    for dx in range(9):
        for dy in range(9):
            for f in (False, True):
                params = (torch.tensor([dx]), torch.tensor([dy]), torch.tensor([f]))
                if torch.equal(_crop_flip(img[None], *params, 4)[0], out):
                    return params
    raise AssertionError("output is not a crop/flip of the input")


@pytest.mark.parametrize("channels_last", [False, True])
def test_iterate_equals_batch_loader_over_two_epochs(channels_last: bool) -> None:
    images, labels = _images(130, seed=7), torch.arange(130)
    loader = BatchLoader(images, labels, batch_size=50, shuffle=True, augment=True, seed=11,
                         channels_last=channels_last)
    for epoch in range(2):
        expected = list(loader)
        got = list(batches.iterate(images, labels, batch_size=50, seed=11, epoch=epoch, shuffle=True,
                                   augment=True, channels_last=channels_last))
        assert [len(y) for _, y in got] == [50, 50, 30]
        for (x, y), (ex, ey) in zip(got, expected):
            assert torch.equal(x, ex) and torch.equal(y, ey)
            assert x.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_fine_tune_trains_on_the_course_batches(data: tuple) -> None:
    """What the model sees is exactly BatchLoader's shuffled, augmented, normalised batches."""
    train_x, train_y, _, _ = data
    seen: list[torch.Tensor] = []
    model = _small_cnn()
    model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    train.fine_tune(model, train_x[:130], train_y[:130], train.TrainConfig(seed=3, batch_size=50))
    loader = BatchLoader(train_x[:130], train_y[:130], batch_size=50, shuffle=True, augment=True, seed=3)
    expected = [x for x, _ in loader]
    assert len(seen) == len(expected) == 3
    assert all(torch.equal(a, b) for a, b in zip(seen, expected))


# ----------------------------------------------------------------------------- training


def test_fine_tune_learns_the_synthetic_set(data: tuple) -> None:
    result, preds, acc = _train_and_score(data)
    assert result["steps"] == 12 and result["stopped_early"] is None
    assert [p[0] for p in result["loss_curve"]] == [10, 12]
    assert result["seconds"] > 0
    assert acc > 0.6, f"accuracy {acc:.3f} after one epoch (chance is 0.1)"
    assert result["loss_curve"][-1][1] < 2.2


def test_predict_is_eval_mode_argmax_of_normalised_images(data: tuple) -> None:
    _, _, test_x, _ = data
    model = _small_cnn(seed=1)
    model.train()
    with torch.no_grad():  # give BatchNorm running stats unlike any single batch's
        model(normalize(test_x[:64]) * 3 + 1)
    preds = train.predict(model, test_x, train.TrainConfig(eval_batch_size=64))
    assert not model.training
    with torch.no_grad():
        expected = model(normalize(test_x)).argmax(1).tolist()
    assert preds == expected


def test_same_seed_same_run_other_seed_other_run(data: tuple) -> None:
    first, preds_a, _ = _train_and_score(data, seed=5, progress_every=2)
    second, preds_b, _ = _train_and_score(data, seed=5, progress_every=2)
    other, _, _ = _train_and_score(data, seed=6, progress_every=2)
    assert len(first["loss_curve"]) == 6
    assert first["loss_curve"] == second["loss_curve"]
    assert preds_a == preds_b
    assert other["loss_curve"] != first["loss_curve"]


class _BreaksAt(nn.Module):
    """Logits turn NaN (or the label-0 logit -inf, an infinite loss) from forward call `start`."""

    def __init__(self, start: int, kind: str) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
        self.start, self.kind, self.calls = start, kind, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.net(x)
        if self.calls < self.start:
            return out
        if self.kind == "nan":
            return out * float("nan")
        return out.index_fill(1, torch.tensor([0]), float("-inf"))


@pytest.mark.parametrize(("start", "kind", "every", "steps", "curve"), [
    (1, "nan", 1, 1, []),
    (4, "nan", 2, 4, [2]),  # checked every 2 steps, still names the exact step
    (3, "nan", 5, 5, []),
    (1, "inf", 3, 3, []),
])
def test_non_finite_loss_stops_early(data: tuple, start: int, kind: str, every: int, steps: int,
                                     curve: list[int]) -> None:
    train_x, train_y, _, _ = data
    calls: list[dict] = []
    cfg = train.TrainConfig(batch_size=50, progress_every=every, log_every=1000)
    result = train.fine_tune(_BreaksAt(start, kind), train_x, train_y, cfg, on_progress=calls.append)
    label = "NaN" if kind == "nan" else "inf"
    assert result["stopped_early"] == f"loss became {label} at step {start}"
    assert result["steps"] == steps < 12
    assert [p[0] for p in result["loss_curve"]] == curve == [c["step"] for c in calls]
    assert all(math.isfinite(p[1]) for p in result["loss_curve"])


def test_progress_cadence_and_course_log_line(data: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    train_x, train_y, _, _ = data
    calls: list[dict] = []
    cfg = train.TrainConfig(batch_size=50, progress_every=5, log_every=4)
    result = train.fine_tune(_small_cnn(), train_x, train_y, cfg, on_progress=calls.append)
    assert [c["step"] for c in calls] == [5, 10, 12]
    assert all(c["steps"] == 12 and c["epoch"] == 1 for c in calls)
    assert [[c["step"], c["loss"]] for c in calls] == result["loss_curve"]
    lines = capsys.readouterr().out.splitlines()
    assert [LOG_LINE.match(line) is not None for line in lines] == [True] * 3, lines
    assert [line.split(" Loss")[0] for line in lines] == [
        "Epoch [1/1], Step [4/12]", "Epoch [1/1], Step [8/12]", "Epoch [1/1], Step [12/12]"]
    assert lines[-1].endswith(f"Loss: {result['loss_curve'][-1][1]:.4f}")


def test_two_epochs_count_steps_and_log_per_epoch(data: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    train_x, train_y, _, _ = data
    calls: list[dict] = []
    cfg = train.TrainConfig(batch_size=100, epochs=2, progress_every=4, log_every=3)
    result = train.fine_tune(_small_cnn(), train_x, train_y, cfg, on_progress=calls.append)
    assert result["steps"] == 12
    assert [(c["step"], c["epoch"]) for c in calls] == [(4, 1), (8, 2), (12, 2)]
    heads = [line.split(" Loss")[0] for line in capsys.readouterr().out.splitlines()]
    assert heads == ["Epoch [1/2], Step [3/6]", "Epoch [1/2], Step [6/6]",
                     "Epoch [2/2], Step [3/6]", "Epoch [2/2], Step [6/6]"]


class _LossByEpoch(nn.Module):
    """For all-zero labels: loss ln(10) for the first `switch` forward calls, then about 0."""

    def __init__(self, switch: int) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))
        self.switch, self.calls = switch, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = x.new_zeros(x.shape[0], 10) + 0 * self.unused
        return out if self.calls <= self.switch else out.index_fill(1, torch.tensor([0]), 30.0)


def test_running_mean_restarts_each_epoch() -> None:
    images, labels = _images(120, seed=9), torch.zeros(120, dtype=torch.long)
    cfg = train.TrainConfig(batch_size=20, epochs=2, progress_every=1, log_every=1000)
    curve = train.fine_tune(_LossByEpoch(switch=6), images, labels, cfg)["loss_curve"]
    assert [p[0] for p in curve] == list(range(1, 13))
    assert curve[5][1] == pytest.approx(math.log(10), rel=1e-6)
    assert curve[6][1] < 1e-6, "epoch 2's running mean still holds epoch 1's losses"


def test_partial_last_batch_is_trained(data: tuple) -> None:
    train_x, train_y, _, _ = data
    sizes: list[int] = []
    model = _small_cnn()
    model.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
    result = train.fine_tune(model, train_x[:130], train_y[:130], train.TrainConfig(batch_size=50))
    assert sizes == [50, 50, 30] and result["steps"] == 3


@pytest.fixture(scope="module")
def fp32_accuracy(data: tuple) -> float:
    """The fp32 run each setting is held to: the same for every parameter, so trained once (as
    the tests run: the autouse fixture, function-scoped, comes after this one)."""
    with _two_threads_then_restored():
        return _train_and_score(data)[2]


@pytest.mark.parametrize(("bf16", "channels_last"), [(True, False), (False, True), (True, True)])
def test_bf16_and_channels_last_train_like_fp32(data: tuple, fp32_accuracy: float, bf16: bool,
                                                channels_last: bool) -> None:
    fp32_acc = fp32_accuracy
    conv_dtypes: list[torch.dtype] = []
    layouts: list[bool] = []
    model = _small_cnn()
    model[0].register_forward_hook(lambda _m, _a, out: conv_dtypes.append(out.dtype))
    model[0].register_forward_pre_hook(
        lambda _m, a: layouts.append(a[0].is_contiguous(memory_format=torch.channels_last)))
    result, _, acc = _train_and_score(data, model, bf16=bf16, channels_last=channels_last)
    assert result["stopped_early"] is None
    assert set(conv_dtypes) == {torch.bfloat16 if bf16 else torch.float32}
    assert set(layouts) == {channels_last}
    assert acc > 0.6 and abs(acc - fp32_acc) <= 0.1, (acc, fp32_acc)


class _ReturnsTuple(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (x.flatten(1)[:, :10],)


def test_config_and_input_checks(data: tuple) -> None:
    with pytest.raises(ValueError, match="progress_every"):
        train.TrainConfig(progress_every=0)
    with pytest.raises(ValueError, match="uint8"):
        train.fine_tune(_small_cnn(), torch.rand(4, 3, 32, 32), torch.zeros(4, dtype=torch.long),
                        train.TrainConfig())
    with pytest.raises(TypeError, match="logits"):
        train.predict(_ReturnsTuple(), data[2][:4], train.TrainConfig())
