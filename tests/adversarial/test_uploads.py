"""Files that are not Python source are refused before any sandbox or worker sees them."""
from __future__ import annotations

import sqlite3

import pytest

from grader.engine import GradeConfig
from grader.rubric import SOLUTION
from tests.adversarial.conftest import attack, grade, upload
from tests.api.conftest import Service

TEN_MB = SOLUTION.read_bytes() + b"#" * (10 << 20)


@pytest.mark.parametrize("data, words", [
    (attack("not_utf8"), "UTF-8"), (attack("empty"), "empty"), (TEN_MB, "KiB"),
])
def test_engine_refuses_before_the_sandbox(config: GradeConfig, data: bytes, words: str) -> None:
    report = grade(data, config)
    assert report.status == "rejected" and report.error.kind == "invalid_file"
    assert words in report.error.message
    assert report.sandbox == {}  # no sandbox was started


def test_service_refuses_before_a_worker(service: Service, client) -> None:
    database = service.var_dir / "autograder.sqlite"
    with sqlite3.connect(database) as db:
        rows = db.execute("select count(*) from submissions").fetchone()[0]
    for data, status, words in ((attack("not_utf8"), 422, "UTF-8"), (attack("empty"), 422, "empty"),
                                (TEN_MB, 413, "KiB")):
        response = upload(client, "bad-file", data)
        assert response.status_code == status and words in response.json()["detail"]
    with sqlite3.connect(database) as db:
        assert db.execute("select count(*) from submissions").fetchone()[0] == rows
