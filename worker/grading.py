"""One grade job: claim the submission, run the engine, store the report. No Celery here."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from functools import lru_cache
from typing import Any

from grader.engine import GradeConfig, grade_bytes
from service.settings import ServiceSettings as Settings
from storage import service
from storage.db import session_scope
from storage.files import FileStore
from worker.host import file_sha256


@lru_cache(maxsize=4)
def _config(settings_json: str, structure_only: bool) -> GradeConfig:
    """Structure-only when the submission asked for it, else the worker's settings decide."""
    return Settings.model_validate_json(settings_json).grade_config(skip_training=True if structure_only else None)


def config_key(config: GradeConfig) -> str:
    """Same key ⇒ same grade: rubric, table, checkpoint bytes, mode and training settings.

    The checkpoint counts by its sha256, not its path, so hosts that keep the same file in
    different places reuse each other's reports.
    """
    ckpt = config.checkpoint
    parts = [config.rubric.model_dump_json(), config.table.model_dump_json(), config.skip_training,
             file_sha256(ckpt) if ckpt and ckpt.is_file() else None,
             repr(config.train), str(config.data_dir), config.seed]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


class _Heartbeat:
    """Keeps the claim alive during long silent phases; progress events refresh it too."""

    def __init__(self, db_url: str, submission_id: str, worker: str, every_s: float) -> None:
        self._stop = threading.Event()
        self._args = (db_url, submission_id, worker)
        self._every = every_s
        self._last = 0.0
        self._lock = threading.Lock()
        self.progress: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def event(self, event: dict[str, Any]) -> None:
        self.progress = event
        if time.monotonic() - self._last > 0.5 or event.get("event") != "progress":
            self.beat()

    def beat(self) -> None:
        with self._lock:
            self._last = time.monotonic()
            db_url, sid, worker = self._args
            with session_scope(db_url) as s:
                service.heartbeat(s, sid, worker, self.progress)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.beat()


def run_grade(settings: Settings, submission_id: str, worker: str) -> str:
    """Grade one submission by id; returns what happened (for the task's log)."""
    db = settings.resolved_database_url()
    with session_scope(db) as s:
        sub = service.claim(s, submission_id, worker, settings.heartbeat_timeout_s)
        if sub is None:
            return "skipped: finished or held by a live worker"
        sha256, filename, student_id, skip, regrade = sub.sha256, sub.filename, sub.student_id, sub.skip_training, sub.regrade
        content = sub.content  # in the database: a worker on another host needs no shared folder
    config = _config(settings.model_dump_json(), skip)
    key = config_key(config)
    if not regrade:
        with session_scope(db) as s:
            earlier = service.reusable_report(s, sha256, key, submission_id)
            if earlier is not None:
                report = json.loads(earlier.report_json)
                report["submission"]["student_id"] = student_id
                report["submission"]["filename"] = filename
                service.finish(s, submission_id, worker, status=earlier.status, report_json=json.dumps(report),
                               score=earlier.score, max_score=earlier.max_score, accuracy=earlier.accuracy,
                               config_key=key)
                return f"reused the report of {earlier.id}"
    data = content if content is not None else FileStore(settings.var_dir / "files").get(sha256)  # rows from before 0002
    with _Heartbeat(db, submission_id, worker, every_s=max(1.0, settings.heartbeat_timeout_s / 4)) as hb:
        def on_event(event: dict[str, Any]) -> None:
            if event.get("event") == "structure":
                with session_scope(db) as s2:
                    service.store_structure(s2, submission_id=submission_id, worker=worker,
                                            structure_json=json.dumps(event["report"]))
            hb.event({k: v for k, v in event.items() if k != "report"})

        try:
            report = grade_bytes(data, filename=filename, config=config, student_id=student_id, on_event=on_event)
        except Exception as exc:  # our fault, not the student's: keep it visible, never lose the job
            with session_scope(db) as s:
                service.finish(s, submission_id, worker, status="failed", report_json=None,
                               failure=f"{type(exc).__name__}: {exc}"[:2000])
            raise
    status = "rejected" if report.status == "rejected" else "graded"
    with session_scope(db) as s:
        stored = service.finish(s, submission_id, worker, status=status, report_json=report.model_dump_json(),
                                score=report.score, max_score=report.max_score, accuracy=report.accuracy,
                                config_key=key)
    return f"{status}: {report.score:g}/{report.max_score:g}" + ("" if stored else " (another worker stored it first)")


def recover(settings: Settings) -> list[str]:
    """Send again every job that is queued and unsent, lost by the broker, or whose worker went silent.

    An old send counts as lost only while the broker's queue is empty: a long queue at the
    deadline is waiting, not lost, and re-sending it would only double the work.
    """
    from storage.queue import enqueue, waiting

    db = settings.resolved_database_url()
    lost_possible = waiting(settings.resolved_broker_url()) in (0, None)
    with session_scope(db) as s:
        ids = service.stuck(s, heartbeat_timeout_s=settings.heartbeat_timeout_s,
                            resend_after_s=settings.resend_after_s if lost_possible else None)
    for sid in ids:
        enqueue(settings.resolved_broker_url(), sid)
    with session_scope(db) as s:
        service.mark_sent(s, ids)
    return ids
