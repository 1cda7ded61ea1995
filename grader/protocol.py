"""The messages the sandboxed child may send, validated before anything reads them.

Everything here came from untrusted code: every field is typed and bounded, and a message
that does not fit, or comes twice, ends the run as `crashed`.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from grader.sandbox import ProtocolError

Scalar = Union[bool, int, float, str, None]
ArgValue = Union[Scalar, list[Scalar]]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN/inf: a malformed message


class StudentError(_Msg):
    type: str = Field(max_length=200)
    message: str = Field(max_length=4000)
    line: int | None = None
    traceback: list[Annotated[str, Field(max_length=400)]] = Field(default_factory=list, max_length=40)
    kind: str | None = Field(default=None, max_length=40)
    module: str | None = Field(default=None, max_length=200)


class BlockInfo(_Msg):
    downsample: ArgValue = None
    ctor: list[ArgValue] | None = Field(default=None, max_length=16)


class ModuleEntry(_Msg):
    path: str = Field(max_length=300)
    type: str = Field(max_length=200)
    args: dict[Annotated[str, Field(max_length=50)], ArgValue] = Field(default_factory=dict, max_length=16)
    block: BlockInfo | None = None


StateDict = list[tuple[Annotated[str, Field(max_length=300)], list[int]]]


class ImportMsg(_Msg):
    type: Literal["import"]
    error: StudentError | None
    seconds: float


class DefinitionsMsg(_Msg):
    type: Literal["definitions"]
    names: dict[Literal["conv1x1", "conv3x3", "ResidualBlock", "ResNet50_layer4"],
                Literal["class", "callable"] | None]


class BlockMsg(_Msg):
    type: Literal["block"]
    name: str = Field(max_length=50)
    error: StudentError | None
    modules: list[ModuleEntry] | None = Field(max_length=5000)
    state_dict: StateDict | None = Field(max_length=5000)
    shape: list[int] | None = Field(max_length=8)
    shape_error: StudentError | None
    output: list[float] | None = Field(max_length=1 << 20)
    load_error: str | None = Field(max_length=4000)
    graph: str | None = Field(default=None, max_length=20000)


class ModelMsg(_Msg):
    type: Literal["model"]
    error: StudentError | None
    num_classes_default: ArgValue = None
    modules: list[ModuleEntry] | None = Field(default=None, max_length=20000)
    state_dict: StateDict | None = Field(default=None, max_length=20000)
    parameters: int | None = None


class ShapeRowMsg(_Msg):
    stage: str = Field(max_length=100)
    shape: list[int] | None = Field(max_length=8)


class ShapesMsg(_Msg):
    type: Literal["shapes"]
    rows: list[ShapeRowMsg] = Field(max_length=1000)
    error: StudentError | None
    failed_stage: str | None = Field(max_length=100)
    output: list[int] | None = Field(default=None, max_length=8)


class CheckpointMsg(_Msg):
    type: Literal["checkpoint"]
    loaded: bool
    error: str | None = Field(max_length=4000)


class EquivalenceMsg(_Msg):
    type: Literal["equivalence"]
    logits: list[float] | None = Field(max_length=1 << 16)
    shape: list[int] | None = Field(max_length=8)
    error: StudentError | None


class ProgressMsg(_Msg):
    type: Literal["progress"]
    step: int = Field(ge=0)
    steps: int = Field(ge=0)
    loss: float
    epoch: int = Field(ge=0)


class TrainMsg(_Msg):
    type: Literal["train"]
    error: StudentError | None
    used_checkpoint: bool = False
    checkpoint_error: str | None = Field(default=None, max_length=4000)
    steps: int = Field(default=0, ge=0)
    loss_curve: list[tuple[int, float]] = Field(default_factory=list, max_length=100_000)
    stopped_early: str | None = Field(default=None, max_length=500)
    seconds: float = 0.0
    predictions: list[Annotated[int, Field(ge=0, le=1_000_000)]] = Field(default_factory=list, max_length=1_000_000)


class ProgramMsg(_Msg):
    """The model as data (grader/child/program.py); checked again by grader/verify.py."""

    type: Literal["program"]
    name: str = Field(max_length=50)
    data: dict[str, Any] | None
    error: str | None = Field(default=None, max_length=2000)


class ReadyMsg(_Msg):
    """The child has loaded torch and is about to import the student's file."""

    type: Literal["ready"]


class DoneMsg(_Msg):
    type: Literal["done"]


Message = Annotated[
    Union[ImportMsg, DefinitionsMsg, BlockMsg, ModelMsg, ShapesMsg, CheckpointMsg,
          EquivalenceMsg, TrainMsg, ProgramMsg, ReadyMsg, DoneMsg],
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Message)
PROGRESS: TypeAdapter[Any] = TypeAdapter(ProgressMsg)


MAX_PARTS = 96  # as grader/child/main.py sends at most


class Collector:
    """Validates each message as it arrives; keeps one of each (blocks: one per name)."""

    def __init__(self, extra: dict[str, TypeAdapter[Any]] | None = None,
                 names: frozenset[str] = frozenset()) -> None:
        self.found: dict[str, Any] = {}
        self.blocks: dict[str, BlockMsg] = {}
        self.programs: dict[str, ProgramMsg] = {}
        self.names = names  # the block and program names the job asked for; nothing else is kept
        self.extra = extra or {}  # other message types, e.g. training progress (repeatable)
        self.events: list[Any] = []

    def clear(self) -> None:
        """Forget every message: a run that failed for our own reasons is run again from nothing."""
        self.found.clear()
        self.blocks.clear()
        self.programs.clear()
        self.events.clear()

    def __call__(self, raw: dict[str, Any]) -> None:
        kind = raw.get("type")
        if kind in self.extra:
            try:
                self.events.append(self.extra[kind].validate_python(raw))
            except ValidationError as exc:
                raise ProtocolError(f"sent a malformed {kind!r} message ({exc.error_count()} errors)") from None
            return
        if "done" in self.found:
            raise ProtocolError("sent messages after the end of the run")
        try:
            msg = _ADAPTER.validate_python(raw)
        except ValidationError as exc:
            raise ProtocolError(f"sent a malformed {str(kind)[:40]!r} message ({exc.error_count()} errors)") from None
        if isinstance(msg, (BlockMsg, ProgramMsg)):
            kept: dict[str, Any] = self.blocks if isinstance(msg, BlockMsg) else self.programs
            if msg.name not in self.names and not self._part(msg):
                raise ProtocolError(f"sent a {msg.type} result for {msg.name[:40]!r}, which the job did not ask for")
            if msg.name in kept:
                raise ProtocolError(f"sent the {msg.name!r} {msg.type} result twice")
            kept[msg.name] = msg
            return
        if msg.type in self.found:
            raise ProtocolError(f"sent the {msg.type!r} result twice")
        self.found[msg.type] = msg

    def _part(self, msg: Any) -> bool:
        """A program of one part of an asked-for program whose export failed ("model/layer2.0"),
        at most MAX_PARTS of them (grader/child/main.py send_parts)."""
        root, _, path = msg.name.partition("/")
        if not (isinstance(msg, ProgramMsg) and root in self.names and path and msg.data is not None):
            return False
        if sum(1 for n in self.programs if "/" in n) >= MAX_PARTS:
            raise ProtocolError(f"sent more than {MAX_PARTS} programs of parts")
        return True

    def parts(self, name: str) -> dict[str, Any]:
        """The part programs sent for `name`: path in it → program data."""
        return {n.partition("/")[2]: m.data for n, m in self.programs.items() if n.partition("/")[0] == name
                and "/" in n}

    def get(self, kind: str) -> Any:
        return self.found.get(kind)
