"""Sandbox entry point: import the student's file and run the probes the job asks for.

Runs as `python -s -B main.py PRIVATE FD [--warm-up | --warm-up=train]` inside bubblewrap and waits for the
grader's go before it reads PRIVATE/job.json (a sandbox can start before its job exists:
grader/prestart.py). Every finding is sent as one JSON line on FD as soon as it is known, so
a later timeout or crash keeps what came before.
Imports only the standard library, torch and its sibling modules.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from typing import Any

import torch
import torch.nn as nn

import probe
import program
from channel import Channel


def import_submission(path: str, name: str) -> tuple[Any, dict[str, Any] | None]:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except SyntaxError as exc:
        return None, {"kind": "syntax_error", **probe.student_traceback(exc, path)}
    except ModuleNotFoundError as exc:
        err = probe.student_traceback(exc, path)
        err["module"] = exc.name
        return None, {"kind": "import_error", **err}
    except SystemExit as exc:
        return None, {"kind": "crashed", **probe.student_traceback(exc, path),
                      "message": "" if exc.code is None else repr(exc.code)}
    except BaseException as exc:  # anything the student's top-level code raises
        return None, {"kind": "runtime_error", **probe.student_traceback(exc, path)}
    return module, None


def send_program(channel: Channel, name: str, module: Any, example: torch.Tensor,
                 fails: str | None = None) -> bool:
    """The model as data: the one output of this process that the grade rests on. False when
    it could not be exported (e.g. its forward fails; `fails`: known to, so not tried)."""
    if fails is not None:
        channel.send("program", name=name, data=None, error=fails[:1500])
        return False
    try:
        data = program.to_data(module, example)
    except BaseException as exc:  # export refuses the model (e.g. its forward fails)
        channel.send("program", name=name, data=None, error=f"{type(exc).__name__}: {str(exc)[:1500]}")
        return False
    channel.send("program", name=name, data=data, error=None)
    return True


MAX_PARTS = 96  # programs of parts per grade (the reference model has 33 modules with children)
MAX_PART_DEPTH = 4  # model → layer → block → its `layer` → a unit


def send_parts(channel: Channel, name: str, root: Any, example: torch.Tensor,
               inputs: dict[str, list[int]], sent: list[int]) -> None:
    """A module whose export failed (its forward crashes), as programs of its parts.

    Each child module is exported on its own, with the input it got in one run of `root` (hooks
    record it until the crash) or, for a part that run never reached, the input the grader's
    table gives for that path (`inputs`, one image's shape); a child that fails too is split
    again. The grader composes the parts with the skeleton's forward to find the crash itself:
    what it judges then comes from programs, not from a module tree this process reports.
    """
    seen: dict[str, list[int]] = {}

    def record(path: str, args: tuple[Any, ...]) -> None:
        if args and isinstance(args[0], torch.Tensor):
            seen.setdefault(path, list(args[0].shape[1:]))

    handles = [module.register_forward_pre_hook(lambda mod, args, path=path: record(path, args))
               for path, module in root.named_modules() if path]
    try:
        with torch.no_grad():
            root(example.clone())
    except BaseException:
        pass  # expected: the forward fails somewhere
    finally:
        for h in handles:
            h.remove()

    def visit(module: Any, path: str, own: list[int], depth: int) -> None:
        for index, (child_name, child) in enumerate(module.named_children()):
            sub = f"{path}.{child_name}" if path else child_name
            # Unreached and not in the table: a block's parts take the block's input, as the
            # skeleton's forward gives it; a Sequential's first child takes the Sequential's. (A
            # top-level module neither reached nor in the table is no part of the skeleton's forward.)
            shape = seen.get(sub) or inputs.get(sub) or (
                own if depth > 1 and (index == 0 or not isinstance(module, nn.Sequential)) else None)
            if shape is None or sent[0] >= MAX_PARTS:
                continue
            sent[0] += 1
            data = None
            # A part's program does not depend on the input's height and width (the grader
            # composes with its own shapes): where the part fails on its own input, a larger
            # map lets e.g. an unpadded 3×3 conv be exported and judged all the same. Each size
            # is tried eagerly first (~1 ms) before an export (a failing one costs ~0.2 s).
            child.eval()
            for size in _example_sizes(child, shape):
                x = torch.randn(2, *size)
                try:
                    with torch.no_grad():
                        child(x.clone())
                    data = program.to_data(child, x)
                    break
                except BaseException:
                    continue
            if data is not None:
                channel.send("program", name=f"{name}/{sub}", data=data, error=None)
            elif depth < MAX_PART_DEPTH:
                visit(child, sub, shape, depth + 1)

    visit(root, "", list(example.shape[1:]), 1)


def _example_sizes(module: Any, shape: list[int]) -> list[list[int]]:
    """Inputs to export a part with: its own, then (for a map) a 16×16 one, then one with the
    channels its first conv takes, or (for features) as many as its first Linear takes: a part
    the model feeds wrongly is still a program to judge."""
    sizes = [shape]
    if len(shape) == 3:
        sizes.append([shape[0], 16, 16])
        conv = next((m for m in module.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is not None:
            sizes.append([conv.in_channels, 16, 16])
    elif len(shape) == 1:
        linear = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
        if linear is not None:
            sizes.append([linear.in_features])
    return [s for i, s in enumerate(sizes) if s not in sizes[:i]]


def run_block(cls: type, config: dict[str, Any], tensors: dict[str, torch.Tensor],
              recorder: probe.CtorRecorder, fail: Any) -> dict[str, Any]:
    name = config["name"]
    result: dict[str, Any] = {"name": name, "error": None, "modules": None, "state_dict": None,
                              "shape": None, "shape_error": None, "output": None, "load_error": None,
                              "graph": None}
    try:
        block = cls(*config["args"])
    except BaseException as exc:
        result["error"] = fail(exc)
        return result
    result["modules"] = probe.describe_modules(block, cls, recorder)
    result["state_dict"] = probe.state_dict_shapes(block)
    x = tensors[f"{name}.input"]
    block.eval()
    try:
        with torch.no_grad():
            out = block(x.clone())
        result["shape"] = list(out.shape)
    except Exception as exc:
        result["shape_error"] = fail(exc)
        return result
    prefix = f"{name}.weights."
    weights = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        block.load_state_dict(weights, strict=True)
    except Exception as exc:
        result["load_error"] = str(exc)[:1000]
        return result
    try:
        out = block(x.clone())
        result["graph"] = probe.graph_signature(out)
        result["output"] = out.detach().flatten().tolist()
    except Exception as exc:
        result["shape_error"] = fail(exc)
    return result


PARTS = ("probes", "export")


def main(job: dict[str, Any], channel: Channel) -> int:
    """Structure probes: each finding is sent as soon as it is known.

    `job["parts"]` (default both): "probes" (the blocks, the model's tree, shapes, checkpoint)
    and "export" (the model as data). A worker runs them in two processes at once (the model's
    export is ~1.3 s of one core); each part imports the file itself.
    """
    parts = set(job.get("parts", PARTS))
    torch.set_num_threads(int(job.get("threads", 1)))
    torch.manual_seed(int(job.get("seed", 0)))
    inputs = job.get("inputs", {})
    path = job["submission"]
    fail = lambda exc: probe.student_traceback(exc, path)  # noqa: E731

    channel.send("ready")  # torch is loaded: the limit for the student's import starts now
    started = time.perf_counter()
    module, error = import_submission(path, job.get("module_name", "resnet50_skeleton"))
    channel.send("import", error=error, seconds=time.perf_counter() - started)
    if module is None:
        return 0

    names = {}
    for name in ("conv1x1", "conv3x3", "ResidualBlock", "ResNet50_layer4"):
        obj = getattr(module, name, None)
        names[name] = ("class" if isinstance(obj, type) and issubclass(obj, nn.Module)
                       else "callable" if callable(obj) else None)
    channel.send("definitions", names=names)

    tensors, checkpoint = load_expected(inputs)
    recorder = probe.CtorRecorder()
    block_cls = getattr(module, "ResidualBlock", None) if names["ResidualBlock"] == "class" else None
    if block_cls is not None and "probes" in parts:
        recorder.install(block_cls)
        crashed: dict[str, str] = {}
        for config in job.get("blocks", []):
            torch.manual_seed(int(job.get("seed", 0)))
            result = run_block(block_cls, config, tensors, recorder, fail)
            if result["shape_error"] is not None and result["shape"] is None:  # its forward fails
                crashed[config["name"]] = "its forward fails: " + result["shape_error"]["message"]
            channel.send("block", **result)
        for config in job.get("blocks", []):
            try:
                block = block_cls(*config["args"])
            except BaseException:
                continue  # already reported with the block's findings
            example = tensors[f"{config['name']}.input"]
            fails = {"fails": crashed[config["name"]]} if config["name"] in crashed else {}
            if not send_program(channel, config["name"], block, example, **fails):
                send_parts(channel, config["name"], block, example, {}, [0])

    if names["ResNet50_layer4"] != "class":
        return 0
    model_cls = module.ResNet50_layer4
    default_classes = None
    try:
        params = list(inspect_parameters(model_cls))
        default_classes = probe.jsonable(params[0][1]) if params else None
    except Exception:
        pass
    torch.manual_seed(int(job.get("seed", 0)))
    try:
        model = model_cls()
    except BaseException as exc:
        if "probes" in parts:
            channel.send("model", error=fail(exc), num_classes_default=default_classes)
        return 0
    model.eval()
    if "probes" in parts:
        channel.send("model", error=None, num_classes_default=default_classes,
                     modules=probe.describe_modules(model, block_cls, recorder),
                     state_dict=probe.state_dict_shapes(model),
                     parameters=sum(p.numel() for p in model.parameters()))
        channel.send("shapes", **probe.stage_shapes(model, tensors["shapes.input"], fail))
    forward_fails = None
    if "export" in parts:
        try:  # as the probes' shape pass does before the export: e.g. lazy modules take their sizes
            with torch.no_grad():
                model(tensors["shapes.input"].clone())
        except BaseException as exc:  # (the probes part reports it) no export to try: the parts
            forward_fails = f"its forward fails: {type(exc).__name__}: {str(exc)[:1000]}"
        example = tensors["equivalence.input"][:2]
        if not send_program(channel, "model", model, example, **({"fails": forward_fails} if forward_fails else {})):
            send_parts(channel, "model", model, example, job.get("part_inputs", {}), [0])

    if checkpoint and "probes" in parts:
        weights = torch.load(checkpoint, weights_only=True, map_location="cpu")
        try:
            model.load_state_dict(weights, strict=True)
        except Exception as exc:
            channel.send("checkpoint", loaded=False, error=str(exc)[:2000])
            return 0
        channel.send("checkpoint", loaded=True, error=None)
        model.eval()
        try:
            with torch.no_grad():
                logits = model(tensors["equivalence.input"])
            channel.send("equivalence", logits=logits.flatten().tolist(),
                         shape=list(logits.shape), error=None)
        except Exception as exc:
            channel.send("equivalence", logits=None, shape=None, error=fail(exc))
    return 0


def main_train(job: dict[str, Any], channel: Channel) -> int:
    """Fine-tune the student's own model (the self-reported path); send predictions, not accuracy.

    The test labels are not in this sandbox: accuracy is computed by the grader.
    """
    import train

    path = job["submission"]
    fail = lambda exc: probe.student_traceback(exc, path)  # noqa: E731
    cfg = train.TrainConfig(**job["train"])
    torch.set_num_threads(int(job.get("threads", 1)))
    module, error = import_submission(path, job.get("module_name", "resnet50_skeleton"))
    if module is None:
        channel.send("train", error=error)
        return 0
    train.set_determinism(cfg.seed, cfg.device)
    try:
        model = module.ResNet50_layer4()
    except BaseException as exc:
        channel.send("train", error=fail(exc))
        return 0
    return fine_tune_and_send(model, job["inputs"], cfg, channel, fail)


def main_program_train(job: dict[str, Any], channel: Channel) -> int:
    """Fine-tune a checked program (the trusted path): our code only, no student file here."""
    import train

    cfg = train.TrainConfig(**job["program_train"])
    torch.set_num_threads(int(job.get("threads", 1)))
    model = program.ProgramModule(program.parse(job["program"]))
    train.set_determinism(cfg.seed, cfg.device)
    model.load_state_dict(program.random_state(model, torch.Generator().manual_seed(cfg.seed)))
    fail = lambda exc: {"type": type(exc).__name__, "message": f"{type(exc).__name__}: {str(exc)[:1900]}",  # noqa: E731
                        "line": None, "traceback": []}
    return fine_tune_and_send(model, job["inputs"], cfg, channel, fail)


def fine_tune_and_send(model: Any, inputs: dict[str, str], cfg: Any, channel: Channel, fail: Any) -> int:
    """Load the checkpoint strictly, run the course's epoch, send the test predictions."""
    import train

    data = torch.load(inputs["train"], weights_only=True)
    test_images = torch.load(inputs["test_images"], weights_only=True)["images"]
    checkpoint_error = None
    if inputs.get("checkpoint"):
        weights = torch.load(inputs["checkpoint"], weights_only=True, map_location="cpu")
        try:
            model.load_state_dict(weights, strict=True)
        except Exception as exc:
            checkpoint_error = str(exc)[:2000]
    else:
        checkpoint_error = "no course checkpoint was configured"

    def progress(event: dict[str, Any]) -> None:
        channel.send("progress", **event)

    try:
        result = train.fine_tune(model, data["images"], data["labels"], cfg, on_progress=progress)
        predictions = [] if result["stopped_early"] else train.predict(model, test_images, cfg)
    except Exception as exc:
        channel.send("train", error=fail(exc), used_checkpoint=checkpoint_error is None,
                     checkpoint_error=checkpoint_error)
        return 0
    channel.send("train", error=None, used_checkpoint=checkpoint_error is None,
                 checkpoint_error=checkpoint_error, predictions=predictions, **result)
    return 0


def load_expected(inputs: dict[str, str]) -> tuple[dict[str, torch.Tensor], str | None]:
    """The grader's probe tensors; it writes them while this process starts, then READY."""
    folder = inputs.get("expected")
    if not folder:
        return {}, inputs.get("checkpoint")
    while not os.path.exists(os.path.join(folder, "READY")):
        if os.path.exists(os.path.join(folder, "FAILED")):
            raise SystemExit(0)
        time.sleep(0.01)
    tensors = torch.load(os.path.join(folder, "probe.pt"), weights_only=True)
    seeded = os.path.join(folder, "reference-seeded.pt")
    return tensors, inputs.get("checkpoint") or (seeded if os.path.exists(seeded) else None)


def inspect_parameters(cls: type) -> list[tuple[str, Any]]:
    """`__init__` parameters after self, with defaults: the num_classes blank."""
    import inspect

    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    sig = inspect.signature(init)
    return [(n, p.default if p.default is not inspect.Parameter.empty else None)
            for n, p in list(sig.parameters.items())[1:]]


def warm_up(job: str = "structure") -> None:
    """Before the job, the first use of what the job will use, on our own tiny model: one
    export for a structure job (torch.export's first use: about a second of imports and
    caches), one optimizer step for a fine-tune (Adam's constructor imports torch._dynamo:
    ~1.5 s, ~800 modules). That time is then not in the job's time (nor its limit). Nothing of
    the student exists yet; it changes no result (each job seeds torch itself)."""
    tiny = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    before = dict(os.environ)
    if job == "train":
        import train

        optimizer = torch.optim.Adam(tiny.parameters(), lr=train.TrainConfig().lr)
        tiny(torch.randn(2, 3, 8, 8)).sum().backward()
        optimizer.step()
    else:
        program.to_data(tiny, torch.randn(2, 3, 8, 8))
    os.environ.clear()  # torch's lazy imports set variables (TORCHINDUCTOR_CACHE_DIR): the
    os.environ.update(before)  # student's code sees the sandbox's environment, nothing more


def wait_for_job(private: str) -> dict[str, Any]:
    """Block until the grader says go (one line on stdin), then read the job it wrote."""
    sys.stdin.readline()
    with open(os.path.join(private, "job.json"), encoding="utf-8") as f:
        return json.load(f)


def run_job(job: dict[str, Any], fd: int) -> int:
    """One job on the message pipe `fd`: structure probes, or a fine-tune."""
    channel = Channel(fd)
    code = (main_program_train(job, channel) if "program_train" in job
            else main_train(job, channel) if "train" in job else main(job, channel))
    channel.send("done")
    return code


if __name__ == "__main__":
    if "--fork-server" in sys.argv[3:]:  # warm once, then one isolated fork per job (forkserver.py)
        import forkserver

        torch.set_num_threads(1)  # a fork can't use an OpenMP pool started here: each job sets its own
        warm_up()
        forkserver.serve(int(sys.argv[2]), run_job)
    if "--warm-up" in sys.argv[3:]:
        warm_up()
    elif "--warm-up=train" in sys.argv[3:]:  # a training sandbox: no export in its job
        warm_up("train")
    os.write(int(sys.argv[2]), b'{"type": "warm"}\n')  # before the job's Channel: one file object per fd
    code = run_job(wait_for_job(sys.argv[1]), int(sys.argv[2]))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: student atexit hooks and __del__ must not alter the outcome.
    os._exit(code)
