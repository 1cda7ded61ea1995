"""The `autograder` command as a TA runs it: a real process, exit codes, JSON out."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grader.rubric import SOLUTION
from tests.conftest import service_cache_dir
from tests.grader.mutations import MUTATIONS

CLI = [sys.executable, "-m", "grader.cli"]


def run(*args: str, cwd: Path | None = None, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with its caches (expectations, data) in `cache`, else the run's folder, never the
    user's ~/.cache (pytest's own temporary folders, which it removes after a few runs)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "AUTOGRADER_CACHE_DIR": str(cache or service_cache_dir())}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def test_grade_two_files_prints_tables_and_writes_json(tmp_path: Path, test_checkpoint: Path) -> None:
    broken = tmp_path / "resnet50_skeleton.py"
    broken.write_text(MUTATIONS["stride_on_3x3"].apply())
    out = tmp_path / "reports.json"
    proc = run("grade", str(SOLUTION), str(broken), "--skip-training", "--checkpoint", str(test_checkpoint),
               "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "graded: 105 / 105" in proc.stdout and "graded: 95 / 105" in proc.stdout
    assert "first mismatch" not in proc.stdout  # shapes agree for both
    reports = json.loads(out.read_text())
    assert [r["score"] for r in reports] == [105, 95]
    assert reports[1]["submission"]["filename"] == "resnet50_skeleton.py"


def test_rejected_file_still_exits_zero(tmp_path: Path) -> None:
    bad = tmp_path / "resnet50_skeleton.py"
    bad.write_text("def broken(:\n")
    proc = run("grade", str(bad), "--skip-training", "--json", "-")
    assert proc.returncode == 0
    report = json.loads(proc.stdout)[0]
    assert report["status"] == "rejected" and report["error"]["kind"] == "syntax_error"
    assert "syntax_error (line 1)" in proc.stderr


def test_usage_errors_exit_non_zero(tmp_path: Path) -> None:
    assert run("grade", str(tmp_path / "nope.py"), "--skip-training").returncode == 2
    bad_rubric = tmp_path / "rubric.toml"
    bad_rubric.write_text("[q1_downsample]\npoints = 'many'\n")
    proc = run("grade", str(SOLUTION), "--skip-training", "--rubric", str(bad_rubric))
    assert proc.returncode == 2 and "rubric.toml" in proc.stderr


def test_relative_paths_work_from_any_folder(test_checkpoint: Path) -> None:
    proc = run("grade", str(SOLUTION), "--skip-training", "--checkpoint", test_checkpoint.name,
               cwd=test_checkpoint.parent)
    assert proc.returncode == 0 and "graded: 105 / 105" in proc.stdout, proc.stdout + proc.stderr


def test_a_second_cold_grade_reads_the_expectations_from_disk(tmp_path: Path, test_checkpoint: Path) -> None:
    """The CLI keeps the reference's expectations in AUTOGRADER_CACHE_DIR: the second process
    reads the entry the first wrote (it is not rewritten) and grades the same."""
    cache = tmp_path / "cache"
    args = ("grade", str(SOLUTION), "--skip-training", "--checkpoint", str(test_checkpoint), "--draw-seed", "5",
            "--json", "-")
    first = run(*args, cache=cache)
    assert first.returncode == 0, first.stderr
    [entry] = (cache / "expected").glob("*.pt")
    inode = entry.stat().st_ino  # a rewrite (temp file + os.replace) is another inode
    second = run(*args, cache=cache)
    assert second.returncode == 0, second.stderr
    assert entry.stat().st_ino == inode
    a, b = json.loads(first.stdout)[0], json.loads(second.stdout)[0]
    assert a["score"] == b["score"] == 105
    for key in ("items", "checks", "trust"):  # every verdict, deduction and check (not timings or logs)
        assert a[key] == b[key], key
