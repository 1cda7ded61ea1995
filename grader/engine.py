"""Grade one file: validate it, run the child in the sandbox, judge, build the report.

The one grading core behind the CLI and the worker. It never raises for a bad submission:
every path ends in a Report with a named status.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import atexit
import shutil
import tempfile
import threading
from grader.protocol import Collector
from grader.report import Checks, Error, Item, Report, Submission
from grader.rubric import Rubric, Table, load_rubric, load_table
from grader.sandbox import Limits, Outcome, SandboxUnavailable, run_sandboxed

if TYPE_CHECKING:
    from grader.training import TrainSettings

MAX_SOURCE_BYTES = 256 << 10


@dataclass(frozen=True)
class GradeConfig:
    rubric: Rubric = field(default_factory=load_rubric)
    table: Table = field(default_factory=load_table)
    checkpoint: Path | None = None
    data_dir: Path | None = None
    skip_training: bool = True
    check_limits: Limits = field(default_factory=lambda: Limits(wall_seconds=60))
    allow_unsafe: bool = False
    threads: int = 1
    seed: int = 0
    train: "TrainSettings" = field(default_factory=lambda: _train_settings())
    cache_dir: Path | None = None  # for the parsed data set when its folder is read-only


Event = dict[str, Any]


def _train_settings() -> Any:
    from grader.training import TrainSettings  # torch: only when training is configured

    return TrainSettings()


def validate_source(data: bytes) -> str | None:
    """Why a file cannot be graded at all, in a student's words; None when it can."""
    if not data.strip():
        return "The file is empty."
    if len(data) > MAX_SOURCE_BYTES:
        return f"The file is {len(data) // 1024} KiB; a model file is at most {MAX_SOURCE_BYTES // 1024} KiB."
    if b"\x00" in data:
        return "The file is binary, not Python source."
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"The file is not UTF-8 text (byte {exc.start} is not valid); save it as UTF-8 Python source."
    return None


class _Background:
    """Run a call in a thread and hand back its result or exception."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._result: Any = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._result = call()
        except BaseException as exc:  # handed to the caller
            self._result = exc

    def join(self) -> Any:
        self._thread.join()
        return self._result


_WORK_ROOT: list[Path] = []


def cleanup() -> None:
    """Remove this process's reference files (probe tensors, seeded checkpoint, data)."""
    for root in _WORK_ROOT:
        shutil.rmtree(root, ignore_errors=True)


def work_root() -> Path:
    """This process's folder for reference files and prepared data, removed at exit."""
    if not _WORK_ROOT:
        _WORK_ROOT.append(Path(tempfile.mkdtemp(prefix="autograder-expected-")))
        atexit.register(cleanup)
    return _WORK_ROOT[0]


def expected_dir(config: GradeConfig) -> Path:
    """Where the reference side for this table + checkpoint version lives in this process."""
    ckpt = config.checkpoint
    key = json.dumps([config.table.model_dump(mode="json", by_alias=True),
                      str(ckpt.resolve()) if ckpt else None,
                      ckpt.stat().st_mtime_ns if ckpt and ckpt.exists() else None])
    folder = work_root() / hashlib.sha256(key.encode()).hexdigest()[:16]
    folder.mkdir(exist_ok=True)
    return folder


def grade_file(path: Path, *, config: GradeConfig, student_id: str | None = None,
               on_event: Callable[[Event], None] | None = None) -> Report:
    data = path.read_bytes()
    return grade_bytes(data, filename=path.name, config=config, student_id=student_id, on_event=on_event)


def grade_bytes(data: bytes, *, filename: str, config: GradeConfig, student_id: str | None = None,
                on_event: Callable[[Event], None] | None = None) -> Report:
    started = time.perf_counter()
    submission = Submission(filename=filename, sha256=hashlib.sha256(data).hexdigest(),
                            student_id=student_id, size_bytes=len(data))
    problem = validate_source(data)
    if problem:
        return _rejected(submission, config, Error(kind="invalid_file", message=problem), started)
    emit = on_event or (lambda e: None)
    emit({"event": "checking"})
    out_dir = expected_dir(config)
    inputs = {"expected": out_dir}
    if config.checkpoint is not None:
        inputs["checkpoint"] = config.checkpoint
    job = {"seed": config.seed, "module_name": "resnet50_skeleton",
           "blocks": [{"name": n, "args": list(b.args)} for n, b in config.table.probe_blocks.items()]}
    collector = Collector()
    with tempfile.TemporaryDirectory(prefix="autograder-src-") as tmp:
        source = Path(tmp) / "resnet50_skeleton.py"
        source.write_bytes(data)
        # The sandbox starts (bwrap, import torch) while this process builds the reference side.
        runner = _Background(lambda: run_sandboxed(
            submission=source, job=job, inputs=inputs, limits=config.check_limits,
            threads=config.threads, allow_unsafe=config.allow_unsafe, on_message=collector))
        try:
            from grader.expected import build_expected  # torch: imported while the child starts

            ref_started = time.perf_counter()
            expected = build_expected(config.table, config.checkpoint, out_dir)
            timings = {"reference": time.perf_counter() - ref_started}
        finally:
            result = runner.join()
        if isinstance(result, SandboxUnavailable):
            return _rejected(submission, config, Error(kind="sandbox_unavailable", message=str(result)), started)
        if isinstance(result, BaseException):
            raise result
        outcome = result
        timings["checks"] = outcome.wall_seconds
        report = _judge(submission, config, expected, collector, outcome)
        emit({"event": "structure", "score": report.score, "max_score": report.max_score,
              "report": report.model_dump(mode="json")})
        if not config.skip_training:
            _train(report, source, config, emit, timings)
    report.score = round(sum(i.points for i in report.items), 4)
    report.timings = {**timings, "total": time.perf_counter() - started}
    return report


def _train(report: Report, source: Path, config: GradeConfig, emit: Callable[[Event], None],
           timings: dict[str, float]) -> None:
    """Fine-tune and score accuracy; a model that does not build is not trained."""
    from grader.training import accuracy_item, prepare_data, run_training

    rubric = config.rubric.accuracy
    if report.status == "rejected":
        return
    if report.error and report.error.kind in ("missing_definition", "runtime_error", "timeout",
                                              "memory_limit", "crashed"):
        report.items.append(accuracy_item(rubric, None, f"Not trained: {report.error.message}"))
        return
    if config.data_dir is None:
        report.items.append(accuracy_item(rubric, None, "Not trained: no CIFAR-10 data folder is configured."))
        return
    started = time.perf_counter()
    data = prepare_data(config.data_dir, work_root(), config.cache_dir)
    timings["data"] = time.perf_counter() - started
    result = run_training(source=source, data=data, checkpoint=config.checkpoint, settings=config.train,
                          threads=config.threads, allow_unsafe=config.allow_unsafe, on_event=emit)
    timings["training"] = result.outcome.wall_seconds
    report.sandbox["training"] = {"status": result.outcome.status, "exit_code": result.outcome.exit_code,
                                  "peak_memory_bytes": result.outcome.peak_memory_bytes}
    report.accuracy = result.accuracy
    report.training = result.training
    if result.error is not None and report.error is None:
        report.error = result.error
    report.log = (report.log + "\n--- fine-tuning ---\n" + result.outcome.log).strip()
    report.items.append(accuracy_item(rubric, result))
    emit({"event": "accuracy", "accuracy": result.accuracy})


def _rejected(submission: Submission, config: GradeConfig, error: Error, started: float) -> Report:
    return Report(submission=submission, status="rejected", score=0.0,
                  max_score=_max_score(config), error=error,
                  timings={"total": time.perf_counter() - started})


def _max_score(config: GradeConfig) -> float:
    r = config.rubric
    total = (r.q1_downsample.points + r.q1_no_downsample.points + r.q2_blanks.points
             + r.q2_layer3.points + r.q2_layer4.points)
    return total + (0 if config.skip_training else r.accuracy.points)


def _outcome_error(outcome: Outcome) -> Error | None:
    if outcome.status == "ok":
        return None
    return Error(kind=outcome.status, message=f"Your code {outcome.reason}." if outcome.status != "crashed"
                 else (outcome.reason or "The grading process crashed."))


def _judge(submission: Submission, config: GradeConfig, expected: Any,
           found: Collector, outcome: Outcome) -> Report:
    from grader import judge  # imports torch; loaded by then

    rubric = config.rubric
    imported = found.get("import")
    definitions = found.get("definitions")
    error = _outcome_error(outcome)
    if imported is not None and imported.error is not None:
        e = imported.error
        kind = e.kind if e.kind in ("syntax_error", "import_error", "runtime_error", "crashed") else "runtime_error"
        message = {
            "syntax_error": f"Syntax error on line {e.line}: {e.message}",
            "import_error": f"Your file imports the module {e.module!r}, which the grader does not have. "
                            "Use only torch and the Python standard library.",
        }.get(kind, f"Your file raised an error while being imported: {e.message}")
        if kind == "crashed":
            message = (f"Your file called sys.exit({e.message}) while being imported, which stops the grader's "
                       "process; remove it (the grader imports your file, it does not run it as a script).")
        error = Error(kind=kind, message=message, line=e.line, traceback=e.traceback)
        return _finish(submission, config, "rejected", [], Checks(), error, outcome)
    if imported is None:
        error = error or Error(kind="crashed", message="The grading process stopped before importing the file.")
        return _finish(submission, config, "rejected", [], Checks(), error, outcome)

    names = definitions.names if definitions else {}
    missing = [n for n in ("ResidualBlock", "ResNet50_layer4") if names.get(n) != "class"]
    if definitions is not None and missing:
        error = Error(kind="missing_definition",
                      message=f"Your file does not define {' and '.join(missing)} as an nn.Module class; "
                              "keep the skeleton's class names.")
    unavailable = (f"Not checked: {error.message}" if error else None)

    model = found.get("model")
    shapes = judge.check_shapes(found.get("shapes"), expected, unavailable if model else None)
    ckpt = judge.check_checkpoint(model, found.get("checkpoint"), expected)
    equivalence = judge.check_equivalence(found.get("equivalence"), ckpt, expected)
    items: list[Item] = []
    for item_id, item in (("q1_downsample", rubric.q1_downsample), ("q1_no_downsample", rubric.q1_no_downsample)):
        spec = config.table.probe_blocks[item.block]
        items.append(judge.judge_block(item, item_id, found.blocks.get(item.block),
                                       expected.blocks[item.block], spec.args, unavailable))
    items.append(judge.judge_blanks(rubric.q2_blanks, model, shapes, equivalence, unavailable))
    for item_id, layer_item in (("q2_layer3", rubric.q2_layer3), ("q2_layer4", rubric.q2_layer4)):
        items.append(judge.judge_layer(layer_item, item_id, model, config.table, shapes, unavailable))
    if config.skip_training:
        items.append(Item(id="accuracy", title=rubric.accuracy.title, points=0, max_points=0,
                          passed=False, skipped=True,
                          feedback=["Skipped: structure-only grading (no fine-tuning was run)."]))
    checks = Checks(checkpoint_load=ckpt, equivalence=equivalence, shapes=shapes)
    if model is not None and model.error is not None and error is None:
        error = Error(kind="runtime_error", message=f"ResNet50_layer4() raised {model.error.message}",
                      line=model.error.line, traceback=model.error.traceback)
    return _finish(submission, config, "graded", items, checks, error, outcome)


def _finish(submission: Submission, config: GradeConfig, status: str, items: list[Item],
            checks: Checks, error: Error | None, outcome: Outcome) -> Report:
    return Report(
        submission=submission, status=status,  # type: ignore[arg-type]
        score=round(sum(i.points for i in items), 4), max_score=_max_score(config),
        items=items, checks=checks, error=error, log=outcome.log,
        sandbox={"isolation": outcome.isolation, "status": outcome.status, "exit_code": outcome.exit_code,
                 "peak_memory_bytes": outcome.peak_memory_bytes, **outcome.limits},
    )
