"""The course's transforms as whole-batch tensor ops (airbench style).

RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize, done on a
batch at once on whatever device holds it: no PIL, no per-image Python loop, so the
data pipeline never bottlenecks a GPU run.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor

from grader.child.batches import crop_flip
from grader.data import CIFAR_MEAN, CIFAR_STD


def normalize(images_uint8: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """ToTensor + Normalize: uint8 (..., 3, H, W) -> (x/255 - mean)/std on the same device."""
    if images_uint8.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images, got {images_uint8.dtype}")
    if images_uint8.ndim < 3 or images_uint8.shape[-3] != 3:
        raise ValueError(f"expected (..., 3, H, W) images, got {tuple(images_uint8.shape)}")
    dev = images_uint8.device
    mean = torch.tensor(CIFAR_MEAN, dtype=torch.float32, device=dev).view(3, 1, 1)
    std = torch.tensor(CIFAR_STD, dtype=torch.float32, device=dev).view(3, 1, 1)
    # Compute in float32 so half/bfloat16 outputs are only rounded once.
    out = (images_uint8.to(torch.float32) / 255.0 - mean) / std
    return out.to(dtype)


# One implementation for both sides: the sandbox imports grader/child/batches.py directly.
_crop_flip = crop_flip


def random_crop_flip(
    images: Tensor, *, padding: int = 4, generator: torch.Generator | None = None
) -> Tensor:
    """RandomCrop(size, padding) with zero fill + RandomHorizontalFlip(0.5), per sample.

    Apply to uint8 (or un-normalised) images: the course pads the 0..1 image with zeros
    before normalising. Randomness comes only from `generator`, which must live on the
    images' device.
    """
    if images.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) images, got {tuple(images.shape)}")
    n, dev = images.shape[0], images.device
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev)
    flip = torch.randint(0, 2, (n,), generator=generator, device=dev).bool()
    return _crop_flip(images, dx, dy, flip, padding)


class BatchLoader:
    """A DataLoader replacement that keeps the uint8 data set on `device` once.

    Yields (normalised images, labels) batches, or images alone when labels is None;
    the last partial batch is included. Epoch k draws its order and augmentation from
    a generator seeded with seed + k, so equal seeds give identical batches.
    """

    def __init__(
        self,
        images_uint8: Tensor,
        labels: Tensor | None,
        *,
        batch_size: int = 100,
        shuffle: bool,
        augment: bool,
        seed: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
    ) -> None:
        _check_inputs(images_uint8, labels, batch_size)
        self.device = torch.device(device)
        self.images = images_uint8.to(self.device)
        self.labels = None if labels is None else labels.to(self.device, torch.long)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.dtype = dtype
        self.channels_last = channels_last
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.images.shape[0] / self.batch_size)

    def _generator(self, epoch: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.seed + epoch)

    def _order(self, gen: torch.Generator) -> Tensor | None:
        n = self.images.shape[0]
        return torch.randperm(n, generator=gen, device=self.device) if self.shuffle else None

    def _prepare(self, x: Tensor, gen: torch.Generator) -> Tensor:
        if self.augment:
            x = random_crop_flip(x, generator=gen)
        x = normalize(x, dtype=self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor] | Tensor]:
        gen = self._generator(self.epoch)
        self.epoch += 1
        order = self._order(gen)
        for start in range(0, self.images.shape[0], self.batch_size):
            idx = slice(start, start + self.batch_size)
            if order is not None:
                idx = order[idx]
            x = self._prepare(self.images[idx], gen)
            yield x if self.labels is None else (x, self.labels[idx])


def _check_inputs(images: Tensor, labels: Tensor | None, batch_size: int) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels is not None and labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")


__all__ = ["BatchLoader", "normalize", "random_crop_flip"]
