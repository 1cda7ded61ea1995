# where: top
# Well-formed block results under a thousand new names, ~60 KiB each: the grader must not keep them.
import sys as _sys

_main = _sys.modules.get("__main__")
if _main is not None and hasattr(_main, "Channel"):
    _channel = _main.Channel(int(_sys.argv[2]))
    _modules = [{"path": f"layer.{i}", "type": "Conv2d", "args": {"in_channels": i}} for i in range(900)]
    for _i in range(1000):
        _channel.send("block", name=f"flood{_i}", error=None, modules=_modules, state_dict=None, shape=None,
                      shape_error=None, output=None, load_error=None, graph=None)
