"""Turn score reports into the files a TA downloads: a gradebook CSV and LMS results.json files.

Pure functions (no web framework, no database) so the API routes stay thin and the formats
can be tested on hand-built reports.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from grader.report import Item, Report
from service.csv_cells import safe_cell

# The rubric items, in the order the gradebook shows them (one column each).
ITEM_IDS: tuple[str, ...] = (
    "q1_downsample", "q1_no_downsample", "q2_blanks", "q2_layer3", "q2_layer4", "accuracy",
)

# The accuracy item's points get their own name; the measured accuracy is a fraction (0.8118),
# the same number as in every JSON export, and its column says so.
ITEM_COLUMNS: tuple[str, ...] = tuple("accuracy_points" if i == "accuracy" else i for i in ITEM_IDS)
ACCURACY_COLUMN = "accuracy_fraction"
CSV_COLUMNS: tuple[str, ...] = (
    "student_id", "score", "max_score", ACCURACY_COLUMN, "status", *ITEM_COLUMNS, "error",
)

# Gradescope visibility values: "hidden", "after_due_date", "after_published", "visible".
GRADESCOPE_VISIBILITY = "visible"
GRADESCOPE_STDOUT_VISIBILITY = "hidden"  # the autograder's own stdout is grader noise, not feedback


def _number(value: float) -> str:
    """Points as a short decimal ("17.5", "20"), so spreadsheets read them as numbers."""
    text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _graded_items(report: Report) -> list[Item]:
    """The items that were actually judged; a skipped one (e.g. no fine-tuning) scores nothing."""
    return [item for item in report.items if not item.skipped]


def _error_text(report: Report) -> str:
    """The error message, with its line and traceback when known, for students to read."""
    if report.error is None:
        return ""
    error = report.error
    parts = [f"Error ({error.kind}): {error.message}"]
    if error.line is not None and f"line {error.line}" not in error.message:
        parts.append(f"(line {error.line})")
    text = " ".join(parts)
    if error.traceback:
        text += "\n" + "\n".join(line.rstrip("\n") for line in error.traceback)
    return text


def _summary(report: Report) -> str:
    """One line with the score (and accuracy when fine-tuning ran)."""
    if report.status == "rejected":
        line = f"Not graded: 0 / {_number(report.max_score)} points."
    else:
        line = f"Score: {_number(report.score)} / {_number(report.max_score)} points."
    if report.accuracy is not None:
        line += f" Test accuracy: {report.accuracy * 100:.2f}%."
    return line


def _top_output(report: Report) -> str:
    """Summary line, then the error (if any): what a student sees above the per-test results."""
    lines = [_summary(report)]
    error = _error_text(report)
    if error:
        lines.append(error)
    return "\n\n".join(lines)


def gradebook_csv(rows: Iterable[tuple[str | None, str, Report | None]]) -> str:
    """One line per submission (student_id, service status, report or None while not graded yet).

    Item cells stay empty when the item was not judged (structure-only grading, or not graded
    yet), so a TA can tell "0 points" from "not run"; a rejected file scores 0 on every item.
    The same convention as the assignment gradebook (api/course_exports.py, README "Record rules").
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for student_id, status, report in rows:
        if student_id is None and report is not None:
            student_id = report.submission.student_id
        score = max_score = accuracy = error = ""
        points: dict[str, str] = {}
        if report is not None:
            score, max_score = _number(report.score), _number(report.max_score)
            if report.accuracy is not None:
                accuracy = f"{report.accuracy:.4f}"
            if report.status == "rejected":
                points = {item_id: "0" for item_id in ITEM_IDS}
            for item in report.items:
                if not item.skipped:
                    points.setdefault(item.id, _number(item.points))
            if report.error is not None:
                error = safe_cell(f"{report.error.kind}: {report.error.message}")
        # Built by position: the item "accuracy" (points) is the column accuracy_points.
        writer.writerow([safe_cell(student_id or ""), score, max_score, accuracy, safe_cell(status),
                         *(points.get(item_id, "") for item_id in ITEM_IDS), error])
    return buffer.getvalue()


def gradescope_results(report: Report) -> dict[str, Any]:
    """Gradescope autograder results.json: the top-level score is authoritative, tests explain it."""
    tests = [
        {
            "name": item.title,
            "score": item.points,
            "max_score": item.max_points,
            "status": "passed" if item.passed else "failed",
            "output": "\n".join(item.feedback),
            "visibility": GRADESCOPE_VISIBILITY,
        }
        for item in _graded_items(report)
    ]
    results: dict[str, Any] = {
        "score": report.score,
        "max_score": report.max_score,
        "output": _top_output(report),
        "visibility": GRADESCOPE_VISIBILITY,
        "stdout_visibility": GRADESCOPE_STDOUT_VISIBILITY,
        "tests": tests,
    }
    total = report.timings.get("total")
    if total is not None:  # Gradescope wants a number of seconds; leave it out rather than send null
        results["execution_time"] = round(total, 3)
    if report.accuracy is not None:
        results["leaderboard"] = [
            {"name": "Accuracy", "value": round(report.accuracy * 100, 2), "order": "desc"},
        ]
    return results


def prairielearn_results(report: Report) -> dict[str, Any]:
    """PrairieLearn external-grader results.json; score is a 0..1 fraction.

    A rejected file is not gradable, so PrairieLearn does not count it as a graded attempt.
    """
    fraction = report.score / report.max_score if report.max_score > 0 else 0.0
    fraction = min(1.0, max(0.0, fraction))
    tests = []
    for item in _graded_items(report):
        lost = item.max_points - item.points
        message = "Passed." if item.passed else f"Lost {_number(lost)} of {_number(item.max_points)} points."
        tests.append({
            "name": item.title,
            "description": item.id,
            "points": item.points,
            "max_points": item.max_points,
            "message": message,
            "output": "\n".join(item.feedback),
        })
    if report.error is not None:
        message = report.error.message
    else:
        message = _summary(report)
    return {
        "gradable": report.status != "rejected",
        "score": fraction,
        "message": message,
        "output": _top_output(report),
        "tests": tests,
    }
