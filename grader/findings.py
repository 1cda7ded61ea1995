"""What a grade is judged on: one typed set of findings, built only by the grader's own code.

The judge (grader/judge.py judge_report) reads nothing else. Each finding says where it came
from (`Source`), because that decides whether the points it gives are verified:

- "program": our run of a program the verifier checked (grader/verify.py), or our parse of it;
- "parts": our composition of the checked programs of a module's parts, where the whole's
  forward fails (grader/verify.py composed): still programs we ran;
- "reported": the child's own report of itself (its messages, grader/protocol.py), copied
  field by field by the engine. Items judged from such a finding are self-reported.

These are not the child's message types: a message is validated at the edge (protocol.py)
and then copied into these, so nothing in the judge depends on what the wire format allows,
and no finding of ours is dressed as a message of the child's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grader.expected import Expected, ExpectedBlock
from grader.report import EquivalenceCheck, Error

Source = Literal["program", "parts", "reported"]
ArgValue = Any  # ints, bools, short lists and strings as the facts or a message give them


class _Fact(BaseModel):
    # Frozen: a finding is built once by trusted code and only read after. NaN allowed: our own
    # run of a program may compute it (e.g. a negative BatchNorm eps), which the judge reads as
    # a difference.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Failure(_Fact):
    """An exception: from our run of a program, or as the child reported it."""

    type: str
    message: str
    line: int | None = None
    traceback: list[str] = Field(default_factory=list)


class BlockCtor(_Fact):
    downsample: ArgValue = None
    ctor: list[ArgValue] | None = None


class Row(_Fact):
    """One module: its path in the model, its type, its arguments; a bottleneck block's
    (in, middle, out, downsample) where it is one."""

    path: str
    type: str
    args: dict[str, ArgValue] = Field(default_factory=dict)
    block: BlockCtor | None = None


class BlockFacts(_Fact):
    """A ResidualBlock built at a probe's sizes, run with the reference block's weights."""

    error: Failure | None = None  # the constructor raised
    modules: list[Row] | None = None
    state_dict: list[tuple[str, list[int]]] | None = None
    shape: list[int] | None = None
    shape_error: Failure | None = None  # the forward fails
    output: list[float] | None = None
    load_error: str | None = None  # the reference weights do not load
    graph: str | None = None  # the forward's last operations


class ModelFacts(_Fact):
    error: Failure | None = None  # ResNet50_layer4() raised
    num_classes_default: ArgValue = None
    modules: list[Row] | None = None
    state_dict: list[tuple[str, list[int]]] | None = None


class StageRow(_Fact):
    stage: str
    shape: list[int] | None


class ShapeFacts(_Fact):
    """Each stage's output shape in forward order; where the forward fails, the failure."""

    rows: list[StageRow] = Field(default_factory=list)
    error: Failure | None = None
    failed_stage: str | None = None


class ReportedLogits(_Fact):
    """The child's own logits with the checkpoint loaded (self-reported path only)."""

    logits: list[float] | None = None
    shape: list[int] | None = None
    error: Failure | None = None


@dataclass(frozen=True)
class BlockFinding:
    """Q1 for one probe block. `facts` None: no block to judge (`problem` or the run's error says why)."""

    source: Source
    facts: BlockFacts | None
    expected: ExpectedBlock
    problem: str | None = None  # why not from a program (the verifier's refusal)


@dataclass(frozen=True)
class ModelFinding:
    """Q2 and the checks for the whole model."""

    source: Source
    facts: ModelFacts | None
    shapes: ShapeFacts | None
    # Whether the checkpoint loads strictly into the model, and why not: our check of the
    # program's parameters ("program", "parts") or the child's report.
    checkpoint_loaded: bool | None = None
    checkpoint_error: str | None = None
    equivalence: EquivalenceCheck | None = None  # ours, from the program ("program" only)
    reported_logits: ReportedLogits | None = None  # the child's ("reported" only)
    problem: str | None = None


@dataclass(frozen=True)
class Findings:
    """Everything one grade's judgement reads (grader/judge.py judge_report)."""

    expected: Expected
    # The import: None when it succeeded; else what failed (the child's words: only for feedback,
    # a failed import scores nothing either way).
    import_failure: Failure | None
    import_kind: str | None  # syntax_error, import_error, runtime_error, crashed
    import_module: str | None
    imported: bool  # False: the process stopped before the import finished
    missing_classes: list[str]  # skeleton classes the file does not define as classes
    run_error: Error | None  # the structure run's own end (timeout, memory, crash), ours to tell
    blocks: dict[str, BlockFinding] = field(default_factory=dict)
    model: ModelFinding | None = None
    program_problems: dict[str, str | None] = field(default_factory=dict)  # report.trust.programs
    seed: int = 0


def failure(error: Any) -> Failure | None:
    """A Failure from an exception record with type/message/line/traceback (a child's
    StudentError, or one our verifier made); None for None."""
    if error is None:
        return None
    return Failure(type=str(error.type), message=str(error.message), line=error.line,
                   traceback=[str(t) for t in error.traceback])


def rows(modules: list[Any] | None) -> list[Row] | None:
    """Rows from facts' dicts (ours) or a message's module entries (the child's)."""
    if modules is None:
        return None
    return [Row.model_validate(m if isinstance(m, dict) else m.model_dump()) for m in modules]
