"""What the reference solution gives for every probe the child runs (trusted side).

The same probe code (grader/child/probe.py) describes the reference here and the student's
model in the sandbox, so the two descriptions compare field by field.

Computing it takes ~2.5 s (build the reference, run it, describe it), which a cold CLI grade
paid every time: it is kept on disk (`cache_dir/expected/`), keyed by everything it depends
on (see `cache_key`). A cache entry is one `torch.save` file read back with
`weights_only=True` (JSON text for the structured parts, plain tensors for the rest): the
trusted side never unpickles, also not its own cache.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Callable

import torch

from grader.child import probe
from grader.rubric import SOLUTION, CheckpointError, Rubric, Table
from grader.whole_files import save_whole, write_whole

PROBE_SEED = 1234  # fixed: the probe inputs are part of the grading contract
# Bump when the entry's layout or the meaning of a field changes: older entries are then ignored.
CACHE_FORMAT = 1
CACHE_SUBDIR = "expected"
# Entries kept (most recently used first): each code or torch change makes a new key, and an
# entry without a course checkpoint holds the seeded weights (~60 MB).
CACHE_KEEP = 4

log = logging.getLogger(__name__)


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


def build_expected(table: Table, checkpoint: Path | None, out_dir: Path, *,
                   cache_dir: Path | None = None, rubric: Rubric | None = None) -> Expected:
    """Cached per table and checkpoint file version: a batch of 200 files builds it once.

    Also kept on disk under `cache_dir` (None: not), so a cold CLI reads it instead of
    computing it. Writes the child's inputs into `out_dir` and then `READY`, which the child
    waits for: the sandbox starts while this runs. On failure it writes `FAILED` so the child stops.
    """
    mtime = checkpoint.stat().st_mtime_ns if checkpoint and checkpoint.exists() else None
    try:
        return _build_expected(table.model_dump_json(by_alias=True),
                               str(checkpoint.resolve()) if checkpoint else None, mtime, str(out_dir),
                               str(cache_dir) if cache_dir else None,
                               rubric.model_dump_json() if rubric is not None else None)
    except BaseException:
        (out_dir / "FAILED").touch()
        raise


@dataclass(frozen=True)
class _Built:
    """What one computation gives: the expectations and the child's input files' tensors."""

    expected: Expected
    probe_tensors: dict[str, torch.Tensor]
    seeded: dict[str, torch.Tensor] | None  # the reference's seeded weights when no checkpoint is configured


@lru_cache(maxsize=4)
def _build_expected(table_json: str, checkpoint_str: str | None, _mtime: int | None,
                    out_dir_str: str, cache_dir_str: str | None, rubric_json: str | None) -> Expected:
    table = Table.model_validate_json(table_json)
    checkpoint = Path(checkpoint_str) if checkpoint_str else None
    out_dir = Path(out_dir_str)
    checkpoint_sha = _sha256(checkpoint) if checkpoint is not None and checkpoint.is_file() else None
    entry = None
    # A checkpoint that is configured but missing is no cache key: computing says what is wrong.
    if cache_dir_str is not None and (checkpoint is None or checkpoint_sha is not None) \
            and (folder := usable_cache_dir(Path(cache_dir_str), out_dir)) is not None:
        # The file's name too: the report's checkpoint_source names it.
        identity = f"{checkpoint_sha} {checkpoint.name}" if checkpoint is not None else None
        entry = folder / f"{cache_key(table_json, identity, rubric_json)}.pt"
    built = read_entry(entry) if entry is not None else None
    if built is None:
        built = _compute(table, checkpoint, checkpoint_sha)
        fresh = True
    else:
        fresh = False
    # Written whole (grader/whole_files.py): the last grade's fork may still be reading them.
    save_whole(built.probe_tensors, out_dir / "probe.pt")  # probe inputs and block weights for the child
    if built.seeded is not None:
        save_whole(built.seeded, out_dir / "reference-seeded.pt")  # the child loads it from there
    (out_dir / "READY").touch()
    if fresh and entry is not None:  # after READY: the child does not wait for the cache write
        write_entry(entry, built)
    return built.expected


def _compute(table: Table, checkpoint: Path | None, checkpoint_sha: str | None) -> _Built:
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

    torch.manual_seed(PROBE_SEED)
    model = ref.ResNet50_layer4()
    modules = probe.describe_modules(model, ref.ResidualBlock, recorder)
    state_dict = probe.state_dict_shapes(model)
    seeded = None
    if checkpoint is not None:
        weights = load_checkpoint(checkpoint)
        source = f"course checkpoint {checkpoint.name} (sha256 {(checkpoint_sha or '')[:12]})"
    else:
        _randomise_bn(model, gen)
        weights = seeded = model.state_dict()
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
    expected = Expected(
        checkpoint_source=source,
        checkpoint_shapes=checkpoint_shapes, blocks=blocks, modules=modules,
        state_dict=state_dict, stage_rows=shapes["rows"], logits=logits.flatten(),
    )
    return _Built(expected, tensors, seeded)


# ----------------------------------------------------------------------------- on-disk cache


def _source_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_key(table_json: str, checkpoint: str | None, rubric_json: str | None) -> str:
    """Everything the expectations depend on: the checkpoint's bytes, the rubric and table,
    the code that computes them (reference solution, probes, this module), the probe seed and
    torch (its kernels and init); a new format or any changed input names another entry."""
    parts = {
        "format": CACHE_FORMAT,
        "checkpoint": checkpoint,  # its sha256 and file name; None: seeded weights
        "rubric": rubric_json,
        "table": table_json,
        "solution_sha256": _source_sha256(SOLUTION),
        "probe_sha256": _source_sha256(Path(probe.__file__)),
        "expected_sha256": _source_sha256(Path(__file__)),
        "probe_seed": PROBE_SEED,
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def usable_cache_dir(cache_dir: Path, out_dir: Path | None = None) -> Path | None:
    """The folder for expectation entries, or None where a sandbox could see it.

    Every sandbox gets read-only binds of the Python roots, our child code and packages and
    the grade's inputs (`out_dir`, the checkpoint); all it may write is tmpfs. An entry folder
    inside any of those would be readable by student code, so it is not used (one log line).
    """
    from grader.sandbox import sandbox_host_paths

    folder = Path(os.path.abspath(cache_dir)) / CACHE_SUBDIR
    seen = [*sandbox_host_paths(), *([out_dir] if out_dir is not None else [])]
    for bound in seen:
        bound = Path(os.path.abspath(bound))
        if folder == bound or bound in folder.parents:
            log.warning("expectations not cached: %s lies inside %s, which the sandboxes see", folder, bound)
            return None
    return folder


def read_entry(path: Path) -> _Built | None:
    """The entry at `path` when it is intact and made for its key (its file name); else None.

    Read with `weights_only=True`: a pickle placed there is refused, never run. A missing
    entry is the normal miss; anything else wrong with it is logged once and recomputed.
    """
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != CACHE_FORMAT or blob.get("key") != path.stem:
            raise ValueError("made for another key or format")
        meta = json.loads(blob["meta"])
        tensors = blob["tensors"]
        if not isinstance(tensors, dict) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()):
            raise ValueError("tensors are not a dict of name → tensor")
        built = _from_stored(meta, tensors)
    except Exception as exc:  # corrupt, truncated, a pickle, an old layout: recompute and overwrite
        log.warning("expectations cache entry %s ignored (%s: %s); recomputing",
                    path, type(exc).__name__, str(exc)[:200])
        return None
    try:
        os.utime(path)  # used now: the pruning keeps the entries in use
    except OSError:
        pass
    return built


def _from_stored(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> _Built:
    def prefixed(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    blocks = {name: ExpectedBlock(modules=b["modules"], state_dict=b["state_dict"], shape=b["shape"],
                                  output=tensors[f"output.{name}"], graph=b["graph"])
              for name, b in meta["blocks"].items()}
    fields = {f.name for f in dataclasses.fields(Expected)} - {"blocks", "logits"}
    expected = Expected(**{k: meta[k] for k in fields}, blocks=blocks, logits=tensors["logits"])
    seeded = prefixed("seeded.") if meta["seeded"] else None
    return _Built(expected, prefixed("probe."), seeded)


def write_entry(path: Path, built: _Built) -> bool:
    """Write the entry atomically (temp file + os.replace); False, logged, when it cannot be written:
    a cache that cannot be written never fails a grade."""
    e = built.expected
    meta = {f.name: getattr(e, f.name) for f in dataclasses.fields(Expected) if f.name not in ("blocks", "logits")}
    meta["blocks"] = {name: {"modules": b.modules, "state_dict": b.state_dict, "shape": b.shape, "graph": b.graph}
                      for name, b in e.blocks.items()}
    meta["seeded"] = built.seeded is not None
    tensors = {"logits": e.logits, **{f"output.{n}": b.output for n, b in e.blocks.items()},
               **{f"probe.{k}": v for k, v in built.probe_tensors.items()},
               **{f"seeded.{k}": v for k, v in (built.seeded or {}).items()}}
    blob = {"format": CACHE_FORMAT, "key": path.stem, "meta": json.dumps(meta), "tensors": tensors}
    return write_atomically(path, lambda f: torch.save(blob, f), "*.pt")


def write_atomically(path: Path, write: Callable[[IO[bytes]], None], family: str) -> bool:
    """Write a cache file whole or not at all (temp file + os.replace), then prune its `family`
    (a glob) to the CACHE_KEEP most recently used; False, logged, when it cannot be written:
    a cache that cannot be written never fails a grade."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, write)
        _prune(path.parent, family)
        return True
    except Exception as exc:  # read-only or full disk, a file where the folder should be, ...
        log.warning("expectations not cached at %s (%s: %s)", path.parent, type(exc).__name__, str(exc)[:200])
        return False


def _prune(folder: Path, family: str) -> None:
    """Keep the CACHE_KEEP most recently used entries: older keys are never asked for again."""
    entries = []
    for entry in folder.glob(family):
        try:
            entries.append((entry.stat().st_mtime_ns, entry))
        except OSError:
            continue  # removed by another grader meanwhile
    for _, entry in sorted(entries, reverse=True)[CACHE_KEEP:]:
        try:
            entry.unlink(missing_ok=True)
        except OSError:
            pass  # the next write tries again
