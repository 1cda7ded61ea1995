"""What a TA reads on the dashboard (issue 26, item 12), through the real app in-process: the
"missing" card leads to the missing students, the queue line never says "empty in empty" nor
"0 worker(s)" beside a running grade, an empty histogram's axis repeats no tick, the detail page
of a grade in progress reloads itself, and the similarity page says when its common-code filter starts."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlalchemy import update

from api.charts import histogram_svg
from api.class_stats import class_stats, histogram
from api.ta_context import eta_text
from storage.db import session_scope
from storage.models import Submission
from storage.service import claim
from tests.api.test_ta_roster_page import _app

TICK = re.compile(r'class="tick"[^>]*>([^<]+)<')


def _seed_running(c, tmp_path: Path) -> str:  # noqa: ANN001
    """B2 uploads; a worker took it 20 minutes ago and its heartbeat is that old too."""
    import hashlib

    from grader.rubric import SOLUTION
    from storage import course
    from storage.service import record_submission

    db = c.app.state.settings.resolved_database_url()
    data = SOLUTION.read_bytes()
    with session_scope(db) as s:
        a = course.default_assignment(s, name=None)
        sid = record_submission(s, student_id="B2", filename="resnet50_skeleton.py", data=data,
                                sha256=hashlib.sha256(data).hexdigest(), skip_training=True, assignment_id=a.id,
                                student_pk=course.get_student(s, student_id="B2").id).id
        claim(s, sid, "w0@host", 60.0)
        old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
        s.execute(update(Submission).where(Submission.id == sid).values(heartbeat_at=old))
        s.commit()
    return sid


def test_missing_card_queue_line_detail_refresh_and_similarity_words(tmp_path: Path) -> None:
    c, _ = _app(tmp_path, public_url="https://grader.example.edu")
    overview = c.get("/ta").text
    missing = re.search(r'<div class="card" id="count-missing">.*?</div>', overview, re.S).group(0)
    href = re.search(r'href="([^"]+)"', missing).group(1).replace("&amp;", "&")
    assert href.startswith("/ta/roster?missing=1")
    listed = c.get(href).text
    assert 'id="student-B2"' in listed and 'id="student-A1"' not in listed and "1 student with nothing submitted" in listed
    summary = re.search(r'<p id="queue-summary">(.*?)</p>', overview).group(1)
    assert "the queue is empty" in summary and "empty in" not in summary

    sid = _seed_running(c, tmp_path)
    overview = c.get("/ta").text
    summary = re.search(r'<p id="queue-summary">(.*?)</p>', overview).group(1)
    assert "1 running" in summary and "0 worker(s)" not in summary and "1 worker(s)" in summary, summary
    assert eta_text(0.0) == eta_text(59) == "under a minute" and eta_text(600) == "about 10 min"  # never "empty in 0 s"

    detail = c.get(f"/ta/s/{sid}", params={"done": "regrade"}).text
    assert '<meta http-equiv="refresh" content="5">' in detail and "reloads every 5 s" in detail
    a1 = re.search(r'href="/ta/s/([^"]+)">rejected', c.get("/ta/roster").text).group(1)
    assert 'http-equiv="refresh"' not in c.get(f"/ta/s/{a1}").text  # a final grade does not reload

    similarity = c.get("/ta/similarity").text
    assert re.search(r'id="common-filter">\(that filter starts at 10 submissions: \d so far', similarity), similarity[:3000]
    c.__exit__(None, None, None)


def test_an_empty_histogram_repeats_no_tick() -> None:
    stats = class_stats([], {}, [], max_score=105.0)
    assert stats.score_bins[-1].high == 105.0  # the axis runs to the assignment's maximum
    svg = histogram_svg(stats.score_bins, title="t", x_label="x", tick=lambda v: f"{v:.0f}")
    ticks = TICK.findall(svg)
    assert ticks[0] == "0" and ticks[-1] == "105" and len(ticks) == len(set(ticks))
    # Even bins narrower than a tick's rounding read each label once.
    ticks = TICK.findall(histogram_svg(histogram([], low=0.0, high=1.0, bins=10), title="t", x_label="x",
                                       tick=lambda v: f"{v:.0f}"))
    assert ticks == ["0", "1"], ticks
