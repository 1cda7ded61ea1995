"""Structure probes: describe a model as plain JSON data.

This module runs on both sides of the trust boundary: inside the sandbox on the student's
model, and in the grader on the reference model, so both are described by the same code.
It imports only the standard library and torch (the sandbox sees nothing else of ours).
"""
from __future__ import annotations

import inspect
import traceback
from typing import Any, Callable

import torch
import torch.nn as nn

# Attributes kept per module kind: what the reference table and the rubric talk about.
_ARGS: dict[type, tuple[str, ...]] = {
    nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups"),
    nn.BatchNorm2d: ("num_features",),
    nn.ReLU: ("inplace",),
    nn.MaxPool2d: ("kernel_size", "stride", "padding"),
    nn.AvgPool2d: ("kernel_size", "stride", "padding"),
    nn.AdaptiveAvgPool2d: ("output_size",),
    nn.Linear: ("in_features", "out_features"),
}
MAX_STR = 200


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a hyperparameter; squares like (3, 3) become 3."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, str):
        return value[:MAX_STR]
    if isinstance(value, (tuple, list)) and depth < 2 and len(value) <= 8:
        items = [jsonable(v, depth + 1) for v in value]
        if items and all(v == items[0] for v in items):
            return items[0]
        return items
    return repr(value)[:MAX_STR]


def module_args(module: nn.Module) -> dict[str, Any]:
    for kind, names in _ARGS.items():
        if type(module) is kind:
            args = {n: jsonable(getattr(module, n, None)) for n in names}
            if kind in (nn.Conv2d, nn.Linear):
                args["bias"] = getattr(module, "bias", None) is not None
            return args
    return {}


class CtorRecorder:
    """Records the arguments each instance of a class was constructed with.

    Reading the blanks back (`ResidualBlock(64, 64, 256, False)`) needs the call's arguments,
    which the built module does not keep.
    """

    def __init__(self) -> None:
        self._records: dict[int, tuple[nn.Module, list[Any]]] = {}

    def install(self, cls: type) -> None:
        original = cls.__init__
        try:
            signature = inspect.signature(original)
        except (TypeError, ValueError):
            return
        records = self._records

        def recording_init(self_: Any, *args: Any, **kwargs: Any) -> None:
            try:
                bound = signature.bind(self_, *args, **kwargs)
                bound.apply_defaults()
                values = [jsonable(v) for n, v in list(bound.arguments.items())[1:]]
            except TypeError:
                values = None
            original(self_, *args, **kwargs)
            if values is not None:
                records[id(self_)] = (self_, values)

        recording_init.__wrapped__ = original  # type: ignore[attr-defined]
        cls.__init__ = recording_init

    def args_of(self, module: nn.Module) -> list[Any] | None:
        entry = self._records.get(id(module))
        return entry[1] if entry and entry[0] is module else None


def describe_modules(root: nn.Module, block_cls: type | None = None,
                     recorder: CtorRecorder | None = None) -> list[dict[str, Any]]:
    """Every module in registration order with its kind and hyperparameters."""
    out: list[dict[str, Any]] = []
    for path, module in root.named_modules():
        entry: dict[str, Any] = {"path": path, "type": type(module).__name__, "args": module_args(module)}
        if block_cls is not None and isinstance(module, block_cls):
            entry["block"] = {
                "downsample": jsonable(getattr(module, "downsample", None)),
                "ctor": recorder.args_of(module) if recorder else None,
            }
        out.append(entry)
    return out


def state_dict_shapes(module: nn.Module) -> list[list[Any]]:
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


def student_traceback(exc: BaseException, filename: str) -> dict[str, Any]:
    """The exception with only the frames from the student's file, never the grader's."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        lines = [f"line {exc.lineno}: {(exc.text or '').strip()}"]
        line = exc.lineno
    else:
        lines = [f"line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames]
        line = frames[-1].lineno if frames else None
    message = f"{type(exc).__name__}: {exc}"
    return {"type": type(exc).__name__, "message": message[:2000], "line": line,
            "traceback": [s[:300] for s in lines[-20:]]}


def stage_shapes(model: nn.Module, x: torch.Tensor,
                 on_error: Callable[[BaseException], dict[str, Any]]) -> dict[str, Any]:
    """Output shape of each top-level stage in the order the model's forward calls them.

    The flatten step is no module: it shows as the input shape of the module after it.
    """
    rows: list[dict[str, Any]] = []
    open_stages: list[str] = []
    handles = []
    names = {id(m): n for n, m in model.named_children()}

    def pre(mod: nn.Module, args: tuple) -> None:
        name = names[id(mod)]
        if name == "fc" and args and isinstance(args[0], torch.Tensor):
            rows.append({"stage": "flatten", "shape": list(args[0].shape)})
        open_stages.append(name)

    def post(mod: nn.Module, args: tuple, output: Any) -> None:
        name = names[id(mod)]
        if open_stages and open_stages[-1] == name:
            open_stages.pop()
        shape = list(output.shape) if isinstance(output, torch.Tensor) else None
        rows.append({"stage": name, "shape": shape})

    for _, child in model.named_children():
        handles.append(child.register_forward_pre_hook(pre))
        handles.append(child.register_forward_hook(post))
    result: dict[str, Any] = {"rows": rows, "error": None, "failed_stage": None}
    try:
        with torch.no_grad():
            out = model(x)
        result["output"] = list(out.shape) if isinstance(out, torch.Tensor) else None
    except Exception as exc:  # the student's forward may raise anything
        result["error"] = on_error(exc)
        result["failed_stage"] = open_stages[-1] if open_stages else "forward"
    finally:
        for h in handles:
            h.remove()
    return result


def graph_signature(output: Any, limit: int = 2000) -> str | None:
    """The autograd graph of a forward as a canonical string of op names.

    Catches steps that leave the output unchanged (a ReLU after the addition of two
    ReLU'd branches); children are sorted so `x + out` equals `out + x`.
    """
    if not isinstance(output, torch.Tensor) or output.grad_fn is None:
        return None
    memo: dict[Any, str] = {}
    budget = [limit]

    def sig(node: Any) -> str:
        if node is None:
            return "-"
        if node in memo:
            return memo[node]
        budget[0] -= 1
        if budget[0] < 0:
            return "…"
        name = type(node).__name__
        if name == "AccumulateGrad":
            memo[node] = "P"
            return "P"
        children = sorted(sig(child) for child, _ in node.next_functions if child is not None)
        memo[node] = f"{name}({','.join(children)})" if children else name
        return memo[node]

    return sig(output.grad_fn)[:20000]
