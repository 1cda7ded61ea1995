"""What a student reads (issue 26, item 9), from the real functions and templates: the time left in
seconds near the deadline, file sizes that do not contradict the limit, no environment variable names,
a result page that refreshes without JavaScript and never shows a queue position beside "running"."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from api.routes.pages import templates
from service.scoring import scale
from api.uploads import UploadError, check_source
from service.settings import ServiceSettings
from storage.course import time_left
from storage.models import Assignment
from tests.api.test_pages_render import MEASURED, _render, _view

DEADLINE = dt.datetime(2026, 12, 4, 18, 0, 0)


@pytest.mark.parametrize("before, words", [(20, "20 s left"), (65, "1 min 5 s left"), (599, "9 min 59 s left"),
                                           (600, "10 min left"), (7260, "2 h 1 min left"), (0, "the deadline has passed")])
def test_the_time_left_counts_seconds_in_the_last_minutes(before: int, words: str) -> None:
    a = Assignment(name="a", deadline=DEADLINE, timezone="UTC")
    assert time_left(a, extension=None, at=DEADLINE - dt.timedelta(seconds=before)) == words


def test_a_file_over_the_limit_reads_larger_than_the_limit() -> None:
    limit = 256 * 1024
    with pytest.raises(UploadError) as too_big:  # 296 KiB, of which only limit + 1 bytes were read
        check_source(b"#" * (limit + 1), "resnet50_skeleton.py", limit, size=296 * 1024)
    assert "is 296 KiB; the limit is 256 KiB" in str(too_big.value)
    with pytest.raises(UploadError) as just_over:  # a few bytes over: never "256 KiB; the limit is 256 KiB"
        check_source(b"#" * (limit + 1), "resnet50_skeleton.py", limit, size=limit + 100)
    assert "is 256.1 KiB; the limit is 256 KiB" in str(just_over.value)
    with pytest.raises(UploadError) as unknown:
        check_source(b"#" * (limit + 1), "resnet50_skeleton.py", limit)
    assert "larger than 256 KiB" in str(unknown.value)


@pytest.mark.parametrize("case", ["skip training", "no data", "missing folder"])
def test_students_never_read_a_variable_name(tmp_path: Path, case: str) -> None:
    settings = ServiceSettings(var_dir=tmp_path, database_url=None, broker_url=None, access_code=None,
                               data_dir=None if case == "no data" else tmp_path / "nope",
                               skip_training=case == "skip training")
    s = scale(settings)
    done = _view("a1", "graded", 105, 105)
    done.report = {"score": 105, "max_score": 105, "accuracy": None, "items": [], "checks": {}}
    for html in (_render(done, [done], s, final=True),
                 templates.get_template("index.html").render(
                     request=None, csrf_token=lambda _r: "t", scale=s, mode="self_check", student=None,
                     needs_code=False, assignment="resnet50", deadline=None, time_left="", policy="",
                     extended=False, history=[], audit=[])):
        notice = re.search(r'id="no-accuracy">(.*?)</p>', html, re.S).group(1)
        assert "Accuracy is not measured on this server" in notice
        assert "AUTOGRADER_" not in html and str(tmp_path) not in html
    assert "AUTOGRADER_" in s.setting  # the operator still learns which setting


def test_a_running_grade_shows_no_queue_position_and_no_empty_bar() -> None:
    running = _view("a2", "running", None, None)
    html = templates.get_template("result.html").render(
        s=running, report=None, final=False, history=[running], scale=MEASURED, released=True, sub_audit=[],
        queue_position=1, queue_wait="under a minute")
    assert "Position 1 in the queue" not in html and 'id="queue"' not in html
    assert re.search(r'<progress id="bar" max="1">', html)  # indeterminate, not value="0"
    assert '<noscript><meta http-equiv="refresh" content="10"></noscript>' in html.split("</head>")[0]
    queued = _view("a3", "queued", None, None)
    html = templates.get_template("result.html").render(
        s=queued, report=None, final=False, history=[queued], scale=MEASURED, released=True, sub_audit=[],
        queue_position=1, queue_wait="under a minute")
    assert "Position 1 in the queue" in html


def test_a_final_result_does_not_refresh() -> None:
    done = _view("a4", "graded", 105, 105)
    done.report = {"score": 105, "max_score": 105, "accuracy": None, "items": [], "checks": {}}
    assert 'http-equiv="refresh"' not in _render(done, [done], MEASURED, final=True)
