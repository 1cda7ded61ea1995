"""The trusted checks run in a sandbox of their own (grader/trusted.py, grader/verify_main.py)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from grader import judge, trusted, verify
from grader.rubric import load_rubric, load_table
from grader.sandbox import Limits, parse_line
from tests.conftest import THREADS

TABLE = load_table()


@pytest.fixture(scope="module")
def ref() -> verify.Reference:
    return verify.reference(TABLE)


@pytest.fixture(scope="module")
def reference_file(ref: verify.Reference, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trusted.reference_file(TABLE, tmp_path_factory.mktemp("ref"))


def _own(ref: verify.Reference) -> dict:
    return {"model": {"data": ref.model.to_data()}, **{n: {"data": p.to_data()} for n, p in ref.blocks.items()}}


def _block_points(v: verify.Verdict, item_id: str) -> float:
    rubric = load_rubric()
    item = getattr(rubric, item_id)
    return judge.judge_block(item, item_id, *v.block, TABLE.probe_blocks[item.block].args, None).points


def test_verdicts_survive_the_channel(ref: verify.Reference) -> None:
    """A verdict sent as a JSON line and read back judges as the in-process one does."""
    here = verify.verdicts(_own(ref), ref, TABLE, seed=3)
    for name, verdict in here.items():
        line = json.dumps({"type": "verdict", **verify.verdict_message(name, verdict)}, allow_nan=False)
        back = verify.verdict_from_message(parse_line(line))
        assert back.problem is None and back.digest == verdict.digest and back.data == verdict.data
        if name == verify.MODEL:
            assert back.model == verdict.model and back.equivalence == verdict.equivalence and back.equivalence.ok
    for item_id in ("q1_downsample", "q1_no_downsample"):
        rubric_item = getattr(load_rubric(), item_id)
        name = rubric_item.block
        back = verify.verdict_from_message(parse_line(json.dumps(
            {"type": "verdict", **verify.verdict_message(name, here[name])})))
        assert _block_points(back, item_id) == _block_points(here[name], item_id) == rubric_item.points


def test_non_finite_outputs_cross_as_a_difference(ref: verify.Reference) -> None:
    """A block whose output is NaN (a negative BatchNorm eps) still crosses the finite-only
    channel, and the judge reads it as a different output."""
    data = copy.deepcopy(ref.blocks["downsample"].to_data())
    bn = next(n for n in data["nodes"] if n["op"] == "aten.batch_norm.default")
    bn["args"][7] = -10.0  # eps: the variance + eps goes negative, its square root NaN
    found = verify.verdicts({"downsample": {"data": data}, "model": {"problem": "not sent"},
                             "no_downsample": {"problem": "not sent"}}, ref, TABLE, seed=1)
    message = verify.verdict_message("downsample", found["downsample"])
    assert any(v == verify.FLOAT32_MAX or v == -verify.FLOAT32_MAX for v in message["block"]["found"]["output"])
    back = verify.verdict_from_message(parse_line(json.dumps({"type": "verdict", **message}, allow_nan=False)))
    assert _block_points(back, "q1_downsample") < load_rubric().q1_downsample.points


def test_checks_run_in_their_own_sandbox(ref: verify.Reference, reference_file: Path) -> None:
    out, outcome = trusted.check_programs(_own(ref), seed=5, reference=reference_file, limits=Limits(wall_seconds=120),
                                          threads=THREADS, allow_unsafe=False)
    assert outcome["status"] == "ok" and outcome["peak_memory_bytes"]
    assert {n: v.problem for n, v in out.items()} == {"model": None, "downsample": None, "no_downsample": None}
    assert out["model"].equivalence.ok and out["model"].digest == ref.model.digest()


def test_a_check_that_does_not_finish_refuses_every_program(ref: verify.Reference, reference_file: Path) -> None:
    out, outcome = trusted.check_programs(_own(ref), seed=5, reference=reference_file, limits=Limits(wall_seconds=0.2),
                                          threads=THREADS, allow_unsafe=False)
    assert outcome["status"] == "timeout"
    assert all(v.problem and "did not finish" in v.problem and v.model is None and v.block is None
               for v in out.values())


def test_nothing_to_check_starts_no_sandbox(reference_file: Path) -> None:
    sent = {"model": {"problem": "torch.export could not trace it (x)"}, "downsample": {"problem": "p"},
            "no_downsample": {"problem": "q"}}
    out, outcome = trusted.check_programs(sent, seed=5, reference=reference_file, limits=Limits(), threads=1,
                                          allow_unsafe=False)
    assert outcome["status"] == "not run" and out["model"].problem.startswith("torch.export")
