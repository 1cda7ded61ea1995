"""Hostile submissions: one file per attack in attacks/, graded by the real engine and service.

Each attack file is the hostile part only; `attack()` places it in the reference solution
where its first line says (top, bottom or forward), so the upload is a whole skeleton file.
"""
from __future__ import annotations

import ast
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import httpx
import psutil
import pytest

from grader.engine import GradeConfig, grade_bytes
from grader.report import Report
from grader.rubric import SOLUTION
from tests.api.conftest import REDIS_DB, Service, make_service
from tests.conftest import listening

ATTACKS = Path(__file__).resolve().parent / "attacks"
FORWARD_AT = "        out = self.layer1(x)\n"


def attack(name: str, **constants: object) -> bytes:
    """The submission for one attack; `constants` replace `NAME = ...` lines (ports, paths)."""
    raw = (ATTACKS / f"{name}.py").read_bytes()
    if not raw.startswith(b"# where: "):
        return raw  # a file that is the whole upload (empty, not UTF-8)
    where = raw.split(b"\n", 1)[0].split(b": ", 1)[1].decode()
    text = raw.decode("utf-8", errors="surrogateescape")
    for key, value in constants.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{key} = "))
        text = text.replace(line, f"{key} = {value!r}", 1)
    reference = SOLUTION.read_text()
    if where == "top":
        source = text + "\n" + reference
    elif where == "bottom":
        source = reference + "\n" + text
    else:
        body = "".join("        " + ln + "\n" for ln in text.splitlines() if not ln.startswith("#"))
        source = reference.replace(FORWARD_AT, body + FORWARD_AT, 1)
    return source.encode("utf-8", errors="surrogateescape")


def grade(source: bytes, config: GradeConfig, **limits: object) -> Report:
    if limits:
        config = replace(config, check_limits=replace(config.check_limits, **limits))
    return grade_bytes(source, filename="resnet50_skeleton.py", config=config)


def leftovers() -> list[int]:
    """Sandboxed processes still alive after their grade (there must be none). A pre-started
    sandbox waiting for its job (grader/prestart.py) is not one: it has no job.json yet; nor is
    a fork server (grader/forkserver.py), but any process it forked is."""
    out = []
    # This run's own sandboxes only (all descend from it): other suites may run on the machine.
    for p in psutil.Process().children(recursive=True):
        try:
            cmdline = p.cmdline()
        except psutil.Error:
            continue
        if "/opt/autograder/child/main.py" not in " ".join(cmdline):
            continue
        if "--fork-server" in cmdline:  # bwrap, its init, the server (a bwrap's child), its forks
            try:
                if p.name() != "bwrap" and p.parent().name() != "bwrap":
                    out.append(p.pid)
            except (psutil.Error, AttributeError):
                pass
            continue
        private = cmdline[cmdline.index("/opt/autograder/child/main.py") + 1]
        try:
            if p.name() != "bwrap" and Path(f"/proc/{p.pid}/root{private}/job.json").exists():
                out.append(p.pid)
        except (psutil.Error, OSError):
            pass  # gone meanwhile
    return out


def printed(log: str, tag: str) -> object:
    """The value an attack printed as `TAG <repr>` (lists and dicts of plain values)."""
    line = next(ln for ln in log.splitlines() if ln.startswith(tag + " "))
    return ast.literal_eval(line[len(tag) + 1:])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SECRET_ENV = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-secret", "AUTOGRADER_ACCESS_CODE": "course-secret-code"}


def upload(client: httpx.Client, student: str, data: bytes) -> httpx.Response:
    return client.post("/api/submissions", data={"student_id": student,
                                                 "access_code": SECRET_ENV["AUTOGRADER_ACCESS_CODE"]},
                       files={"file": ("resnet50_skeleton.py", data, "text/x-python")})


def fresh_copy(source: bytes, who: str) -> bytes:
    """`source` made a file of its own (a comment naming `who`): the service reuses the report
    of content it graded before, and a test that proves a worker still grades must get a grade."""
    return source + f"\n# {who}\n".encode()


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory, test_checkpoint: Path) -> Iterator[Service]:
    """API + one worker on Redis, tight limits, and secrets in the workers' environment. One for
    the whole package (started once, not per module): each test uploads as students of its own
    and waits for its own submissions, so none reads what another left."""
    if not listening(6379):
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    import redis

    svc = make_service(tmp_path_factory.mktemp("adversarial"), test_checkpoint, broker="redis")
    # Its own Redis database (the course tests' one, unused while this package runs): it outlives
    # modules, and test_service_faults starts services of its own on the base database, whose
    # jobs this worker would otherwise take.
    redis.Redis(db=REDIS_DB + 1).flushdb()
    svc.env["AUTOGRADER_BROKER_URL"] = f"redis://127.0.0.1:6379/{REDIS_DB + 1}"
    svc.env.update(SECRET_ENV, AUTOGRADER_CHECK_TIMEOUT_S="60", AUTOGRADER_IMPORT_TIMEOUT_S="5", AUTOGRADER_MEMORY_LIMIT_MB="2048",
                   AUTOGRADER_MAX_PROCESSES="128", AUTOGRADER_STUDENT_RATE_PER_HOUR="100")
    with svc.running():
        yield svc


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c
