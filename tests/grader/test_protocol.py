"""The protocol's parser and messages refuse non-finite numbers (issue 12 item 7): fast, no sandbox."""
from __future__ import annotations

import json
import math

import pytest

from grader.protocol import PROGRESS, Collector
from grader.sandbox import MAX_MESSAGE_DEPTH, NonFiniteNumber, ProtocolError, TooDeep, nesting_depth, parse_line


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_parser_refuses_non_finite_numbers(token: str) -> None:
    line = f'{{"type": "equivalence", "logits": [0.5, {token}], "shape": [1, 2], "error": null}}\n'
    assert math.isnan(json.loads(line)["logits"][1]) or math.isinf(json.loads(line)["logits"][1])  # json's default
    with pytest.raises(NonFiniteNumber, match="non-finite number"):
        parse_line(line.encode())
    with pytest.raises(NonFiniteNumber):
        parse_line(f'{{"type": "import", "error": null, "seconds": {token}}}')


def test_parser_reads_finite_numbers_as_json_does() -> None:
    line = b'{"type": "equivalence", "logits": [0.5, -1e300, 2, 1.5e-320], "shape": [1, 4], "error": null}'
    assert parse_line(line) == json.loads(line)
    with pytest.raises(ValueError):
        parse_line(b"{not json}")


def test_parser_refuses_lines_nested_deeper_than_any_message_before_parsing() -> None:
    """Depth is counted without recursion, brackets inside strings not counted (issue 25)."""
    deep = '{"type": "program", "data": ' + '{"d": [' * 500 + "]}" * 500 + "}"
    with pytest.raises(TooDeep, match="nested deeper"):
        parse_line(deep)
    at_cap = "[" * MAX_MESSAGE_DEPTH + "]" * MAX_MESSAGE_DEPTH
    assert nesting_depth(at_cap.encode()) == MAX_MESSAGE_DEPTH and parse_line(at_cap)
    quoted = b'{"type": "x", "s": "' + b"[{" * 1000 + b'\\\\", "t": "\\"[["}'
    assert nesting_depth(quoted) == 1 and parse_line(quoted)["type"] == "x"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_messages_accept_finite_floats_only(value: float) -> None:
    """A NaN that reached a handler some other way is still a malformed message."""
    messages = [
        {"type": "import", "error": None, "seconds": value},
        {"type": "equivalence", "logits": [1.0, value], "shape": [2], "error": None},
        {"type": "train", "error": None, "loss_curve": [[1, value]]},
        {"type": "model", "error": None, "num_classes_default": value},
        {"type": "block", "name": "downsample", "error": None, "shape": None, "shape_error": None,
         "modules": [{"path": "0", "type": "Conv2d", "args": {"eps": [1.0, value]}}], "state_dict": None,
         "output": [0.0], "load_error": None},
        {"type": "block", "name": "downsample", "error": None, "shape": None, "shape_error": None,
         "modules": None, "state_dict": None, "output": [0.0, value], "load_error": None},
    ]
    for raw in messages:
        with pytest.raises(ProtocolError, match="malformed"):
            Collector(names=frozenset({"downsample"}))(raw)
        finite = json.loads(json.dumps(raw).replace("NaN", "0.5").replace("-Infinity", "0.5").replace("Infinity", "0.5"))
        Collector(names=frozenset({"downsample"}))(finite)  # the same message with finite numbers is fine
    with pytest.raises(ProtocolError, match="malformed 'progress'"):
        Collector(extra={"progress": PROGRESS})({"type": "progress", "step": 1, "steps": 2, "loss": value, "epoch": 0})
