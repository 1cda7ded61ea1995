"""`autograder`: grade files from the command line (thin wrapper around grader.engine).

The service adds `serve` and `token` to this group in service/cli.py (the console entry point);
the engine itself imports nothing of the service.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.panel import Panel
from rich.table import Table as RichTable

from grader.report import Report


@click.group()
def main() -> None:
    """Auto-grader for the ResNet-50 / CIFAR-10 assignment."""


def _is_dataset_error(exc: BaseException) -> bool:
    """Whether `exc` is grader.data's DatasetError, without importing grader.data (and torch, ~1 s)
    before the grade starts its sandbox: only an imported grader.data can have raised one."""
    data = sys.modules.get("grader.data")
    return data is not None and isinstance(exc, data.DatasetError)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Course checkpoint (a plain state_dict). Default: checkpoints/resnet50_epoch285.ckpt if present, "
                   "else seeded reference weights for the equivalence check.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="CIFAR-10 folder (cifar-10-batches-py or its parent) for fine-tuning.")
@click.option("--rubric", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rubric TOML (default: reference/rubric.toml).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the reports as a JSON array to this file ('-' for stdout).")
@click.option("--skip-training", is_flag=True, help="Structure-only grading: no fine-tuning, results in seconds.")
@click.option("--student-id", help="Student ID recorded in the report (one file only).")
@click.option("--timeout", "timeout_s", type=float, help="Wall-clock limit for the structure checks, seconds.")
@click.option("--unsafe-no-sandbox", is_flag=True,
              help="Grade without bubblewrap isolation where it is not installed. Student code then runs "
                   "with your permissions: only for files you trust.")
@click.option("--draw-seed", type=int,
              help="Replay a report's trust.draw_seed (the random weights and inputs of the output and "
                   "equivalence checks); default: a fresh draw for every grade.")
def grade(files: tuple[Path, ...], checkpoint: Path | None, data_dir: Path | None, rubric: Path | None,
          json_out: Path | None, skip_training: bool, student_id: str | None, timeout_s: float | None,
          unsafe_no_sandbox: bool, draw_seed: int | None) -> None:
    """Grade one or more resnet50_skeleton.py files and print a score table for each."""
    from grader.engine import grade_file
    from grader.rubric import CheckpointError, RubricError
    from grader.settings import Settings

    settings = Settings()
    if student_id and len(files) > 1:
        raise click.UsageError("--student-id names one file; grade several files without it.")
    if not skip_training and (data_dir or settings.data_dir) is None:
        raise click.UsageError("fine-tuning needs the CIFAR-10 data: pass --data DIR (get it with "
                               "`autograder data download DIR`), or --skip-training for structure only.")
    try:
        config = settings.grade_config(skip_training=skip_training, rubric=rubric, checkpoint=checkpoint,
                                       data_dir=data_dir, check_timeout_s=timeout_s, unsafe=unsafe_no_sandbox,
                                       prestart=settings.prestart and len(files) > 1)
        if draw_seed is not None:
            config = dataclasses.replace(config, draw_seed=draw_seed)
    except RubricError as exc:
        raise click.UsageError(str(exc)) from exc
    console = Console(stderr=json_out is not None and str(json_out) == "-")
    reports: list[Report] = []
    for path in files:
        try:
            with _Progress(console, path.name) as progress:
                report = grade_file(path, config=config, student_id=student_id, on_event=progress.update)
        except Exception as exc:  # a grader failure on one file must not stop the others
            if isinstance(exc, CheckpointError) or _is_dataset_error(exc):
                raise click.UsageError(str(exc)) from exc
            report = failed_report(path, exc)
        reports.append(report)
        print_report(console, report)
    if json_out is not None:
        text = json.dumps([r.model_dump(mode="json") for r in reports], indent=2)
        if str(json_out) == "-":
            sys.stdout.write(text + "\n")
        else:
            json_out.write_text(text + "\n", encoding="utf-8")
    code = 3 if any(r.error is not None and r.error.kind == "sandbox_unavailable" for r in reports) else 0
    _exit_now(code)


def failed_report(path: Path, exc: Exception) -> Report:
    """The report for a file the grader itself failed on: says so, and the next file is graded."""
    import hashlib

    from grader.report import Error, Submission

    data = path.read_bytes() if path.is_file() else b""
    return Report(submission=Submission(filename=path.name, sha256=hashlib.sha256(data).hexdigest(),
                                        size_bytes=len(data)),
                  status="rejected", score=0.0, max_score=0.0,
                  error=Error(kind="grader_error", message=f"The grader failed on this file "
                              f"({type(exc).__name__}: {str(exc)[:300]}); a TA will grade it by hand."))


class _Progress:
    """A progress bar for the fine-tuning steps, fed by the engine's events."""

    def __init__(self, console: Console, name: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                             console=console, transient=True)
        self._name = name
        self._task: Any = None

    def __enter__(self) -> "_Progress":
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def update(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "checking":
            self._task = self._bar.add_task(f"{self._name}: structure", total=None, loss="—")
        elif kind == "training" and self._task is not None:
            self._bar.update(self._task, description=f"{self._name}: fine-tuning", total=event["steps"], completed=0)
        elif kind == "progress" and self._task is not None:
            self._bar.update(self._task, completed=event["step"], loss=f"{event['loss']:.4f}")


def _exit_now(code: int) -> None:
    """Exit without interpreter teardown: torch's takes ~0.6 s, a quarter of a quick grade."""
    from grader.engine import cleanup

    cleanup()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@main.group()
def data() -> None:
    """The CIFAR-10 data set used for fine-tuning."""


@data.command("download")
@click.argument("dest", required=False, default="data", type=click.Path(file_okay=False, path_type=Path))
@click.option("--url", help="A mirror of cifar-10-python.tar.gz (default: the official archive); "
                            "the official checksum is checked either way.")
def data_download(dest: Path, url: str | None) -> None:
    """Fetch the official CIFAR-10 archive into DEST and verify its checksum."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from grader.data import OFFICIAL_URL, DatasetError, download_cifar10

    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()) as bar:
        task = bar.add_task("cifar-10-python.tar.gz", total=None)
        try:
            folder = download_cifar10(dest, url=url or OFFICIAL_URL,
                                      progress=lambda done, total: bar.update(task, completed=done, total=total or None))
        except DatasetError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"CIFAR-10 is in {folder}; grade with --data {dest}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as a JSON array.")
def doctor(as_json: bool) -> None:
    """Check this host: torch build, CUDA, bubblewrap, cgroups, checkpoint and data sha256, GPU memory.

    Exits 1 when a check fails (the grader cannot work as configured), 0 otherwise.
    """
    from grader.doctor import as_json as checks_json
    from grader.doctor import run_checks
    from grader.settings import Settings

    checks = run_checks(Settings())
    if as_json:
        click.echo(json.dumps(checks_json(checks), indent=2))
    else:
        colour = {"ok": "green", "warn": "yellow", "fail": "red"}
        table = RichTable(title="autograder doctor")
        for col in ("check", "", "detail"):
            table.add_column(col)
        for c in checks:
            table.add_row(c.name, f"[{colour[c.level]}]{c.level}[/]", c.detail)
        Console(width=max(100, Console().width)).print(table)
    sys.exit(1 if any(c.level == "fail" for c in checks) else 0)


@main.group()
def reference() -> None:
    """The reference solution: make a course checkpoint when the course's file is missing."""


@reference.command("train")
@click.option("--epochs", type=int, required=True, help="Epochs to train (the course's file had 285).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to save the state_dict (e.g. checkpoints/reference_e30.ckpt).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--max-train", type=int, help="Use only the first N training images (quick runs).")
def reference_train(epochs: int, out: Path, data_dir: Path, seed: int, device: str, max_train: int | None) -> None:
    """Train the reference solution with the course recipe (Adam 1e-3, lr ÷3 every 20 epochs)."""
    from grader.data import DatasetError, load_cifar10
    from grader.reference_train import train_reference
    from grader.settings import Settings

    try:
        cifar = load_cifar10(data_dir, cache_dir=Settings().cache_dir)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    train_reference(cifar, epochs=epochs, out=out, seed=seed, device=device, max_train=max_train,
                    log=lambda line: click.echo(line))
    click.echo(f"saved {out}")


def _shape(shape: list[int] | None) -> str:
    return "×".join(map(str, shape[1:])) if shape else "—"


def print_report(console: Console, report: Report) -> None:
    sub = report.submission
    who = f" · student {sub.student_id}" if sub.student_id else ""
    colour = "green" if report.status == "graded" and report.score >= report.max_score else (
        "yellow" if report.status == "graded" else "red")
    acc = f" · accuracy {report.accuracy:.2%}" if report.accuracy is not None else ""
    console.print(Panel(f"[bold]{sub.filename}[/]{who} · sha256 {sub.sha256[:12]}\n"
                        f"[{colour}]{report.status}: {report.score:g} / {report.max_score:g}[/]{acc}",
                        expand=False))
    if report.error:
        line = f" (line {report.error.line})" if report.error.line else ""
        console.print(f"[red]{report.error.kind}{line}:[/] {report.error.message}")
        for tb in report.error.traceback:
            console.print(f"    {tb}", markup=False, highlight=False)
    if report.items:
        table = RichTable(title="Score", show_lines=True)
        for col in ("item", "points", "feedback"):
            table.add_column(col)
        for item in report.items:
            pts = "skipped" if item.skipped else f"{item.points:g} / {item.max_points:g}"
            style = "green" if item.passed else ("dim" if item.skipped else "yellow")
            notes = item.feedback + [f"accepted: {a}" for a in item.accepted_alternatives]
            table.add_row(item.title, f"[{style}]{pts}[/]", "\n".join(notes))
        console.print(table)
    shapes = report.checks.shapes
    if shapes and shapes.rows:
        table = RichTable(title="Output shapes (input 1×3×32×32)")
        for col in ("stage", "expected", "yours", ""):
            table.add_column(col)
        for row in shapes.rows:
            first = row.stage == shapes.first_mismatch
            mark = "[green]ok[/]" if row.ok else ("[bold red]← first mismatch[/]" if first else "[red]differs[/]")
            if shapes.failed_stage == row.stage:
                mark = "[bold red]← forward failed here[/]"
            elif not row.reached:
                mark = "[dim]not reached[/]"
            table.add_row(row.stage, _shape(row.expected), _shape(row.found), mark)
        console.print(table)
        if shapes.error:
            console.print(f"[red]forward:[/] {shapes.error}")
            for tb in shapes.traceback:
                console.print(f"    {tb}", markup=False, highlight=False)
    ck, eq = report.checks.checkpoint_load, report.checks.equivalence
    if ck:
        console.print(f"checkpoint — {ck.source}: {'[green]ok[/]' if ck.ok else '[red]fails[/]'} — {ck.message}")
        for label, keys in (("missing", ck.missing), ("unexpected", ck.unexpected), ("mismatched", ck.mismatched)):
            if keys:
                console.print(f"  {label}: " + ", ".join(keys[:8]) + (" …" if len(keys) > 8 else ""),
                              markup=False)
    if eq:
        console.print(f"equivalence: {'[green]ok[/]' if eq.ok else '[yellow]not ok[/]'} — {eq.message}")
    console.print(f"[dim]timings: {', '.join(f'{k} {v:.2f}s' for k, v in report.timings.items())}[/]")


if __name__ == "__main__":
    main()
