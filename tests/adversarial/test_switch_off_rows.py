"""The switch-off table stays true to the code: each row's defence is found exactly once, so
`switch_off.py` switches off what it names (a row that no longer applies would stop that run)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

SWITCH_OFF = Path(__file__).resolve().parent / "switch_off.py"


def test_every_row_finds_its_defence_once() -> None:
    spec = importlib.util.spec_from_file_location("switch_off", SWITCH_OFF)
    table = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(table)  # type: ignore[union-attr]
    assert len(table.SWITCHES) >= 99
    assert table.applies() == []
