"""Shared fixtures: the engine config with a checkpoint the tests make themselves."""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest
import torch

if TYPE_CHECKING:
    from grader.engine import GradeConfig

REPO = Path(__file__).resolve().parent.parent

# The local Redis's databases this run uses: three per pytest-xdist worker after the base
# (gw0: base..base+2 for the API, course and remote-worker tests, gw1: base+3..base+5, ...), then
# one per worker for the benchmarks' services: 4 per worker, by default the last ones of Redis's
# 16 (three workers: 4-15; db 0, the service's own, is never one). Several checkouts testing on
# one machine at once each set their own base (and fewer workers: `./scripts/test.sh -n 1`); two
# workers or two runs sharing a database would take each other's jobs.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_REDIS_BASE = int(os.environ.get("AUTOGRADER_TEST_REDIS_DB", str(max(1, 16 - 4 * _WORKERS))))
TEST_REDIS_DB = _REDIS_BASE + 3 * _WORKER
BENCH_REDIS_DB = _REDIS_BASE + 3 * _WORKERS + _WORKER
if BENCH_REDIS_DB > 15:
    raise RuntimeError(f"AUTOGRADER_TEST_REDIS_DB with {_WORKERS} worker(s) needs Redis databases up to "
                       f"{BENCH_REDIS_DB}; Redis has 0-15: set a lower base")
os.environ["AUTOGRADER_BENCH_REDIS_DB"] = str(BENCH_REDIS_DB)  # read by bench/_service.py in the benches run

# Grading threads: the cores shared out among this run's workers. torch's OpenMP threads wait by
# spinning, so two workers each running 2 threads on 2 cores (and their sandboxes, and the
# services' workers) took 3-5 times the CPU for the same work: a fine-tune grade 12 s alone,
# 41 s beside a second one at 2 threads, 23 s at 1 (tests/README.md). Every grade the run makes
# (GradeConfig here, the services and benches it starts through AUTOGRADER_THREADS, torch in this
# process) uses THREADS.
THREADS = max(1, (os.cpu_count() or 1) // _WORKERS)
os.environ["AUTOGRADER_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(THREADS)
torch.set_num_threads(THREADS)
SHARED_DATA = REPO.parent / "shared" / "data" / "cifar10-subset"


def _die_with_this_run() -> None:
    """preexec_fn of a process a test starts in a session of its own (a service, a Redis): a new
    session, and SIGTERM when the test run that started it dies, even by SIGKILL, so no uvicorn
    or Celery worker outlives its run to take the next run's jobs. SIGTERM, not SIGKILL: Celery
    and uvicorn then stop what they started themselves."""
    import ctypes

    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn_for_run(args: list[str], **kw: Any) -> subprocess.Popen:
    """subprocess.Popen for a process that must end with this test run (see _die_with_this_run);
    on the run's normal end or SIGTERM its whole process group is killed too. The parent-death
    signal follows the *thread* that started the process: from any other thread (a bench that
    restarts a worker from its fault thread) the process gets only its own session, or it would
    be stopped when that thread ends."""
    main = threading.current_thread() is threading.main_thread()
    proc = subprocess.Popen(args, preexec_fn=_die_with_this_run if main else os.setsid, **kw)
    _SPAWNED.append(proc)
    return proc


_SPAWNED: list[subprocess.Popen] = []


def _kill_spawned(*_: Any) -> None:
    for proc in _SPAWNED:
        if proc.returncode is not None:  # reaped: its number may be another process's group by now
            continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _on_sigterm(signum: int, frame: Any) -> None:
    """Kill what the run started, then die of the signal as the run would have without us (an
    exception here would only fail the test that happened to be running)."""
    _kill_spawned()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(_kill_spawned)
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_sigterm)


@contextmanager
def held_open(paths: list[Path]) -> Iterator[Callable[[], list[str]]]:
    """Each file opened as a sandbox's child holds it; yields a check naming every file whose
    opened bytes or mtime changed since (it was written in place, under its reader)."""
    opened = {p: open(p, "rb") for p in paths}
    try:
        before = {p: (os.fstat(f.fileno()).st_mtime_ns, f.read()) for p, f in opened.items()}

        def changed() -> list[str]:
            for f in opened.values():
                f.seek(0)
            return [p.name for p, f in opened.items() if (os.fstat(f.fileno()).st_mtime_ns, f.read()) != before[p]]

        yield changed
    finally:
        for f in opened.values():
            f.close()


def listening(port: int, timeout: float = 1.0) -> bool:
    """Whether a local server (Redis, PostgreSQL, one a test started) accepts connections."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


_SERVICE_CACHE: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _service_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One AUTOGRADER_CACHE_DIR for every structure-only service this run starts, shared by the
    xdist workers (their temporary folders' common parent), as one host's workers share theirs.
    Each Celery worker's first grade otherwise computed the reference's expectations and exported
    its programs again (~6.5 cpu-s, 21 worker starts a run: ~8 % of the suite's CPU); now the
    first writes the entries and the others read them (grader/expected.py, grader/verify.py;
    written whole, so two first writers at once are safe). The one service that fine-tunes
    (tests/api/test_page_chromium.py) sets a folder of its own: its shared fine-tunes are its own."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "service-cache"
    folder.mkdir(exist_ok=True)
    _SERVICE_CACHE[:] = [folder]


def service_cache_dir() -> Path:
    """The run's cache folder for test services (see _service_cache)."""
    return _SERVICE_CACHE[0]


@pytest.fixture(scope="session")
def test_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random-init reference weights saved like the course file (a plain state_dict)."""
    from grader.expected import load_reference

    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("ckpt") / "resnet50_test.ckpt"
    torch.save(load_reference().ResNet50_layer4().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred learnable images in the official pickle format."""
    from grader.data import make_synthetic, save_cifar10_format

    root = tmp_path_factory.mktemp("synthetic")
    save_cifar10_format(root, *make_synthetic(400, 200, seed=3, learnable=True))
    return root


@pytest.fixture(scope="session")
def trained_checkpoint(synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference trained a little on the synthetic set (trusted, in-process)."""
    from grader.data import load_cifar10
    from grader.reference_train import train_reference

    out = tmp_path_factory.mktemp("ckpt") / "synthetic_reference.ckpt"
    data = load_cifar10(synthetic, cache=False)
    train_reference(data, epochs=3, out=out, seed=0, device="cpu", log=lambda _: None)
    return out


@pytest.fixture(scope="session")
def train_config(synthetic: Path, trained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> "GradeConfig":
    """Fine-tuning on the synthetic set, with a progress event every step."""
    from grader.engine import GradeConfig
    from grader.sandbox import Limits
    from grader.training import TrainSettings

    return GradeConfig(checkpoint=trained_checkpoint, data_dir=synthetic, skip_training=False, threads=THREADS,
                       cache_dir=tmp_path_factory.mktemp("cache"),
                       train=TrainSettings(progress_every=1, limits=Limits(wall_seconds=300)))


@pytest.fixture(scope="session")
def config(test_checkpoint: Path):
    from grader.engine import GradeConfig

    return GradeConfig(checkpoint=test_checkpoint, threads=THREADS)


@pytest.fixture(scope="session")
def warm(config: "GradeConfig") -> Iterator["GradeConfig"]:
    """`config` as a worker grades: structure checks and verifier forked from warm fork servers
    (grader/forkserver.py), ~2.5 s a grade against ~10 s for `config`'s fresh sandboxes. For
    tests about what a file scores (forgeries, bad files, rubric edits), not about the cold path
    or the sandbox itself: those keep `config`, and each defence keeps a test on each path. The
    servers live for the run (a module that closes the pool only makes the next grade start them
    again)."""
    from dataclasses import replace

    from grader import forkserver, prestart

    yield replace(config, prestart=True)
    forkserver.pool().close()
    prestart.pool().close()


@pytest.fixture(scope="session")
def train_warm(train_config: "GradeConfig", warm: "GradeConfig") -> "GradeConfig":
    """`train_config` as a training worker grades (prestart): structure checks and verifier
    forked from warm servers, a fine-tune that must run in a pre-started sandbox; shared
    fine-tunes (the honest one) as `train_config`'s. For tests about what a file's accuracy
    scores (cheats, training verdicts): their cold structure checks were ~40 % of those modules'
    CPU (tests/README.md, session 25). `honest`, the trusted-run match and the prestarted-vs-on-
    demand comparison keep `train_config`. Its servers close with `warm`'s."""
    from dataclasses import replace

    return replace(train_config, prestart=True)


@pytest.fixture(scope="session")
def honest(train_config: "GradeConfig"):
    """The reference graded with its fine-tune (on demand, no pre-started sandbox), once per run:
    what each accuracy cheat (tests/adversarial) is held to and what a fine-tune in a pre-started
    sandbox must equal (tests/grader/test_training.py). Tests only read it."""
    from grader.engine import grade_bytes
    from grader.rubric import SOLUTION

    report = grade_bytes(SOLUTION.read_bytes(), filename="resnet50_skeleton.py", config=train_config)
    assert report.accuracy is not None and report.accuracy < 0.9  # room to cheat upwards
    assert report.trust.fine_tune in ("ran", "shared") and not train_config.prestart
    return report


@pytest.fixture(scope="session")
def structure_report(warm: "GradeConfig"):
    """A file's structure-only report graded as a worker grades it (`warm`: forks of the warm
    servers), once per run: the reference and the mutations are read by many tests (the engine's,
    the trust attacks', the dashboards'), which ask what a file scores, not how a sandbox starts.
    A grade in sandboxes started whole costs ~4.5 cpu-s against ~1 for the forks (tests/README.md,
    session 21); the cold path keeps its own tests (`config`: test_engine's full marks, fresh
    draws and replay, test_forks' one-sandbox twin, the attacks). `structure_report(source)` gives
    a deep copy, so a test may change what it got; a test that proves something of the act of
    grading (a fresh draw, the next grade unharmed, timing) grades itself."""
    from grader.engine import grade_bytes

    done: dict[bytes, Any] = {}

    def report(source: str | bytes) -> Any:
        data = source.encode() if isinstance(source, str) else source
        if data not in done:
            done[data] = grade_bytes(data, filename="resnet50_skeleton.py", config=warm)
        return done[data].model_copy(deep=True)

    return report


# ---------------------------------------------------------------- the quick tier
# `./scripts/test.sh --quick` (pytest --quick): pure logic, storage, page rendering, protocol
# parsing, for every edit; no sandbox, no grade, no service, no browser, no training. The full
# suite stays the README's test command and CI's. A test is slow when it takes a fixture that
# grades or serves, or lives in a module that starts sandboxes, services or Chromium itself.
SLOW_FIXTURES = {"config", "train_config", "trained_checkpoint", "service", "client", "forks", "course",
                 "svc", "twin", "honest", "graded", "reports",
                 "structure_report", "warm", "train_warm"}
SLOW_MODULES = {
    "tests/adversarial", "tests/bench", "tests/worker",
    "tests/grader/test_sandbox.py", "tests/grader/test_child_train.py", "tests/grader/test_training.py",
    "tests/grader/test_engine.py", "tests/grader/test_cli.py", "tests/grader/test_prestart.py",
    "tests/grader/test_trusted.py", "tests/grader/test_program.py", "tests/grader/test_gpu.py",
    "tests/grader/test_doctor.py", "tests/grader/test_parts.py", "tests/grader/test_bad_files.py",
    "tests/grader/test_accuracy_item.py", "tests/grader/test_rubric.py",
    "tests/api/test_service.py", "tests/api/test_course.py", "tests/api/test_live.py", "tests/api/test_serve.py",
    "tests/api/test_page_chromium.py", "tests/api/test_course_chromium.py", "tests/api/test_ta_live.py",
    "tests/api/test_batches.py", "tests/api/test_ta_dashboard.py", "tests/api/test_lti.py",
    "tests/api/test_limits.py", "tests/api/test_code_view.py", "tests/service/test_worker_cli.py",
    "tests/api/test_phone_chromium.py", "tests/api/test_live_page_chromium.py",
    # They start uvicorn per test or Chromium: 86 of the quick tier's 174 s on the AMD host (session 22).
    "tests/api/test_ta_signin.py", "tests/api/test_proxy_trust.py", "tests/api/test_report_chromium.py",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--quick", action="store_true", help="the quick tier only: no sandbox, service or browser")


# ---------------------------------------------------------------- three workers (pytest-xdist)
# `./scripts/test.sh` runs the suite on three worker processes (`-n 3 --dist loadgroup`): much
# of a grade is waiting (a sandbox starting, a service answering, a limit running out), so one
# process leaves a core idle, and two left the 2 cores idle 12 % of the run (tests/README.md,
# session 25: a third fills it). Each module runs whole on one worker (its module-scoped service
# is started once); the modules that read the one fine-tune of the reference (`honest`, minutes)
# share a worker, so it is made once. The longest groups go first, so that no worker is left
# with a long tail.
XDIST_GROUPS = {
    "honest": ("tests/adversarial/test_cheating.py", "tests/adversarial/test_trust.py",
               "tests/adversarial/test_time_limits.py", "tests/grader/test_training.py",
               "tests/adversarial/test_disk.py",  # its fine-tune reads train_config's trained checkpoint
               # With time_limits, every module on the adversarial package's one service: pytest
               # tears a package fixture down whenever its worker runs a test outside the package,
               # so spread over both workers among other modules the service was started 4 times
               # a run (~10 cpu-s each: uvicorn, Celery and its torch, two fork servers); grouped,
               # once (the group runs in collection order, tests/adversarial first).
               "tests/adversarial/test_exits.py", "tests/adversarial/test_memory_limits.py",
               "tests/adversarial/test_processes.py", "tests/adversarial/test_secrets.py",
               "tests/adversarial/test_uploads.py", "tests/adversarial/test_writes.py"),
}
LONGEST_FIRST = ("honest", "tests/bench/test_bench_smoke.py", "tests/bench/test_deadline_day.py",
                 "tests/adversarial/test_forks.py", "tests/api/test_service.py",
                 "tests/adversarial/test_service_faults.py", "tests/grader/test_engine.py",
                 "tests/api/test_course.py", "tests/api/test_ta_dashboard.py")


def xdist_group(where: str) -> str:
    return next((name for name, modules in XDIST_GROUPS.items() if where in modules), where)


def _order_for_workers(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    groups: dict[pytest.Item, str] = {}
    for item in items:
        groups[item] = group = xdist_group(Path(str(item.fspath)).resolve().relative_to(REPO).as_posix())
        item.add_marker(pytest.mark.xdist_group(group))
    # Stable: the modules' own order within a group and among the unranked ones.
    items.sort(key=lambda item: rank.get(groups[item], len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """With --dist loadgroup every test must carry its group (xdist writes it into the node id
    after the hook below): without it each test is scheduled alone, so the modules' services and
    the run's shared grades are set up once per worker (pytest 9.2 with xdist 3.8 did this
    silently and cost ~25 % of the run). Stop the run instead."""
    if node.config.getvalue("dist") == "loadgroup":
        lost = [nodeid for nodeid in ids if "@" not in nodeid.rpartition("]")[2].rpartition("::")[2]]
        if lost:
            raise pytest.UsageError(f"pytest-xdist did not group {len(lost)} tests (e.g. {lost[0]}): a pytest "
                                    "or pytest-xdist version that breaks --dist loadgroup (see pyproject.toml)")


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the xdist_group marks into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        _order_for_workers(config, items)
    if not config.getoption("--quick"):
        return
    keep, drop = [], []
    for item in items:
        where = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix()
        slow = (SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
                or any(where == m or where.startswith(m + "/") for m in SLOW_MODULES))
        (drop if slow else keep).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
