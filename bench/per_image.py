"""The baseline a course would otherwise run: the notebook's per-image pipeline in fp32.

torchvision does not import with the CPU torch here, so its transforms are written out
with PIL the way torchvision applies them: per image, RandomCrop(32, padding=4) on a
zero-padded PIL image, RandomHorizontalFlip, ToTensor, Normalize; a DataLoader batches
100 shuffled images with worker processes, as the course notebook does.
"""
from __future__ import annotations

import random
import time

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset

from grader.data import CIFAR_MEAN, CIFAR_STD, Cifar10
from grader.expected import load_reference

MEAN = np.array(CIFAR_MEAN, dtype=np.float32).reshape(3, 1, 1)
STD = np.array(CIFAR_STD, dtype=np.float32).reshape(3, 1, 1)


class PerImage(Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, train: bool) -> None:
        self.images = images.permute(0, 2, 3, 1).contiguous().numpy()  # N×32×32×3 uint8, as PIL wants
        self.labels = labels.tolist() if labels is not None else [0] * len(self.images)
        self.train = train

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = Image.fromarray(self.images[i])
        if self.train:
            img = ImageOps.expand(img, border=4, fill=0)
            x, y = random.randint(0, 8), random.randint(0, 8)
            img = img.crop((x, y, x + 32, y + 32))
            if random.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0  # ToTensor
        return torch.from_numpy((arr - MEAN) / STD), self.labels[i]


def run(data: Cifar10, checkpoint_state: dict[str, torch.Tensor], *, steps: int, workers: int,
        threads: int, seed: int = 0) -> dict[str, float]:
    """Train `steps` fp32 steps from the checkpoint, then predict the test set; seconds of each."""
    torch.manual_seed(seed)
    random.seed(seed)
    torch.set_num_threads(threads)
    model = load_reference().ResNet50_layer4()
    model.load_state_dict(checkpoint_state)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    train = DataLoader(PerImage(data.train_images, data.train_labels, train=True), batch_size=100,
                       shuffle=True, num_workers=workers, persistent_workers=False)
    test = DataLoader(PerImage(data.test_images, None, train=False), batch_size=100, num_workers=workers)
    started = time.perf_counter()
    model.train()
    for step, (x, y) in enumerate(train, 1):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
        if step == steps:
            break
    trained = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for x, _ in test:
            model(x).argmax(1)
    done = time.perf_counter()
    return {"train_s": trained - started, "eval_s": done - trained, "total_s": done - started}
