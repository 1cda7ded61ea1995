"""Hostile submissions graded through the real engine: each gets a verdict, nothing leaks."""
from __future__ import annotations

from dataclasses import replace

import psutil
import pytest

from grader.engine import GradeConfig, grade_bytes
from grader.rubric import SOLUTION

REFERENCE = SOLUTION.read_text()


def grade(source: str, config: GradeConfig, **limits):
    if limits:
        config = replace(config, check_limits=replace(config.check_limits, **limits))
    return grade_bytes(source.encode(), filename="resnet50_skeleton.py", config=config)


def leftovers() -> list[int]:
    """Sandboxed children still alive after a grade (there must be none)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if "/opt/autograder/child/main.py" in " ".join(p.info["cmdline"] or []):
            found.append(p.pid)
    return found


def test_fork_bomb_is_contained(config: GradeConfig) -> None:
    source = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n" + REFERENCE
    report = grade(source, config, wall_seconds=10, max_processes=64)
    assert report.error.kind in ("timeout", "crashed") and report.status == "rejected"
    assert leftovers() == []


def test_thousands_of_threads_get_a_verdict(config: GradeConfig) -> None:
    source = REFERENCE + ("\nimport threading, time\nfor _ in range(10000):\n"
                          "    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n")
    report = grade(source, config, max_processes=128)
    assert report.status == "rejected" and report.error.kind == "runtime_error"
    assert "thread" in report.error.message.lower()
    assert leftovers() == []


def test_killing_the_parent_harms_nobody(config: GradeConfig) -> None:
    source = REFERENCE + "\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
    report = grade(source, config)
    assert report.status in ("graded", "rejected")  # a verdict, whatever the kill did inside
    assert grade(REFERENCE, config).score == 105  # the grader and the next grade are unharmed


def test_dns_lookup_fails_inside(config: GradeConfig) -> None:
    source = "import socket\nsocket.getaddrinfo('pypi.org', 443)\n" + REFERENCE
    report = grade(source, config)
    assert report.error.kind == "runtime_error" and "gaierror" in report.error.message


def test_memory_hog_in_forward_keeps_the_structure_grade(config: GradeConfig) -> None:
    source = REFERENCE.replace(
        "        out = self.layer1(x)\n",
        "        hog = torch.ones(8 * 2**30 // 4)  # 8 GB: fits overcommit, not the 2 GiB cap\n        out = self.layer1(x)\n")
    report = grade(source, config, memory_bytes=2 << 30)
    assert report.error.kind == "memory_limit" and "2 GiB" in report.error.message
    assert report.status == "graded" and report.score == 105  # the tree was judged before forward
    assert report.checks.shapes.error is not None and not report.checks.shapes.ok


@pytest.mark.parametrize("payload", [
    # a pickle where JSON is expected, and a result far over the size cap
    "os.write(fd, b'\\x80\\x04\\x95' + b'cos\\nsystem\\n' + b'\\n')",
    "os.write(fd, b'{\"type\": \"done\", \"x\": \"' + b'a' * (9 << 20) + b'\"}\\n')",
])
def test_malformed_results_are_rejected_unread(config: GradeConfig, payload: str) -> None:
    source = ("import os\nfor fd in range(3, 64):\n    try:\n        " + payload + "\n"
              "    except OSError:\n        pass\n" + REFERENCE)
    report = grade(source, config)
    assert report.error.kind == "crashed" and report.sandbox["status"] == "crashed"
