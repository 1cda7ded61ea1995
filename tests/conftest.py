"""Shared fixtures: the engine config with a checkpoint the tests make themselves."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data" / "cifar10-subset"


@pytest.fixture(scope="session")
def test_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random-init reference weights saved like the course file (a plain state_dict)."""
    from grader.expected import load_reference

    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("ckpt") / "resnet50_test.ckpt"
    torch.save(load_reference().ResNet50_layer4().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def config(test_checkpoint: Path):
    from grader.engine import GradeConfig

    return GradeConfig(checkpoint=test_checkpoint, threads=2)
