"""Shared fixtures: the engine config with a checkpoint the tests make themselves."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

if TYPE_CHECKING:
    from grader.engine import GradeConfig

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data" / "cifar10-subset"


def listening(port: int, timeout: float = 1.0) -> bool:
    """Whether a local server (Redis, PostgreSQL, one a test started) accepts connections."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def test_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random-init reference weights saved like the course file (a plain state_dict)."""
    from grader.expected import load_reference

    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("ckpt") / "resnet50_test.ckpt"
    torch.save(load_reference().ResNet50_layer4().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred learnable images in the official pickle format."""
    from grader.data import make_synthetic, save_cifar10_format

    root = tmp_path_factory.mktemp("synthetic")
    save_cifar10_format(root, *make_synthetic(400, 200, seed=3, learnable=True))
    return root


@pytest.fixture(scope="session")
def trained_checkpoint(synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference trained a little on the synthetic set (trusted, in-process)."""
    from grader.data import load_cifar10
    from grader.reference_train import train_reference

    out = tmp_path_factory.mktemp("ckpt") / "synthetic_reference.ckpt"
    data = load_cifar10(synthetic, cache=False)
    train_reference(data, epochs=3, out=out, seed=0, device="cpu", log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def train_config(synthetic: Path, trained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> "GradeConfig":
    """Fine-tuning on the synthetic set, with a progress event every step."""
    from grader.engine import GradeConfig
    from grader.sandbox import Limits
    from grader.training import TrainSettings

    return GradeConfig(checkpoint=trained_checkpoint, data_dir=synthetic, skip_training=False, threads=2,
                       cache_dir=tmp_path_factory.mktemp("cache"),
                       train=TrainSettings(progress_every=1, limits=Limits(wall_seconds=300)))


@pytest.fixture(scope="session")
def config(test_checkpoint: Path):
    from grader.engine import GradeConfig

    return GradeConfig(checkpoint=test_checkpoint, threads=2)
