"""The trusted path: check the programs the sandbox wrote, and compute every finding from them.

Runs in the grader's process, which never imports the student's file. What the judge
reads here (modules, shapes, block outputs, checkpoint fit, equivalence) is computed by
our code from the program data alone; block outputs and logits use weights and inputs
drawn fresh for each grade, so no table of expected numbers can be prepared in advance.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from grader.child import probe
from grader.child.program import (Program, ProgramError, ProgramModule, ProgramShapeError, canonicalize,
                                  meta_shapes, parse, random_state, to_data)
from grader import expected as _expected
from grader.child import program as _program
from grader.expected import ExpectedBlock, load_reference
from grader.facts import Facts, describe, describe_parts
from grader.findings import BlockFacts, Failure, ModelFacts, ShapeFacts, StageRow, rows
from grader.protocol import MAX_PARTS
from grader.report import EquivalenceCheck
from grader.rubric import Table

MODEL = "model"
MAX_PROGRAM_BYTES = 2 << 20
PROGRAMS_FORMAT = 1  # of the reference programs kept on disk (see `reference`)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    """One program from the sandbox: usable (program + facts) or refused (why)."""

    program: Program | None
    facts: Facts | None
    problem: str | None


def check(data: Any, input_shape: list[int]) -> Checked:
    """Parse, bound and describe untrusted program data; never raises for bad data."""
    if data is None:
        return Checked(None, None, "the model could not be exported as a program")
    try:
        if len(json.dumps(data)) > MAX_PROGRAM_BYTES:
            raise ProgramError("the program is larger than any model of this assignment")
        program = parse(data)
        shapes = meta_shapes(program, input_shape)
        # Facts are read off what the student wrote; the program run is the canonical form.
        return Checked(canonicalize(program, shapes), describe(program, shapes), None)
    except ProgramError as exc:
        return Checked(None, None, str(exc))
    except (RecursionError, ValueError, TypeError) as exc:  # malformed beyond what parse names
        return Checked(None, None, f"the program data is malformed ({type(exc).__name__})")


@dataclass(frozen=True)
class Reference:
    model: Program
    model_facts: Facts
    blocks: dict[str, Program]
    block_facts: dict[str, Facts]


def _export_reference(table: Table) -> Reference:
    ref = load_reference()
    blocks, block_facts = {}, {}
    for name, spec in table.probe_blocks.items():
        torch.manual_seed(0)
        checked = check(to_data(ref.ResidualBlock(*spec.args), torch.randn(*spec.input)), list(spec.input))
        assert checked.program is not None and checked.facts is not None, checked.problem
        blocks[name], block_facts[name] = checked.program, checked.facts
    torch.manual_seed(0)
    checked = check(to_data(ref.ResNet50_layer4(), torch.randn(2, *table.input)), [1, *table.input])
    assert checked.program is not None and checked.facts is not None, checked.problem
    return Reference(checked.program, checked.facts, blocks, block_facts)


_REFERENCE_LOCK = threading.Lock()
_REFERENCES: dict[str, Reference] = {}  # per table, this process's


def reference(table: Table, cache_dir: Path | None = None) -> Reference:
    """The reference solution as programs, exported by our code: built once per process
    (the lock makes a second grader thread wait for the first export instead of repeating it).

    The export is ~2 s of a cold CLI grade, so its data is also kept under `cache_dir` (next to
    the expectations, grader/expected.py) and read back as the verifier reads it: every program
    through `check`, the parser for untrusted program data, never unpickled."""
    table_json = table.model_dump_json(by_alias=True)
    with _REFERENCE_LOCK:
        ref = _REFERENCES.get(table_json)
        if ref is None:
            ref = _stored_or_exported(table, table_json, cache_dir)
            if len(_REFERENCES) >= 2:
                _REFERENCES.pop(next(iter(_REFERENCES)))
            _REFERENCES[table_json] = ref
        return ref


def programs_key(table_json: str) -> str:
    """What the exported programs depend on: the table, the reference solution, the export and
    canonical form (grader/child/program.py), the inputs and seeds here, and torch."""
    parts = {"format": PROGRAMS_FORMAT, "table": table_json,
             **{name: hashlib.sha256(Path(path).read_bytes()).hexdigest()
                for name, path in (("solution", _expected.SOLUTION), ("program", _program.__file__),
                                   ("verify", __file__))},
             "torch": torch.__version__}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _stored_or_exported(table: Table, table_json: str, cache_dir: Path | None) -> Reference:
    folder = _expected.usable_cache_dir(cache_dir) if cache_dir is not None else None
    path = folder / f"programs-{programs_key(table_json)}.json" if folder is not None else None
    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict) or data.get("format") != PROGRAMS_FORMAT or data.get("key") != path.stem:
                raise ValueError("made for another key or format")
            ref, stored = reference_from_data(data)
            if stored != table:
                raise ValueError("made for another table")
            try:
                os.utime(path)  # used now: the pruning keeps the entries in use
            except OSError:
                pass
            return ref
        except Exception as exc:  # corrupt, truncated, an old layout: export again and overwrite
            log.warning("reference programs cache entry %s ignored (%s: %s); exporting",
                        path, type(exc).__name__, str(exc)[:200])
    ref = _export_reference(table)
    if path is not None:
        text = json.dumps({**reference_data(ref, table), "format": PROGRAMS_FORMAT, "key": path.stem})
        _expected.write_atomically(path, lambda f: f.write(text.encode()), "programs-*.json")
    return ref


def fresh_seed() -> int:
    """Random weights and inputs no student can know in advance, drawn anew for every grade
    (also of a file graded before in this process). The report records it (trust.draw_seed) so a
    TA can replay the same draw (GradeConfig.draw_seed, `autograder grade --draw-seed`). The
    verdicts do not depend on it: a program that computes the reference's function matches to
    float rounding (~1e-6) under any draw, one that does not differs by far more than the 1e-3
    relative tolerance; only the reported size of a difference changes from draw to draw."""
    return secrets.randbits(63)


def _run(program: Program, state: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, str | None]:
    """Eval-mode output with grad-tracking parameters (for the op signature).

    The module holds `state` itself, not a copy: the reference's program runs first, so what a
    student's program may do to the tensors in place changes only its own output."""
    module = ProgramModule(program, state=state).eval()
    out = module(x.clone())
    return out, probe.graph_signature(out)


def _loads(program: Program, state: dict[str, torch.Tensor]) -> str | None:
    """Why `state` does not load strictly into `program`, or None when it does."""
    mine = {s.target: (list(s.shape), s.dtype) for s in program.state}
    theirs = {k: (list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()}
    missing = [k for k in theirs if k not in mine]
    unexpected = [k for k in mine if k not in theirs]
    mismatched = [k for k in theirs if k in mine and mine[k] != theirs[k]]
    if not (missing or unexpected or mismatched):
        return None
    return (f"Missing key(s): {missing[:5]}; unexpected key(s): {unexpected[:5]}; "
            f"size or type mismatch for: {mismatched[:5]}")


def _expected_block(name: str, ref: Reference, input_shape: list[int],
                    seed: int) -> tuple[ExpectedBlock, dict[str, torch.Tensor], torch.Tensor]:
    """The reference block's findings under this grade's fresh weights and input (and those)."""
    gen = torch.Generator().manual_seed(seed)
    ref_program = ref.blocks[name]
    state = random_state(ProgramModule(ref_program, device="meta"), gen)
    x = torch.randn(*input_shape, generator=gen)
    ref_out, ref_graph = _run(ref_program, state, x)
    ref_facts = ref.block_facts[name]
    expected = ExpectedBlock(modules=ref_facts.rows, state_dict=[[k, v] for k, v in ref_facts.state.items()],
                             shape=list(ref_out.shape), output=ref_out.detach().flatten(), graph=ref_graph)
    return expected, state, x


def block_findings(name: str, checked: Checked, ref: Reference, input_shape: list[int],
                   seed: int) -> tuple[BlockFacts, ExpectedBlock]:
    """The block's findings and the reference's, with the same fresh weights and input."""
    expected, state, x = _expected_block(name, ref, input_shape, seed)
    assert checked.program is not None and checked.facts is not None
    facts = checked.facts
    load_error = _loads(checked.program, state)
    output, graph = None, None
    if load_error is None:
        out, graph = _run(checked.program, state, x)
        output = out.detach().flatten().tolist()
    # Our own run, not a message: a program may compute NaN (e.g. a negative BatchNorm eps),
    # which the judge reads as a difference (BlockFacts allows it; the child's messages do not).
    return BlockFacts(modules=rows(facts.rows), state_dict=list(facts.state.items()),
                      shape=_full_shape(checked.program, input_shape), output=output,
                      load_error=load_error, graph=graph), expected


def _full_shape(program: Program, input_shape: list[int]) -> list[int] | None:
    return meta_shapes(program, input_shape).get(program.output)


def model_findings(checked: Checked) -> tuple[ModelFacts, ShapeFacts]:
    assert checked.facts is not None
    facts = checked.facts
    fc = next((r for r in facts.rows if r["path"] == "fc" and r["type"] == "Linear"), None)
    classes = fc["args"]["out_features"] if fc else (facts.output[-1] if facts.output else None)
    model = ModelFacts(num_classes_default=classes, modules=rows(facts.rows), state_dict=list(facts.state.items()))
    return model, ShapeFacts(rows=[StageRow(**r) for r in facts.stages])


def checkpoint_loads(checked: Checked, checkpoint: dict[str, torch.Tensor]) -> str | None:
    assert checked.program is not None
    return _loads(checked.program, checkpoint)


def equivalence(checked: Checked, ref: Reference, input_shape: list[int], seed: int) -> EquivalenceCheck:
    """Same logits as the reference under the same fresh random weights and inputs?"""
    gen = torch.Generator().manual_seed(seed ^ 0x5EED)
    state = random_state(ProgramModule(ref.model, device="meta"), gen)
    x = torch.randn(8, *input_shape, generator=gen)
    assert checked.program is not None
    problem = _loads(checked.program, state)
    if problem is not None:
        return EquivalenceCheck(checked=False, message="Not checked: the model's parameters are not the "
                                                       "reference's, so the same weights cannot be loaded.")
    with torch.no_grad():  # the reference first: see _run
        a = ProgramModule(ref.model, state=state).eval()(x)
        b = ProgramModule(checked.program, state=state).eval()(x)
    tol = 1e-3 * max(1.0, a.abs().max().item())
    if a.shape != b.shape:
        return EquivalenceCheck(checked=True, ok=False, tolerance=tol,
                                message=f"the logits have shape {list(b.shape)}, the reference {list(a.shape)}")
    diff = (a - b).abs().max().item()
    ok = bool(torch.isfinite(b).all()) and diff <= tol
    where = None if ok else first_difference(ref.model, checked.program, state, x)
    text = ("Same logits as the reference under fresh random weights and inputs." if ok else
            f"Under the same fresh random weights the logits differ from the reference by up to {diff:.3g}: "
            "the model computes another function (e.g. a ReLU after the addition, or other padding)"
            + (f"; its outputs first differ in {where}." if where else "."))
    return EquivalenceCheck(checked=True, ok=ok, max_abs_diff=diff if diff == diff else None, tolerance=tol,
                            message=text, differs_at=where)


def _module_outputs(program: Program, state: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each labelled module's output (its last call's value), in the order modules first run."""
    module = ProgramModule(program, state=state).eval()
    values = module.inputs(x.clone())
    last: dict[str, str] = {}
    with torch.no_grad():
        for call in program.calls:
            module.step(call, values)
            for path, _ in call.stack:
                if path:
                    last[path] = call.name
    return {p: values[n] for p, n in last.items() if isinstance(values.get(n), torch.Tensor)}


def first_difference(reference: Program, program: Program, state: dict[str, torch.Tensor],
                     x: torch.Tensor) -> str | None:
    """The first stage, and in it the first block, whose output differs from the reference's
    under the same weights: words for the student and the TA (labels are the child's)."""
    try:
        ours, theirs = _module_outputs(reference, state, x), _module_outputs(program, state, x)
    except Exception:  # a program that runs as a whole but not step by step here: no place named
        return None

    def differs(path: str) -> bool:
        a, b = ours[path], theirs.get(path)
        return b is None or a.shape != b.shape or not bool(((a - b).abs() <= 1e-3 * max(1.0, a.abs().max().item())).all())

    stage = next((p for p in ours if "." not in p and differs(p)), None)
    if stage is None:
        return None
    block = next((p for p in ours if p.count(".") == 1 and p.startswith(stage + ".") and differs(p)), None)
    return block or stage


# ---------------------------------------------------------------- a forward that crashes, from its parts
# torch.export cannot trace a forward that fails. The sandbox then sends programs of the
# module's parts (grader/child/main.py send_parts); our code composes them with the skeleton's
# forward on the meta device to find where the shapes first disagree. Every fact judged then
# comes from programs we ran; a part with no program leaves the verdict refused (self-reported).

STAGES = ("layer1", "layer2", "layer3", "layer4", "avgpool")
SHORTCUTS = ("downsize", "make_equal_channel")


class _Crash(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class _Unknown(Exception):
    """A part the composition needs but has no program of."""


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shape(parts: dict[str, Program], path: str, shape: list[int], rows: list[dict[str, Any]] | None) -> list[int]:
    """The output shape of the part at `path` for `shape` (batch included), from its program or
    composed from its children's as the skeleton's forward does; raises _Crash where the shapes
    first disagree, _Unknown where a needed part has no program."""
    program = parts.get(path)
    if program is not None:
        try:
            out = meta_shapes(program, shape).get(program.output)
        except ProgramShapeError as exc:
            raise _Crash(path, str(exc)) from None
        except ProgramError as exc:
            raise _Unknown(f"{path}: {exc}") from None
        if out is None:
            raise _Unknown(f"{path} returns no single tensor")
        return list(out)
    prefix = path + "." if path else ""
    children = {p[len(prefix):].split(".")[0] for p in parts if p.startswith(prefix) and p != path}
    if rows is not None:  # the model: the skeleton's ResNet50_layer4.forward
        for stage in STAGES:
            shape = _shape(parts, stage, shape, None)
            rows.append({"stage": stage, "shape": shape})
        shape = [shape[0], math.prod(shape[1:])]
        rows.append({"stage": "flatten", "shape": shape})
        return _shape(parts, "fc", shape, None)
    shortcut = next((c for c in SHORTCUTS if c in children), None)
    if "layer" in children and shortcut is not None:  # a block: the skeleton's ResidualBlock.forward
        main, short = _shape(parts, _join(path, "layer"), shape, None), _shape(parts, _join(path, shortcut), shape, None)
        if main != short:
            fmt = lambda s: "×".join(map(str, s[1:]))  # noqa: E731
            raise _Crash(path, f"RuntimeError: in {path or 'the block'}, layer(x) is {fmt(main)} and the shortcut "
                               f"({shortcut}) is {fmt(short)}, which cannot be added")
        return main
    if children and all(c.isdigit() for c in children):  # a Sequential: its children in order
        for index in sorted(int(c) for c in children):
            shape = _shape(parts, _join(path, str(index)), shape, None)
        return shape
    raise _Unknown(f"no program of {path or 'the module'} or of its parts")


def composed(name: str, parts_data: dict[str, Any], ref: Reference, table: Table, why: str,
             seed: int) -> Verdict:
    """The verdict of a program whose export failed, from the programs of its parts."""
    refused = Verdict(problem=why)
    if not isinstance(parts_data, dict) or len(parts_data) > MAX_PARTS:
        return refused
    parts: dict[str, Program] = {}
    try:
        for path, data in parts_data.items():
            if not isinstance(path, str) or len(json.dumps(data)) > MAX_PROGRAM_BYTES:
                return refused
            parts[path] = parse(data)
    except (ProgramError, RecursionError, ValueError, TypeError):
        return Verdict(problem=f"{why}; a program of one of its parts is malformed")
    stage_rows: list[dict[str, Any]] = []
    shape = [1, *table.input] if name == MODEL else list(table.probe_blocks[name].input)
    try:
        _shape(parts, "", shape, stage_rows if name == MODEL else None)
    except _Unknown as exc:
        return Verdict(problem=f"{why}; its parts do not make the whole ({str(exc)[:300]})")
    except _Crash as crash:
        facts = describe_parts(parts)
        error = Failure(type="RuntimeError", message=str(crash)[:4000])
        if name == MODEL:
            fc = next((r for r in facts.rows if r["path"] == "fc" and r["type"] == "Linear"), None)
            stage = crash.path.split(".")[0] or "forward"
            model = ModelFacts(num_classes_default=fc["args"]["out_features"] if fc else None,
                               modules=rows(facts.rows), state_dict=list(facts.state.items()))
            shapes = ShapeFacts(rows=[StageRow(**r) for r in stage_rows], error=error, failed_stage=stage)
            return Verdict(problem=None, crashed=True, model=(model, shapes))
        expected, _, _ = _expected_block(name, ref, shape, seed)
        block = BlockFacts(modules=rows(facts.rows), state_dict=list(facts.state.items()), shape_error=error)
        return Verdict(problem=None, crashed=True, block=(block, expected))
    return Verdict(problem=f"{why}; yet its parts, composed as the skeleton's forward, run: the grader "
                           "cannot tell what your own forward does differently")


# ---------------------------------------------------------------- one grade's checks, as data
# verdicts() runs in the trusted sandbox (grader/verify_main.py); the messages it sends are
# read back by grader/trusted.py in the grader's process, which judges them.

FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Verdict:
    """What the trusted check found for one program: refused (problem) or its findings."""

    problem: str | None
    digest: str | None = None
    data: dict[str, Any] | None = None  # the canonical program, for the trusted fine-tune
    block: tuple[BlockFacts, ExpectedBlock] | None = None
    model: tuple[ModelFacts, ShapeFacts] | None = None
    equivalence: EquivalenceCheck | None = None
    # The forward fails, found by our code composing the programs of its parts (composed()):
    # findings without a program of the whole (nothing to fine-tune).
    crashed: bool = False


def reference_data(ref: Reference, table: Table) -> dict[str, Any]:
    """The reference programs as data, for the trusted sandbox (written once per process)."""
    return {"table": table.model_dump(mode="json", by_alias=True), "model": ref.model.to_data(),
            "blocks": {name: p.to_data() for name, p in ref.blocks.items()}}


def reference_from_data(data: dict[str, Any]) -> tuple[Reference, Table]:
    """The Reference from reference_data() (our own data): checked as any program is."""
    table = Table.model_validate(data["table"])
    blocks, block_facts = {}, {}
    for name, spec in table.probe_blocks.items():
        checked = check(data["blocks"][name], list(spec.input))
        assert checked.program is not None and checked.facts is not None, checked.problem
        blocks[name], block_facts[name] = checked.program, checked.facts
    checked = check(data["model"], [1, *table.input])
    assert checked.program is not None and checked.facts is not None, checked.problem
    return Reference(checked.program, checked.facts, blocks, block_facts), table


def verdicts(programs: dict[str, Any], ref: Reference, table: Table, seed: int) -> dict[str, Verdict]:
    """Each program's verdict. `programs` maps "model" and each probe block to the sandbox's
    data, or to None with the reason there is none ({"problem": ...})."""
    shapes = {MODEL: [1, *table.input], **{name: list(b.input) for name, b in table.probe_blocks.items()}}
    out: dict[str, Verdict] = {}
    for name, shape in shapes.items():
        given = programs.get(name) or {"problem": "the grading process stopped before exporting the model"}
        if "data" not in given:
            why = str(given.get("problem"))[:2000]
            out[name] = composed(name, given["parts"], ref, table, why, seed) if given.get("parts") else Verdict(problem=why)
            continue
        checked = check(given["data"], shape)
        if checked.program is None:
            out[name] = Verdict(problem=checked.problem)
            continue
        common = {"problem": None, "digest": checked.program.digest(), "data": checked.program.to_data()}
        if name == MODEL:
            out[name] = Verdict(**common, model=model_findings(checked),
                                equivalence=equivalence(checked, ref, list(table.input), seed))
        else:
            out[name] = Verdict(**common, block=block_findings(name, checked, ref, shape, seed))
    return out


def _finite(values: list[float]) -> list[float]:
    # Our run may compute NaN or inf (e.g. a negative BatchNorm eps); the channel carries finite
    # numbers only, so they go as ±float32-max, which the judge reads as a difference too.
    return [v if math.isfinite(v) else (-FLOAT32_MAX if v < 0 else FLOAT32_MAX) for v in values]


def verdict_message(name: str, verdict: Verdict) -> dict[str, Any]:
    """One verdict as a JSON message (no tensors, no NaN)."""
    msg: dict[str, Any] = {"name": name, "problem": verdict.problem, "digest": verdict.digest,
                           "program": verdict.data, "block": None, "model": None, "equivalence": None,
                           "crashed": verdict.crashed}
    if verdict.block is not None:
        found, expected = verdict.block
        dumped = found.model_dump(mode="json")
        if dumped.get("output") is not None:
            dumped["output"] = _finite(dumped["output"])
        msg["block"] = {"found": dumped, "expected": {
            "modules": expected.modules, "state_dict": expected.state_dict, "shape": expected.shape,
            "output": _finite(expected.output.tolist()), "graph": expected.graph}}
    if verdict.model is not None:
        model, shapes = verdict.model
        msg["model"] = {"found": model.model_dump(mode="json"), "shapes": shapes.model_dump(mode="json")}
    if verdict.equivalence is not None:
        msg["equivalence"] = verdict.equivalence.model_dump(mode="json")
    return msg


def verdict_from_message(msg: dict[str, Any]) -> Verdict:
    """Read a verdict back (pydantic-validated); raises ValueError for a malformed one."""
    block = model = eq = None
    if msg.get("block") is not None:
        b = msg["block"]
        e = b["expected"]
        block = (BlockFacts.model_validate(b["found"]),
                 ExpectedBlock(modules=list(e["modules"]), state_dict=list(e["state_dict"]), shape=list(e["shape"]),
                               output=torch.tensor(e["output"], dtype=torch.float32), graph=e["graph"]))
    if msg.get("model") is not None:
        model = (ModelFacts.model_validate(msg["model"]["found"]), ShapeFacts.model_validate(msg["model"]["shapes"]))
    if msg.get("equivalence") is not None:
        eq = EquivalenceCheck.model_validate(msg["equivalence"])
    problem, digest, data = msg.get("problem"), msg.get("digest"), msg.get("program")
    crashed = msg.get("crashed") is True
    if problem is None and (block is None) == (model is None):
        raise ValueError("a verdict without a problem has the findings of a block or of a model")
    if problem is None and not crashed and (not isinstance(digest, str) or not isinstance(data, dict)):
        raise ValueError("a verdict of a program has its digest and canonical program")
    if crashed and (data is not None or eq is not None or problem is not None):
        raise ValueError("a crash found from parts has no program to fine-tune nor equivalence")
    return Verdict(problem=None if problem is None else str(problem), digest=digest, data=data,
                   block=block, model=model, equivalence=eq, crashed=crashed)
