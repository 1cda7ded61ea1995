"""The course's transforms as whole-batch tensor ops (airbench style), for trusted code.

RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize, done on a
batch at once on whatever device holds it: no PIL, no per-image Python loop. There is one
implementation, grader/child/batches.py, which the sandboxed training child imports as a
top-level module and trusted code imports from here; this module adds keyword-style
signatures and a reusable loader object.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor

from grader.child import batches
from grader.child.batches import crop_flip as _crop_flip

__all__ = ["BatchLoader", "normalize", "random_crop_flip", "_crop_flip"]


def normalize(images_uint8: Tensor, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """ToTensor + Normalize: uint8 (..., 3, H, W) -> (x/255 - mean)/std on the same device."""
    if images_uint8.dtype == torch.uint8 and (images_uint8.ndim < 3 or images_uint8.shape[-3] != 3):
        raise ValueError(f"expected (..., 3, H, W) images, got {tuple(images_uint8.shape)}")
    return batches.normalize(images_uint8, dtype)


def random_crop_flip(images: Tensor, *, padding: int = 4, generator: torch.Generator | None = None) -> Tensor:
    """RandomCrop(size, padding) with zero fill + RandomHorizontalFlip(0.5), per sample.

    Apply to uint8 (or un-normalised) images: the course pads the 0..1 image with zeros
    before normalising. Randomness comes only from `generator` (on the images' device).
    """
    if images.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) images, got {tuple(images.shape)}")
    return batches.random_crop_flip(images, generator, padding)  # type: ignore[arg-type]


class BatchLoader:
    """A DataLoader replacement that keeps the uint8 data set on `device` once.

    Yields (normalised images, labels) batches, or images alone when labels is None; the
    last partial batch is included. Epoch k is `batches.iterate(..., epoch=k)`: the same
    order and crops the sandboxed training child draws for equal seeds.
    """

    def __init__(self, images_uint8: Tensor, labels: Tensor | None, *, batch_size: int = 100, shuffle: bool,
                 augment: bool, seed: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, channels_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        batches.check_images(images_uint8, labels)
        self.device = torch.device(device)
        self.images = images_uint8.to(self.device)
        self.labels = None if labels is None else labels.to(self.device, torch.long)
        self.batch_size, self.shuffle, self.augment, self.seed = batch_size, shuffle, augment, seed
        self.dtype, self.channels_last = dtype, channels_last
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.images.shape[0] / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor] | Tensor]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        for x, y in batches.iterate(self.images, self.labels, batch_size=self.batch_size, seed=self.seed,
                                    epoch=epoch, shuffle=self.shuffle, augment=self.augment,
                                    channels_last=self.channels_last):
            x = x.to(self.dtype)  # normalised in float32, rounded once
            yield x if y is None else (x, y)
