"""The gradebook of record as files: our CSV and a Canvas gradebook import CSV. Pure functions.

The conventions every export shares (README "Record rules"): a rejected final scores 0 with
status "rejected", 0 on every item (as the batch gradebook, api/exports.py); an item not run
(skipped, e.g. accuracy without fine-tuning) is an empty cell, never 0; times are ISO 8601 with the offset of
the assignment's time zone; a missing student's max_score is the assignment's maximum.
"""
from __future__ import annotations

import csv
import io

from api.exports import ACCURACY_COLUMN, ITEM_COLUMNS, ITEM_IDS, _number
from service.csv_cells import safe_cell
from storage.course import iso_time
from storage.gradebook import GradebookRow
from storage.models import Status

COLUMNS = ("student_id", "name", "email", "status", "final_score", "score", "late_penalty", "max_score", ACCURACY_COLUMN,
           "late", "submitted_at", "submitted_by", "submission_id", *ITEM_COLUMNS, "overridden", "pending", "needs_review",
           # the report (appended: the columns above keep their places)
           "report_status", "report_points", "report_max", "total", "report_flag", "report_failed_checks")


def course_gradebook_csv(rows: list[GradebookRow], *, zone: str) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([safe_cell(r.student_id), safe_cell(r.name), safe_cell(r.email), r.status, _number(r.final_score),
                    _number(r.score), _number(r.late_penalty), _number(r.max_score) if r.max_score is not None else "",
                    f"{r.accuracy:.4f}" if r.accuracy is not None else "", "yes" if r.late else "no",
                    iso_time(r.submitted_at, zone) or "",
                    safe_cell(r.submitted_by or ""), r.submission_id or "",
                    *(_item_cell(r, i) for i in ITEM_IDS),
                    " ".join(r.overridden), r.pending,
                    " ".join(f"{k}={_number(v)}" for k, v in r.needs_review.items()),
                    r.report_status,
                    _number(r.report_points) if r.report_points is not None else "", _number(r.report_max),
                    _number(r.total), "yes" if r.report_flag else "no", " ".join(r.report_failed_checks)])
    return out.getvalue()


def _item_cell(r: GradebookRow, item: str) -> str:
    """Points, or 0 for every item of a rejected final, or empty for an item not run (or missing)."""
    if r.status == Status.rejected:
        return "0"
    return _number(r.items[item]) if item in r.items else ""


def canvas_csv(rows: list[GradebookRow], *, title: str) -> str:
    """Canvas's import layout: Student, ID, SIS User ID, SIS Login ID, Section, then one column per
    assignment (a new name creates the assignment) and a Points Possible row. Canvas matches
    students by SIS User ID when ID is empty; `missing` imports as 0.

    With report items, a second column "<title> (report)" carries the report's points, out of the
    report's maximum: empty until a TA has marked every item (an empty cell changes nothing in Canvas)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    column = safe_cell(title)
    report_max = next((r.report_max for r in rows if r.report_max), 0.0)
    extra = [safe_cell(f"{title} (report)")] if report_max else []
    w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column, *extra])
    possible = next((r.max_score for r in rows if r.max_score is not None), None)
    w.writerow(["Points Possible", "", "", "", "", _number(possible) if possible is not None else "",
                *([_number(report_max)] if extra else [])])
    for r in rows:
        report = [_number(r.report_points) if r.report_points is not None else ""] if extra else []
        w.writerow([safe_cell(r.name or r.student_id), "", safe_cell(r.student_id), safe_cell(r.email), "",
                    _number(r.final_score), *report])
    return out.getvalue()
