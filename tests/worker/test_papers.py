"""A worker's report loop on a real SQLite database with the real sandboxed parser: a report
stored by the upload route is checked and its verdict stored; an unreadable one gets words;
the loop picks up reports by itself while it runs."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from service.settings import ServiceSettings
from storage import course, papers
from storage.db import session_scope
from storage.models import Paper, PaperStatus
from tests.papers.pdfs import malformed_pdf, report_pdf
from worker import papers as loop


@pytest.fixture
def settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(var_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                           skip_training=True, paper_poll_s=0.2)


def _stored(settings: ServiceSettings, data: bytes) -> str:
    with session_scope(settings.resolved_database_url()) as s:
        a = course.default_assignment(s)
        return papers.record_paper(s, student_id="s1", filename="report.pdf", data=data, student_pk=None,
                                   assignment_id=a.id).id


def test_a_report_is_checked_and_its_verdict_stored(settings: ServiceSettings) -> None:
    pid = _stored(settings, report_pdf())
    assert loop.check_next(settings, "w1") == pid
    with session_scope(settings.resolved_database_url()) as s:
        p = s.get(Paper, pid)
        verdict = json.loads(p.verdict_json)
        assert p.status == PaperStatus.checked and p.worker == "w1" and papers.readable(p)
        assert verdict["ok"] and verdict["text"] == "" and verdict["preview_png"] == []  # kept apart, not twice
        assert "81.18" in p.text and p.preview_png.startswith(b"\x89PNG\r\n\x1a\n")
        assert verdict["claims"][verdict["chosen_claim"]]["value"] == pytest.approx(81.18)
        assert {c["name"]: c["status"] for c in verdict["checks"]}["two columns"] == "pass"
        assert {c["name"] for c in verdict["checks"]} >= {"pages", "paper size", "English", "test accuracy"}
    assert loop.check_next(settings, "w1") is None  # nothing else waits


def test_an_unreadable_report_is_checked_with_words_not_failed(settings: ServiceSettings) -> None:
    pid = _stored(settings, malformed_pdf())
    loop.check_next(settings, "w1")
    with session_scope(settings.resolved_database_url()) as s:
        p = s.get(Paper, pid)
        assert p.status == PaperStatus.checked and not papers.readable(p)
        assert "PDF" in json.loads(p.verdict_json)["problem"]


def test_the_loop_checks_reports_as_they_arrive(settings: ServiceSettings) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=loop.run_loop, args=(settings, "w2", stop), daemon=True)
    thread.start()
    try:
        pid = _stored(settings, report_pdf())
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            with session_scope(settings.resolved_database_url()) as s:
                status = s.get(Paper, pid).status
            if status == PaperStatus.checked:
                break
            time.sleep(0.2)
        assert status == PaperStatus.checked
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_report_that_keeps_killing_its_checker_is_failed_not_retried_forever(settings: ServiceSettings) -> None:
    import datetime as dt

    pid = _stored(settings, report_pdf())
    with session_scope(settings.resolved_database_url()) as s:  # three checkers died on it
        p = s.get(Paper, pid)
        p.status, p.attempts, p.worker = PaperStatus.running, loop.MAX_ATTEMPTS, "dead"
        p.started_at = dt.datetime.utcnow() - dt.timedelta(hours=1)
        s.commit()
    assert loop.check_next(settings, "w3") == pid
    with session_scope(settings.resolved_database_url()) as s:
        p = s.get(Paper, pid)
        assert p.status == PaperStatus.failed and "stopped 3 times" in p.failure and p.verdict_json is None
