"""A sandbox writes only to its own sized tmpfs, never to the host's disk (issue 25, item 5).

Before, /scratch was a bound host folder limited only by the 256 MiB per-file limit: a file
wrote 12 × 256 MiB from the structure child and again from the self-reported fine-tune, and saw
the free space of the disk the database lives on. Here a file tries to write 4 GiB in 256 MiB
files into every place it may write, in each kind of sandbox that runs a student's file.

Each test fails with its defence switched off (tests/adversarial/switch_off.py).
"""
from __future__ import annotations

import ast
import os
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from grader import forkserver
from grader.engine import GradeConfig
from grader.report import Report
from grader.sandbox import Limits
from tests.adversarial.conftest import attack, grade

CAP = Limits().disk_bytes
FC = "        out = self.fc(out)\n"
MEMORY = 3 << 30  # tmpfs pages count as the sandbox's memory: with a defence off, 4 GiB in RAM is an OOM, not a host's


def _all_printed(log: str, tag: str) -> list[Any]:
    return [ast.literal_eval(ln[len(tag) + 1:]) for ln in log.splitlines() if ln.startswith(tag + " ")]


@pytest.fixture(autouse=True)
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The grades of a test here keep their host-side folders (grader/sandbox.py: mkdtemp) in a
    folder of the test's own, so that what the sandbox put on the host's disk is measured there
    and not as the disk's free space, which other work on the machine moves too (a venv being
    installed beside the run fell it by more than the cap)."""
    folder = tmp_path / "host-temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _on_disk(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass  # removed meanwhile
    return total


def _with_disk_watch(run: Callable[[], Report]) -> tuple[Report, int]:
    """The report, and the most the grade's host-side folders held on the host's disk while it
    ran (its sandboxes' folders: with /scratch bound from the host, what the file wrote there)."""
    folder = Path(tempfile.gettempdir())
    most = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal most
        while not done.wait(0.02):
            most = max(most, _on_disk(folder))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        report = run()
    finally:
        done.set()
        watcher.join()
    return report, most


def _within_the_cap(report: Report, runs: int, held: int) -> None:
    filled, free = _all_printed(report.log, "FILLED"), _all_printed(report.log, "FREE")
    assert len(filled) == runs and len(free) == runs, report.log[-3000:]
    assert all(0 < f <= CAP for f in filled), filled  # it wrote, and no more than the cap in all
    assert all(0 < v <= CAP for seen in free for v in seen.values()), free  # it sees only its own space
    assert held < CAP, f"the grade's folders held {held >> 20} MiB of the host's disk"


def test_the_structure_sandbox_writes_at_most_the_cap(config: GradeConfig) -> None:
    report, held = _with_disk_watch(lambda: grade(attack("fill_disk"), config, memory_bytes=MEMORY))
    assert report.status == "graded" and report.score == 105, (report.error, report.log[-2000:])
    _within_the_cap(report, 1, held)


@pytest.fixture
def forks(config: GradeConfig) -> Iterator[GradeConfig]:
    if not forkserver.usable():
        pytest.skip("fork servers need bubblewrap and cgroups")
    yield replace(config, prestart=True)
    forkserver.pool().close()


def test_a_fork_writes_at_most_the_cap(forks: GradeConfig) -> None:
    report, held = _with_disk_watch(lambda: grade(attack("fill_disk"), forks, memory_bytes=MEMORY))
    assert report.sandbox["isolation"] == "bubblewrap (fork server)"
    assert report.status == "graded" and report.score == 105, (report.error, report.log[-2000:])
    _within_the_cap(report, 1, held)


def test_the_self_reported_fine_tune_writes_at_most_the_cap(train_config: GradeConfig) -> None:
    """An operator off the list keeps the model off the trusted path: the student's own code is
    fine-tuned in its sandbox, which imports the file (and fills its space) once more."""
    source = attack("fill_disk", CLEAN=True).decode().replace(FC, FC + "        out = out * 1.0\n")
    report, held = _with_disk_watch(lambda: grade(source.encode(), train_config))
    assert (report.trust.fine_tune or "").startswith("self-reported"), report.trust
    assert report.provisional_accuracy is not None, (report.error, report.log[-2000:])
    _within_the_cap(report, 2, held)


def test_a_full_disk_is_the_students_own_clear_error(config: GradeConfig) -> None:
    report = grade(attack("fill_disk", RAISE=True), config)
    assert report.status == "rejected" and report.error is not None
    assert report.error.kind == "runtime_error" and "No space left on device" in report.error.message
