"""bench.similarity at 40 files: it runs, prints its JSON line, and finds every planted copy."""
from __future__ import annotations

import ast
import json

import pytest

from bench.similarity import main, make_class


def test_small_class_finds_every_planted_copy(capsys: pytest.CaptureFixture[str]) -> None:
    figures = main(["--n", "40"])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["bench"] == "similarity" and line["files"] == 40
    assert figures["planted_total"] >= 3 and figures["planted_found"] == figures["planted_total"]
    assert figures["false_flags"] <= 1


def test_generated_files_are_python_and_copies_are_disguised() -> None:
    cls = make_class(40)
    files = cls.files
    assert len(files) == 40 and len(set(files.values())) == 40
    for source in files.values():
        ast.parse(source)
    for original, copy in cls.planted:
        assert files[original] != files[copy]
