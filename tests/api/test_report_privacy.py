"""No report or page tells a student about other students' uploads (issue 25, item 6).

Reports graded before issue 25 are stored with `trust.fine_tune_shared_with` (how many earlier
grades had an identical program) and a feedback line with that count; what a student is shown
of them keeps only "reused the fine-tune of an identical model".
"""
from __future__ import annotations

import datetime as dt
import json

from api.views import submission_view
from grader.report import REUSED_FINE_TUNE, Item, Report, Submission as ReportSubmission, Trust
from storage.models import Status, Submission

OLD_NOTE = ("Fine-tune shared with 7 earlier grade(s) of an identical model "
            "(same program, checkpoint, data and settings give the same accuracy).")


def _stored_before_issue_25() -> str:
    report = Report(submission=ReportSubmission(filename="resnet50_skeleton.py", sha256="0" * 64, size_bytes=1),
                    status="graded", score=10, max_score=115, trust=Trust(fine_tune="shared"),
                    items=[Item(id="accuracy", title="Accuracy", points=10, max_points=10, passed=True,
                                feedback=["Accuracy 0.51.", OLD_NOTE])])
    data = json.loads(report.model_dump_json())
    data["trust"]["fine_tune_shared_with"] = 7  # the field as it was stored then
    return json.dumps(data)


def test_a_stored_report_shows_no_count_of_other_grades() -> None:
    sub = Submission(id="s1", student_id="alice", filename="resnet50_skeleton.py", sha256="0" * 64, size_bytes=1,
                     status=Status.graded, created_at=dt.datetime(2026, 1, 1), report_json=_stored_before_issue_25())
    shown = submission_view(sub, points=None, zone="UTC").model_dump_json()
    assert "fine_tune_shared_with" not in shown and "7 earlier" not in shown
    assert REUSED_FINE_TUNE in shown and '"fine_tune":"shared"' in shown


def test_a_new_report_has_no_such_field() -> None:
    assert "fine_tune_shared_with" not in Trust.model_fields
    assert "fine_tune_shared_with" not in Report.model_json_schema()["$defs"]["Trust"]["properties"]
