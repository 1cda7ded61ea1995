"""Nothing of the host is visible inside: no /etc, no project tree, no other submissions,
no training or test data beyond the inputs, and only a short allow-list of env vars."""
from __future__ import annotations

import json
import shutil
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from grader.engine import GradeConfig
from grader.expected import build_expected
from grader.sandbox import PROJECT_ROOT
from tests.adversarial.conftest import SECRET_ENV, attack, grade, printed, upload
from tests.api.conftest import Service

ALLOWED_ENV = {"HOME", "PATH", "LANG", "PWD", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
               "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG", "CUDA_VISIBLE_DEVICES"}


def test_host_files_and_secrets_are_not_visible(config: GradeConfig, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    other = tmp_path / "other-student" / "resnet50_skeleton.py"
    other.parent.mkdir()
    other.write_text("# another student's work\n")
    test_batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    test_batch.parent.mkdir()
    test_batch.write_bytes(b"labels")
    planted = [str(other), str(test_batch), str(PROJECT_ROOT / "grader" / "engine.py"), str(config.checkpoint)]
    assert all(Path(p).exists() for p in planted)
    report = grade(attack("read_secrets", WANTED=planted), config)
    assert report.status == "graded" and report.score == 105
    assert printed(report.log, "VISIBLE") == []
    assert printed(report.log, "FOUND") == ["/submission/resnet50_skeleton.py"]  # only its own file
    env = printed(report.log, "ENV")
    assert set(env) <= ALLOWED_ENV and env["HOME"] == "/scratch"
    assert not any(secret in report.log for secret in SECRET_ENV.values())



def test_the_expectations_cache_is_out_of_every_sandboxs_sight(config: GradeConfig, tmp_path: Path) -> None:
    """The reference's expectations on disk (grader/expected.py) at the default place (under
    ~/.cache) are never bound into a sandbox; a cache folder configured inside what every sandbox
    sees (here the venv, bound read-only for Python) is not used, so nothing lands there."""
    name = f"autograder-test-{uuid.uuid4().hex[:8]}"
    home_cache, venv_cache = Path.home() / ".cache" / name, Path(sys.prefix) / name
    try:
        for cache in (home_cache, venv_cache):
            out = tmp_path / cache.parent.name
            out.mkdir()
            build_expected(config.table, config.checkpoint, out, cache_dir=cache, rubric=config.rubric)
        [entry] = (home_cache / "expected").glob("*.pt")
        before = entry.read_bytes()
        report = grade(attack("read_secrets", WANTED=[str(home_cache), str(entry), str(venv_cache)]),
                       replace(config, cache_dir=home_cache))
        assert report.status == "graded" and report.score == 105
        assert printed(report.log, "VISIBLE") == []
        assert entry.read_bytes() == before
    finally:
        shutil.rmtree(home_cache, ignore_errors=True)
        shutil.rmtree(venv_cache, ignore_errors=True)

def test_service_worker_secrets_and_other_submissions_stay_outside(service: Service, client) -> None:
    first = upload(client, "first", attack("read_secrets") + b"\n# first\n").json()["id"]
    service.wait_for(client, first, timeout=120)
    stored = [str(p) for p in (service.var_dir / "files").rglob("*.py")]
    second = upload(client, "second", attack("read_secrets", WANTED=[*stored, str(service.var_dir)])).json()["id"]
    view = service.wait_for(client, second, timeout=120)
    log = view["report"]["log"]
    assert printed(log, "VISIBLE") == [] and printed(log, "FOUND") == ["/submission/resnet50_skeleton.py"]
    assert set(printed(log, "ENV")) <= ALLOWED_ENV
    assert not any(secret in json.dumps(view) for secret in SECRET_ENV.values())
