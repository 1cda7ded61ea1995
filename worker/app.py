"""The Celery app: transport only. Logic lives in worker/grading.py.

Run: celery -A worker.app worker -Q grading --concurrency 1
"""
from __future__ import annotations

import threading

from celery import Celery
from celery.signals import worker_init, worker_ready
from celery.utils.log import get_task_logger

from grader.gpu import cuda_problem
from service import lti_services
from service.settings import ServiceSettings as Settings
from worker import grading, papers
from worker.host import host_problems

settings = Settings()
app = Celery("autograder", broker=settings.resolved_broker_url())
app.conf.update(
    task_default_queue="grading",
    task_acks_late=True,  # a job is acknowledged after the grade, so a dead worker's job is redelivered
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,  # one long job at a time per process
    task_ignore_result=True,  # results live in the database
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
if settings.resolved_broker_url().startswith(("redis://", "rediss://")):
    # Redis hands an unacknowledged job to another worker after this long: longer than a grade.
    app.conf.broker_transport_options = {"visibility_timeout": int(settings.train_timeout_s + 600)}
log = get_task_logger(__name__)


@app.task(name="autograder.grade", bind=True)
def grade(self, submission_id: str) -> str:  # noqa: ANN001 - Celery's bound task
    outcome = grading.run_grade(settings, submission_id, worker=f"{self.request.hostname}")
    log.info("%s: %s", submission_id, outcome)
    return outcome


def _recovery_loop(stop: threading.Event) -> None:
    while not stop.wait(settings.recovery_interval_s):
        try:
            ids = grading.recover(settings)
            if ids:
                log.warning("re-sent %d stuck submissions: %s", len(ids), ", ".join(ids[:10]))
        except Exception:  # the loop must outlive a database or broker hiccup
            log.exception("recovery pass failed")
        if not settings.lti_key_here():  # LTI unused, or this host lacks the tool's key (AUTOGRADER_LTI_PRIVATE_KEY)
            continue
        try:  # LMS grade passback: grades whose release came, and retries of those the LMS refused
            out = lti_services.passback_pass(settings)
            if out.sent or out.failed:
                log.info("LMS grades: %d posted, %d to retry", out.sent, out.failed)
        except Exception:
            log.exception("LMS grade passback pass failed")


@worker_init.connect
def _refuse_an_unusable_device(**_: object) -> None:
    """A worker for CUDA on a host without a usable GPU would fail every job: it does not start.
    (SystemExit, not an exception: Celery logs and ignores exceptions from signal handlers.)"""
    problem = cuda_problem(settings.device)
    if problem:
        raise SystemExit(f"this worker cannot grade, so it does not start: {problem}.")


@worker_init.connect
def _refuse_other_files_than_the_course(**_: object) -> None:
    """A host whose checkpoint or data differ from the course's pinned sha256 does not start."""
    problems = host_problems(settings)
    if problems:
        raise SystemExit("this worker's files differ from the course's, so it does not start: " + "; ".join(problems))


@worker_ready.connect
def _start_recovery(sender: object = None, **_: object) -> None:
    threading.Thread(target=_recovery_loop, args=(threading.Event(),), daemon=True).start()
    # Report PDFs are checked beside the grades, in seconds (worker/papers.py says why not a task).
    name = f"{getattr(sender, 'hostname', None) or 'worker'}/papers"
    threading.Thread(target=papers.run_loop, args=(settings, name, threading.Event()), daemon=True).start()
