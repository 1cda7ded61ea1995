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


def waiting(broker_url: str) -> int | None:
    """Jobs the broker holds in the queue, not yet handed to a worker; None if it can't say."""
    try:
        with client(broker_url).connection_for_write() as conn:
            return conn.default_channel.queue_declare(queue="grading", passive=True).message_count
    except Exception:  # a broker that is down or cannot count: the caller falls back to time alone
        return None
