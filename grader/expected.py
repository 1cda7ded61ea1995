"""What the reference solution gives for every probe the child runs (trusted side).

The same probe code (grader/child/probe.py) describes the reference here and the student's
model in the sandbox, so the two descriptions compare field by field.
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from grader.child import probe
from grader.rubric import SOLUTION, CheckpointError, Table

PROBE_SEED = 1234  # fixed: the probe inputs are part of the grading contract


@dataclass(frozen=True)
class ExpectedBlock:
    modules: list[dict[str, Any]]
    state_dict: list[list[Any]]
    shape: list[int]
    output: torch.Tensor
    graph: str | None


@dataclass(frozen=True)
class Expected:
    checkpoint_source: str
    checkpoint_shapes: dict[str, list[int]]
    blocks: dict[str, ExpectedBlock]
    modules: list[dict[str, Any]]
    state_dict: list[list[Any]]
    stage_rows: list[dict[str, Any]]
    logits: torch.Tensor


def load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("autograder_reference_solution", SOLUTION)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def load_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Trusted load of the course file: tensors only, never arbitrary pickles."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is not a torch checkpoint of plain tensors: {exc}") from exc
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()):
        raise CheckpointError(f"{path} is not a plain state_dict (a dict of name → tensor)")
    return data


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _randomise_bn(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Non-trivial running stats, so eval-mode outputs depend on every BatchNorm."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def build_expected(table: Table, checkpoint: Path | None, out_dir: Path) -> Expected:
    """Cached per table and checkpoint file version: a batch of 200 files builds it once.

    Writes the child's inputs into `out_dir` and then `READY`, which the child waits for:
    the sandbox starts while this runs. On failure it writes `FAILED` so the child stops.
    """
    mtime = checkpoint.stat().st_mtime_ns if checkpoint and checkpoint.exists() else None
    try:
        return _build_expected(table.model_dump_json(by_alias=True),
                               str(checkpoint.resolve()) if checkpoint else None, mtime, str(out_dir))
    except BaseException:
        (out_dir / "FAILED").touch()
        raise


@lru_cache(maxsize=4)
def _build_expected(table_json: str, checkpoint_str: str | None, _mtime: int | None,
                    out_dir_str: str) -> Expected:
    table = Table.model_validate_json(table_json)
    checkpoint = Path(checkpoint_str) if checkpoint_str else None
    out_dir = Path(out_dir_str)
    ref = load_reference()
    gen = torch.Generator().manual_seed(PROBE_SEED)
    tensors: dict[str, torch.Tensor] = {
        "shapes.input": torch.rand(1, *table.input, generator=gen),
        "equivalence.input": torch.randn(8, *table.input, generator=gen),
    }
    blocks: dict[str, ExpectedBlock] = {}
    recorder = probe.CtorRecorder()
    recorder.install(ref.ResidualBlock)
    for name, spec in table.probe_blocks.items():
        torch.manual_seed(PROBE_SEED)
        block = ref.ResidualBlock(*spec.args)
        _randomise_bn(block, gen)
        block.eval()
        x = torch.randn(*spec.input, generator=gen)
        y = block(x.clone())
        graph = probe.graph_signature(y)
        y = y.detach()
        tensors[f"{name}.input"] = x
        for k, v in block.state_dict().items():
            tensors[f"{name}.weights.{k}"] = v
        blocks[name] = ExpectedBlock(
            modules=probe.describe_modules(block, ref.ResidualBlock, recorder),
            state_dict=probe.state_dict_shapes(block), shape=list(y.shape), output=y.flatten(),
            graph=graph)
    torch.save(tensors, out_dir / "probe.pt")  # probe inputs and block weights for the child

    torch.manual_seed(PROBE_SEED)
    model = ref.ResNet50_layer4()
    modules = probe.describe_modules(model, ref.ResidualBlock, recorder)
    state_dict = probe.state_dict_shapes(model)
    if checkpoint is not None:
        weights = load_checkpoint(checkpoint)
        source = f"course checkpoint {checkpoint.name} (sha256 {_sha256(checkpoint)[:12]})"
    else:
        _randomise_bn(model, gen)
        weights = model.state_dict()
        torch.save(weights, out_dir / "reference-seeded.pt")  # the child loads it from there
        source = "seeded reference weights: no course checkpoint is configured"
    checkpoint_shapes = {k: list(v.shape) for k, v in weights.items()}
    model.eval()
    try:
        model.load_state_dict(weights, strict=True)
        with torch.no_grad():
            logits = model(tensors["equivalence.input"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"the checkpoint does not fit the reference solution, so it cannot grade: {exc}") from exc
    shapes = probe.stage_shapes(model, tensors["shapes.input"], lambda exc: {"message": str(exc)})
    (out_dir / "READY").touch()
    return Expected(
        checkpoint_source=source,
        checkpoint_shapes=checkpoint_shapes, blocks=blocks, modules=modules,
        state_dict=state_dict, stage_rows=shapes["rows"], logits=logits.flatten(),
    )
