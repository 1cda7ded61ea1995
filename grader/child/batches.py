"""The course's transforms and batch order as whole-batch tensor ops: the one implementation.

The sandboxed training child imports it as a top-level module (only grader/child is on its
sys.path); trusted code imports it as grader.child.batches (grader/augment.py, grader/data.py).
Imports only the standard library and torch.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

# The course's Normalize (grader.data re-exports these).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
PADDING = 4


def check_images(images: Tensor, labels: Tensor | None) -> None:
    """Refuse inputs the loops would otherwise fail on with an obscure message."""
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        desc = f"{getattr(images, 'dtype', type(images).__name__)} {tuple(getattr(images, 'shape', ()))}"
        raise ValueError(f"images must be uint8 (N, C, H, W), got {desc}")
    if labels is not None and tuple(labels.shape) != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")


def normalize(images_uint8: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """ToTensor + Normalize: uint8 (..., 3, H, W) -> (x/255 - mean)/std on the same device."""
    if images_uint8.dtype != torch.uint8:
        raise TypeError(f"normalize expects uint8 images, got {images_uint8.dtype}")
    dev = images_uint8.device
    mean = torch.tensor(CIFAR_MEAN, dtype=torch.float32, device=dev).view(3, 1, 1)
    std = torch.tensor(CIFAR_STD, dtype=torch.float32, device=dev).view(3, 1, 1)
    # float32 first, so a half/bfloat16 result is rounded only once (as grader.augment does)
    return ((images_uint8.to(torch.float32) / 255.0 - mean) / std).to(dtype)


def crop_flip(images: Tensor, dx: Tensor, dy: Tensor, flip: Tensor, padding: int = PADDING) -> Tensor:
    """Crop each image at its own corner (dx, dy) of the zero-padded image, mirror where flip.

    Two gathers keep it vectorised over the batch; apply it before normalising, because the
    course pads the 0..1 image with zeros.
    """
    n, c, h, w = images.shape
    dev = images.device
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    rows = dy.to(dev, torch.long).view(n, 1) + torch.arange(h, device=dev)
    cols_fwd = torch.arange(w, device=dev)
    cols = torch.where(flip.to(dev).view(n, 1), cols_fwd.flip(0), cols_fwd)
    cols = cols + dx.to(dev, torch.long).view(n, 1)
    out = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * padding))
    return out.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def random_crop_flip(images: Tensor, generator: torch.Generator, padding: int = PADDING) -> Tensor:
    """RandomCrop(32, padding=4) + RandomHorizontalFlip(0.5), drawn per sample from `generator`.

    Draws dx, dy, flip in the same order as grader.augment, so equal generator states give
    equal crops on both sides.
    """
    n, dev = images.shape[0], images.device
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=dev)
    flip = torch.randint(0, 2, (n,), generator=generator, device=dev).bool()
    return crop_flip(images, dx, dy, flip, padding)


def iterate(
    images: Tensor,
    labels: Tensor | None,
    *,
    batch_size: int,
    seed: int,
    epoch: int = 0,
    shuffle: bool,
    augment: bool,
    channels_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """One epoch of (normalised images, labels) batches, the last partial batch included.

    The epoch's generator is seeded with seed + epoch, shuffles first, then draws each
    batch's crops. `images` should already be
    on the device; randomness lives there too.
    """
    dev = images.device
    gen = torch.Generator(device=dev).manual_seed(seed + epoch)
    n = images.shape[0]
    order = torch.randperm(n, generator=gen, device=dev) if shuffle else None
    for start in range(0, n, batch_size):
        idx: slice | Tensor = slice(start, start + batch_size)
        if order is not None:
            idx = order[idx]
        x = images[idx]
        if augment:
            x = random_crop_flip(x, gen)
        x = normalize(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, None if labels is None else labels[idx]
