"""Checking report PDFs: a loop in each worker's main process, the database as the queue.

Not a Celery task: a worker grading a file for minutes (concurrency 1) would hold a report's
check behind it, and the student is promised format feedback in seconds. A check is a short
sandboxed parse (papers/), so the loop runs beside the grade. Claims are conditional UPDATEs
(storage/papers.py), so several workers share the reports without a broker; a check whose
worker died is taken again after `paper_stale_s`, and a report that kills its checker three
times is failed with words instead of looping.
"""
from __future__ import annotations

import base64
import logging
import threading

from papers.check import check_pdf
from service.settings import ServiceSettings as Settings
from storage import papers
from storage.db import session_scope

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


def check_next(settings: Settings, worker: str) -> str | None:
    """Check one waiting report; its id, or None when none waits."""
    db = settings.resolved_database_url()
    with session_scope(db) as s:
        paper = papers.claim_next(s, worker=worker, stale_after_s=settings.paper_stale_s)
        if paper is None:
            return None
        pid, data, attempts = paper.id, paper.content, paper.attempts
    if attempts > MAX_ATTEMPTS:
        with session_scope(db) as s:
            papers.give_up_after(s, paper_id=pid, attempts=MAX_ATTEMPTS)
        return pid
    try:
        verdict = check_pdf(data, allow_unsafe=settings.unsafe_no_sandbox)
    except Exception as exc:  # our fault, not the student's: the TA sees it, nothing is lost
        log.exception("report %s: the check failed", pid)
        with session_scope(db) as s:
            papers.finish_check(s, paper_id=pid, worker=worker, verdict_json=None, text=None, preview_png=None,
                                failure=f"{type(exc).__name__}: {exc}"[:2000])
        return pid
    previews = [base64.b64decode(p) for p in verdict.preview_png]  # base64 in the verdict; bytes in the row
    stored = verdict.model_copy(update={"text": "", "preview_png": []})
    with session_scope(db) as s:
        papers.finish_check(s, paper_id=pid, worker=worker, verdict_json=stored.model_dump_json(),
                            text=verdict.text or None, preview_png=previews[0] if previews else None)
    return pid


def run_loop(settings: Settings, worker: str, stop: threading.Event) -> None:
    """Check reports until `stop`: at once while some wait, else every `paper_poll_s`."""
    while not stop.is_set():
        try:
            busy = check_next(settings, worker) is not None
        except Exception:  # the loop must outlive a database hiccup
            log.exception("report check pass failed")
            busy = False
        if not busy:
            stop.wait(settings.paper_poll_s)
