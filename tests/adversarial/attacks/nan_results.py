# where: top
# Well-formed messages whose numbers are all NaN, through the child's own channel: its send is
# replaced so that json writes NaN (the channel's allow_nan=False would refuse). The first is the
# import's time; block outputs and logits would follow (NaN compares False with any tolerance).
import json as _json
import math as _math
import sys as _sys

_main = _sys.modules.get("__main__")
if _main is not None and hasattr(_main, "Channel"):
    def _nan(value):
        if isinstance(value, float):
            return _math.nan
        if isinstance(value, (list, tuple)):
            return [_nan(v) for v in value]
        if isinstance(value, dict):
            return {k: _nan(v) for k, v in value.items()}
        return value

    def _send(self, kind, **data):
        self._file.write(_json.dumps({"type": kind, **_nan(data)}) + "\n")
        self._file.flush()

    _main.Channel.send = _send
