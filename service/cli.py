"""`autograder` with the service's commands (`serve`, `token`, `ta`, ...) added to the engine's (`grade`, `data`, ...).

The engine's CLI (grader/cli.py) knows nothing of the web service, the database or the
queue; this module is the console entry point and adds the commands that need them.
"""
from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
from pathlib import Path
from types import FrameType

import click

from grader.cli import main
from service.scoring import scale
from service.settings import ServiceSettings as Settings
from service.worker_cli import worker_command  # also registers `worker` (device check, GPU concurrency)

# How long a worker may take to finish its current step after SIGTERM before it is killed;
# its job is not lost (acks_late, and the recovery loop re-sends it).
WORKER_GRACE_S = 10.0


CGROUP_ROOT = Path("/sys/fs/cgroup")


def worker_cpu_group(weight: int, name: str) -> Path | None:
    """A cpu cgroup for one grading worker with a lower weight than the API's, or None where no
    cgroup is writable here (then `nice` is all there is).

    Why a cgroup and not only nice: each process started in a session of its own (the worker,
    its sandboxes) is its own autogroup, and niceness only ranks processes inside one; a
    group's weight is honoured across sessions. v2: cpu.weight; v1: cpu.shares (1024 = 100)."""
    try:
        if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2, unified
            if "cpu" not in (CGROUP_ROOT / "cgroup.subtree_control").read_text().split():
                (CGROUP_ROOT / "cgroup.subtree_control").write_text("+cpu")
            group = CGROUP_ROOT / f"autograder-worker-{name}"
            group.mkdir(exist_ok=True)
            (group / "cpu.weight").write_text(str(max(1, min(10000, weight))))
        else:
            group = CGROUP_ROOT / "cpu" / f"autograder-worker-{name}"
            group.mkdir(exist_ok=True)
            (group / "cpu.shares").write_text(str(max(2, weight * 1024 // 100)))
        return group
    except OSError:
        return None


def _worker_preexec(group: Path | None) -> None:
    """In the worker child: into its CPU group (lower weight) and nice, and die with `serve`
    even if serve is SIGKILLed. Only file writes and syscalls: safe between fork and exec."""
    if group is not None:
        with open(group / "cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
    os.nice(10)  # grading is batch work: it cannot starve the page and the uploads
    try:  # PR_SET_PDEATHSIG = 1; no library wraps this one Linux call
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the signal handlers below still stop them
        pass


def start_workers(n: int, cpu_weight: int = 25) -> list[subprocess.Popen]:
    """Celery grading workers, each in its own process group so that stopping one stops its pool
    children and their sandboxes too, and in a CPU group of lower weight than the API's."""
    group = worker_cpu_group(cpu_weight, str(os.getpid())) if n else None
    if n and group is None:
        click.echo(f"no writable cgroup here: the grading workers run at nice 10 only, not at cpu weight "
                   f"{cpu_weight} (AUTOGRADER_WORKER_CPU_WEIGHT)", err=True)
    elif group is not None:
        click.echo(f"grading workers in {group} (cpu weight {cpu_weight}, the API's 100)", err=True)
    return [subprocess.Popen(worker_command(concurrency=1, queue="grading", name=f"grader{i}@%h", loglevel="INFO"),
                             preexec_fn=functools.partial(_worker_preexec, group), start_new_session=True)
            for i in range(n)]


def stop_workers(workers: list[subprocess.Popen], grace_s: float = WORKER_GRACE_S) -> None:
    """SIGTERM each worker's main process (Celery's warm shutdown: it ends its own pool), then SIGKILL
    its group, whatever is left after grace_s (pool children, sandboxes).

    Only the main process gets the SIGTERM: sent to the whole group, it also killed the pool's
    children under Celery, which logged `ERROR ... ForkPoolWorker-1 exited with 'signal 15 (SIGTERM)'`
    on every clean stop of serve."""
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(w, signal.SIGKILL)  # pool children and sandboxes left behind, if any
        w.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def startup_line(settings: Settings, n_workers: int) -> str:
    """What serve prints first: where the queue and the database are, and what is graded."""
    s = scale(settings)
    checkpoint = settings.default_checkpoint()
    graded = (f"scores out of {s.max_score:g}, accuracy measured on {settings.data_dir}" if s.measures_accuracy
              else f"scores out of {s.max_score:g}: accuracy NOT measured, {s.why_no_accuracy} ({s.setting})")
    return (f"broker {settings.resolved_broker_url().split('@')[-1]} · database "
            f"{settings.resolved_database_url().split('@')[-1]} · {n_workers} worker(s)\n"
            f"{graded} · checkpoint {checkpoint or 'none: seeded reference weights (set AUTOGRADER_CHECKPOINT)'}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", "n_workers", default=1, show_default=True, type=int,
              help="Grading worker processes to start beside the API (0: run them elsewhere).")
@click.option("--api-processes", default=1, show_default=True, type=int,
              help="uvicorn processes serving the page and the API (more absorb an upload rush).")
def serve(host: str, port: int, n_workers: int, api_processes: int) -> None:
    """Run the web page and REST API with grading workers on this machine.

    With no AUTOGRADER_BROKER_URL the queue is an embedded SQLite broker (no server needed);
    set AUTOGRADER_BROKER_URL=redis://... to use Redis. The database defaults to SQLite.
    SIGTERM or Ctrl-C stops the API and the workers it started.
    """
    import uvicorn

    settings = Settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    # uvicorn handles SIGTERM/SIGINT while it runs, then re-raises the signal; with the default
    # SIGTERM action that re-raise would end this process before `finally` stops the workers.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    workers = start_workers(n_workers, settings.worker_cpu_weight)
    try:
        click.echo(startup_line(settings, n_workers))
        # Each API process builds its app from the same AUTOGRADER_* environment as `settings`.
        # proxy_headers=False: forwarded headers are believed only from AUTOGRADER_TRUSTED_PROXIES
        # (api/proxy.py), not from uvicorn's default 127.0.0.1.
        uvicorn.run("api.main:app_from_env", factory=True, workers=api_processes, host=host, port=port,
                    log_level="info", proxy_headers=False)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_workers(workers)
        for group in (CGROUP_ROOT / f"autograder-worker-{os.getpid()}",
                      CGROUP_ROOT / "cpu" / f"autograder-worker-{os.getpid()}"):
            try:  # empty once the workers are gone; a killed worker's sandboxes leave empty groups inside
                for inner in group.glob("autograder-run-*"):
                    inner.rmdir()
                group.rmdir()
            except OSError:
                pass


@main.group()
def token() -> None:
    """Bearer tokens for the TA routes of the REST API."""


@token.command("create")
@click.argument("name")
def token_create(name: str) -> None:
    """Make a token named NAME and print it once (only its hash is stored)."""
    from storage.db import session_scope
    from storage.ta_accounts import TaAccountError, create_api_token

    try:
        with session_scope(Settings().cli_database_url(creates=True)) as session:
            value = create_api_token(session, name=name)
    except TaAccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(value)


@token.command("list")
def token_list() -> None:
    """The tokens' names and creation dates (UTC); the tokens themselves exist only as hashes."""
    from storage.db import session_scope
    from storage.ta_accounts import list_api_tokens

    with session_scope(Settings().cli_database_url()) as session:
        for t in list_api_tokens(session):
            click.echo(f"{t.name}	created {t.created_at:%Y-%m-%d %H:%M}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Delete the token NAME: requests with it get 403 from now on."""
    from storage.db import session_scope
    from storage.ta_accounts import TaAccountError, revoke_api_token

    try:
        with session_scope(Settings().cli_database_url()) as session:
            revoke_api_token(session, name=name)
    except TaAccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {name} revoked")


from service import course_cli  # noqa: E402,F401 - registers `roster` and `assignment` on the same group
from service import ta_cli  # noqa: E402,F401 - registers `ta` (TA accounts for the web pages)
from service import lti_cli  # noqa: E402,F401 - registers `lti` (LMS platform registrations)

if __name__ == "__main__":
    main()
