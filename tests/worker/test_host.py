"""A worker host pinned to the course's checkpoint by sha256: refuses to start with other bytes;
reports are keyed by the checkpoint's bytes, not its path."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from service.settings import ServiceSettings
from tests.api.conftest import REPO
from worker.grading import config_key
from worker.host import host_problems


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_host_problems_name_the_differing_checkpoint(tmp_path: Path, test_checkpoint: Path) -> None:
    right = ServiceSettings(var_dir=tmp_path, checkpoint=test_checkpoint, checkpoint_sha256=sha(test_checkpoint))
    assert host_problems(right) == []
    wrong = right.model_copy(update={"checkpoint_sha256": "0" * 64})
    assert str(test_checkpoint) in host_problems(wrong)[0] and sha(test_checkpoint) in host_problems(wrong)[0]
    missing = right.model_copy(update={"checkpoint": tmp_path / "nope.ckpt"})
    assert "no checkpoint" in host_problems(missing)[0]
    no_data = ServiceSettings(var_dir=tmp_path, data_sha256="1" * 64)
    assert "AUTOGRADER_DATA_DIR" in host_problems(no_data)[0]


def test_same_checkpoint_bytes_elsewhere_give_the_same_config_key(tmp_path: Path, test_checkpoint: Path) -> None:
    copy = tmp_path / "elsewhere" / "course.ckpt"
    copy.parent.mkdir()
    shutil.copy(test_checkpoint, copy)
    key = lambda ckpt: config_key(ServiceSettings(var_dir=tmp_path, checkpoint=ckpt).grade_config(skip_training=True))  # noqa: E731
    assert key(test_checkpoint) == key(copy)
    copy.write_bytes(copy.read_bytes()[:-8] + b"\0" * 8)
    assert key(test_checkpoint) != key(copy)


def test_a_worker_with_other_weights_does_not_start(tmp_path: Path, test_checkpoint: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUTOGRADER_VAR_DIR": str(tmp_path),
           "AUTOGRADER_CHECKPOINT": str(test_checkpoint), "AUTOGRADER_CHECKPOINT_SHA256": "0" * 64,
           "AUTOGRADER_BROKER_URL": "redis://127.0.0.1:6379/15"}
    out = subprocess.run([sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-Q", "grading",
                          "--concurrency", "1", "-n", "pinned@%h"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    assert "does not start" in out.stderr + out.stdout and sha(test_checkpoint) in out.stderr + out.stdout
