"""Writes land in the sandbox's scratch space only: host /tmp, home, checkpoint and project
tree are unchanged after the grade (the checkpoint's sha256 included).

Inside, /tmp and /scratch are the sandbox's own (a tmpfs and a per-run folder): a write
there, even to a path that names a host file (a clone under /tmp), reaches nothing. Any
other write that succeeds is a hole; and every host path must be unchanged afterwards."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.engine import GradeConfig
from grader.sandbox import PROJECT_ROOT
from tests.adversarial.conftest import attack, grade, printed, sha256, upload
from tests.api.conftest import Service

PROJECT_FILE = PROJECT_ROOT / "grader" / "child" / "main.py"
SANDBOX_PRIVATE = ("/tmp/", "/scratch/")


def escaped_writes(wrote: list[str]) -> list[str]:
    """Writes that succeeded outside the sandbox's private /tmp and /scratch."""
    return [p for p in wrote if not p.startswith(SANDBOX_PRIVATE)]


def test_writes_outside_scratch_change_nothing(config: GradeConfig) -> None:
    home = Path(os.path.expanduser("~"))
    # The checkpoint, the project, and folders that exist inside only as mount points
    # (the parents of the bound Python installation).
    host_targets = [str(config.checkpoint), str(PROJECT_FILE), str(PROJECT_ROOT / "pwned"),
                    str(Path(sys.prefix).parent / "pwned"), str(Path(sys.base_prefix).parent / "pwned")]
    for p in (Path("/tmp/pwned"), home / "pwned", *map(Path, host_targets[2:])):
        p.unlink(missing_ok=True)
    before = {p: sha256(Path(p)) for p in (str(config.checkpoint), str(PROJECT_FILE))}
    report = grade(attack("write_outside", HOST_PATHS=host_targets), config)
    assert report.status == "graded" and report.score == 105
    # Inside, /tmp and HOME are the sandbox's own; everything else is read-only or absent.
    wrote = printed(report.log, "WROTE")
    assert "/scratch/ok" in wrote and escaped_writes(wrote) == []
    assert {p: sha256(Path(p)) for p in before} == before
    assert not Path("/tmp/pwned").exists() and not (home / "pwned").exists()
    assert not any(Path(p).exists() for p in host_targets[2:])


def test_service_checkpoint_and_store_unchanged(service: Service, client) -> None:
    checkpoint = Path(service.env["AUTOGRADER_CHECKPOINT"])
    database = service.var_dir / "autograder.sqlite"
    targets = [str(checkpoint), str(database), str(service.var_dir / "pwned")]
    before = sha256(checkpoint)
    sid = upload(client, "writer", attack("write_outside", HOST_PATHS=targets)).json()["id"]
    view = service.wait_for(client, sid, timeout=120)
    assert view["score"] == 105
    assert escaped_writes(printed(view["report"]["log"], "WROTE")) == []
    assert sha256(checkpoint) == before and not (service.var_dir / "pwned").exists()
