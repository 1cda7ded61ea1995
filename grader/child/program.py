"""The model as data: a torch.export graph written as plain JSON, checked, and run by our code.

The untrusted step (`to_data`, inside the sandbox, on the student's model) turns the model
into a list of aten calls over named parameters; nothing else of the student's process is
kept. The trusted side (`parse`, then `ProgramModule`) accepts only operators from ALLOWED,
binds every argument to the operator's own schema, caps sizes, and runs the calls itself:
the function that is judged, trained and evaluated is exactly the one written in the data.

Imports only the standard library and torch, so the sandboxed children can use it too.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

FORMAT = 1
aten = torch.ops.aten
# The operators a ResNet for this assignment is made of (the reference uses the first nine);
# the rest are harmless spellings real submissions use (F.relu, flatten, adaptive pooling).
ALLOWED: dict[str, Any] = {
    "aten.conv2d.default": aten.conv2d.default,
    "aten.batch_norm.default": aten.batch_norm.default,
    "aten.relu_.default": aten.relu_.default,
    "aten.relu.default": aten.relu.default,
    "aten.max_pool2d.default": aten.max_pool2d.default,
    "aten.avg_pool2d.default": aten.avg_pool2d.default,
    "aten.add.Tensor": aten.add.Tensor,
    "aten.view.default": aten.view.default,
    "aten.linear.default": aten.linear.default,
    "aten.sym_size.int": aten.sym_size.int,
    "aten.adaptive_avg_pool2d.default": aten.adaptive_avg_pool2d.default,
    "aten.reshape.default": aten.reshape.default,
    "aten.flatten.using_ints": aten.flatten.using_ints,
    "aten.dropout.default": aten.dropout.default,
    "aten.add_.Tensor": aten.add_.Tensor,
}
# Operators whose `training`/`train` argument follows model.train()/eval(): the data is the
# eval-mode program, and training runs it with these flags on, as nn.BatchNorm2d/Dropout do.
TRAINING_ARG = {"aten.batch_norm.default": 5, "aten.dropout.default": 2}
DTYPES = {"float32": torch.float32, "int64": torch.int64}

MAX_NODES = 4000
MAX_STATE = 2000  # parameters + buffers
MAX_STATE_ELEMENTS = 64_000_000  # the reference has 14.75 M
MAX_DIM = 1 << 16
MAX_INT = 1 << 16
MAX_NAME = 300
MAX_STACK = 16


class ProgramError(ValueError):
    """The data is not a program this grader runs; the message says what, for the report."""


# ---------------------------------------------------------------- untrusted side: model → data

def to_data(model: nn.Module, example: torch.Tensor) -> dict[str, Any]:
    """Export `model` (eval mode, batch dimension dynamic) and write its graph as JSON data."""
    from torch.export import Dim, export

    model.eval()
    # No Python stack trace per node (the data keeps none): ~0.13 s less of a ResNet's export.
    stack_traces = torch.fx.config.do_not_emit_stack_traces
    torch.fx.config.do_not_emit_stack_traces = True
    try:
        ep = export(model, (example,), dynamic_shapes=({0: Dim("batch", min=1, max=4096)},))
    finally:
        torch.fx.config.do_not_emit_stack_traces = stack_traces
    state = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    specs = ep.graph_signature.input_specs
    placeholders: dict[str, Any] = {}
    inputs: list[dict[str, Any]] = []
    for spec in specs:
        kind = spec.kind.name.lower()
        entry: dict[str, Any] = {"name": spec.arg.name, "kind": kind}
        if kind in ("parameter", "buffer"):
            tensor = state[spec.target]
            entry.update(target=spec.target, shape=list(tensor.shape), dtype=str(tensor.dtype).removeprefix("torch."))
        inputs.append(entry)
        placeholders[spec.arg.name] = entry
    nodes: list[dict[str, Any]] = []
    output = None
    for node in ep.graph_module.graph.nodes:
        if node.op == "call_function":
            stack = [[path, str(kind).rsplit(".", 1)[-1]] for path, kind in
                     node.meta.get("nn_module_stack", {}).values() if isinstance(path, str)]
            nodes.append({"name": node.name, "op": str(node.target), "args": _encode(node.args),
                          "kwargs": {k: _encode(v) for k, v in node.kwargs.items()},
                          "stack": stack[-MAX_STACK:]})
        elif node.op == "output":
            outs = node.args[0]
            output = outs[0].name if isinstance(outs, (tuple, list)) and len(outs) == 1 else None
    return {"format": FORMAT, "inputs": inputs, "nodes": nodes, "output": output}


def _encode(value: Any) -> Any:
    if isinstance(value, torch.fx.Node):
        return {"ref": value.name}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return {"unsupported": type(value).__name__}


# ---------------------------------------------------------------- trusted side: data → program

@dataclass(frozen=True)
class StateSpec:
    name: str  # placeholder name in the graph
    target: str  # state_dict key
    kind: str  # "parameter" | "buffer"
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Call:
    name: str
    op: str
    args: tuple[Any, ...]  # bound to the schema, defaults filled; refs as ("ref", name)
    stack: tuple[tuple[str, str], ...]  # (module path, class name) labels: feedback only

    def invoke(self, args: list[Any]) -> Any:
        """Call the operator; keyword-only schema arguments go by keyword."""
        op = ALLOWED[self.op]
        params = op._schema.arguments
        n_pos = sum(1 for p in params if not p.kwarg_only)
        return op(*args[:n_pos], **{p.name: a for p, a in zip(params[n_pos:], args[n_pos:])})


@dataclass(frozen=True)
class Program:
    state: tuple[StateSpec, ...]
    input: str
    calls: tuple[Call, ...]
    output: str

    def canonical(self) -> str:
        """The program without names or labels: equal strings compute equal functions.

        Placeholders become state keys, nodes their index; the module-stack labels (which
        say nothing about the function) are dropped.
        """
        rename = {s.name: f"${s.target}" for s in self.state}
        rename[self.input] = "$input"
        rename.update({c.name: f"%{i}" for i, c in enumerate(self.calls)})
        return json.dumps({"state": [[s.target, s.kind, list(s.shape), s.dtype] for s in self.state],
                           "calls": [[c.op, _as_data(list(c.args), rename)] for c in self.calls],
                           "output": rename[self.output]}, sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    def to_data(self) -> dict[str, Any]:
        """JSON data `parse` accepts again (for the trusted training child)."""
        return {"format": FORMAT,
                "inputs": [{"name": s.name, "kind": s.kind, "target": s.target, "shape": list(s.shape),
                            "dtype": s.dtype} for s in self.state] + [{"name": self.input, "kind": "user_input"}],
                "nodes": [_node_data(c) for c in self.calls],
                "output": self.output}


def _as_data(value: Any, rename: dict[str, str] | None = None) -> Any:
    """Bound arguments back to JSON: ("ref", name) becomes {"ref": name}, renamed if asked."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "ref":
        return {"ref": rename[value[1]] if rename else value[1]}
    if isinstance(value, (list, tuple)):
        return [_as_data(v, rename) for v in value]
    return value


def _node_data(call: Call) -> dict[str, Any]:
    params = ALLOWED[call.op]._schema.arguments
    n_pos = sum(1 for p in params if not p.kwarg_only)
    return {"name": call.name, "op": call.op, "args": _as_data(list(call.args[:n_pos])),
            "kwargs": {p.name: _as_data(a) for p, a in zip(params[n_pos:], call.args[n_pos:])},
            "stack": [list(s) for s in call.stack]}


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME:
        raise ProgramError(f"{what} is not a name")
    return value


def parse(data: Any) -> Program:
    """Check untrusted program data; raise ProgramError with the first reason it is refused."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProgramError("the program data has an unknown format")
    inputs, nodes = data.get("inputs"), data.get("nodes")
    if not isinstance(inputs, list) or not isinstance(nodes, list):
        raise ProgramError("the program data lacks inputs or nodes")
    if len(inputs) > MAX_STATE + 1 or len(nodes) > MAX_NODES:
        raise ProgramError(f"the program has {len(inputs)} inputs and {len(nodes)} operations, more than the grader runs")
    state: list[StateSpec] = []
    user_inputs: list[str] = []
    kinds: dict[str, str] = {}  # name -> "tensor" | "int"
    targets: set[str] = set()
    elements = 0
    for entry in inputs:
        if not isinstance(entry, dict):
            raise ProgramError("a program input is not an object")
        name = _name(entry.get("name"), "an input")
        if name in kinds:
            raise ProgramError(f"the input {name!r} is defined twice")
        kind = entry.get("kind")
        if kind == "user_input":
            user_inputs.append(name)
        elif kind in ("parameter", "buffer"):
            target = _name(entry.get("target"), "a state entry")
            shape = entry.get("shape")
            dtype = entry.get("dtype")
            if target in targets:
                raise ProgramError(f"the state entry {target!r} is defined twice")
            if (not isinstance(shape, list) or len(shape) > 4
                    or not all(type(d) is int and 0 <= d <= MAX_DIM for d in shape)):
                raise ProgramError(f"the state entry {target!r} has an unusable shape")
            if dtype not in DTYPES or (kind == "parameter" and dtype != "float32"):
                raise ProgramError(f"the state entry {target!r} has dtype {str(dtype)[:20]!r}")
            elements += math.prod(shape)
            targets.add(target)
            state.append(StateSpec(name, target, kind, tuple(shape), dtype))
        else:
            # Lifted constants (a tensor made in forward, e.g. a lookup table) are not a model's
            # parameters: such a program is not graded on the trusted path.
            raise ProgramError(f"the model uses a {str(kind)[:30]} input (e.g. a tensor created in forward), "
                               "which a model of this assignment does not need")
        kinds[name] = "tensor"
    if len(user_inputs) != 1:
        raise ProgramError("the program must take exactly one input image batch")
    if elements > MAX_STATE_ELEMENTS:
        raise ProgramError(f"the model has {elements} parameter values, more than the grader trains")
    calls: list[Call] = []
    for entry in nodes:
        calls.append(_parse_call(entry, kinds))
    output = data.get("output")
    if not isinstance(output, str) or kinds.get(output) != "tensor":
        raise ProgramError("the program's output is not one tensor it computes")
    return Program(tuple(state), user_inputs[0], tuple(calls), output)


def _parse_call(entry: Any, kinds: dict[str, str]) -> Call:
    if not isinstance(entry, dict):
        raise ProgramError("an operation is not an object")
    name = _name(entry.get("name"), "an operation")
    if name in kinds:
        raise ProgramError(f"the operation name {name!r} is used twice")
    op_name = entry.get("op")
    if op_name not in ALLOWED:
        raise ProgramError(f"the model uses the operation {str(op_name)[:80]}, which is not one a ResNet "
                           "of this assignment is made of")
    args, kwargs = entry.get("args"), entry.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ProgramError(f"{op_name} has malformed arguments")
    stack = entry.get("stack", [])
    if not isinstance(stack, list) or len(stack) > MAX_STACK or not all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(p, str) and len(p) <= MAX_NAME for p in s)
            for s in stack):
        raise ProgramError(f"{op_name} has a malformed module path")
    schema = ALLOWED[op_name]._schema
    params = list(schema.arguments)
    if len(args) > len(params):
        raise ProgramError(f"{op_name} has {len(args)} arguments, its schema {len(params)}")
    bound: list[Any] = []
    for i, param in enumerate(params):
        if i < len(args):
            if param.kwarg_only:
                raise ProgramError(f"{op_name} passes {param.name} by position")
            value = args[i]
        elif param.name in kwargs:
            value = kwargs[param.name]
        elif param.has_default_value():
            value = param.default_value
        else:
            raise ProgramError(f"{op_name} lacks its argument {param.name}")
        bound.append(_check_arg(op_name, param, value, kinds))
    if set(kwargs) - {p.name for p in params[len(args):]}:
        raise ProgramError(f"{op_name} has unknown keyword arguments")
    kinds[name] = "int" if op_name == "aten.sym_size.int" else "tensor"
    return Call(name, op_name, tuple(bound), tuple((p, k) for p, k in stack))


def _check_arg(op: str, param: Any, value: Any, kinds: dict[str, str]) -> Any:
    """Check one argument against the schema type; return it with node refs as ("ref", name)."""
    kind = str(param.type)
    where = f"{op} argument {param.name}"
    if kind.startswith("Optional[") and value is None:
        return None
    kind = kind.removeprefix("Optional[").removesuffix("]") if kind.startswith("Optional[") else kind

    def ref(v: Any, want: str) -> tuple[str, str]:
        if not (isinstance(v, dict) and set(v) == {"ref"} and kinds.get(v["ref"]) == want):
            raise ProgramError(f"{where} is not a {want} computed earlier")
        return ("ref", v["ref"])

    def integer(v: Any) -> Any:
        if isinstance(v, dict):
            return ref(v, "int")
        if type(v) is not int or abs(v) > MAX_INT:
            raise ProgramError(f"{where} is not a small integer")
        return v

    if kind == "Tensor":
        return ref(value, "tensor")
    if kind in ("int", "SymInt"):
        return integer(value)
    if kind in ("List[int]", "List[SymInt]"):
        if not isinstance(value, list) or len(value) > 8:
            raise ProgramError(f"{where} is not a short list of integers")
        return tuple(integer(v) for v in value)
    if kind == "bool":
        if type(value) is not bool:
            raise ProgramError(f"{where} is not a boolean")
        return value
    if kind in ("float", "number", "Scalar"):
        if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > 1e6:
            raise ProgramError(f"{where} is not a finite number")
        return value
    raise ProgramError(f"{where} has the type {kind}, which the grader does not accept")


# ---------------------------------------------------------------- running a program

class ProgramModule(nn.Module):
    """A program as an nn.Module: state_dict keys are the program's, forward runs its calls.

    `train()`/`eval()` switch BatchNorm and Dropout calls the way the standard modules do.
    """

    def __init__(self, program: Program, device: str | torch.device = "cpu",
                 state: dict[str, torch.Tensor] | None = None) -> None:
        """`state`: the tensors to hold, keyed as the program's state_dict, used as they are
        (not copied: the verifier runs one fresh random state through two programs, where zeros
        then a copy cost ~0.2 s a grade); default: zeros, for load_state_dict to fill."""
        super().__init__()
        self.program = program
        self._owners: dict[str, tuple[nn.Module, str]] = {}
        if state is not None and set(state) != {spec.target for spec in program.state}:
            raise ValueError("the state's keys are not the program's")
        for spec in program.state:
            owner = self
            *path, leaf = spec.target.split(".")
            for part in path:
                child = owner._modules.get(part)
                if child is None:
                    child = nn.Module()
                    owner.add_module(part, child)
                owner = child
            dtype = DTYPES[spec.dtype]
            if state is None:
                value = torch.zeros(spec.shape, dtype=dtype, device=device)
            else:
                value = state[spec.target]
                if tuple(value.shape) != tuple(spec.shape) or value.dtype != dtype:
                    raise ValueError(f"{spec.target} has another shape or type than the program's")
            if spec.kind == "parameter":
                owner.register_parameter(leaf, nn.Parameter(value))
            else:
                owner.register_buffer(leaf, value)
            self._owners[spec.name] = (owner, leaf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = self.inputs(x)
        for call in self.program.calls:
            self.step(call, values)
        return values[self.program.output]

    def inputs(self, x: torch.Tensor) -> dict[str, Any]:
        """The values a run starts from: this module's state and the input batch."""
        values: dict[str, Any] = {name: getattr(owner, leaf) for name, (owner, leaf) in self._owners.items()}
        values[self.program.input] = x
        return values

    def step(self, call: Call, values: dict[str, Any]) -> Any:
        """Run one call on earlier values; BatchNorm/Dropout follow train()/eval()."""
        args = [_resolve(a, values) for a in call.args]
        if call.op in TRAINING_ARG:
            args[TRAINING_ARG[call.op]] = self.training
        values[call.name] = out = call.invoke(args)
        return out


def _resolve(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] == "ref":
            return values[value[1]]
        return [_resolve(v, values) for v in value]
    return value


def random_state(module: nn.Module, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Fresh random weights for a state_dict: every weight and every BatchNorm statistic matters.

    Scaled like a fan-in initialisation so that 16 blocks neither vanish nor explode. Only the
    module's keys, shapes and types are read: a module on the meta device will do.
    """
    out: dict[str, torch.Tensor] = {}
    for key, t in module.state_dict().items():
        leaf = key.rsplit(".", 1)[-1]
        if not t.is_floating_point():
            out[key] = torch.zeros(t.shape, dtype=t.dtype)
        elif leaf == "running_var":
            out[key] = torch.rand(t.shape, generator=gen).add_(0.5)
        elif leaf == "running_mean" or (leaf == "bias"):  # in place: the same values, no copy
            out[key] = torch.randn(t.shape, generator=gen).mul_(0.1)
        elif t.ndim == 1:  # BatchNorm weight
            out[key] = torch.rand(t.shape, generator=gen).add_(0.5)
        else:
            fan_in = max(1, math.prod(t.shape[1:]))
            out[key] = torch.randn(t.shape, generator=gen).div_(math.sqrt(fan_in))
    return out


def meta_shapes(program: Program, input_shape: list[int], max_elements: int = 2_000_000,
                max_total: int = 8_000_000) -> dict[str, Any]:
    """Each call's output shape for `input_shape`, computed on the meta device (no memory, no time).

    Refuses programs whose tensors are far larger than any ResNet of this size, so that
    running one in the grader's process stays small: the reference's largest tensor has
    16 K values per image and all of them together 0.8 M.
    """
    total = 0
    module = ProgramModule(program, device="meta").eval()
    values = module.inputs(torch.empty(input_shape, device="meta"))
    shapes: dict[str, Any] = {}
    for call in program.calls:
        try:
            out = _standard_batch_norm(call, values)
            if out is None:
                out = module.step(call, values)
        except Exception as exc:  # the shapes do not fit: where the program fails
            raise ProgramShapeError(call, _explain(call, values) or f"{type(exc).__name__}: {str(exc)[:300]}") from None
        if isinstance(out, torch.Tensor):
            total += out.numel()
            if out.numel() > max_elements or total > max_total:
                raise ProgramError(f"{call.op} makes a tensor of {out.numel()} values ({total} so far), "
                                   "more than the grader runs")
            shapes[call.name] = list(out.shape)
    return shapes


def _explain(call: Call, values: dict[str, Any]) -> str | None:
    """Why a call's shapes do not fit, in the words of the layer (the meta device's own errors
    say less than the CPU's: "Invalid channel dimensions"); None where no rule below applies."""
    try:
        args = [_resolve(a, values) for a in call.args[:4]]
    except KeyError:
        return None
    x = args[0] if args and isinstance(args[0], torch.Tensor) else None
    w = args[1] if len(args) > 1 and isinstance(args[1], torch.Tensor) else None
    if x is None:
        return None
    shape = "×".join(map(str, x.shape[1:]))
    if call.op == "aten.conv2d.default" and w is not None and x.dim() == 4:
        groups = call.args[6] if len(call.args) > 6 and isinstance(call.args[6], int) else 1
        if x.shape[1] != w.shape[1] * groups:
            return (f"RuntimeError: a conv that takes {w.shape[1] * groups} input channels gets a {shape} "
                    f"input ({x.shape[1]} channels)")
    if call.op == "aten.linear.default" and w is not None and x.shape[-1] != w.shape[-1]:
        return f"RuntimeError: a Linear that takes {w.shape[-1]} features gets {x.shape[-1]} (input {shape})"
    if call.op == "aten.batch_norm.default" and w is not None and x.dim() > 1 and x.shape[1] != w.shape[0]:
        return f"RuntimeError: a BatchNorm of {w.shape[0]} channels gets a {shape} input ({x.shape[1]} channels)"
    if call.op in ("aten.add.Tensor", "aten.add_.Tensor") and w is not None and x.shape != w.shape:
        return f"RuntimeError: a {shape} map and a {'×'.join(map(str, w.shape[1:]))} map cannot be added"
    return None


def _standard_batch_norm(call: Call, values: dict[str, Any]) -> torch.Tensor | None:
    """A BatchNorm2d's output on the meta device, for the standard case only (a float32 NCHW
    input and four float32 tensors of its channel count, which the real operator always
    accepts): torch's meta kernel for it is a Python decomposition, ~0.15 s of a model's
    shapes. None for anything else, which goes that long way."""
    if call.op != "aten.batch_norm.default":
        return None
    x, *stats = (_resolve(a, values) for a in call.args[:5])
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.dtype == torch.float32):
        return None
    if not all(isinstance(t, torch.Tensor) and t.dtype == torch.float32 and tuple(t.shape) == (x.shape[1],)
               for t in stats):
        return None
    values[call.name] = out = torch.empty_like(x)
    return out


def canonicalize(program: Program, shapes: dict[str, list[int]]) -> Program:
    """Rewrite what provably does not change the function, so more programs share a fine-tune.

    A pooling window that covers its whole unpadded input yields one value per channel
    whatever its stride (the skeleton's AvgPool2d(2, 1) and (2, 2) on a 2×2 map): the
    stride is set to the kernel.
    """
    pools = {"aten.avg_pool2d.default": 2, "aten.max_pool2d.default": 2}
    calls = []
    for call in program.calls:
        args = list(call.args)
        source = args[0][1] if isinstance(args[0], tuple) and args[0][0] == "ref" else None
        if call.op in pools and source in shapes and len(shapes[source]) == 4:
            kernel, padding = list(args[1]), list(args[3])
            ceil_mode = args[4] if call.op == "aten.avg_pool2d.default" else args[5]
            if (len(kernel) == 2 and shapes[source][2:] == kernel and not ceil_mode
                    and all(p == 0 for p in padding) and len(padding) in (1, 2)
                    and (call.op != "aten.max_pool2d.default" or all(d == 1 for d in args[4]))):
                args[2] = tuple(kernel)
        calls.append(Call(call.name, call.op, tuple(args), call.stack))
    return Program(program.state, program.input, tuple(calls), program.output)


class ProgramShapeError(ProgramError):
    def __init__(self, call: Call, message: str) -> None:
        super().__init__(message)
        self.call = call
