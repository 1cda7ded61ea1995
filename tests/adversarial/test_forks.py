"""A fork of a fork server (grader/forkserver.py) is as closed as a fresh sandbox: it reaches
neither the server nor another grade, and nothing of one grade is there for the next."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from grader import forkserver
from grader.engine import GradeConfig, _starter
from grader.rubric import SOLUTION
from grader.sandbox import PROJECT_ROOT, Limits, python_roots
from tests.adversarial.conftest import attack, grade, leftovers, printed
from tests.conftest import THREADS

pytestmark = pytest.mark.skipif(not forkserver.usable(), reason="fork servers need bubblewrap and cgroups")


@pytest.fixture(scope="module")
def forks(config: GradeConfig) -> Iterator[GradeConfig]:
    """The engine as a worker runs it: structure checks and verifier from fork servers."""
    yield replace(config, prestart=True)
    forkserver.pool().close()


def _server_pids() -> set[int]:
    return {f.result().started.proc.pid for f in forkserver.pool()._servers.values()}


def _installed_under_tmp() -> list[str]:
    """What a fork's fresh /tmp shows: only the mount points of our Python (a clone under /tmp)."""
    return sorted({r.removeprefix("/tmp/").split("/")[0] for r in python_roots() if r.startswith("/tmp/")})


def test_a_fork_reaches_nothing_outside_its_own_namespaces(forks: GradeConfig) -> None:
    report = grade(attack("fork_probe", MARK="fork-probe-mark-one"), forks)
    assert report.sandbox["isolation"] == "bubblewrap (fork server)"
    assert report.score == 105, (report.error, report.log[-2000:])
    # PID 2 under its namespace's init, as in any sandbox: no process outside can be named
    # (the others it reaches are its own threads).
    assert printed(report.log, "PID") == 2 and printed(report.log, "REACH")[:2] == [1, 2]
    assert printed(report.log, "PROC") == []  # the server's /proc is hidden ...
    assert printed(report.log, "UMOUNT") == -1  # ... for good: no capability to unmount it
    assert printed(report.log, "CAPS") == [0, 0, 0, 0]
    assert printed(report.log, "PTRACE") == -1  # its init (which reports its exit) is not dumpable
    assert len(printed(report.log, "FDS")) == 1  # its message pipe, nothing of the server's


def test_nothing_one_grade_leaves_is_there_for_the_next(forks: GradeConfig) -> None:
    grade(attack("fork_probe", MARK="fork-probe-mark-alice"), forks)
    servers = _server_pids()
    report = grade(attack("fork_probe", MARK="fork-probe-mark-bob"), forks)
    assert _server_pids() == servers  # the same server forked both
    assert printed(report.log, "SEEN") == {"/tmp": _installed_under_tmp(), "/scratch": [], "/dev/shm": [],
                                           "/submission": ["resnet50_skeleton.py"]}
    assert printed(report.log, "DEV") == []  # bubblewrap's /dev is the server's: read-only in a fork
    assert printed(report.log, "OTHERS") == []  # no string of alice's grade in bob's process


def test_killing_its_process_group_harms_neither_the_server_nor_the_next_grade(forks: GradeConfig) -> None:
    grade(SOLUTION.read_bytes(), forks)
    servers = _server_pids()
    report = grade(attack("kill_group"), forks)
    assert report.error is not None and report.error.kind == "crashed"
    assert "SIGKILL" in report.error.message
    assert _server_pids() == servers and all(f.result().alive() for f in forkserver.pool()._servers.values())
    assert leftovers() == []
    assert grade(SOLUTION.read_bytes(), forks).score == 105


def test_memory_past_the_limit_is_that_forks_verdict(forks: GradeConfig) -> None:
    report = grade(attack("import_memory"), forks, memory_bytes=2 << 30)
    assert report.status == "rejected" and report.error.kind == "memory_limit"
    assert "2 GiB" in report.error.message
    assert all(f.result().alive() for f in forkserver.pool()._servers.values())  # its server lives on
    assert leftovers() == []


LISTEN = b"""
import os, socket, time
pty = os.openpty()
s = socket.socket(socket.AF_UNIX)
s.bind("\\0autograder-fork-test")
s.listen(1)
s.settimeout(8)
try:
    s.accept()
    print("GOT 'connection'")
except OSError:
    print("GOT 'nothing'")
"""
CONNECT = b"""
import os, socket, time
ok = False
for _ in range(60):
    try:
        socket.socket(socket.AF_UNIX).connect("\\0autograder-fork-test")
        ok = True
        break
    except OSError:
        time.sleep(0.1)
print("CONNECTED", ok)
print("PTYS", sorted(os.listdir("/dev/pts")))
"""


def test_two_forks_running_at_once_cannot_talk(forks: GradeConfig, tmp_path: Path) -> None:
    """Each fork has its own network namespace (abstract sockets, loopback) and its own
    terminals (devpts), not the server's."""
    key, start = _starter(forks, "child", {}, Limits(wall_seconds=30))
    first, second = forkserver.pool().fork(key, start), forkserver.pool().fork(key, start)
    outcomes: dict[str, Any] = {}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "resnet50_skeleton.py").write_bytes(LISTEN)
    (tmp_path / "b" / "resnet50_skeleton.py").write_bytes(CONNECT)
    listener = threading.Thread(target=lambda: outcomes.update(a=first.run(
        submission=tmp_path / "a" / "resnet50_skeleton.py", job={"blocks": []})))
    listener.start()
    outcomes["b"] = second.run(submission=tmp_path / "b" / "resnet50_skeleton.py", job={"blocks": []})
    listener.join()
    assert printed(outcomes["b"].log, "CONNECTED") is False
    assert printed(outcomes["b"].log, "PTYS") == ["ptmx"]  # its own devpts: not the other's terminal
    assert printed(outcomes["a"].log, "GOT") == "nothing"


def test_a_server_that_died_is_started_again(forks: GradeConfig) -> None:
    forkserver.pool().close()  # only this test's servers from here on
    grade(SOLUTION.read_bytes(), forks)
    before = _server_pids()
    for pid in before:
        os.killpg(pid, signal.SIGKILL)  # the server's whole sandbox, as a crash or an OOM kill would
    report = grade(SOLUTION.read_bytes(), forks)
    assert report.score == 105 and report.sandbox["isolation"] == "bubblewrap (fork server)"
    assert _server_pids().isdisjoint(before) and forkserver.usable()


@pytest.mark.parametrize("name", ["reference", "stride_on_3x3", "relu_after_addition", "missing_block_layer3"])
def test_a_grade_from_two_forks_is_the_grade_from_one_sandbox(forks: GradeConfig, config: GradeConfig,
                                                               name: str) -> None:
    """A worker runs the probes and the model's export as two forks at once; a sandbox of its
    own runs both in one process. The verdicts are the same."""
    from tests.grader.mutations import MUTATIONS

    source = SOLUTION.read_bytes() if name == "reference" else MUTATIONS[name].apply().encode()
    split, whole = grade(source, forks), grade(source, config)  # whole: a sandbox of its own, started whole
    assert split.sandbox["export"]["status"] == "ok" and "export" not in whole.sandbox
    assert [(i.id, i.points, i.verified) for i in split.items] == [(i.id, i.points, i.verified) for i in whole.items]
    assert (split.score, split.trust.programs) == (whole.score, whole.trust.programs)
    assert split.checks.equivalence.ok == whole.checks.equivalence.ok


def test_the_two_forks_of_a_grade_share_its_memory_limit(forks: GradeConfig) -> None:
    """Each fork holds 1.2 GB: under the 2 GiB limit alone, over it together."""
    report = grade(attack("import_share"), forks, memory_bytes=2 << 30)
    statuses = {report.sandbox["status"], report.sandbox.get("export", {}).get("status")}
    assert "memory_limit" in statuses, (report.sandbox, report.error)
    assert leftovers() == []


def test_an_export_that_never_ends_costs_the_model_items_their_verification(forks: GradeConfig) -> None:
    """The probes finish; the export runs into the time limit: the model's items are judged
    from the probes' own report, self-reported, and the blocks' stay verified."""
    report = grade(attack("export_hangs"), forks, wall_seconds=15)
    assert report.sandbox["status"] == "ok" and report.sandbox["export"]["status"] == "timeout"
    assert "time limit" in report.trust.programs["model"]
    verified = {i.id: i.verified for i in report.items if i.max_points}
    assert verified == {"q1_downsample": True, "q1_no_downsample": True,
                        "q2_blanks": False, "q2_layer3": False, "q2_layer4": False}
    assert report.score == sum(i.max_points for i in report.items if i.verified) > 0  # the blocks are right
    assert report.provisional_score == sum(i.max_points for i in report.items if not i.verified) > 0
    assert leftovers() == []


GRADE_THROUGH_FORKS = """
import json, sys
from pathlib import Path
from grader import forkserver
from grader.engine import GradeConfig, grade_bytes
from grader.rubric import SOLUTION
from grader.sandbox import python_roots
config = GradeConfig(checkpoint=Path(sys.argv[1]), threads=int(sys.argv[2]), prestart=True)
try:
    report = grade_bytes(SOLUTION.read_bytes(), filename="resnet50_skeleton.py", config=config)
finally:
    forkserver.pool().close()
print("RESULT " + json.dumps({"score": report.score, "isolation": report.sandbox["isolation"],
                              "error": report.error.message if report.error else None,
                              "verify": report.sandbox["verify"].get("status"), "disabled": forkserver.DISABLED,
                              "under_tmp": [r for r in python_roots() if r.startswith("/tmp/")]}))
"""


@pytest.fixture(scope="module")
def python_under_tmp() -> Iterator[Path]:
    """A Python environment under /tmp, as a clone of the project there has: a venv whose
    site-packages lead to this one's (a .pth), so torch and the rest need no second install."""
    root = Path(tempfile.mkdtemp(prefix="autograder-venv-", dir="/tmp"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=120)
        ours = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
        (next((root / "venv" / "lib").glob("python3*")) / "site-packages" / "ours.pth").write_text("\n".join(ours) + "\n")
        yield root / "venv" / "bin" / "python"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_installed_under_tmp_every_grade_through_the_fork_servers_is_right(python_under_tmp: Path,
                                                                          test_checkpoint: Path) -> None:
    """Each fork mounts a fresh tmpfs on /tmp; with the project's Python under /tmp that hid it,
    and every grade ended "crashed: ... exited with code 71", the reference's too (issue 25).
    What the server had bound there is bound again in each fork."""
    proc = subprocess.run([str(python_under_tmp), "-c", GRADE_THROUGH_FORKS, str(test_checkpoint), str(THREADS)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert result["under_tmp"], result  # the sandbox's Python really is under /tmp
    assert result["disabled"] == [], result  # no fork failed in our own setup ...
    assert result["isolation"] == "bubblewrap (fork server)" and result["verify"] == "ok", result
    assert result["score"] == 105 and result["error"] is None, result  # ... and the grade is right


def test_a_forks_own_setup_failure_is_ours_and_the_grade_runs_again_in_a_sandbox(config: GradeConfig) -> None:
    """A fork whose own setup fails (here: the file does not fit the fork's /submission, sized by
    the grader) says so on the socket the job never holds; the grader turns fork servers off and
    grades in a sandbox of its own, instead of reporting the student's crash (issue 25)."""
    padded = SOLUTION.read_bytes() + b"#" * (200 << 10) + b"\n"  # 200 KiB: within the 256 KiB a file may have
    small = replace(config, prestart=True, check_limits=replace(config.check_limits, disk_bytes=1 << 20))
    try:
        report = grade(padded, small)
        disabled = list(forkserver.DISABLED)
    finally:
        forkserver.DISABLED.clear()  # fork servers on again for the tests after this one
        forkserver.pool().close()
    assert any("could not be set up" in d for d in disabled), disabled
    assert report.sandbox["isolation"] == "bubblewrap", report.sandbox
    assert report.score == 105 and report.error is None, (report.error, report.log[-2000:])

