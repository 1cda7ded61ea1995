"""The sandbox's limits and isolation, each told apart by its verdict."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from grader import sandbox
from grader.engine import GradeConfig, grade_bytes
from grader.sandbox import Limits, SandboxUnavailable, run_sandboxed


def run(tmp_path: Path, source: str, **limits) -> sandbox.Outcome:
    path = tmp_path / "resnet50_skeleton.py"
    path.write_text(source)
    return run_sandboxed(submission=path, job={"blocks": []}, inputs={},
                         limits=Limits(**{"wall_seconds": 30, **limits}))


def test_clean_file_runs_ok(tmp_path: Path) -> None:
    out = run(tmp_path, "x = 1\n")
    assert out.status == "ok" and out.exit_code == 0
    assert [m["type"] for m in out.messages][:2] == ["import", "definitions"]


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


def test_flood_of_output_is_truncated(tmp_path: Path) -> None:
    out = run(tmp_path, "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))\n")
    assert out.status == "ok"
    assert len(out.log) < 100_000 and "bytes of output dropped" in out.log


def test_forged_message_is_rejected(tmp_path: Path, config: GradeConfig) -> None:
    source = ("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'{not json}\\n')\n"
              "    except OSError:\n        pass\n")
    report = grade_bytes(source.encode(), filename="resnet50_skeleton.py", config=config)
    assert report.sandbox["status"] == "crashed" and report.error.kind == "crashed"
    assert "not a grader message" in report.error.message


def test_no_network_inside(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(3)
    port = server.getsockname()[1]
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(_accept(server)))
    t.start()
    out = run(tmp_path, f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\n")
    t.join()
    server.close()
    assert got == [None]  # the listener received nothing
    assert out.status == "ok"
    imported = out.messages[0]
    assert imported["error"]["type"] in ("ConnectionRefusedError", "OSError", "TimeoutError")


def _accept(server: socket.socket) -> object:
    try:
        return server.accept()
    except OSError:
        return None


def test_host_files_and_env_not_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGRADER_SECRET_TOKEN", "hunter2")
    secret = tmp_path / "other-submission.py"
    secret.write_text("x = 1\n")
    paths = ("/etc/passwd", str(secret), str(sandbox.PROJECT_ROOT / "grader"), "/root/.bashrc")
    assert any(Path(p).exists() for p in paths)
    source = (f"import os\nseen = [p for p in {paths!r} if os.path.exists(p)]\n"
              "raise SystemExit(repr((seen, sorted(os.environ))))\n")
    out = run(tmp_path, source)
    message = out.messages[0]["error"]["message"]
    assert "[]" in message  # none of them exists inside
    assert "AUTOGRADER_SECRET_TOKEN" not in message and "hunter2" not in message
    assert "'HOME'" in message  # the short allow-list is what the child gets


def test_writes_stay_in_scratch(tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    source = (f"import os\nfor p in ({str(target)!r}, '/tmp/x', '/scratch/ok'):\n"
              "    try:\n        open(p, 'w').write('x')\n    except OSError:\n        pass\n")
    out = run(tmp_path, source)
    assert out.status == "ok" and not target.exists()


def test_missing_bubblewrap_refuses_without_unsafe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "bubblewrap", lambda: None)
    path = tmp_path / "resnet50_skeleton.py"
    path.write_text("x = 1\n")
    with pytest.raises(SandboxUnavailable, match="--unsafe-no-sandbox"):
        run_sandboxed(submission=path, job={}, inputs={}, limits=Limits())
    out = run_sandboxed(submission=path, job={"blocks": []}, inputs={}, limits=Limits(), allow_unsafe=True)
    assert out.status == "ok" and out.isolation == "none (unsafe)"
