"""`autograder doctor` on this (CPU) machine: each check runs the real thing and says so."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from grader.cgroups import Cgroup
from grader.cli import main
from grader.data import data_sha256, make_synthetic, save_cifar10_format


def doctor(**env: str) -> tuple[int, dict[str, dict[str, str]]]:
    result = CliRunner().invoke(main, ["doctor", "--json"], env={"AUTOGRADER_DEVICE": "auto", **env})
    return result.exit_code, {c["name"]: c for c in json.loads(result.output)}


@pytest.fixture
def host(tmp_path: Path) -> dict[str, str]:
    checkpoint = tmp_path / "course.ckpt"
    checkpoint.write_bytes(b"weights" * 1000)
    batches = save_cifar10_format(tmp_path / "data", *make_synthetic(20, 10, seed=1))
    return {"AUTOGRADER_CHECKPOINT": str(checkpoint), "AUTOGRADER_DATA_DIR": str(batches.parent)}


def test_reports_torch_sandbox_cgroups_and_the_sha256_of_checkpoint_and_data(host: dict[str, str]) -> None:
    code, checks = doctor(**host)
    assert checks["torch"]["detail"].startswith(torch.__version__)
    assert ("CPU only" in checks["torch"]["detail"]) == (not torch.backends.cuda.is_built())
    assert checks["bubblewrap"]["level"] == "ok"
    group = Cgroup.create(memory_bytes=64 << 20, max_pids=16)
    if group is not None:
        group.remove()
    assert checks["cgroups"]["level"] == ("ok" if group else "warn")
    ckpt = Path(host["AUTOGRADER_CHECKPOINT"])
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() in checks["checkpoint"]["detail"]
    batches = Path(host["AUTOGRADER_DATA_DIR"]) / "cifar-10-batches-py"
    assert data_sha256(batches) in checks["data"]["detail"]
    assert code == 0 and all(c["level"] != "fail" for c in checks.values())


@pytest.mark.skipif(torch.cuda.is_available(), reason="a host without CUDA")
def test_a_cuda_device_on_a_host_without_one_fails_and_says_what_to_do(host: dict[str, str]) -> None:
    code, checks = doctor(**host, AUTOGRADER_DEVICE="cuda")
    assert code == 1 and checks["cuda"]["level"] == "fail"
    assert "AUTOGRADER_DEVICE=cpu" in checks["cuda"]["detail"]
    assert "gpu memory" not in checks  # nothing to measure


def test_missing_data_and_checkpoint_fail(tmp_path: Path) -> None:
    code, checks = doctor(AUTOGRADER_DATA_DIR=str(tmp_path / "nope"), AUTOGRADER_CHECKPOINT=str(tmp_path / "x.ckpt"))
    assert code == 1 and checks["data"]["level"] == "fail" and checks["checkpoint"]["level"] == "fail"
    assert str(tmp_path / "nope") in checks["data"]["detail"]


def test_no_bubblewrap_fails_unless_unsafe_grading_was_asked_for(host: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    code, checks = doctor(**host, PATH=str(empty))  # bwrap is not on this PATH
    assert code == 1 and checks["bubblewrap"]["level"] == "fail" and "apt-get install bubblewrap" in checks["bubblewrap"]["detail"]
    code, checks = doctor(**host, PATH=str(empty), AUTOGRADER_UNSAFE_NO_SANDBOX="true")
    assert code == 0 and checks["bubblewrap"]["level"] == "warn"
