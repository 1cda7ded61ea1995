"""`autograder worker`: start one Celery grading worker that checks its device first.

A worker configured for CUDA on a host without a usable GPU would take jobs and fail every
one; it refuses to start instead, saying why. On a GPU it runs K grades at a time, K from
--concurrency or from the card's free memory over the per-grade cap (AUTOGRADER_GPU_MEMORY_MB).
"""
from __future__ import annotations

import os
import sys

import click

from grader.gpu import concurrency_for, cuda_problem, free_memory, is_cuda
from grader.settings import Settings
from grader.cli import main


def worker_command(*, concurrency: int, queue: str, name: str, loglevel: str) -> list[str]:
    """The Celery worker's argv: `autograder worker` execs it, `serve` starts one per worker."""
    return [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-Q", queue,
            "--concurrency", str(concurrency), "--loglevel", loglevel, "-n", name]


def choose_concurrency(settings: Settings, given: int | None) -> tuple[int, str]:
    """K and why: as given, else as many per-grade caps as fit on the GPU, else 1 (a CPU grade
    already uses every core)."""
    if given is not None:
        return given, "--concurrency"
    device = settings.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    memory = free_memory(device) if is_cuda(device) else None
    if memory is None:
        return 1, "one CPU grade uses all cores"
    per_grade = settings.gpu_memory_mb << 20
    k = concurrency_for(memory[0], per_grade)
    return k, f"{memory[0] / 2**30:.1f} GiB free on {device}, {per_grade / 2**30:g} GiB per grade"


@main.command("worker")
@click.option("--concurrency", type=click.IntRange(min=1),
              help="Grades at a time (default: from the GPU's free memory; 1 on a CPU).")
@click.option("--queue", default="grading", show_default=True)
@click.option("--name", default="grader@%h", show_default=True, help="Celery node name.")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--dry-run", is_flag=True, help="Check the device and print the worker command; start nothing.")
def worker(concurrency: int | None, queue: str, name: str, loglevel: str, dry_run: bool) -> None:
    """Start a grading worker after checking that its device works."""
    settings = Settings()
    problem = cuda_problem(settings.device)
    if problem:
        raise click.ClickException(f"this worker cannot grade, so it does not start: {problem}.")
    k, why = choose_concurrency(settings, concurrency)
    cmd = worker_command(concurrency=k, queue=queue, name=name, loglevel=loglevel)
    click.echo(f"device {settings.device} · {k} grade(s) at a time ({why})", err=True)
    if dry_run:
        click.echo(" ".join(cmd))
        return
    os.execv(sys.executable, cmd)  # the worker becomes this process: signals reach Celery directly
