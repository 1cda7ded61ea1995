"""The score report: one pydantic model for the CLI, the JSON file and the API."""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

ErrorKind = Literal[
    "syntax_error", "import_error", "missing_definition", "runtime_error",
    "timeout", "memory_limit", "crashed", "sandbox_unavailable", "invalid_file", "grader_error",
]
Effect = Literal["none", "shape_change", "function_change", "crash", "unknown"]


class Submission(BaseModel):
    filename: str
    sha256: str
    student_id: str | None = None
    size_bytes: int


class Place(BaseModel):
    """Where in the student's file a deduction belongs, as the grader knows it from what it
    judged; the TA's code view (api/code_view.py) puts it on a line. Reports stored before it
    have none: their `where` text is read instead."""

    scope: Literal["block", "model"]  # in the ResidualBlock class (Q1) or the ResNet50_layer4 model
    attr: str | None = None  # what __init__ assigns to self ("layer", "layer1", "fc"); None: the class
    index: int | None = None  # that attribute's element (a block's unit, a layer's block)
    path: list[str] = Field(default_factory=list)  # below it: a module's role, then a constructor argument
    forward: bool = False  # in the class's forward (what it computes, not what it builds)

    @classmethod
    def of_blank(cls, blank_id: str) -> "Place":
        """A table blank's place: `layer1.conv.stride`, `layer2.0.downsample`, `num_classes`
        (a default of the model's __init__)."""
        head, *rest = blank_id.split(".")
        if not rest:
            return cls(scope="model", path=[head])
        index = int(rest[0]) if rest[0].isdigit() else None
        return cls(scope="model", attr=head, index=index, path=rest[1:] if index is not None else rest)


class Deduction(BaseModel):
    """One thing that differs from the table: what was written, what is expected, and so what."""

    where: str  # as the student reads it ("layer[1]", "layer1.conv.stride")
    place: Place | None = None  # the same, for placing it on a line
    found: Any = None
    expected: Any = None
    points: float
    effect: Effect = "unknown"
    message: str


class Item(BaseModel):
    id: str
    title: str
    points: float
    max_points: float
    passed: bool
    skipped: bool = False
    feedback: list[str] = Field(default_factory=list)
    deductions: list[Deduction] = Field(default_factory=list)
    accepted_alternatives: list[str] = Field(default_factory=list)
    # False: graded from what the student's own process reported (the model could not be
    # checked as a program); the points are provisional until a TA accepts them.
    verified: bool = True
    review: str | None = None  # why the item is self-reported


class ShapeRow(BaseModel):
    stage: str
    expected: list[int] | None
    found: list[int] | None
    ok: bool
    reached: bool = True  # False: the forward failed before this stage


class ShapesCheck(BaseModel):
    rows: list[ShapeRow] = Field(default_factory=list)
    first_mismatch: str | None = None
    failed_stage: str | None = None
    error: str | None = None
    traceback: list[str] = Field(default_factory=list)
    ok: bool = False


class CheckpointCheck(BaseModel):
    source: str  # "course checkpoint <path>" or "reference keys (no checkpoint given)"
    ok: bool = False
    missing: list[str] = Field(default_factory=list)
    unexpected: list[str] = Field(default_factory=list)
    mismatched: list[str] = Field(default_factory=list)
    message: str | None = None


class EquivalenceCheck(BaseModel):
    checked: bool = False
    ok: bool = False
    max_abs_diff: float | None = None
    tolerance: float | None = None
    message: str | None = None
    # Where the model's outputs first leave the reference's under the same weights: a stage,
    # or "stage.block" (read off the programs' module labels: feedback, never points).
    differs_at: str | None = None


class Checks(BaseModel):
    checkpoint_load: CheckpointCheck | None = None
    equivalence: EquivalenceCheck | None = None
    shapes: ShapesCheck | None = None


class Error(BaseModel):
    kind: ErrorKind
    message: str
    line: int | None = None
    traceback: list[str] = Field(default_factory=list)


class Training(BaseModel):
    """Filled by the fine-tuning step; absent in structure-only grading."""

    seed: int
    steps: int
    loss_curve: list[list[float]] = Field(default_factory=list)  # [step, running mean loss]
    used_checkpoint: bool
    device: str
    settings: dict[str, Any] = Field(default_factory=dict)
    stopped_early: str | None = None
    plot_svg: str | None = None


class Trust(BaseModel):
    """How each part of the grade was established (README: the trust model)."""

    programs: dict[str, str | None] = Field(default_factory=dict)  # name -> why refused, None: checked
    # Programs whose export failed, verified from the programs of their parts: the forward fails
    # (grader/verify.py composed).
    rebuilt: list[str] = Field(default_factory=list)
    # "ran", "shared" (reused the fine-tune of an identical model), or why no trusted fine-tune ran.
    # Never how many grades shared it: that would tell a student about others' uploads.
    fine_tune: str | None = None
    # The seed of this grade's random weights and inputs (block outputs, equivalence), drawn
    # fresh per grade; GradeConfig.draw_seed / `autograder grade --draw-seed` replays it.
    draw_seed: int | None = None


class Report(BaseModel):
    schema_version: int = 2
    submission: Submission
    status: Literal["graded", "rejected"]
    score: float  # verified points only
    max_score: float
    provisional_score: float = 0.0  # self-reported points, counted once a TA accepts them
    accuracy: float | None = None
    provisional_accuracy: float | None = None  # self-reported path: the student's own fine-tune, for review
    reference_accuracy: float | None = None  # the reference solution, same checkpoint/data/settings
    trust: Trust = Field(default_factory=Trust)
    items: list[Item] = Field(default_factory=list)
    checks: Checks = Field(default_factory=Checks)
    error: Error | None = None
    training: Training | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    sandbox: dict[str, Any] = Field(default_factory=dict)
    log: str = ""
    grader_version: str = "0.1.0"


REUSED_FINE_TUNE = ("Reused the fine-tune of an identical model (the same program, checkpoint, data and "
                    "settings give the same accuracy).")
_OLD_SHARED_NOTE = re.compile(r"Fine-tune shared with \d+ earlier grade\(s\) of an identical model[^.]*\)?\.?")


def without_other_grades(report: dict[str, Any]) -> dict[str, Any]:
    """A stored report (JSON) as a student may see it: reports graded before issue 25 held how many
    earlier grades shared the fine-tune (`trust.fine_tune_shared_with` and a feedback line), which
    tells a student how many others handed in the same program. Only the yes/no is kept."""
    trust = report.get("trust")
    if isinstance(trust, dict):
        trust.pop("fine_tune_shared_with", None)
    for item in report.get("items") or []:
        if isinstance(item, dict) and isinstance(item.get("feedback"), list):
            item["feedback"] = [_OLD_SHARED_NOTE.sub(REUSED_FINE_TUNE, f) if isinstance(f, str) else f
                                for f in item["feedback"]]
    return report

