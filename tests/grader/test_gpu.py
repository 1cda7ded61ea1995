"""grader/gpu.py and grader/child/gpu_limit.py without a GPU: device binding against a fake
/dev (real device nodes made with mknod, bound by the real bubblewrap), the supervisor's
GPU-memory verdict, the concurrency choice, and what a CUDA worker says on a CPU host."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grader import gpu, sandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "grader" / "child"))
import gpu_limit  # noqa: E402  (the sandbox's import style)

NODES = ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools")
NOT_NODES = ("nvme0", "null", "nvidia-smi.log", "nvidiafoo")
needs_bwrap = pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed")


@pytest.fixture
def fake_dev(tmp_path: Path) -> Path:
    """A /dev look-alike: NVIDIA nodes as real character devices (the kernel's null device, so
    opening them does no harm), other entries that must not be bound, and a MIG caps folder."""
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in NODES + NOT_NODES:
        try:
            os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            (dev / name).write_bytes(b"")  # not root: a plain file still shows the binding
    (dev / "nvidia-caps").mkdir()
    (dev / "nvidia-caps" / "nvidia-cap1").write_bytes(b"")
    return dev


def test_device_nodes_are_the_nvidia_ones_only(fake_dev: Path) -> None:
    names = [p.name for p in gpu.device_nodes(fake_dev)]
    assert sorted(names) == sorted([*NODES, "nvidia-caps"])
    assert gpu.device_nodes(fake_dev / "absent") == []


def test_binds_devices_as_devices_and_libraries_read_only(fake_dev: Path, tmp_path: Path) -> None:
    libs = tmp_path / "nvidia" / "lib64"
    libs.mkdir(parents=True)
    state = tmp_path / "proc-driver-nvidia"
    state.mkdir()
    binds = gpu.sandbox_binds(dev_root=fake_dev, library_dirs=[libs, Path("/usr/lib/x86_64-linux-gnu")],
                              driver_state=(str(state), str(tmp_path / "absent")))
    triples = [tuple(binds.args[i:i + 3]) for i in range(0, len(binds.args), 3)]
    for name in (*NODES, "nvidia-caps"):
        assert ("--dev-bind", str(fake_dev / name), f"/dev/{name}") in triples
    assert ("--ro-bind", str(libs), str(libs)) in triples
    assert ("--ro-bind", str(state), str(state)) in triples
    assert not any(t[1] == "/usr/lib/x86_64-linux-gnu" for t in triples)  # /usr is bound already
    assert not any(str(tmp_path / "absent") in a for a in binds.args)
    assert not any(a.endswith(n) for n in NOT_NODES for a in binds.args)
    assert binds.env == {"LD_LIBRARY_PATH": str(libs)}  # no ld.so.cache inside: say where libcuda is
    assert gpu.sandbox_binds(memory_limit_bytes=5, dev_root=fake_dev, library_dirs=[], driver_state=()).env \
        == {gpu.LIMIT_ENV: "5"}


def test_driver_library_dirs_are_where_libcuda_is(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "libcuda.so.1").write_bytes(b"")
    assert gpu.driver_library_dirs((str(tmp_path / "a"), str(tmp_path / "b"))) == [tmp_path / "b"]


@needs_bwrap
def test_bound_nodes_open_read_write_inside_bubblewrap(fake_dev: Path) -> None:
    if not stat.S_ISCHR((fake_dev / "nvidia0").stat().st_mode):
        pytest.skip("mknod needs root")
    binds = gpu.sandbox_binds(dev_root=fake_dev, library_dirs=[], driver_state=())
    script = ("import os; print(sorted(n for n in os.listdir('/dev') if 'nv' in n)); "
              "fd = os.open('/dev/nvidia0', os.O_RDWR); os.write(fd, b'x'); print('RW ok')")
    proc = subprocess.run([sandbox.bubblewrap(), "--unshare-all", "--die-with-parent", "--uid", "65534",
                           "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", *binds.args,
                           sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed, rw = proc.stdout.splitlines()
    assert eval(listed) == sorted([*NODES, "nvidia-caps"]) and rw == "RW ok"  # not nvme0, not read-only


LIST_DEV = "import os\nprint('DEV', sorted(n for n in os.listdir('/dev') if n.startswith('nvidia')))\n"


def _run(tmp_path: Path, source: str, *, use_gpu: bool, cap: int | None = None) -> sandbox.Outcome:
    sub = tmp_path / "resnet50_skeleton.py"
    sub.write_text(source)
    return sandbox.run_sandboxed(submission=sub, job={}, inputs={}, gpu=use_gpu,
                                 limits=sandbox.Limits(wall_seconds=60, gpu_memory_bytes=cap))


@needs_bwrap
@pytest.mark.parametrize("use_gpu", [True, False])
def test_sandbox_binds_gpu_nodes_only_when_the_grade_uses_the_gpu(
        fake_dev: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_gpu: bool) -> None:
    monkeypatch.setattr(sandbox, "sandbox_binds",
                        lambda **kw: gpu.sandbox_binds(dev_root=fake_dev, library_dirs=[], driver_state=(), **kw))
    outcome = _run(tmp_path, LIST_DEV, use_gpu=use_gpu)
    line = next(ln for ln in outcome.log.splitlines() if ln.startswith("DEV "))
    expected = sorted(n for n in (*NODES, "nvidia-caps") if n.startswith("nvidia")) if use_gpu else []
    assert eval(line[4:]) == expected


@needs_bwrap
def test_going_past_the_gpu_memory_cap_is_a_memory_limit_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's allocator hook exits with GPU_MEMORY_EXIT; on a GPU run that is `memory_limit`."""
    monkeypatch.setattr(sandbox, "sandbox_binds",
                        lambda **kw: gpu.sandbox_binds(dev_root=tmp_path / "none", library_dirs=[], driver_state=(), **kw))
    # The child sees the cap the grader set, and nothing of it on a CPU grade.
    over = f"import os\nprint('CAP', os.environ.get('{gpu.LIMIT_ENV}'))\nos._exit({gpu.GPU_MEMORY_EXIT})\n"
    outcome = _run(tmp_path, over, use_gpu=True, cap=2 << 30)
    assert f"CAP {2 << 30}" in outcome.log
    assert outcome.status == "memory_limit" and "2 GiB GPU memory limit" in outcome.reason
    cpu = _run(tmp_path, over, use_gpu=False, cap=2 << 30)
    assert cpu.status == "crashed" and "CAP None" in cpu.log  # only a GPU run has that cap


def test_child_and_grader_agree_on_the_exit_code() -> None:
    assert gpu_limit.GPU_MEMORY_EXIT == gpu.GPU_MEMORY_EXIT


def test_memory_fraction_is_the_cap_over_the_card() -> None:
    assert gpu_limit.fraction_for(8 << 30, 32 << 30) == 0.25
    assert gpu_limit.fraction_for(64 << 30, 32 << 30) == 1.0
    with pytest.raises(ValueError):
        gpu_limit.fraction_for(0, 32 << 30)


def test_cap_is_read_from_the_sandbox_env_and_a_no_op_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gpu.LIMIT_ENV, str(3 << 30))
    assert gpu_limit.limit_bytes() == 3 << 30 and gpu.LIMIT_ENV == gpu_limit.LIMIT_ENV
    gpu_limit.apply("cpu")  # would fail on a CPU torch if it touched CUDA
    gpu_limit.check_peak("cpu")
    for bad in ("", "0", "-5", "lots"):
        monkeypatch.setenv(gpu.LIMIT_ENV, bad)
        assert gpu_limit.limit_bytes() is None


@pytest.mark.parametrize("free_gib,cap_gib,k", [(139, 8, 8), (79, 16, 4), (20, 8, 2), (6, 8, 1), (0, 8, 1)])
def test_concurrency_from_free_memory(free_gib: int, cap_gib: int, k: int) -> None:
    assert gpu.concurrency_for(free_gib << 30, cap_gib << 30) == k


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a host without CUDA")
def test_cuda_problem_on_a_cpu_host_says_why_and_what_to_do() -> None:
    assert gpu.cuda_problem("cpu") is None
    problem = gpu.cuda_problem("cuda")
    assert problem is not None and "AUTOGRADER_DEVICE=cuda" in problem and "AUTOGRADER_DEVICE=cpu" in problem
    assert ("CPU build" in problem) == (not torch.backends.cuda.is_built())
