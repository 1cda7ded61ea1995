"""The sandbox's limits and isolation, each told apart by its verdict."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader import sandbox
from grader.sandbox import Limits, SandboxUnavailable, run_sandboxed


def run(tmp_path: Path, source: str, seen: list | None = None, **limits) -> sandbox.Outcome:
    path = tmp_path / "resnet50_skeleton.py"
    path.write_text(source)
    return run_sandboxed(submission=path, job={"blocks": []}, inputs={},
                         limits=Limits(**{"wall_seconds": 30, **limits}),
                         on_message=None if seen is None else seen.append)


def test_clean_file_runs_ok(tmp_path: Path) -> None:
    seen: list = []
    out = run(tmp_path, "x = 1\n", seen)
    assert out.status == "ok" and out.exit_code == 0
    assert [m["type"] for m in seen][:3] == ["ready", "import", "definitions"]


def test_infinite_loop_is_a_timeout(tmp_path: Path) -> None:
    out = run(tmp_path, "while True:\n    pass\n", wall_seconds=3)
    assert out.status == "timeout" and "3 s" in out.reason
    assert out.wall_seconds < 10


def test_memory_hog_is_memory_limit(tmp_path: Path) -> None:
    out = run(tmp_path, "x = bytearray(4 << 30)\nx[::4096] = b'1' * len(x[::4096])\n",
              memory_bytes=1 << 30)
    assert out.status == "memory_limit" and "1 GiB" in out.reason


def test_exit_at_import_is_crashed(tmp_path: Path) -> None:
    out = run(tmp_path, "import os\nos._exit(0)\n")
    assert out.status == "crashed" and "os._exit" in out.reason


def test_missing_bubblewrap_refuses_without_unsafe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    path = tmp_path / "resnet50_skeleton.py"
    path.write_text("x = 1\n")
    with pytest.raises(SandboxUnavailable, match="--unsafe-no-sandbox"):
        run_sandboxed(submission=path, job={}, inputs={}, limits=Limits())
    out = run_sandboxed(submission=path, job={"blocks": []}, inputs={}, limits=Limits(), allow_unsafe=True)
    assert out.status == "ok" and out.isolation == "none (unsafe)"
