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
import functools
import shutil
import tempfile
import threading
from grader.protocol import Collector
from grader.report import REUSED_FINE_TUNE, Checks, Error, Item, Report, Submission
from grader.rubric import Rubric, Table, load_rubric, load_table
from grader.rubric import part_inputs as rubric_part_inputs
from grader.sandbox import Limits, Outcome, SandboxUnavailable, Started

if TYPE_CHECKING:
    from grader.findings import BlockFacts, Failure, Findings
    from grader.train_settings import TrainSettings

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
    # Identical programs share one fine-tune (the reference's own is always kept): off, every
    # grade trains its program, e.g. to time a real grade (bench.grade_time).
    share_fine_tunes: bool = True
    # The random weights and inputs of the block-output and equivalence checks: None draws
    # them fresh for each grade; a report's trust.draw_seed here replays that grade's draw.
    draw_seed: int | None = None
    # The trusted checks of the programs run in a sandbox of their own (grader/trusted.py).
    verify_limits: Limits = field(default_factory=lambda: Limits(wall_seconds=30, memory_bytes=3 << 30))
    # Start the next grade's sandboxes while this one runs (grader/prestart.py): for a worker
    # or a batch, where a next grade is likely; off for a single grade.
    prestart: bool = False


Event = dict[str, Any]


def _train_settings() -> Any:
    from grader.train_settings import TrainSettings

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
           "blocks": [{"name": n, "args": list(b.args)} for n, b in config.table.probe_blocks.items()],
           "part_inputs": rubric_part_inputs(config.table)}
    collector = Collector(names=frozenset({"model", *config.table.probe_blocks}))
    with tempfile.TemporaryDirectory(prefix="autograder-src-") as tmp:
        ahead: _Background | None = None  # a one-off grade's verifier, started during the checks
        try:
            source = Path(tmp) / "resnet50_skeleton.py"
            source.write_bytes(data)
            # The sandbox starts (bwrap, import torch) while this process builds the reference side.
            runner = _Background(lambda: _run_checks(config, inputs, source, job, collector))
            try:
                from grader.expected import build_expected  # torch: imported while the child starts

                from grader import verify

                # The reference as programs (exported once per process), awaited only by a grade
                # that gets as far as judging programs: a file that fails early does not wait for it.
                programs_of_reference = _Background(lambda: verify.reference(config.table, config.cache_dir))
                if not config.prestart:  # its verifier starts now, on the CPU the checks leave idle
                    ahead = _Background(lambda: _verifier_ahead(config, programs_of_reference.join))
                ref_started = time.perf_counter()
                expected = build_expected(config.table, config.checkpoint, out_dir,
                                          cache_dir=config.cache_dir, rubric=config.rubric)
                timings = {"reference": time.perf_counter() - ref_started}
            finally:
                result = runner.join()
            if isinstance(result, SandboxUnavailable):
                return _rejected(submission, config, Error(kind="sandbox_unavailable", message=str(result)), started)
            if isinstance(result, BaseException):
                raise result
            outcome, export = result
            timings["checks"] = outcome.wall_seconds
            if export is not None:
                timings["export"] = export.wall_seconds
            seed = verify.fresh_seed() if config.draw_seed is None else config.draw_seed
            verify_started = time.perf_counter()
            programs, verifier = _check_programs(config, collector, seed, programs_of_reference.join, export,
                                                 ahead=ahead.join if ahead else None)
            timings["verify"] = time.perf_counter() - verify_started
            _close_ahead(ahead)  # unused where nothing was checked: not kept through the training
            report = _judge(submission, config, expected, collector, outcome, programs, seed)
            report.sandbox["verify"] = verifier
            if export is not None:
                report.sandbox["export"] = export.summary()
            tally(report)
            emit({"event": "structure", "score": report.score, "max_score": report.max_score,
                  "report": report.model_dump(mode="json")})
            if config.prestart:  # the next grade's sandboxes start now, not while this one's checks ran
                _refill(config, inputs)
            if not config.skip_training:
                _train(report, source, config, emit, timings, programs["model"])
        finally:
            _close_ahead(ahead)
    tally(report)
    report.timings = {**timings, "total": time.perf_counter() - started}
    return report


def _train(report: Report, source: Path, config: GradeConfig, emit: Callable[[Event], None],
           timings: dict[str, float], checked: Any) -> None:
    """Fine-tune and score accuracy; a model that does not build is not trained.

    A checked program is fine-tuned by our code (shared with identical programs) and
    compared with the reference program's fine-tune; otherwise the student's own code is
    fine-tuned in the sandbox and the accuracy is self-reported.
    """
    from grader.training import accuracy_item, prepare_data, run_training

    rubric = config.rubric.accuracy
    if report.status == "rejected":
        return
    if report.error and report.error.kind in ("missing_definition", "runtime_error", "timeout",
                                              "memory_limit", "crashed") and checked.data is None:
        report.items.append(accuracy_item(rubric, None, f"Not trained: {report.error.message}"))
        return
    if config.data_dir is None:
        report.items.append(accuracy_item(rubric, None, "Not trained: no CIFAR-10 data folder is configured."))
        return
    if "model" in report.trust.rebuilt:  # verified: the forward fails, so there is nothing to train
        report.items.append(accuracy_item(rubric, None, f"Not trained: the forward fails ({report.checks.shapes.error})."))
        return
    started = time.perf_counter()
    data = prepare_data(config.data_dir, work_root(), config.cache_dir)
    timings["data"] = time.perf_counter() - started
    started = time.perf_counter()
    if checked.data is not None:
        from grader import verify

        result, reused = _trusted_fine_tune(checked.digest, checked.data, data, config, emit,
                                                 share=config.share_fine_tunes)
        timings["training"] = time.perf_counter() - started  # this grade's: ~0 when shared
        started = time.perf_counter()
        ref_program = verify.reference(config.table, config.cache_dir).model
        reference, _ = _trusted_fine_tune(ref_program.digest(), ref_program.to_data(), data, config, None)
        timings["reference_fine_tune"] = time.perf_counter() - started
        report.reference_accuracy = reference.accuracy
        report.trust.fine_tune = "shared" if reused else "ran"
        item = accuracy_item(rubric, result, reference=reference.accuracy)
        if reused:
            item.feedback.append(REUSED_FINE_TUNE)
    else:
        result = run_training(source=source, data=data, checkpoint=config.checkpoint, settings=config.train,
                              threads=config.threads, allow_unsafe=config.allow_unsafe, on_event=emit)
        from grader.judge import self_reported

        item = self_reported(accuracy_item(rubric, result), checked.problem)
        report.trust.fine_tune = f"self-reported: {checked.problem}"
        timings["training"] = time.perf_counter() - started
    report.sandbox["training"] = {"status": result.outcome.status, "exit_code": result.outcome.exit_code,
                                  "peak_memory_bytes": result.outcome.peak_memory_bytes}
    report.accuracy = result.accuracy if item.verified else None
    report.provisional_accuracy = None if item.verified else result.accuracy
    report.training = result.training
    if result.error is not None and report.error is None:
        report.error = result.error
    report.log = (report.log + "\n--- fine-tuning ---\n" + result.outcome.log).strip()
    report.items.append(item)
    emit({"event": "accuracy", "accuracy": result.accuracy})


def _trusted_fine_tune(program_digest: str, program: dict[str, Any], data: Any, config: GradeConfig,
                       emit: Callable[[Event], None] | None, share: bool = True) -> tuple[Any, bool]:
    """Fine-tune a checked program (its canonical data) in a sandbox that holds no student file;
    once per identical program."""
    from grader import shared_finetune
    from grader.training import resolve_device, run_training, train_config

    checkpoint = config.checkpoint or (expected_dir(config) / "reference-seeded.pt")
    settings = train_config(config.train, resolve_device(config.train.device))
    digest = shared_finetune.key(program_digest=program_digest, checkpoint_sha256=_file_sha256(checkpoint),
                                 settings=settings, data=f"{data.train.parent.name}:{data.n_train}")

    def compute() -> Any:
        take, refill = _training_sandbox(config, data, checkpoint)
        try:
            return run_training(source=None, program=program, data=data, checkpoint=checkpoint,
                                settings=config.train, threads=config.threads, allow_unsafe=config.allow_unsafe,
                                on_event=emit, take=take)
        finally:
            refill()  # after the fine-tune, not during it: a start competes for the cores

    if not share:
        return compute(), False
    return shared_finetune.shared((config.cache_dir or work_root()) / "fine-tunes", digest, compute)


def _training_sandbox(config: GradeConfig, data: Any,
                      checkpoint: Path) -> tuple[Callable[[], Any] | None, Callable[[], None]]:
    """(take, refill) of pre-started training sandboxes where config.prestart, else (None, no-op)."""
    if not config.prestart:
        return None, lambda: None
    from grader import prestart
    from grader.sandbox import start_sandbox
    from grader.training import resolve_device, training_inputs

    inputs = training_inputs(data, checkpoint)
    limits, gpu = config.train.limits, resolve_device(config.train.device).startswith("cuda")

    def start(nice: int = 0) -> Any:
        # warm_up: the optimizer's first-use imports (~1.5 s) while it waits, not in the fine-tune.
        return start_sandbox(inputs=inputs, limits=limits, threads=config.threads,
                             allow_unsafe=config.allow_unsafe, gpu=gpu, nice=nice, warm_up="train")

    key = ("train", limits, config.threads, config.allow_unsafe, gpu,
           tuple(sorted((k, str(v)) for k, v in inputs.items())))
    return (lambda: prestart.pool().take(key, start)), (lambda: prestart.pool().refill(key, start))


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, _size: int, _mtime: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _starter(config: GradeConfig, entry: str, inputs: dict[str, Path],
             limits: Limits) -> tuple[tuple[Any, ...], Callable[..., Any]]:
    """(pool key, start function) of a sandbox for `entry` with these inputs and limits."""
    from grader.sandbox import start_sandbox

    def start(nice: int = 0, serve_fd: int | None = None) -> Any:
        return start_sandbox(inputs=inputs, limits=limits, threads=config.threads, allow_unsafe=config.allow_unsafe,
                             entry=entry, warm_up=entry == "child" or config.prestart, nice=nice, serve_fd=serve_fd)

    key = (entry, limits, config.threads, config.allow_unsafe, tuple(sorted((k, str(v)) for k, v in inputs.items())))
    return key, start


def _sandbox(config: GradeConfig, entry: str, inputs: dict[str, Path], limits: Limits) -> Any:
    """A started sandbox for `entry`: the pre-started one where config.prestart, else a new one."""
    key, start = _starter(config, entry, inputs, limits)
    if not config.prestart:
        return start()
    from grader import forkserver, prestart

    if _forks(config):
        try:
            return forkserver.pool().fork(key, start)
        except forkserver.ForkFailed:
            pass  # forkserver.usable() is now False, with the reason: this grade starts its own
    return prestart.pool().take(key, start)


def _run_checks(config: GradeConfig, inputs: dict[str, Path], source: Path, job: dict[str, Any],
                found: Collector) -> tuple[Outcome, Outcome | None]:
    """The structure job's outcome, and the model export's where that ran apart.

    From fork servers the job runs as two forks at once, in one cgroup of the grade's limits:
    the probes, and the model's export (~1.3 s of one core, the longest step; two cores then
    give the verdict ~0.5 s sooner). The export's program goes into `found` like the probes'
    findings. Anywhere else, one sandbox runs both parts, one after the other. A fork whose own
    setup failed (ours, not the student's) turns fork servers off, and the job runs again in a
    sandbox of its own.
    """
    limits = config.check_limits
    if _forks(config):
        from grader import forkserver

        try:
            ran = _checks_in_forks(config, inputs, source, job, found)
        except forkserver.ForkFailed:
            found.clear()  # nothing of the failed run counts: the job runs again below
            ran = None
        if ran is not None:
            return ran
    return _sandbox(config, "child", inputs, limits).run(submission=source, job=job, on_message=found), None


def _checks_in_forks(config: GradeConfig, inputs: dict[str, Path], source: Path, job: dict[str, Any],
                     found: Collector) -> tuple[Outcome, Outcome | None] | None:
    """_run_checks from fork servers; None when no fork could be had."""
    from grader import forkserver
    from grader.cgroups import Cgroup

    limits = config.check_limits
    key, start = _starter(config, "child", inputs, limits)
    group = Cgroup.create(memory_bytes=limits.memory_bytes, max_pids=limits.max_processes)
    forks: list[Any] = []
    try:
        if group is not None:
            for _ in range(2):
                forks.append(forkserver.pool().fork(key, start, parent=group))
    except forkserver.ForkFailed:
        pass  # as many as there are: with one, it runs both parts; with none, a sandbox
    try:
        if len(forks) == 2:
            exported = Collector(names=frozenset({"model"}))
            export = _Background(lambda: forks[1].run(submission=source, job={**job, "parts": ["export"]},
                                                      on_message=exported))
            outcome = forks[0].run(submission=source, job={**job, "parts": ["probes"]}, on_message=found)
            export_outcome = export.join()
            if isinstance(export_outcome, BaseException):
                raise export_outcome
            found.programs.update({n: m for n, m in exported.programs.items()
                                   if n == "model" or n.startswith("model/")})
            return outcome, export_outcome
        if forks:
            return forks[0].run(submission=source, job=job, on_message=found), None
        return None
    finally:
        for fork in forks:  # (one that ran has closed itself; else, e.g. after an error, now)
            fork.close()
        if group is not None:
            group.remove()


def _verifier_ahead(config: GradeConfig, reference: Callable[[], Any]) -> Any:
    """A one-off grade's verifier sandbox, started while the structure checks run.

    It starts niced and in an idle CPU group (start_sandbox), so its imports take only the CPU the
    checks leave idle; run() sets it back. A worker's grades get theirs from fork servers instead.
    """
    ref = reference()
    if isinstance(ref, BaseException):
        return ref
    from grader import trusted

    ref_file = trusted.reference_file(config.table, work_root())
    return _starter(config, "verify", {"reference": ref_file}, config.verify_limits)[1](nice=19)


def _close_ahead(ahead: "_Background | None") -> None:
    """Close a started verifier that no check took (closing a used or closed one is a no-op)."""
    sandbox = ahead.join() if ahead is not None else None
    if isinstance(sandbox, Started):
        sandbox.close()


def _forks(config: GradeConfig) -> bool:
    """Structure and verifier sandboxes come from fork servers (grader/forkserver.py): a worker or
    a batch (config.prestart), where bubblewrap and cgroups are there."""
    from grader import forkserver

    return config.prestart and not config.allow_unsafe and forkserver.usable()


def _refill(config: GradeConfig, inputs: dict[str, Path]) -> None:
    """Have the next grade's structure and verifier sandboxes ready: their fork servers running
    (grader/forkserver.py), else pre-started sandboxes (grader/prestart.py)."""
    from grader import forkserver, prestart, trusted

    ref_file = trusted.reference_file(config.table, work_root())
    starters = [_starter(config, "child", inputs, config.check_limits),
                _starter(config, "verify", {"reference": ref_file}, config.verify_limits)]
    forks = _forks(config)
    for key, start in starters:
        if forks:
            forkserver.pool().ensure(key, start)
        else:
            prestart.pool().refill(key, start)


def _check_programs(config: GradeConfig, found: Collector, seed: int, reference: Callable[[], Any],
                    export: Outcome | None = None, ahead: Callable[[], Any] | None = None
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each program the child sent, checked by our code in a sandbox of its own (grader/trusted.py);
    a missing or refused one says why (`export`: the model's export, where it ran apart; `ahead`:
    a verifier started during the checks, or the error that stopped its start)."""
    from grader import trusted

    names = ["model", *config.table.probe_blocks]
    sent = trusted.sent_programs(found, names)
    if export is not None and export.status != "ok" and "data" not in sent["model"]:
        sent["model"] = {**sent["model"], "problem": f"the export of the model stopped: it {export.reason}"}
    if all("data" not in p and not p.get("parts") for p in sent.values()):  # nothing to check: no reference needed
        return trusted.check_programs(sent, seed=seed, reference=Path(), limits=config.verify_limits,
                                      threads=config.threads, allow_unsafe=config.allow_unsafe)
    ref = reference()
    if isinstance(ref, BaseException):
        raise ref
    ref_file = trusted.reference_file(config.table, work_root())

    def take() -> Any:
        started = ahead() if ahead is not None else None
        if isinstance(started, Started) and started.alive():
            return started
        return _sandbox(config, "verify", {"reference": ref_file}, config.verify_limits)

    def check() -> tuple[dict[str, Any], dict[str, Any]]:
        return trusted.check_programs(sent, seed=seed, reference=ref_file, limits=config.verify_limits,
                                      threads=config.threads, allow_unsafe=config.allow_unsafe, take=take)

    from grader.forkserver import ForkFailed

    try:
        return check()
    except ForkFailed:  # the verifier's fork failed in our own setup: fork servers are off now, so again in a sandbox
        return check()


def tally(report: Report) -> None:
    """Verified points make the score; self-reported ones wait apart for a TA's review."""
    report.score = round(sum(i.points for i in report.items if i.verified), 4)
    report.provisional_score = round(sum(i.points for i in report.items if not i.verified), 4)


def _rejected(submission: Submission, config: GradeConfig, error: Error, started: float) -> Report:
    return Report(submission=submission, status="rejected", score=0.0,
                  max_score=_max_score(config), error=error,
                  timings={"total": time.perf_counter() - started})


def _max_score(config: GradeConfig) -> float:
    return config.rubric.max_score(with_accuracy=not config.skip_training)


def _outcome_error(outcome: Outcome) -> Error | None:
    if outcome.status == "ok":
        return None
    return Error(kind=outcome.status, message=f"Your code {outcome.reason}." if outcome.status != "crashed"
                 else (outcome.reason or "The grading process crashed."))


def _student_lines(ours: Failure | None, theirs: Any) -> Failure | None:
    """A crash our code found, with the lines of the student's file the child's own run named
    (`theirs`: its error; feedback only: where to look; no point depends on them)."""
    if ours is None or theirs is None or not theirs.traceback:
        return ours
    return ours.model_copy(update={"traceback": list(theirs.traceback), "line": theirs.line})


def _findings(config: GradeConfig, expected: Any, found: Collector, outcome: Outcome,
              programs: dict[str, Any], seed: int) -> Findings:
    """The one set of findings the judge reads, built here from what we ran and read.

    `programs` maps "model" and each probe block to verify.Verdict: where a verdict has
    findings, they are ours ("program", or "parts" where the forward fails); where the program
    was refused, the child's own messages are copied in as "reported" (judged self-reported).
    """
    from grader import verify
    from grader.findings import (BlockFinding, Findings, ModelFacts, ModelFinding, ReportedLogits, ShapeFacts,
                                 StageRow, failure, rows)

    imported = found.get("import")
    definitions = found.get("definitions")
    names = definitions.names if definitions else {}
    missing = ([n for n in ("ResidualBlock", "ResNet50_layer4") if names.get(n) != "class"]
               if definitions is not None else [])
    blocks: dict[str, BlockFinding] = {}
    for name in config.table.probe_blocks:
        verdict = programs[name]
        if verdict.block is not None:  # a program, or the programs of its parts where it crashes
            facts, ref_block = verdict.block
            if verdict.crashed:
                reported = found.blocks.get(name)
                facts = facts.model_copy(update={"shape_error": _student_lines(
                    facts.shape_error, reported.shape_error if reported is not None else None)})
            blocks[name] = BlockFinding("parts" if verdict.crashed else "program", facts, ref_block)
        else:
            msg = found.blocks.get(name)
            blocks[name] = BlockFinding("reported", None if msg is None else _reported_block(msg),
                                        expected.blocks[name], verdict.problem)
    verdict = programs[verify.MODEL]
    if verdict.model is not None:
        model_facts, shapes = verdict.model
        if verdict.crashed:
            reported_shapes = found.get("shapes")
            shapes = shapes.model_copy(update={"error": _student_lines(
                shapes.error, reported_shapes.error if reported_shapes is not None else None)})
        # The checkpoint's fit from the program's own parameters (names and shapes).
        fits = dict(model_facts.state_dict or []) == expected.checkpoint_shapes
        model = ModelFinding("parts" if verdict.crashed else "program", model_facts, shapes,
                             checkpoint_loaded=fits, equivalence=verdict.equivalence)
    else:
        model_msg, shapes_msg = found.get("model"), found.get("shapes")
        ckpt_msg, eq_msg = found.get("checkpoint"), found.get("equivalence")
        model = ModelFinding(
            "reported",
            None if model_msg is None else ModelFacts(
                error=failure(model_msg.error), num_classes_default=model_msg.num_classes_default,
                modules=rows(model_msg.modules), state_dict=model_msg.state_dict),
            None if shapes_msg is None else ShapeFacts(
                rows=[StageRow(stage=r.stage, shape=r.shape) for r in shapes_msg.rows],
                error=failure(shapes_msg.error), failed_stage=shapes_msg.failed_stage),
            checkpoint_loaded=None if ckpt_msg is None else ckpt_msg.loaded,
            checkpoint_error=None if ckpt_msg is None else ckpt_msg.error,
            reported_logits=None if eq_msg is None else ReportedLogits(
                logits=eq_msg.logits, shape=eq_msg.shape, error=failure(eq_msg.error)),
            problem=verdict.problem)
    import_error = imported.error if imported is not None else None
    return Findings(expected=expected, import_failure=failure(import_error),
                    import_kind=import_error.kind if import_error else None,
                    import_module=import_error.module if import_error else None,
                    imported=imported is not None, missing_classes=missing, run_error=_outcome_error(outcome),
                    blocks=blocks, model=model, program_problems={n: v.problem for n, v in programs.items()},
                    seed=seed)


def _reported_block(msg: Any) -> "BlockFacts":
    """The child's BlockMsg copied field by field (validated at the edge, judged self-reported)."""
    from grader.findings import BlockFacts, failure, rows

    return BlockFacts(error=failure(msg.error), modules=rows(msg.modules), state_dict=msg.state_dict,
                      shape=msg.shape, shape_error=failure(msg.shape_error), output=msg.output,
                      load_error=msg.load_error, graph=msg.graph)


def _judge(submission: Submission, config: GradeConfig, expected: Any,
           found: Collector, outcome: Outcome, programs: dict[str, Any], seed: int) -> Report:
    """The report: our findings (rule one: grader/judge.py judge_report) judged by the rubric."""
    from grader import judge

    findings = _findings(config, expected, found, outcome, programs, seed)
    judged = judge.judge_report(findings, config.rubric, config.table, skip_training=config.skip_training)
    report = _finish(submission, config, judged.status, judged.items, judged.checks, judged.error, outcome)
    if judged.status == "graded":
        report.trust.programs = findings.program_problems
        report.trust.rebuilt = judged.rebuilt
        report.trust.draw_seed = seed
    return report


def _finish(submission: Submission, config: GradeConfig, status: str, items: list[Item],
            checks: Checks, error: Error | None, outcome: Outcome) -> Report:
    return Report(
        submission=submission, status=status,  # type: ignore[arg-type]
        score=0.0, max_score=_max_score(config),
        items=items, checks=checks, error=error, log=outcome.log,
        sandbox={"isolation": outcome.isolation, "status": outcome.status, "exit_code": outcome.exit_code,
                 "peak_memory_bytes": outcome.peak_memory_bytes, **outcome.limits},
    )
