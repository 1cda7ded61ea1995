"""The student's live pages in headless Chromium (issue 26, item 9), against real uvicorn and SQLite:
the time left counts down every second near the deadline, a result page without JavaScript reloads
itself while queued, and once a grader takes the upload the page drops the queue position."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from pathlib import Path
from typing import Iterator

import pytest

from grader.rubric import SOLUTION
from tests.api.conftest import Service, make_service
from tests.api.test_page_chromium import CHROMIUM, FLAGS


@pytest.fixture
def queued(tmp_path: Path, test_checkpoint: Path) -> Iterator[tuple[Service, str, str, str]]:
    from storage import course
    from storage.db import session_scope
    from storage.service import record_submission

    svc = make_service(tmp_path, test_checkpoint, broker="sqlite")
    db = f"sqlite:///{svc.var_dir / 'autograder.sqlite'}"
    svc.start_api()  # makes the tables
    data = SOLUTION.read_bytes()
    with session_scope(db) as s:
        link = course.import_roster(s, rows=[{"student_id": "A1", "name": "Ann", "email": "a@x.edu"}])[0]
        a = course.default_assignment(s, name=None)
        course.configure_assignment(s, name=a.name, timezone="Asia/Seoul",
                                    deadline=(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=45)).isoformat())
        sid = record_submission(s, student_id="A1", filename="resnet50_skeleton.py", data=data,
                                sha256=hashlib.sha256(data).hexdigest(), skip_training=True, assignment_id=a.id,
                                student_pk=course.get_student(s, student_id="A1").id).id
        s.commit()
    try:
        yield svc, f"/signin/{link.token}", sid, db
    finally:
        svc.stop()


def test_countdown_no_js_refresh_and_running_state(queued, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from storage.db import session_scope
    from storage.service import claim

    svc, link, sid, db = queued
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # The countdown: seconds, every second, 45 s before the deadline.
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        page.goto(svc.url + link)
        first = page.locator("#time-left").inner_text()
        time.sleep(2.1)
        second = page.locator("#time-left").inner_text()
        page.screenshot(path=str(tmp_path / "countdown-390px.png"), full_page=True)

        # Without JavaScript the queued result page reloads itself.
        nojs = browser.new_context(java_script_enabled=False).new_page()
        nojs.goto(svc.url + link)
        nojs.goto(svc.url + f"/s/{sid}")
        loads = []
        nojs.on("load", lambda: loads.append(time.monotonic()))
        nojs.wait_for_event("load", timeout=20_000)

        # With JavaScript: a queue position while queued; a grader takes it: "running", no position, no empty bar.
        page.goto(svc.url + f"/s/{sid}")
        queue_before = page.locator("#queue").inner_text()
        js_loads = []
        page.on("load", lambda: js_loads.append(1))
        with session_scope(db) as s:
            claim(s, sid, "w0@test", 60.0)
        page.wait_for_function("document.getElementById('status-text').textContent === 'running'", timeout=20_000)
        queue_after = page.locator("#queue").count()
        bar_value = page.evaluate("document.getElementById('bar').getAttribute('value')")
        text = page.locator("#progress-text").inner_text()
        page.screenshot(path=str(tmp_path / "running-390px.png"), full_page=True)
        browser.close()
    assert re.fullmatch(r"\d+ s left", first) and re.fullmatch(r"\d+ s left", second), (first, second)
    assert int(second.split()[0]) < int(first.split()[0]), (first, second)  # it counts, by the second
    assert loads, "the page without JavaScript did not reload"
    assert "Position 1 in the queue" in queue_before
    assert queue_after == 0 and bar_value is None and "Waiting" not in text, (queue_after, bar_value, text)
    assert not js_loads  # the refresh is for pages without JavaScript only
