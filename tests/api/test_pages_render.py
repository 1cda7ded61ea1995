"""The result page's score lines, rendered from the real templates: one maximum per assignment."""
from __future__ import annotations

import re

from api.routes.pages import templates
from service.scoring import Scale
from api.views import SubmissionView

MEASURED = Scale(structure_points=105, accuracy_points=10, why_no_accuracy=None)
NO_DATA = Scale(structure_points=105, accuracy_points=10, why_no_accuracy="this server has no CIFAR-10 data")


def _view(sid: str, status: str, score: float | None, max_score: float | None, **kw) -> SubmissionView:
    return SubmissionView(id=sid, student_id="s1", filename="resnet50_skeleton.py", sha256="0" * 64, status=status,
                          score=score, max_score=max_score, accuracy=None, created_at=f"2026-11-29 09:0{sid[-1]}:00 UTC",
                          batch_id=None, progress=None, url=f"/s/{sid}", self_check=True, **kw)


def _render(s: SubmissionView, history: list[SubmissionView], scale: Scale, final: bool) -> str:
    report = s.report or s.structure
    return templates.get_template("result.html").render(s=s, report=report, final=final, history=history,
                                                         scale=scale, released=True, sub_audit=[])


def test_history_is_out_of_one_maximum_whatever_each_grade_had() -> None:
    """An old structure-only grade (out of 105) and a full one (out of 115) in one history."""
    old, new = _view("a1", "graded", 105, 105), _view("a2", "graded", 112, 115)
    new.report = {"score": 112, "max_score": 115, "accuracy": 0.81, "items": [], "checks": {}}
    html = _render(new, [new, old], MEASURED, final=True)
    history = re.search(r'<table id="history"[^>]*>(.*?)</table>', html, re.S).group(1)
    assert re.findall(r"(\d+) / (\d+)", history) == [("112", "115"), ("105", "115")]
    assert "(structure only)" in history and "(this one)" in history
    old.report = {"score": 105, "max_score": 105, "accuracy": None, "items": [], "checks": {}}
    heading = re.search(r'<p class="score" id="score">(.*?)</p>', _render(old, [new, old], MEASURED, final=True), re.S)
    assert re.findall(r"(\d+) / (\d+)", heading.group(1)) == [("105", "115")]  # the old grade's own page too


def _render_index(history: list[SubmissionView], scale: Scale) -> str:
    return templates.get_template("index.html").render(
        request=None, csrf_token=lambda _request: "token", scale=scale, mode="self_check", student=None,
        needs_code=False, assignment="resnet50", deadline=None, time_left="", policy="", extended=False,
        history=history, audit=[])


def test_the_upload_page_history_is_out_of_one_maximum() -> None:
    old, new = _view("a1", "graded", 105, 105), _view("a2", "graded", 112, 115)
    history = re.search(r'<table id="history"[^>]*>(.*?)</table>', _render_index([new, old], MEASURED), re.S).group(1)
    assert re.findall(r"(\d+) / (\d+)", history) == [("112", "115"), ("105", "115")]
    assert 'id="no-accuracy"' not in _render_index([new, old], MEASURED)


def test_without_data_the_upload_page_says_accuracy_is_not_measured_and_why() -> None:
    html = _render_index([], NO_DATA)
    notice = re.search(r'<p class="notice" id="no-accuracy">(.*?)</p>', html, re.S)
    assert notice and "no CIFAR-10 data" in notice.group(1) and "out of 105" in notice.group(1)


def test_while_fine_tuning_the_heading_shows_points_so_far_and_pending_accuracy() -> None:
    running = _view("a3", "running", None, None)
    running.structure = {"score": 105, "max_score": 115, "items": [], "checks": {}}
    html = _render(running, [running], MEASURED, final=False)
    heading = re.sub(r"\s+", " ", re.search(r'<p class="score" id="score">(.*?)</p>', html, re.S).group(1))
    assert "105 of 105 structure points so far" in heading and "accuracy pending" in heading
    assert "/ 115" not in heading


def test_without_data_the_page_says_accuracy_is_not_measured_and_why() -> None:
    done = _view("a4", "graded", 105, 105)
    done.report = {"score": 105, "max_score": 105, "accuracy": None, "items": [], "checks": {}}
    html = _render(done, [done], NO_DATA, final=True)
    assert "105 / 105" in html and 'id="no-accuracy"' in html and "no CIFAR-10 data" in html


def test_self_reported_points_are_shown_apart() -> None:
    done = _view("a5", "graded", 40, 105)
    review = "Self-reported: torch.export could not trace it. These points count once a TA has reviewed them."
    done.report = {"score": 40, "provisional_score": 65, "max_score": 105, "accuracy": None, "checks": {},
                   "items": [{"title": "Q2: layer3", "points": 20, "max_points": 20, "passed": True, "skipped": False,
                              "feedback": [], "accepted_alternatives": [], "verified": False, "review": review}]}
    html = _render(done, [done], NO_DATA, final=True)
    assert 'id="provisional"' in html and "65 more points are self-reported" in html
    assert review in html
    verified = _view("a6", "graded", 105, 105)
    verified.report = {"score": 105, "max_score": 105, "accuracy": None, "checks": {}, "items": []}
    assert 'id="provisional"' not in _render(verified, [verified], NO_DATA, final=True)
