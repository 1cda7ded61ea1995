"""Judge one grade's findings against the reference: rubric items and checks, with reasons.

The judge reads only grader/findings.py Findings, which our own code builds; every deduction
says what the student wrote, what the table expects and the effect.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal

import torch

from grader import tree
from grader.expected import Expected, ExpectedBlock
from grader.findings import BlockFacts, Findings, ModelFacts, ReportedLogits, Row, ShapeFacts
from grader.report import (CheckpointCheck, Checks, Deduction, Effect, EquivalenceCheck, Error, Item, Place,
                           ShapeRow, ShapesCheck)
from grader.rubric import BlanksItem, BlockItem, EquivalenceRule, LayerItem, Rubric, Table

CONV_FIELDS = {"in_channels": "input channels", "out_channels": "output channels",
               "kernel_size": "kernel size", "stride": "stride", "padding": "padding",
               "dilation": "dilation", "groups": "groups", "bias": "bias"}
MAX_LISTED = 20


def _item(rubric_item: Any, item_id: str, max_points: float, deductions: list[Deduction],
          feedback: list[str] | None = None, alternatives: list[str] | None = None) -> Item:
    lost = sum(d.points for d in deductions)
    points = max(0.0, max_points - lost)
    feedback = list(feedback or [])
    if not deductions and not feedback:
        feedback.append("Matches the reference table.")
    return Item(id=item_id, title=rubric_item.title, points=points, max_points=max_points,
                passed=points >= max_points, feedback=feedback + [d.message for d in deductions],
                deductions=deductions, accepted_alternatives=alternatives or [])


def not_graded(rubric_item: Any, item_id: str, max_points: float, why: str) -> Item:
    return _item(rubric_item, item_id, max_points,
                 [Deduction(where=item_id, place=_item_place(rubric_item), points=max_points, effect="unknown",
                            message=why)])


def _item_place(rubric_item: Any) -> Place | None:
    """Where a whole item lives in the file: the block's units, the layer, the model."""
    if isinstance(rubric_item, BlockItem):
        return Place(scope="block", attr="layer")
    if isinstance(rubric_item, LayerItem):
        return Place(scope="model", attr=rubric_item.layer)
    if isinstance(rubric_item, BlanksItem):
        return Place(scope="model")
    return None  # accuracy: no line


def _unit(i: int) -> Place:
    """Unit i of the block's `self.layer` (a conv and what follows it)."""
    return Place(scope="block", attr="layer", index=i)


# ---------------------------------------------------------------- Q1: the bottleneck block

def _units(modules: list[Row] | list[dict[str, Any]], prefix: str) -> list[list[dict[str, Any]]]:
    """The leaf modules under `prefix`, grouped into units that each start at a conv.

    Grouping leaves (not children) grades `conv1x1(...)` units and hand-written flat
    Conv/BN/ReLU sequences alike.
    """
    rows = [m if isinstance(m, dict) else m.model_dump() for m in modules]
    leaves = [r for r in tree.leaves(rows) if r["path"].startswith(prefix + ".")]  # O(n log n), not O(n²)
    units: list[list[dict[str, Any]]] = []
    for leaf in leaves:
        if leaf["type"] == "Conv2d" or not units:
            units.append([leaf])
        else:
            units[-1].append(leaf)
    return units


def _unit_label(index: int, unit: list[dict[str, Any]]) -> str:
    conv = unit[0]
    k = conv["args"].get("kernel_size")
    size = f"{k}×{k}" if isinstance(k, int) else str(k)
    return f"unit {index + 1} ({size} conv)" if conv["type"] == "Conv2d" else f"unit {index + 1}"


def _compare_unit(found: list[dict[str, Any]], expected: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    f_conv, e_conv = found[0], expected[0]
    if f_conv["type"] != "Conv2d":
        return [f"starts with {f_conv['type']} where the table has a Conv2d"]
    for name, label in CONV_FIELDS.items():
        fv, ev = f_conv["args"].get(name), e_conv["args"].get(name)
        if fv != ev:
            problems.append(f"{label} is {fv}, the table says {ev}")
    f_rest = [m["type"] for m in found[1:]]
    e_rest = [m["type"] for m in expected[1:]]
    if f_rest != e_rest:
        problems.append(f"is followed by {', '.join(f_rest) or 'nothing'}; the table has {', '.join(e_rest)}")
    return problems


def judge_block(rubric_item: BlockItem, item_id: str, msg: BlockFacts | None, expected: ExpectedBlock,
                args: tuple[int, int, int, bool], unavailable: str | None) -> Item:
    points = rubric_item.points
    if msg is None:
        return not_graded(rubric_item, item_id, points, unavailable or "The block could not be built.")
    call = f"ResidualBlock{tuple(args)}"
    if msg.error is not None:
        return not_graded(rubric_item, item_id, points,
                          f"{call} raised {msg.error.message} ({'; '.join(msg.error.traceback[-3:])})")
    found_units = _units(msg.modules or [], "layer")
    expected_units = _units(expected.modules, "layer")
    if msg.shape_error is not None:
        effect: Effect = "crash"
    elif msg.shape != expected.shape:
        effect = "shape_change"
    else:
        effect = "function_change"
    effect_text = {"crash": "its forward then fails: " + (msg.shape_error.message if msg.shape_error else ""),
                   "shape_change": f"the block's output shape becomes {msg.shape} instead of {expected.shape}",
                   "function_change": "the output shape is unchanged, but it is not the function the checkpoint was trained with"}[effect]
    deductions: list[Deduction] = []
    for i, exp in enumerate(expected_units):
        if i >= len(found_units):
            deductions.append(Deduction(
                where=f"layer[{i}]", place=_unit(i), found=None, expected=exp[0]["args"],
                points=rubric_item.missing_unit,
                effect=effect, message=f"{call}.layer lacks {_unit_label(i, exp)}; {effect_text}."))
            continue
        problems = _compare_unit(found_units[i], exp)
        if problems:
            deductions.append(Deduction(
                where=f"layer[{i}]", place=_unit(i), found=found_units[i][0]["args"], expected=exp[0]["args"],
                points=rubric_item.wrong_unit, effect=effect,
                message=f"{call}: {_unit_label(i, exp)} " + "; ".join(problems) + f". Effect: {effect_text}."))
    for i in range(len(expected_units), len(found_units)):
        kinds = ", ".join(m["type"] for m in found_units[i])
        deductions.append(Deduction(
            where=f"layer[{i}]", place=_unit(i), found=kinds, expected=None, points=rubric_item.extra_module,
            effect=effect,
            message=f"{call}.layer has extra modules ({kinds}) the table does not list. Effect: {effect_text}."))
    if not deductions:
        found = _forward_problem(msg, expected)
        if found:
            problem, same_function = found
            deductions.append(Deduction(where="forward", place=Place(scope="block", forward=True),
                                        points=rubric_item.forward_differs,
                                        effect="none" if same_function else effect,
                                        message=f"{call}: {problem}"))
    _cap(deductions, points)
    return _item(rubric_item, item_id, points, deductions)


def _forward_problem(msg: BlockFacts, expected: ExpectedBlock) -> tuple[str, bool] | None:
    """(what differs, whether the block still computes the reference's function), or None.

    The second value is the deduction's effect ("none": same function), said by the check that
    found it, not read back from the words. An effect of none means the checkpoint's outputs are
    unchanged; the rubric's points for the block's structure are still taken off, and the words
    say so (not "the effect on the score is none" beside a deduction).
    """
    if msg.shape_error is not None:
        return f"forward fails: {msg.shape_error.message} ({'; '.join(msg.shape_error.traceback[-2:])}).", False
    if msg.load_error is not None:
        return ("the layers match the table, but the block does not take the reference weights "
                f"(its parameter names differ: {msg.load_error[:300]})."), False
    if msg.output is None or len(msg.output) != expected.output.numel():
        return f"forward returns shape {msg.shape}, the reference {expected.shape}.", False
    diff = (torch.tensor(msg.output) - expected.output).abs().max().item()
    tol = _tolerance(expected.output)
    if not diff <= tol:  # NaN compares False both ways: a NaN output differs
        return (f"with the reference weights its output differs from the reference block by up to "
                f"{diff:.3g} (tolerance {tol:.1g}); forward must be layer(x) + shortcut(x) with no "
                "ReLU or other step after the addition."), False
    if msg.graph != expected.graph:
        ops = _top_ops(msg.graph)
        return (f"forward computes {ops} where the table's block ends with the addition "
                f"({_top_ops(expected.graph)}): the table's block has no ReLU or other step after the "
                "addition, and these points are for that structure, so they are taken off. The outputs "
                "do not change here (both branches already end in a ReLU, so the extra ReLU changes no "
                "value and the model still computes the checkpoint's function), but the block is not "
                "the one the table asks for."), True
    return None


def _top_ops(graph: str | None, depth: int = 2) -> str:
    """'ReluBackward0(AddBackward0(...))' → 'relu(add(…))': the last operations of a forward."""
    if not graph:
        return "nothing"
    names, level, token = [], 0, ""
    for ch in graph:
        if ch in "(,)":
            if token and level < depth:
                names.append((level, token))
            token = ""
            level += {"(": 1, ")": -1}.get(ch, 0)
        else:
            token += ch
    ops = [n.replace("Backward0", "").replace("Backward1", "").lower() for lvl, n in names if lvl == 0]
    inner = [n.replace("Backward0", "").lower() for lvl, n in names if lvl == 1]
    return f"{ops[0] if ops else '?'}({', '.join(inner) or '…'})"


def _tolerance(reference: torch.Tensor) -> float:
    return 1e-3 * max(1.0, reference.abs().max().item())


def _cap(deductions: list[Deduction], points: float) -> None:
    left = points
    for d in deductions:
        d.points = min(d.points, left)
        left -= d.points


# ---------------------------------------------------------------- Q2: blanks

def _by_path(modules: Iterable[Row]) -> dict[str, Row]:
    return {m.path: m for m in modules}


def _first(modules: list[Row], prefix: str, kind: str) -> Row | None:
    return next((m for m in modules if m.path.startswith(prefix + ".") and m.type == kind), None)


def _read_blank(blank_id: str, model: ModelFacts) -> tuple[Any, str | None]:
    """The student's value for one blank, and a note when it could not be read."""
    modules = model.modules or []
    by_path = _by_path(modules)
    parts = blank_id.split(".")
    if blank_id == "num_classes":
        return model.num_classes_default, None
    if parts[0] == "layer1":
        kind = {"conv": "Conv2d", "maxpool": "MaxPool2d"}[parts[1]]
        module = _first(modules, "layer1", kind)
        if module is None:
            return None, f"layer1 has no {kind}"
        return module.args.get(parts[2]), None
    if parts[0] == "layer2":
        block = by_path.get(f"layer2.{parts[1]}")
        if block is None or block.block is None:
            return None, f"layer2 has no ResidualBlock number {int(parts[1]) + 1}"
        ctor = block.block.ctor or []
        index = ["in_channels", "middle_channels", "out_channels", "downsample"].index(parts[2])
        return (ctor[index] if index < len(ctor) else None), None
    module = by_path.get(parts[0])
    if module is None:
        return None, f"the model has no `{parts[0]}`"
    if parts[0] == "avgpool" and module.type != "AvgPool2d":
        return module.type, f"avgpool is {module.type}, the skeleton has AvgPool2d"
    if parts[0] == "fc" and module.type != "Linear":
        return module.type, f"fc is {module.type}, the skeleton has Linear"
    return module.args.get(parts[1]), None


def _same(found: Any, answer: Any) -> bool:
    return type(found) is type(answer) and found == answer


def _stage_of(blank_id: str) -> str:
    return "fc" if blank_id == "num_classes" else blank_id.split(".")[0]


def judge_blanks(rubric_item: BlanksItem, model: ModelFacts | None, shapes: ShapesCheck,
                 equivalence: EquivalenceCheck, unavailable: str | None) -> Item:
    points = rubric_item.points
    if model is None or model.modules is None:
        why = (f"ResNet50_layer4() raised {model.error.message} "
               f"({'; '.join(model.error.traceback[-3:])})" if model and model.error else unavailable)
        return not_graded(rubric_item, "q2_blanks", points, why or "The model could not be built.")
    found_values: dict[str, Any] = {}
    deductions: list[Deduction] = []
    alternatives: list[str] = []
    mismatched_stages = {r.stage for r in shapes.rows if not r.ok}
    for blank in rubric_item.blanks:
        found, note = _read_blank(blank.id, model)
        found_values[blank.id] = found
        if _same(found, blank.answer):
            continue
        if any(_same(found, alt) for alt in blank.accepted):
            alternatives.append(f"{blank.id} = {found!r} accepted in place of {blank.answer!r}")
            continue
        if blank.follows and found_values.get(blank.follows) is not None and _same(found, found_values[blank.follows]):
            alternatives.append(f"{blank.id} = {found!r} follows {blank.follows}")
            continue
        stage = _stage_of(blank.id)
        if stage in mismatched_stages:
            effect: Effect = "shape_change"
            effect_text = f"the output shape of {stage} changes"
        elif equivalence.checked and equivalence.ok:
            effect, effect_text = "none", "the model still computes the reference function"
        else:
            effect, effect_text = "function_change", "the shapes still fit, but it is not the function the checkpoint was trained with"
        where = f" ({note})" if note else ""
        deductions.append(Deduction(
            where=blank.id, place=Place.of_blank(blank.id), found=found, expected=blank.answer,
            points=rubric_item.points_per_blank,
            effect=effect, message=f"Blank {blank.id}: you wrote {found!r}{where}, the table says "
                                   f"{blank.answer!r}. Effect: {effect_text}."))
    _cap(deductions, points)
    feedback = [f"{len(rubric_item.blanks) - len(deductions)} of {len(rubric_item.blanks)} blanks correct."]
    return _item(rubric_item, "q2_blanks", points, deductions, feedback, alternatives)


# ---------------------------------------------------------------- Q2: layer3 / layer4

def _layer_blocks(model: ModelFacts, layer: str) -> tuple[list[tuple[Any, ...]], list[str]]:
    """(in, middle, out, downsample) per direct child block of `layer`, and other children."""
    blocks, others = [], []
    for m in model.modules or []:
        head, _, rest = m.path.partition(".")
        if head != layer or not rest or "." in rest:
            continue
        if m.block is not None:
            ctor = list(m.block.ctor or [])[:4]
            ctor += [None] * (4 - len(ctor))
            blocks.append(tuple(ctor))
        else:
            others.append(m.type)
    return blocks, others


def _roles(blocks: list[tuple[Any, ...]]) -> list[tuple[bool, bool]]:
    """(changes channels, downsamples) per block, repeats collapsed: the layer's order."""
    roles: list[tuple[bool, bool]] = []
    for b in blocks:
        role = (b[0] != b[2], bool(b[3]))
        if not roles or roles[-1] != role:
            roles.append(role)
    return roles


def judge_layer(rubric_item: LayerItem, item_id: str, model: ModelFacts | None, table: Table,
                shapes: ShapesCheck, unavailable: str | None) -> Item:
    points = rubric_item.points
    if model is None or model.modules is None:
        return not_graded(rubric_item, item_id, points, unavailable or "The model could not be built.")
    layer = rubric_item.layer
    expected = [tuple(b) for b in table.layers[layer]]
    found, others = _layer_blocks(model, layer)
    if not any(m.path == layer for m in model.modules):
        return not_graded(rubric_item, item_id, points, f"The model has no `{layer}`.")
    row = next((r for r in shapes.rows if r.stage == layer), None)
    if row is not None and not row.ok:
        effect: Effect = "shape_change"
        effect_text = f"{layer}'s output is {row.found} instead of {row.expected}"
    else:
        effect, effect_text = "function_change", "not the layer the checkpoint was trained with"
    deductions: list[Deduction] = []

    def deduct(where: str, fv: Any, ev: Any, pts: float, text: str) -> None:
        deductions.append(Deduction(where=f"{layer}.{where}", place=Place(scope="model", attr=layer),
                                    found=fv, expected=ev, points=pts,
                                    effect=effect, message=f"{layer}: {text} Effect: {effect_text}."))

    fmt = lambda bs: ", ".join(f"({a}, {b}, {c}, {d})" for a, b, c, d in bs) or "none"  # noqa: E731
    if len(found) != len(expected) or others:
        extra = f" and other modules ({', '.join(others)})" if others else ""
        deduct("count", len(found), len(expected), rubric_item.count,
               f"{len(found)} ResidualBlocks{extra}; the table has {len(expected)}.")
    prev_out = expected[0][0]
    chain_ok = all(b[0] == (found[i - 1][2] if i else prev_out) for i, b in enumerate(found))
    if {b[:3] for b in found} != {b[:3] for b in expected} or not chain_ok:
        deduct("channels", fmt(found), fmt(expected), rubric_item.channels,
               f"blocks (in, middle, out, downsample) are {fmt(found)}; the table has {fmt(expected)}.")
    n_down, e_down = sum(bool(b[3]) for b in found), sum(bool(b[3]) for b in expected)
    if n_down != e_down:
        deduct("downsample", n_down, e_down, rubric_item.downsample,
               f"{n_down} downsampling blocks; the table has {e_down}.")
    if _roles(found) != _roles(expected):
        deduct("order", fmt(found), fmt(expected), rubric_item.order,
               "blocks are not in the table's order (first the block that changes the channels, "
               f"the downsampling block last): you have {fmt(found)}.")
    _cap(deductions, points)
    return _item(rubric_item, item_id, points, deductions)


# ---------------------------------------------------------------- checks

def check_shapes(msg: ShapeFacts | None, expected: Expected, unavailable: str | None) -> ShapesCheck:
    expected_rows = {r["stage"]: r["shape"] for r in expected.stage_rows}
    found_rows: dict[str, list[int] | None] = {}
    for r in (msg.rows if msg else []):
        found_rows.setdefault(r.stage, r.shape)
    # After a crash, the stages the forward never got to are "not reached", not "differs".
    crashed = msg is not None and msg.error is not None
    rows = [ShapeRow(stage=s, expected=e, found=found_rows.get(s), ok=found_rows.get(s) == e,
                     reached=not (crashed and s not in found_rows and s != msg.failed_stage))
            for s, e in expected_rows.items()]
    check = ShapesCheck(rows=rows)
    check.first_mismatch = next((r.stage for r in rows if not r.ok), None)
    if msg is None:
        check.error = unavailable or "The forward pass did not run."
    elif msg.error is not None:
        check.failed_stage = msg.failed_stage
        check.error = msg.error.message
        check.traceback = msg.error.traceback
    check.ok = check.first_mismatch is None and check.error is None
    return check


def check_checkpoint(model: ModelFacts | None, loaded: bool | None, load_error: str | None,
                     expected: Expected) -> CheckpointCheck:
    """The checkpoint's fit: names and shapes from the model's facts, and whether it loaded
    (`loaded` None: nothing says, e.g. the run stopped first)."""
    check = CheckpointCheck(source=expected.checkpoint_source)
    if model is None or model.state_dict is None:
        check.message = "Not checked: the model could not be built."
        return check
    found = {k: v for k, v in model.state_dict}
    want = expected.checkpoint_shapes
    check.missing = [k for k in want if k not in found][:MAX_LISTED]
    check.unexpected = [k for k in found if k not in want][:MAX_LISTED]
    check.mismatched = [f"{k}: yours {found[k]}, checkpoint {want[k]}" for k in want
                        if k in found and found[k] != want[k]][:MAX_LISTED]
    clean = not (check.missing or check.unexpected or check.mismatched)
    check.ok = clean and bool(loaded)
    if check.ok:
        check.message = f"All {len(want)} tensors load strictly."
    elif clean:
        check.message = "Names and shapes match, but loading failed: " + (load_error or "the run stopped first")
    else:
        check.message = (f"{len([k for k in want if k not in found])} missing, "
                         f"{len([k for k in found if k not in want])} unexpected and "
                         f"{len([k for k in want if k in found and found[k] != want[k]])} mismatched tensors: "
                         + ("the course checkpoint does not load into this model." if expected.checkpoint_source.startswith("course")
                            else "the model's parameters are not named and shaped like the skeleton's (checked against "
                                 "the reference solution's, as no course checkpoint is configured)."))
    return check


def check_equivalence(msg: ReportedLogits | None, checkpoint: CheckpointCheck, expected: Expected) -> EquivalenceCheck:
    tol = _tolerance(expected.logits)
    if not checkpoint.ok:
        return EquivalenceCheck(checked=False, tolerance=tol,
                                message="Not checked: the checkpoint did not load.")
    if msg is None:
        return EquivalenceCheck(checked=False, tolerance=tol, message="Not checked: the run stopped first.")
    if msg.error is not None or msg.logits is None:
        text = msg.error.message if msg.error else "no output"
        return EquivalenceCheck(checked=True, ok=False, tolerance=tol, message=f"forward failed: {text}")
    if len(msg.logits) != expected.logits.numel():
        return EquivalenceCheck(checked=True, ok=False, tolerance=tol,
                                message=f"the logits have shape {msg.shape}, the reference {list(expected.logits.shape)}")
    diff = (torch.tensor(msg.logits) - expected.logits).abs().max().item()
    ok = diff <= tol  # False for NaN
    text = ("Same logits as the reference with the checkpoint loaded." if ok else
            f"With the checkpoint loaded the logits differ from the reference by up to {diff:.3g}: "
            "the model computes another function (e.g. a ReLU after the addition, or other padding).")
    return EquivalenceCheck(checked=True, ok=ok, max_abs_diff=diff, tolerance=tol, message=text)


# ---------------------------------------------------------------- Q1 in the model's own blocks

def _expected_units(expected: ExpectedBlock, table: Table, channels: tuple[int, int, int]) -> list[list[dict[str, Any]]]:
    """The reference block's units (at the probe's sizes) with the channels of a block of the
    model's sizes (in, middle, out), as the table's bottleneck names them."""
    names = dict(zip(("in", "middle", "out"), channels))
    units = [[{**row, "args": dict(row["args"])} for row in unit] for unit in _units(expected.modules, "layer")]
    for unit, spec in zip(units, table.bottleneck):
        unit[0]["args"]["in_channels"], unit[0]["args"]["out_channels"] = names[spec.in_], names[spec.out]
        for row in unit[1:]:
            if row["type"] == "BatchNorm2d":
                row["args"]["num_features"] = names[spec.out]
    return units


def model_block_problems(rubric_item: BlockItem, item_id: str, item: Item, model: ModelFacts | None,
                         expected: ExpectedBlock, table: Table, downsample: bool) -> None:
    """Q1 read off the model's own blocks too (checked programs only): the probes are blocks of
    sizes no model uses, and a file can recognise them (e.g. by 40 output channels). Where the
    probe found no unit wrong but blocks of the model (with this `downsample`) have one, each
    such unit costs `wrong_unit`, as in the probe."""
    probe_units_wrong = any(d.place is not None and d.place.scope == "block" and d.place.index is not None
                            for d in item.deductions)
    if model is None or not model.modules or probe_units_wrong:
        return
    found: dict[int, str] = {}
    for block in (m for m in model.modules if m.block is not None and bool(m.block.downsample) == downsample):
        ctor = list(block.block.ctor or [])[:3]
        if len(ctor) != 3 or not all(isinstance(c, int) for c in ctor):
            continue
        units = _units(model.modules, f"{block.path}.layer")
        for i, exp in enumerate(_expected_units(expected, table, (ctor[0], ctor[1], ctor[2]))):
            if i in found:
                continue
            problems = ["missing"] if i >= len(units) else _compare_unit(units[i], exp)
            if problems:
                found[i] = f"{block.path}: {_unit_label(i, exp)} " + "; ".join(problems)
    if not found:
        return
    for i, text in sorted(found.items()):
        item.deductions.append(Deduction(
            where=f"model.layer[{i}]", place=_unit(i), points=rubric_item.wrong_unit, effect="function_change",
            message=f"ResidualBlock in your model: {text}, though the block graded above (of other sizes) "
                    "is right. Effect: not the function the checkpoint was trained with."))
    _cap(item.deductions, item.max_points)
    lost = sum(d.points for d in item.deductions)
    item.points = max(0.0, item.max_points - lost)
    item.passed = item.points >= item.max_points
    item.feedback = [f for f in item.feedback if f != "Matches the reference table."] + [
        d.message for d in item.deductions if d.where.startswith("model.")]


# ---------------------------------------------------------------- the equivalence guard

def guard_equivalence(items: list[Item], equivalence: EquivalenceCheck, rule: EquivalenceRule) -> None:
    """No structure item stays silently full when the model computes another function.

    When the equivalence check ran and failed but no item lost points for an effect on the
    function (every deduction's effect is "none"), something the items do not see differs: the
    rubric's rule holds the structure items for a TA's review, or takes its points off Q2's blanks.
    """
    structure = [i for i in items if i.id.startswith(("q1_", "q2_")) and not i.skipped]
    if not (equivalence.checked and not equivalence.ok) or not structure:
        return
    if any(d.effect != "none" for i in structure for d in i.deductions):
        return  # the items already say what differs
    where = f" Its outputs first differ from the reference's in {equivalence.differs_at}." if equivalence.differs_at else ""
    text = ("Every structure item matches the table, yet with the reference's weights the model computes "
            f"another function than the reference (the equivalence check).{where}")
    if rule.on_differs == "review":
        for item in structure:
            if item.verified:
                item.verified = False
                item.review = text + " These points count once a TA has reviewed the model."
        return
    blanks = next((i for i in structure if i.id == "q2_blanks"), None)
    if blanks is None:
        return
    deduction = Deduction(where="forward", place=Place(scope="model", forward=True),
                          points=min(rule.points, blanks.points), effect="function_change",
                          message=text)
    blanks.deductions.append(deduction)
    blanks.points = max(0.0, blanks.points - deduction.points)
    blanks.passed = blanks.points >= blanks.max_points
    blanks.feedback.append(text)


# ---------------------------------------------------------------- one grade's report

@dataclass(frozen=True)
class Judgement:
    """The judged part of a report: the engine adds the submission, the sandbox and timings."""

    status: Literal["graded", "rejected"]
    items: list[Item]
    checks: Checks
    error: Error | None
    rebuilt: list[str]  # parts whose crash our code found by composing their parts' programs


def import_error(findings: Findings) -> Error:
    """The import's failure in a student's words."""
    e = findings.import_failure
    assert e is not None
    kind = findings.import_kind if findings.import_kind in ("syntax_error", "import_error", "runtime_error",
                                                            "crashed") else "runtime_error"
    message = {
        "syntax_error": f"Syntax error on line {e.line}: {e.message}",
        "import_error": f"Your file imports the module {findings.import_module!r}, which the grader does not have. "
                        "Use only torch and the Python standard library.",
    }.get(kind, f"Your file raised an error while being imported: {e.message}")
    if kind == "crashed":
        message = (f"Your file called sys.exit({e.message}) while being imported, which stops the grader's "
                   "process; remove it (the grader imports your file, it does not run it as a script).")
    return Error(kind=kind, message=message, line=e.line, traceback=e.traceback)  # type: ignore[arg-type]


def _safely(rubric_item: Any, item_id: str, points: float, judge_item: Callable[[], Item]) -> Item:
    """One item's judgement; if judging itself fails, that item says so and the grade goes on."""
    try:
        return judge_item()
    except Exception as exc:  # a grader bug or data it did not expect: never a failed grade
        return not_graded(rubric_item, item_id, points,
                          f"This item could not be graded ({type(exc).__name__}: {str(exc)[:200]}); "
                          "a TA will grade it by hand.")


def _safely_apply(check: Callable[[], None]) -> None:
    """A check that only adds deductions: if it fails on data it did not expect, the item stays
    as judged (never a failed grade)."""
    try:
        check()
    except Exception:  # noqa: BLE001 - the grade goes on; the item keeps its probe verdict
        pass


def self_reported(item: Item, why: str | None) -> Item:
    item.verified = False
    item.review = (f"Self-reported: {why}. These points come from your own process's report and "
                   "count once a TA has reviewed them.")
    return item


def judge_report(findings: Findings, rubric: Rubric, table: Table, *, skip_training: bool) -> Judgement:
    """Every rubric item and check of one grade, from its findings.

    Rule one: an item is verified only when every fact it uses was read by the grader from a
    program the grader ran (source "program", or "parts": the checked programs of its parts,
    composed by us), or from the file's source by our own parser, never executed. An item judged
    from anything the child reported of itself (source "reported") is self-reported: its points
    wait for a TA. No fact of a "reported" finding feeds a verified item: a Q1 item reads only
    its own block's finding, the Q2 items only the model's, and the model's checks on the model
    finding's source alone.
    """
    expected = findings.expected
    error = findings.run_error
    if findings.import_failure is not None:
        return Judgement("rejected", [], Checks(), import_error(findings), [])
    if not findings.imported:
        error = error or Error(kind="crashed", message="The grading process stopped before importing the file.")
        return Judgement("rejected", [], Checks(), error, [])
    if findings.missing_classes:
        error = Error(kind="missing_definition",
                      message=f"Your file does not define {' and '.join(findings.missing_classes)} as an "
                              "nn.Module class; keep the skeleton's class names.")
    unavailable = (f"Not checked: {error.message}" if error else None)

    items: list[Item] = []
    rebuilt: list[str] = []
    for item_id, item in (("q1_downsample", rubric.q1_downsample), ("q1_no_downsample", rubric.q1_no_downsample)):
        spec, block = table.probe_blocks[item.block], findings.blocks[item.block]
        if block.source != "reported":  # a program, or the programs of its parts where it crashes
            if block.source == "parts":
                rebuilt.append(item.block)
            items.append(_safely(item, item_id, item.points, lambda: judge_block(
                item, item_id, block.facts, block.expected, spec.args, None)))
        else:
            graded = _safely(item, item_id, item.points, lambda: judge_block(
                item, item_id, block.facts, block.expected, spec.args, unavailable))
            items.append(graded if block.facts is None or block.facts.error is not None
                         else self_reported(graded, block.problem))

    found = findings.model
    assert found is not None, "a graded file has a model finding"
    model = found.facts
    if found.source != "reported":
        shapes = check_shapes(found.shapes, expected, None)
        ckpt = check_checkpoint(model, found.checkpoint_loaded, found.checkpoint_error, expected)
        equivalence = (EquivalenceCheck(checked=False, message="Not checked: the forward fails.")
                       if found.source == "parts" else
                       found.equivalence if ckpt.ok and found.equivalence is not None else
                       EquivalenceCheck(checked=False, message="Not checked: the checkpoint did not load."))
        if found.source == "parts":
            rebuilt.append("model")
    else:
        shapes = check_shapes(found.shapes, expected, unavailable if model else None)
        ckpt = check_checkpoint(model, found.checkpoint_loaded, found.checkpoint_error, expected)
        equivalence = check_equivalence(found.reported_logits, ckpt, expected)
    model_items = [_safely(rubric.q2_blanks, "q2_blanks", rubric.q2_blanks.points, lambda: judge_blanks(
        rubric.q2_blanks, model, shapes, equivalence, unavailable))]
    for item_id, layer_item in (("q2_layer3", rubric.q2_layer3), ("q2_layer4", rubric.q2_layer4)):
        model_items.append(_safely(layer_item, item_id, layer_item.points, lambda: judge_layer(
            layer_item, item_id, model, table, shapes, unavailable)))
    if found.source == "reported" and model is not None and model.modules is not None:
        model_items = [self_reported(i, found.problem) for i in model_items]
    items += model_items
    if found.source != "reported":
        for item_id, block_item in (("q1_downsample", rubric.q1_downsample), ("q1_no_downsample", rubric.q1_no_downsample)):
            q1, probe = next(i for i in items if i.id == item_id), findings.blocks[block_item.block]
            if q1.verified and probe.source != "reported":  # the reference block as the verifier described it
                downsample = bool(table.probe_blocks[block_item.block].args[3])
                _safely_apply(lambda: model_block_problems(block_item, item_id, q1, model, probe.expected,
                                                           table, downsample))
        guard_equivalence(items, equivalence, rubric.equivalence)
    if skip_training:
        items.append(Item(id="accuracy", title=rubric.accuracy.title, points=0, max_points=0,
                          passed=False, skipped=True,
                          feedback=["Skipped: structure-only grading (no fine-tuning was run)."]))
    checks = Checks(checkpoint_load=ckpt, equivalence=equivalence, shapes=shapes)
    if model is not None and model.error is not None and error is None:
        error = Error(kind="runtime_error", message=f"ResNet50_layer4() raised {model.error.message}",
                      line=model.error.line, traceback=model.error.traceback)
    return Judgement("graded", items, checks, error, rebuilt)
