"""Structure facts read off a checked program: what the judge compares with the reference.

Trusted side. Every fact comes from the operators and their arguments: a conv's channels
and kernel from its weight's shape, stride and padding from the call, a module's path from
the parameter it reads. The module-stack labels a program carries only place operators
that read no parameter (ReLU, pooling) and name containers; no fact a point depends on
rests on a label alone. The same functions describe the reference program, so the two
descriptions compare field by field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grader import tree
from grader.child.probe import jsonable
from grader.child.program import Call, Program

# Operators that stand for a standard module when the module-stack label says that module ran them.
_MODULE_OPS = {
    "aten.relu_.default": "ReLU", "aten.relu.default": "ReLU",
    "aten.max_pool2d.default": "MaxPool2d", "aten.avg_pool2d.default": "AvgPool2d",
    "aten.adaptive_avg_pool2d.default": "AdaptiveAvgPool2d", "aten.dropout.default": "Dropout",
}


@dataclass(frozen=True)
class Facts:
    rows: list[dict[str, Any]]  # ModuleEntry-shaped: path, type, args, block
    state: dict[str, list[int]]  # state_dict key -> shape
    stages: list[dict[str, Any]]  # {"stage", "shape"} in forward order (batch of one)
    output: list[int] | None


def _state_of(program: Program) -> dict[str, Any]:
    return {s.name: s for s in program.state}


def _ref(value: Any) -> str | None:
    return value[1] if isinstance(value, tuple) and len(value) == 2 and value[0] == "ref" else None


def _owner(call: Call, state: dict[str, Any]) -> str | None:
    """The module a parameterised call belongs to: its weight's (or running mean's) key."""
    for index in (1, 3):  # conv/linear/batch_norm weight; batch_norm running_mean
        name = _ref(call.args[index]) if len(call.args) > index else None
        if name in state:
            return state[name].target.rsplit(".", 1)[0] if "." in state[name].target else ""
    return None


def _label(call: Call) -> tuple[str, str] | None:
    return call.stack[-1] if call.stack else None


def _row(call: Call, state: dict[str, Any]) -> dict[str, Any] | None:
    a = call.args
    if call.op == "aten.conv2d.default":
        weight = state.get(_ref(a[1]) or "")
        if weight is None or len(weight.shape) != 4:
            return None
        groups = a[6] if isinstance(a[6], int) else None
        args = {"in_channels": weight.shape[1] * (groups or 1), "out_channels": weight.shape[0],
                "kernel_size": jsonable(list(weight.shape[2:])), "stride": jsonable(list(a[3])),
                "padding": jsonable(list(a[4])), "dilation": jsonable(list(a[5])), "groups": groups,
                "bias": a[2] is not None}
        return {"path": _owner(call, state), "type": "Conv2d", "args": args}
    if call.op == "aten.batch_norm.default":
        owner = _owner(call, state)
        stats = state.get(_ref(a[3]) or "") or state.get(_ref(a[1]) or "")
        if owner is None or stats is None:
            return None
        return {"path": owner, "type": "BatchNorm2d", "args": {"num_features": stats.shape[0]}}
    if call.op == "aten.linear.default":
        weight = state.get(_ref(a[1]) or "")
        if weight is None or len(weight.shape) != 2:
            return None
        return {"path": _owner(call, state), "type": "Linear",
                "args": {"in_features": weight.shape[1], "out_features": weight.shape[0], "bias": a[2] is not None}}
    kind = _MODULE_OPS.get(call.op)
    label = _label(call)
    if kind is None or label is None or label[1] != kind:
        return None  # functional (F.relu, x.view): not a module, as in the student's source
    args: dict[str, Any] = {}
    if kind == "ReLU":
        args = {"inplace": call.op.startswith("aten.relu_")}
    elif kind in ("MaxPool2d", "AvgPool2d"):
        args = {"kernel_size": jsonable(list(a[1])), "stride": jsonable(list(a[2]) or list(a[1])),
                "padding": jsonable(list(a[3]))}
    elif kind == "AdaptiveAvgPool2d":
        args = {"output_size": jsonable(list(a[1]))}
    return {"path": label[0], "type": kind, "args": args}


def _child(path: str, name: str) -> str:
    """`name` under `path` (either may be the root, "")."""
    return f"{path}.{name}" if path and name else path or name


def describe(program: Program, shapes: dict[str, list[int]]) -> Facts:
    """The program as the judge's module rows, with blocks recognised by what their forward uses."""
    state = _state_of(program)
    leaves = [r for c in program.calls if (r := _row(c, state)) is not None and r["path"] is not None]
    labels = {p: k for c in program.calls for p, k in c.stack}
    return Facts(rows=_tree(leaves, labels), state={s.target: list(s.shape) for s in program.state},
                 stages=_stages(program, shapes), output=shapes.get(program.output))


def describe_parts(parts: dict[str, Program]) -> Facts:
    """Programs of a model's parts (path → program, in forward order) as one model's rows and
    state: each part's facts read as describe() reads a whole program, under the part's path.
    Stages and output are the composition's (grader/verify.py compose), not any part's."""
    leaves: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    state: dict[str, list[int]] = {}
    for path, program in parts.items():
        own = _state_of(program)
        for call in program.calls:
            row = _row(call, own)
            if row is not None and row["path"] is not None:
                leaves.append({**row, "path": _child(path, row["path"])})
            for label, kind in call.stack:
                labels.setdefault(_child(path, label), kind)
        state.update({_child(path, s.target): list(s.shape) for s in program.state})
    return Facts(rows=_tree(leaves, labels), state=state, stages=[], output=None)


def _tree(leaves: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Container rows (blocks recognised by the convs they run) before the leaves."""
    containers: dict[str, str] = {}
    for leaf in leaves:
        parts = leaf["path"].split(".") if leaf["path"] else []
        for i in range(len(parts)):
            prefix = ".".join(parts[:i])
            containers.setdefault(prefix, labels.get(prefix, "Module"))
    rows: list[dict[str, Any]] = []
    first = _first_uses(leaves)
    below = tree.under(leaves)
    for path, kind in sorted(containers.items(), key=lambda pk: first.get(pk[0], len(leaves))):
        row: dict[str, Any] = {"path": path, "type": kind, "args": {}}
        block = block_of(path, leaves, below)
        if block is not None:
            row["block"] = block
        rows.append(row)
    return rows + leaves


def _first_uses(leaves: list[dict[str, Any]]) -> dict[str, int]:
    """For each path and prefix of a leaf (and the root, ""), the index of the first leaf at or below it."""
    first: dict[str, int] = {}
    for i, leaf in enumerate(leaves):
        for path in ("", *tree.prefixes(leaf["path"]), leaf["path"]):
            first.setdefault(path, i)
    return first


def block_of(path: str, leaves: list[dict[str, Any]],
             below: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any] | None:
    """(in, middle, out, downsample) of a bottleneck block, read from the convs its forward ran.

    `below`: `tree.under(leaves)`, for a caller asking about many blocks of one tree (a scan of
    every leaf per block is quadratic in a reported tree's size)."""
    def convs(sub: str) -> list[dict[str, Any]]:
        prefix = _child(path, sub)
        if below is not None:
            return [r for r in below.get(prefix, []) if r["type"] == "Conv2d"]
        return [r for r in leaves if r["type"] == "Conv2d" and r["path"].startswith(prefix + ".")]

    main, down, equal = convs("layer"), convs("downsize"), convs("make_equal_channel")
    if not main or not (down or equal):
        return None
    ctor = [main[0]["args"]["in_channels"], main[0]["args"]["out_channels"], main[-1]["args"]["out_channels"],
            bool(down)]
    return {"downsample": bool(down), "ctor": ctor}


def _stages(program: Program, shapes: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Output shape of each top-level stage in forward order; "flatten" is fc's input."""
    rows: list[dict[str, Any]] = []
    current: str | None = None
    for call in program.calls:
        label = _label(call)
        top = label[0].split(".")[0] if label and label[0] else None
        if top is None or call.name not in shapes:
            continue
        if top != current:
            if top == "fc" and call.op == "aten.linear.default":
                source = _ref(call.args[0])
                if source in shapes:
                    rows.append({"stage": "flatten", "shape": shapes[source]})
            rows.append({"stage": top, "shape": shapes[call.name]})
            current = top
        else:
            rows[-1]["shape"] = shapes[call.name]
    return rows
