"""The rubric and the reference table, loaded from TOML files a TA can edit."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import reference

REFERENCE_DIR = Path(reference.__file__).resolve().parent
DEFAULT_RUBRIC = REFERENCE_DIR / "rubric.toml"
DEFAULT_TABLE = REFERENCE_DIR / "table.toml"
SOLUTION = REFERENCE_DIR / "resnet50_solution.py"


class RubricError(ValueError):
    """A rubric or table file that cannot be used; the message names the file and field."""


class CheckpointError(ValueError):
    """The course checkpoint is missing or not a plain state_dict of tensors."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlockItem(_Strict):
    title: str
    points: float = Field(ge=0)
    block: str
    wrong_unit: float = Field(ge=0)
    missing_unit: float = Field(ge=0)
    extra_module: float = Field(ge=0)
    forward_differs: float = Field(ge=0)


class Blank(_Strict):
    id: str
    answer: int | bool
    accepted: list[int | bool] = Field(default_factory=list)
    follows: str | None = None


class BlanksItem(_Strict):
    title: str
    blanks: list[Blank]
    points_per_blank: float = Field(default=1, ge=0)

    @property
    def points(self) -> float:
        return self.points_per_blank * len(self.blanks)


class LayerItem(_Strict):
    title: str
    points: float = Field(ge=0)
    layer: str
    count: float = Field(ge=0)
    channels: float = Field(ge=0)
    downsample: float = Field(ge=0)
    order: float = Field(ge=0)


class AccuracyItem(_Strict):
    title: str
    points: float = Field(ge=0)
    target: float = Field(gt=0, le=1)
    scale: Literal["threshold", "linear"] = "threshold"
    # "reference": full points within `tolerance` of the reference solution's accuracy under the
    # same checkpoint, data and settings, linear below; "target": the fixed target and scale.
    compare: Literal["reference", "target"] = "reference"
    tolerance: float = Field(default=0.01, ge=0, le=1)


class EquivalenceRule(_Strict):
    """What happens when every structure item is at full points (or loses only points whose
    effect is none) while the model, under the reference's weights, computes another function:
    something the items do not see differs (a block whose output is scaled to nothing, a stride
    placed right only in blocks the size of the probes)."""

    on_differs: Literal["review", "deduct"] = "review"
    points: float = Field(default=5, ge=0)  # taken off Q2's blanks with on_differs = "deduct"


class Rubric(_Strict):
    q1_downsample: BlockItem
    q1_no_downsample: BlockItem
    q2_blanks: BlanksItem
    q2_layer3: LayerItem
    q2_layer4: LayerItem
    accuracy: AccuracyItem
    equivalence: EquivalenceRule = Field(default_factory=EquivalenceRule)

    def max_score(self, with_accuracy: bool) -> float:
        """The most a report can score: the structure items, and accuracy where it is graded."""
        structure = (self.q1_downsample.points + self.q1_no_downsample.points + self.q2_blanks.points
                     + self.q2_layer3.points + self.q2_layer4.points)
        return structure + (self.accuracy.points if with_accuracy else 0)


class Stage(_Strict):
    name: str
    output: list[int]
    content: str


class Unit(_Strict):
    kernel: int
    in_: str = Field(alias="in")
    out: str
    stride: int
    stride_downsample: int
    padding: int


class ProbeBlock(_Strict):
    args: tuple[int, int, int, bool]
    input: list[int]


class Table(_Strict):
    input: list[int]
    num_classes: int
    stages: list[Stage]
    layers: dict[str, list[tuple[int, int, int, bool]]]
    bottleneck: list[Unit]
    probe_blocks: dict[str, ProbeBlock]


def _load(path: Path, model: type[BaseModel]) -> Any:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RubricError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RubricError(f"{path}: {problems}") from exc


def load_rubric(path: Path | None = None) -> Rubric:
    rubric = _load(path or DEFAULT_RUBRIC, Rubric)
    for item in (rubric.q1_downsample, rubric.q1_no_downsample):
        if item.block not in load_table().probe_blocks:
            raise RubricError(f"{path or DEFAULT_RUBRIC}: unknown block {item.block!r}")
    return rubric


def load_table(path: Path | None = None) -> Table:
    return _load(path or DEFAULT_TABLE, Table)


def part_inputs(table: Table) -> dict[str, list[int]]:
    """One image's input shape for each stage and block of the table's model: what a part of a
    crashing model is exported with when the model's own run never reached it."""
    out: dict[str, list[int]] = {}
    shape = list(table.input)
    for stage in table.stages:
        out[stage.name] = shape  # ("flatten" is no module: its output is fc's input)
        blocks = table.layers.get(stage.name, [])
        x = shape
        for i, (_, _, channels, down) in enumerate(blocks):
            out[f"{stage.name}.{i}"] = x
            x = [channels, *((d + 1) // 2 if down else d for d in x[1:])]
        shape = list(stage.output)
    return out
