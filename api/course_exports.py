"""The gradebook of record as files: our CSV and a Canvas gradebook import CSV. Pure functions."""
from __future__ import annotations

import csv
import io

from api.exports import ACCURACY_COLUMN, ITEM_COLUMNS, ITEM_IDS, _number, _safe_cell
from storage.gradebook import GradebookRow

COLUMNS = ("student_id", "name", "email", "status", "final_score", "score", "late_penalty", "max_score", ACCURACY_COLUMN,
           "late", "submitted_at", "submitted_by", "submission_id", *ITEM_COLUMNS, "overridden", "pending", "needs_review")


def course_gradebook_csv(rows: list[GradebookRow]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_safe_cell(r.student_id), _safe_cell(r.name), _safe_cell(r.email), r.status, _number(r.final_score),
                    _number(r.score), _number(r.late_penalty), _number(r.max_score) if r.max_score is not None else "",
                    f"{r.accuracy:.4f}" if r.accuracy is not None else "", "yes" if r.late else "no",
                    r.submitted_at.strftime("%Y-%m-%d %H:%M:%S") if r.submitted_at else "",
                    _safe_cell(r.submitted_by or ""), r.submission_id or "",
                    *(_number(r.items[i]) if i in r.items else "" for i in ITEM_IDS),
                    " ".join(r.overridden), r.pending,
                    " ".join(f"{k}={_number(v)}" for k, v in r.needs_review.items())])
    return out.getvalue()


def canvas_csv(rows: list[GradebookRow], *, title: str) -> str:
    """Canvas's import layout: Student, ID, SIS User ID, SIS Login ID, Section, then one column per
    assignment (a new name creates the assignment) and a Points Possible row. Canvas matches
    students by SIS User ID when ID is empty; `missing` imports as 0."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    column = _safe_cell(title)
    w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
    possible = next((r.max_score for r in rows if r.max_score is not None), None)
    w.writerow(["Points Possible", "", "", "", "", _number(possible) if possible is not None else ""])
    for r in rows:
        w.writerow([_safe_cell(r.name or r.student_id), "", _safe_cell(r.student_id), _safe_cell(r.email), "",
                    _number(r.final_score)])
    return out.getvalue()
