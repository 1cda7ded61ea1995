# where: bottom
# The model sent as a program that computes the reference's function plus dead convolutions
# that are as expensive as the checker's size caps allow (~130 G multiply-adds for one
# equivalence run): made to stall the trusted check, which then must not stall the grader.
import sys as _sys

_main = _sys.modules.get("__main__")
if _main is not None and hasattr(_main, "send_program"):
    import program as _program

    _send_program = _main.send_program

    def _slow(channel, name, module, example):
        if name != "model":
            return _send_program(channel, name, module, example)
        data = _program.to_data(module, example)
        shapes = {i["name"]: i.get("shape") for i in data["inputs"]}
        conv = next(n for n in reversed(data["nodes"]) if n["op"] == "aten.conv2d.default"
                    and shapes.get(n["args"][1]["ref"]) == [256, 256, 3, 3])
        x, w, b = conv["args"][:3]
        at = data["nodes"].index(conv) + 1
        extra = [{"name": "slow_0", "op": "aten.conv2d.default", "args": [x, w, b, [1, 1], [40, 40]],
                  "kwargs": {}, "stack": []}]
        for i in range(1, 4):
            extra.append({"name": f"slow_{i}", "op": "aten.conv2d.default",
                          "args": [{"ref": f"slow_{i - 1}"}, w, b, [1, 1], [1, 1]], "kwargs": {}, "stack": []})
        data["nodes"][at:at] = extra
        channel.send("program", name=name, data=data, error=None)

    _main.send_program = _slow
