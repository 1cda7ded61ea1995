"""Tests for grader.augment: batch transforms and the on-device BatchLoader."""

from __future__ import annotations

import itertools

import pytest
import torch

from grader.augment import BatchLoader, _crop_flip, normalize, random_crop_flip
from grader.data import CIFAR_MEAN, CIFAR_STD

PAD = 4


def _images(n: int, seed: int = 0, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)


def _reference(img: torch.Tensor, dx: int, dy: int, flip: bool, padding: int = PAD) -> torch.Tensor:
    """torchvision semantics, one image: zero-pad, crop at (dy, dx), then mirror."""
    c, h, w = img.shape
    padded = torch.zeros(c, h + 2 * padding, w + 2 * padding, dtype=img.dtype)
    padded[:, padding : padding + h, padding : padding + w] = img
    crop = padded[:, dy : dy + h, dx : dx + w]
    return crop.flip(-1) if flip else crop


# ----------------------------------------------------------------------------- normalize


def test_normalize_matches_formula() -> None:
    x = _images(5)
    out = normalize(x)
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    expected = (x.double() / 255 - mean.double()) / std.double()
    assert out.dtype == torch.float32 and out.shape == x.shape
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)


def test_normalize_dtype_and_single_image() -> None:
    x = _images(2)
    half = normalize(x, dtype=torch.float16)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), normalize(x), rtol=1e-3, atol=1e-2)
    torch.testing.assert_close(normalize(x[0]), normalize(x)[0])


def test_normalize_rejects_floats() -> None:
    with pytest.raises(TypeError):
        normalize(torch.rand(1, 3, 4, 4))


# ----------------------------------------------------------------------------- crop / flip


def test_crop_flip_matches_per_image_reference() -> None:
    offsets = list(itertools.product([0, 1, 4, 7, 8], [0, 3, 4, 8], [False, True]))
    x = _images(len(offsets), seed=1)
    dx = torch.tensor([o[0] for o in offsets])
    dy = torch.tensor([o[1] for o in offsets])
    flip = torch.tensor([o[2] for o in offsets])
    out = _crop_flip(x, dx, dy, flip, PAD)
    assert out.shape == x.shape and out.dtype == x.dtype
    for i, (ox, oy, f) in enumerate(offsets):
        assert torch.equal(out[i], _reference(x[i], ox, oy, f)), (ox, oy, f)


def test_crop_flip_on_floats_and_other_padding() -> None:
    x = torch.rand(3, 3, 10, 12)
    dx, dy, flip = torch.tensor([0, 2, 4]), torch.tensor([4, 0, 1]), torch.tensor([True, False, True])
    out = _crop_flip(x, dx, dy, flip, 2)
    for i in range(3):
        assert torch.equal(out[i], _reference(x[i], int(dx[i]), int(dy[i]), bool(flip[i]), padding=2))


def test_padding_is_zero_before_normalisation() -> None:
    x = torch.full((1, 3, 32, 32), 200, dtype=torch.uint8)
    out = _crop_flip(x, torch.tensor([0]), torch.tensor([0]), torch.tensor([False]), PAD)
    assert (out[0, :, :PAD, :] == 0).all() and (out[0, :, :, :PAD] == 0).all()
    assert (out[0, :, PAD:, PAD:] == 200).all()


def _matching_params(img: torch.Tensor, out: torch.Tensor) -> list[tuple[int, int, bool]]:
    combos = itertools.product(range(2 * PAD + 1), range(2 * PAD + 1), [False, True])
    return [(dx, dy, f) for dx, dy, f in combos if torch.equal(out, _reference(img, dx, dy, f))]


def test_random_crop_flip_is_a_valid_per_sample_crop() -> None:
    x = _images(24, seed=2)
    out = random_crop_flip(x, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    chosen = []
    for i in range(len(x)):
        params = _matching_params(x[i], out[i])
        assert len(params) == 1, f"sample {i} is not a crop/flip of its input"
        chosen.append(params[0])
    assert len(set(chosen)) > 1, "all samples share the same offsets"
    assert {f for *_, f in chosen} == {False, True}
    assert len({(dx, dy) for dx, dy, _ in chosen}) > 5


def test_random_crop_flip_determinism() -> None:
    x = _images(64, seed=3)
    a = random_crop_flip(x, generator=torch.Generator().manual_seed(5))
    b = random_crop_flip(x, generator=torch.Generator().manual_seed(5))
    c = random_crop_flip(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# ----------------------------------------------------------------------------- BatchLoader


def _collect(loader: BatchLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)  # type: ignore[arg-type]


def test_loader_full_size_batch_count() -> None:
    # one real image expanded to 50 000 views: the loader never copies the data set
    images = torch.zeros(1, 3, 32, 32, dtype=torch.uint8).expand(50_000, -1, -1, -1)
    labels = torch.arange(50_000)
    loader = BatchLoader(images, labels, batch_size=100, shuffle=True, augment=False, seed=0)
    assert len(loader) == 500
    sizes, seen = [], []
    for x, y in loader:
        sizes.append(x.shape[0])
        seen.append(y)
    assert sizes == [100] * 500
    assert torch.equal(torch.cat(seen).sort().values, labels)


def test_loader_shuffled_epoch_covers_each_sample_once_and_keeps_pairs() -> None:
    n = 250
    images = (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).contiguous()
    labels = torch.arange(n)
    loader = BatchLoader(images, labels, batch_size=100, shuffle=True, augment=False, seed=1)
    batches = _collect(loader)
    assert [len(y) for _, y in batches] == [100, 100, 50] and len(loader) == 3
    order = torch.cat([y for _, y in batches])
    assert torch.equal(order.sort().values, labels)
    assert not torch.equal(order, labels), "not shuffled"
    for x, y in batches:
        torch.testing.assert_close(x, normalize(images[y]))


def test_loader_unshuffled_is_in_order() -> None:
    images = _images(30, seed=4)
    labels = torch.arange(30) % 10
    loader = BatchLoader(images, labels, batch_size=8, shuffle=False, augment=False, seed=0)
    xs, ys = zip(*_collect(loader))
    assert torch.equal(torch.cat(ys), labels)
    torch.testing.assert_close(torch.cat(xs), normalize(images))


def test_loader_same_seed_same_batches_and_epochs_differ() -> None:
    images, labels = _images(120, seed=5), torch.arange(120)

    def make(seed: int) -> BatchLoader:
        return BatchLoader(images, labels, batch_size=50, shuffle=True, augment=True, seed=seed)

    a, b, c = make(7), make(7), make(8)
    epoch_a, epoch_b, epoch_c = _collect(a), _collect(b), _collect(c)
    for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(epoch_a[0][1], epoch_c[0][1])
    second_a, second_b = _collect(a), _collect(b)
    assert not torch.equal(second_a[0][1], epoch_a[0][1]), "every epoch reuses one order"
    assert all(torch.equal(p[0], q[0]) for p, q in zip(second_a, second_b))


def test_loader_augments_when_asked() -> None:
    images, labels = _images(40, seed=6), torch.arange(40)
    plain = _collect(BatchLoader(images, labels, batch_size=40, shuffle=False, augment=False, seed=0))
    aug = _collect(BatchLoader(images, labels, batch_size=40, shuffle=False, augment=True, seed=0))
    assert torch.equal(plain[0][0], normalize(images))
    assert not torch.equal(aug[0][0], plain[0][0])
    zero = normalize(torch.zeros(1, 3, 1, 1, dtype=torch.uint8)).view(3)
    # some padded (zero) pixels appear, normalised like a black pixel
    assert (aug[0][0].permute(0, 2, 3, 1) == zero).all(-1).any()


def test_loader_without_labels_yields_images() -> None:
    images = _images(7, seed=7)
    loader = BatchLoader(images, None, batch_size=3, shuffle=False, augment=False, seed=0)
    out = list(loader)
    assert all(isinstance(x, torch.Tensor) for x in out)
    assert [x.shape[0] for x in out] == [3, 3, 1]
    torch.testing.assert_close(torch.cat(out), normalize(images))


def test_loader_dtype_and_channels_last() -> None:
    images, labels = _images(4, seed=8), torch.arange(4)
    loader = BatchLoader(images, labels, batch_size=4, shuffle=False, augment=False, seed=0,
                         dtype=torch.bfloat16, channels_last=True)
    x, y = next(iter(loader))
    assert x.dtype == torch.bfloat16 and y.dtype == torch.int64
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_loader_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        BatchLoader(torch.rand(4, 3, 8, 8), None, shuffle=False, augment=False, seed=0)
    with pytest.raises(ValueError):
        BatchLoader(_images(4), torch.arange(3), shuffle=False, augment=False, seed=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loader_on_cuda_matches_cpu_semantics() -> None:
    images, labels = _images(300, seed=9), torch.arange(300)
    loader = BatchLoader(images, labels, batch_size=100, shuffle=True, augment=True, seed=0, device="cuda")
    seen = []
    for x, y in loader:
        assert x.is_cuda and y.is_cuda
        seen.append(y.cpu())
        cpu = x.cpu()
        for i in range(0, len(y), 37):
            img = images[y[i].item()]
            assert any(torch.allclose(cpu[i], normalize(_reference(img, dx, dy, f)), atol=1e-5)
                       for dx, dy, f in itertools.product(range(9), range(9), [False, True]))
    assert torch.equal(torch.cat(seen).sort().values, labels)
    torch.testing.assert_close(normalize(images.cuda()).cpu(), normalize(images))
