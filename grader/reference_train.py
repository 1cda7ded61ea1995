"""Train the reference solution with the course recipe, for a course without its checkpoint.

Trusted code on trusted data: runs in the grader's own process, no sandbox.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from grader.augment import BatchLoader
from grader.data import Cifar10
from grader.expected import load_reference
from grader.training import resolve_device

LR = 1e-3
LR_STEP_EPOCHS = 20  # the course divides the learning rate by 3 every 20 epochs
LR_GAMMA = 1 / 3


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: str) -> float:
    model.eval()
    loader = BatchLoader(images, None, batch_size=100, shuffle=False, augment=False, seed=0, device=device)
    correct, start = 0, 0
    with torch.no_grad():
        for x in loader:
            pred = model(x).argmax(1).cpu()
            correct += int((pred == labels[start:start + len(pred)]).sum())
            start += len(pred)
    return correct / max(1, len(labels))


def train_reference(data: Cifar10, *, epochs: int, out: Path, seed: int = 0, device: str = "auto",
                    max_train: int | None = None, log: Callable[[str], None] = print) -> float:
    """Returns the final test accuracy; saves a plain state_dict after every epoch."""
    device = resolve_device(device)
    torch.manual_seed(seed)
    model = load_reference().ResNet50_layer4().to(device)
    images, labels = data.train_images[:max_train], data.train_labels[:max_train]
    loader = BatchLoader(images, labels, batch_size=100, shuffle=True, augment=True, seed=seed, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=LR_STEP_EPOCHS, gamma=LR_GAMMA)
    criterion = nn.CrossEntropyLoss()
    out.parent.mkdir(parents=True, exist_ok=True)
    accuracy = 0.0
    for epoch in range(1, epochs + 1):
        started, total, n = time.perf_counter(), 0.0, 0
        model.train()
        for x, y in loader:
            loss = criterion(model(x), y.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, n = total + loss.item(), n + 1
        schedule.step()
        accuracy = evaluate(model, data.test_images, data.test_labels, device)
        tmp = out.with_suffix(out.suffix + ".tmp")
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp)
        os.replace(tmp, out)
        log(f"epoch {epoch}/{epochs}: loss {total / max(n, 1):.4f}, test accuracy {accuracy:.2%}, "
            f"lr {optimizer.param_groups[0]['lr']:.2e}, {time.perf_counter() - started:.1f} s")
    return accuracy
