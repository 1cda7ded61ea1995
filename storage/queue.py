"""Sending grade jobs by task name: the API and the recovery loop share it, neither imports the worker."""
from __future__ import annotations

from functools import lru_cache

from celery import Celery

GRADE_TASK = "autograder.grade"


@lru_cache(maxsize=4)
def client(broker_url: str) -> Celery:
    app = Celery("autograder-client", broker=broker_url)
    app.conf.update(task_default_queue="grading", broker_connection_retry_on_startup=True)
    return app


def enqueue(broker_url: str, submission_id: str) -> None:
    client(broker_url).send_task(GRADE_TASK, args=[submission_id], queue="grading")
