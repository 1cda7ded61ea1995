"""What a submission looks like from outside: status, progress and the report, as plain data."""
from __future__ import annotations

import json
from typing import Any

from storage.models import Submission


def submission_view(sub: Submission, *, with_report: bool = True) -> dict[str, Any]:
    report = json.loads(sub.report_json) if sub.report_json else None
    structure = json.loads(sub.structure_json) if sub.structure_json and report is None else None
    view: dict[str, Any] = {
        "id": sub.id, "student_id": sub.student_id, "filename": sub.filename, "sha256": sub.sha256,
        "status": sub.status, "score": sub.score, "max_score": sub.max_score, "accuracy": sub.accuracy,
        "created_at": sub.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"), "batch_id": sub.batch_id,
        "progress": json.loads(sub.progress_json) if sub.progress_json else None,
        "url": f"/s/{sub.id}",
    }
    if sub.status == "failed":
        view["failure"] = "The grader itself failed on this file; the TAs have been told. " + (sub.failure or "")
    if with_report:
        view["report"] = report
        view["structure"] = structure
    return view
