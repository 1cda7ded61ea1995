"""A model whose forward crashes, rebuilt by our code from its module tree, to find the crash.

torch.export cannot trace a forward that fails, so such a file has no program. Its module
tree (standard layers with their hyperparameters, containers by path) is data too: our
builder makes the same layers, wires them with the skeleton's given forward, and runs them
on the meta device (no memory, no time). If the rebuilt model fails, the crash follows from
the tree itself and the file is graded on the trusted path from that tree; if it runs, the
student's own code must differ from what the tree describes, so the grade stays
self-reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from grader import tree

MAX_VALUE = 1 << 16
STAGES = ("layer1", "layer2", "layer3", "layer4", "avgpool")


class RebuildError(ValueError):
    """The tree holds something the builder does not make (then the grade stays self-reported)."""


def _int(value: Any, what: str) -> int | tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(type(v) is int and 0 <= v <= MAX_VALUE for v in values):
        raise RebuildError(f"{what} is {value!r}")
    return values[0] if len(values) == 1 else tuple(values)


def _leaf(kind: str, args: dict[str, Any]) -> nn.Module:
    a = {k: v for k, v in args.items()}
    if kind == "Conv2d":
        return nn.Conv2d(_int(a["in_channels"], "in_channels"), _int(a["out_channels"], "out_channels"),  # type: ignore[arg-type]
                         _int(a["kernel_size"], "kernel_size"), _int(a["stride"], "stride"),
                         _int(a["padding"], "padding"), _int(a["dilation"], "dilation"),
                         _int(a["groups"], "groups"), bias=bool(a.get("bias", True)))
    if kind == "BatchNorm2d":
        return nn.BatchNorm2d(_int(a["num_features"], "num_features"))  # type: ignore[arg-type]
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "MaxPool2d":
        return nn.MaxPool2d(_int(a["kernel_size"], "kernel_size"), _int(a["stride"], "stride"),
                            _int(a["padding"], "padding"))
    if kind == "AvgPool2d":
        return nn.AvgPool2d(_int(a["kernel_size"], "kernel_size"), _int(a["stride"], "stride"),
                            _int(a["padding"], "padding"))
    if kind == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(_int(a["output_size"], "output_size"))
    if kind == "Linear":
        return nn.Linear(_int(a["in_features"], "in_features"), _int(a["out_features"], "out_features"),  # type: ignore[arg-type]
                         bias=bool(a.get("bias", True)))
    raise RebuildError(f"the builder does not make a {kind[:40]}")


class _Container(nn.Module):
    """Children in registration order; forward as the skeleton's: a Sequential, a block or the model."""

    def __init__(self, role: str) -> None:
        super().__init__()
        self.role = role

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "block":  # the skeleton's ResidualBlock.forward
            shortcut = self._modules.get("downsize") or self._modules["make_equal_channel"]
            out, short = self._modules["layer"](x), shortcut(x)
            if out.shape != short.shape:
                fmt = lambda t: "×".join(map(str, t.shape[1:]))  # noqa: E731
                raise RuntimeError(f"layer(x) is {fmt(out)} and the shortcut is {fmt(short)}, which cannot be added")
            return out + short
        if self.role == "model":  # the skeleton's ResNet50_layer4.forward
            for name in STAGES:
                x = self._modules[name](x)
            return self._modules["fc"](x.view(x.size(0), -1))
        for child in self._modules.values():
            x = child(x)
        return x


def build(rows: list[dict[str, Any]], role: str) -> nn.Module:
    """Our modules for the tree `rows` (path, type, args), on the meta device."""
    below = tree.children(r["path"] for r in rows)  # one pass: a scan per row was O(n²) (issue 25)
    with torch.device("meta"):
        root = _Container(role)
        nodes: dict[str, nn.Module] = {"": root}
        for row in rows:
            path = row["path"]
            if not path:
                continue
            parent_path, _, name = path.rpartition(".")
            parent = nodes.get(parent_path)
            if parent is None or not name or name in parent._modules:
                raise RebuildError(f"the tree lists {path!r} before its container")
            names = below.get(path)
            if names:
                child: nn.Module = _Container("block" if "layer" in names and names & {"downsize", "make_equal_channel"}
                                              else "sequential")
            else:
                child = _leaf(row["type"], row.get("args") or {})
            parent.add_module(name, child)
            nodes[path] = child
    if role == "model" and not all(n in root._modules for n in (*STAGES, "fc")):
        raise RebuildError("the tree lacks one of the skeleton's stages")
    if role == "block" and not ("layer" in root._modules and root._modules.keys() & {"downsize", "make_equal_channel"}):
        raise RebuildError("the tree is not a bottleneck block")
    return root


@dataclass(frozen=True)
class Crash:
    stage: str  # the top-level stage (model) or "forward" (block) where it fails
    message: str
    rows: list[dict[str, Any]]  # {"stage", "shape"} of the stages before the crash


def find_crash(module: nn.Module, input_shape: list[int]) -> Crash | None:
    """Run the rebuilt model on the meta device; where it fails, or None when it runs."""
    rows: list[dict[str, Any]] = []
    x = torch.empty(input_shape, device="meta")
    stage = "forward"
    try:
        with torch.no_grad():
            if getattr(module, "role", "") == "model":
                for stage in STAGES:
                    x = module._modules[stage](x)
                    rows.append({"stage": stage, "shape": list(x.shape)})
                stage = "fc"
                x = x.view(x.size(0), -1)
                rows.append({"stage": "flatten", "shape": list(x.shape)})
                x = module._modules["fc"](x)
            else:
                module(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        return Crash(stage=stage, message=f"{type(exc).__name__}: {str(exc)[:300]}", rows=rows)
    return None
