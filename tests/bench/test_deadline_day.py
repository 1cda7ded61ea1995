"""bench.deadline_day: its plan and its own gradebook (fast), and a scaled-down day through the
real service (20 students, structure only, with the worker kill and the Redis restart)."""
from __future__ import annotations

import shutil

import pytest

from bench.deadline_day import (GUARD_S, MAX_SCORE, Expected, File, Plan, Sent, compare, expected_gradebook,
                                make_plan, run, unexplained_supersedes)

CSV_HEAD = "student_id,status,final_score,late_penalty,max_score,submission_id,overridden\n"


def test_the_plan_crowds_uploads_towards_the_deadline_with_every_kind_of_student() -> None:
    plan = make_plan(200, 600.0, 40.0, seed=1)
    on_time = [p for ps in plan.uploads.values() for p in ps if p.at < 0]
    assert all(p.at <= -GUARD_S for p in on_time)
    assert sum(1 for p in on_time if p.at > -0.3 * 600) > 0.5 * len(on_time)  # most in the last 30 %
    assert sum(len(ps) > 1 for ps in plan.uploads.values()) > 100  # resubmissions
    kinds = {p.file.kind for ps in plan.uploads.values() for p in ps}
    assert {"reference", "sleeper", "crasher", "stride_on_3x3"} <= kinds
    assert sum(not ps for ps in plan.uploads.values()) == 20  # missing
    assert any(all(p.at > 0 for p in ps) for ps in plan.uploads.values() if ps)  # late only
    assert plan.uploads[plan.after_cutoff][-1].at > 40.0 and not plan.uploads[plan.batch_good]
    assert make_plan(200, 600.0, 40.0, seed=1).uploads == plan.uploads  # deterministic


def _plan(*students: str) -> Plan:
    return Plan(list(students), {s: [] for s in students}, extension="", after_cutoff="", batch_good="",
                batch_bad="", check_only="")


def test_the_bench_gradebook_follows_the_record_rules() -> None:
    ref, wrong, crash = File("reference", b""), File("stride_on_3x3", b""), File("crasher", b"")
    deadline = 1000.0
    log = [Sent("a", ref, 900, True, True, "a1", "student"), Sent("a", crash, 950, True, True, "a2", "student"),
           Sent("b", ref, 900, True, True, "b1", "student"), Sent("b", wrong, 1010, False, True, "b2", "student"),
           Sent("c", wrong, 1010, False, True, "c1", "student"),
           Sent("d", ref, 900, True, False, "d1", "batch"),  # a check only
           Sent("e", ref, 900, True, True, "e1", "student"), Sent("e", crash, 950, True, True, "e2", "student")]
    log[-2].superseded = True  # never graded: the crasher came while it was queued
    book = expected_gradebook(_plan("a", "b", "c", "d", "e"), log, {"a1": ("q1_downsample", 15.0)},
                              {"q1_downsample": 20.0}, deadline)
    assert book["a"] == Expected("graded", "a1", MAX_SCORE - 5, 0.0, "q1_downsample")  # the crasher does not replace it
    assert book["b"].submission_id == "b1" and book["b"].final_score == MAX_SCORE  # late not counted
    assert book["c"] == Expected("graded", "c1", 95 - 10.5, 10.5, "")  # late only: one started hour, 10 %
    assert book["d"].status == "missing" and book["e"] == Expected("rejected", "e2", 0.0, 0.0, "")
    assert unexplained_supersedes(log) == []
    log[0].superseded = True  # a's first upload: a newer one exists
    log[2].superseded = False
    log[3].superseded = True  # b's late one is her newest: nothing could supersede it
    assert unexplained_supersedes(log) == ["b: b2 superseded with no newer upload"]


def test_compare_names_each_difference() -> None:
    want = {"a": Expected("graded", "a1", 100.0, 0.0, ""), "m": Expected("missing", "", 0.0, 0.0, "")}
    good = CSV_HEAD + "a,graded,100,0,105,a1,\nm,missing,0,0,105,,\n"
    assert compare(want, good) == []
    bad = CSV_HEAD + "a,rejected,0,0,105,a2,\n"
    problems = compare(want, bad)
    assert "m: not in the service's gradebook" in problems
    assert any(p.startswith("a: status") for p in problems) and any(p.startswith("a: final_score") for p in problems)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (the bench starts its own)")
def test_a_scaled_down_deadline_day_has_no_mismatch() -> None:
    # 60 s of uploads and 24 s to the cutoff: the day's ~28 uploads, the worker kill (at -21 s) and
    # the Redis restart (at -12 s) all fit; longer windows only wait (the worker idles between uploads).
    result = run(20, window=60.0, late_window=24.0, seed=1, drain_timeout=900.0)
    print({k: v for k, v in result.items() if k != "mismatches"})  # the figures, with -s
    assert result["mismatches"] == []
    assert result["uploads"] > 25 and result["refused"] == 1  # the upload after the cutoff
    assert result["verdicts_in_rush"] > 5 and "worker_killed_at" in result and "redis_restarted_at" in result
